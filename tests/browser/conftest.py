"""A real server (``python -m loraloom ui``) and a real browser (Debian chromium via playwright).

The server runs with the interpreter running the tests, so the same tests check gradio 4 in the
main venv and gradio 3.41.2 in the A1111-pinned venv (``make ui-gradio3``). Screenshots go to
``$LORALOOM_ARTIFACTS`` (default ``build/artifacts``).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from loraloom.samples import write_samples
from tests.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: F401 - the browser fixture lives there now

ARTIFACTS = Path(os.environ.get("LORALOOM_ARTIFACTS", "build/artifacts"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_idle(url: str, process: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url + "/loraloom/v1/ui/progress", timeout=2) as response:
                if json.load(response)["phase"] == "idle":
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise TimeoutError("the gallery server did not become ready")


@pytest.fixture
def library(tmp_path) -> Path:
    folder = tmp_path / "loras"
    write_samples(str(folder))
    return folder


@pytest.fixture
def server(library, tmp_path):
    port = free_port()
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "GRADIO_ANALYTICS_ENABLED": "False"}
    command = [sys.executable, "-m", "loraloom", "ui", "--lora-dir", str(library), "--port", str(port)]
    log = open(tmp_path / "server.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_idle(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:  # gradio 3's queue threads can ignore SIGTERM
            process.kill()
            process.wait(5)
        log.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1360, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(server)
    page.wait_for_selector(".loraloom-card", timeout=30_000)
    page.wait_for_selector(".loraloom-sliders-empty", state="attached")
    yield page
    context.close()
    assert errors == [], f"JavaScript errors: {errors}"


def gradio_major() -> str:
    import gradio

    return gradio.__version__.split(".")[0]
