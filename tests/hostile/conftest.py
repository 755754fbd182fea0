"""The hostile-input suite: every input is built here at test time, none is committed.

Hypothesis runs derandomized (a failure reproduces on every run) with a small example budget
and a per-example deadline, so the whole suite stays within CI's time.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from loraloom.samples import write_samples
from tests.browser.conftest import free_port, wait_until_idle

HOSTILE = settings(
    max_examples=80,
    deadline=timedelta(seconds=5),
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
"""Bounded and seeded: use as ``@HOSTILE`` on every ``@given`` test of this suite."""


@dataclass
class LiveServer:
    """A real ``loraloom ui`` process on 127.0.0.1, over the sample library."""

    url: str
    port: int
    library: Path
    process: subprocess.Popen

    def peak_memory_kb(self) -> int:
        """The server's peak resident memory (``VmHWM``), Linux only."""
        with open(f"/proc/{self.process.pid}/status", encoding="utf-8") as status:
            line = next(line for line in status if line.startswith("VmHWM:"))
        return int(line.split()[1])


def _start_server(folder: Path) -> Iterator[LiveServer]:
    library = folder / "loras"
    write_samples(str(library))
    port = free_port()
    env = {**os.environ, "XDG_CACHE_HOME": str(folder / "cache"), "GRADIO_ANALYTICS_ENABLED": "False"}
    command = [sys.executable, "-m", "loraloom", "ui", "--lora-dir", str(library), "--port", str(port)]
    old_umask = os.umask(0o022)  # the server inherits it: new files must get 0644
    try:
        log = open(folder / "server.log", "w")  # noqa: SIM115 - closed below
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    finally:
        os.umask(old_umask)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_idle(url, process)
        yield LiveServer(url, port, library, process)
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        log.close()


@pytest.fixture
def live_server(tmp_path) -> Iterator[LiveServer]:
    """A server of its own, for tests that write."""
    yield from _start_server(tmp_path)


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory) -> Iterator[LiveServer]:
    """One server for the tests of a module that only check refusals (nothing may change)."""
    yield from _start_server(tmp_path_factory.mktemp("shared-server"))
