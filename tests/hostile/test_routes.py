"""Hostile requests against a real ``loraloom ui`` server on 127.0.0.1 (and A1111's routes)."""

from __future__ import annotations

import http.client
import json
import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from loraloom.ui.routes import PREFIX

from .conftest import LiveServer

JSON = {"Content-Type": "application/json"}


def call(
    server: LiveServer, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    """One request with exactly these headers (``body``: bytes as is, anything else as JSON)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    connection.request(method, PREFIX + path if path.startswith("/") else path, body=data, headers=headers or {})
    response = connection.getresponse()
    raw = response.read()
    connection.close()
    try:
        return response.status, json.loads(raw.decode("utf-8"))
    except ValueError:
        return response.status, raw


def favourites(server: LiveServer) -> list[str]:
    path = server.library / "loraloom-gallery.json"
    return json.loads(path.read_text())["favourites"] if path.exists() else []


# -- 14. cross-site requests ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 415),  # fetch(…, {mode: "no-cors", body: blob}): no Content-Type
        ({"Content-Type": "text/plain;charset=UTF-8"}, 415),
        ({"Content-Type": "application/x-www-form-urlencoded"}, 415),
        ({"Content-Type": "multipart/form-data; boundary=x"}, 415),
        ({**JSON, "Origin": "http://evil.example"}, 403),
        ({**JSON, "Origin": "null"}, 403),
        ({**JSON, "Origin": "http://127.0.0.1:1"}, 403),  # another port of this machine
        ({**JSON, "Sec-Fetch-Site": "cross-site"}, 403),
        ({**JSON, "Host": "evil.example"}, 403),  # DNS rebinding
    ],
)
def test_writes_from_other_origins_are_refused(shared_server: LiveServer, headers, status) -> None:
    body = {"name": "ink-style", "favourite": True}
    code, answer = call(shared_server, "POST", "/favourite", body, headers)
    assert code == status and answer["detail"]
    code, _ = call(shared_server, "POST", "/metadata", {"name": "ink-style", "values": {"notes": "pwned"}}, headers)
    assert code == status
    assert favourites(shared_server) == []
    assert "pwned" not in (shared_server.library / "ink-style.json").read_text()


def test_the_apps_own_page_and_scripts_may_write(live_server: LiveServer) -> None:
    own = {**JSON, "Origin": live_server.url}
    assert call(live_server, "POST", "/favourite", {"name": "ink-style", "favourite": True}, own)[0] == 200
    assert call(live_server, "POST", "/favourite", {"name": "pixel-art", "favourite": True}, JSON)[0] == 200
    assert favourites(live_server) == ["ink-style", "pixel-art"]
    assert call(live_server, "GET", "/cards", headers={"Host": f"localhost:{live_server.port}"})[0] == 200
    assert call(live_server, "GET", "/cards", headers={"Host": "rebound.example"})[0] == 403


def test_a_cross_origin_page_in_a_real_browser_cannot_write(live_server: LiveServer, browser, tmp_path) -> None:
    """The attack from the issue, run by chromium from a page on another origin."""
    page_dir = tmp_path / "evil"
    page_dir.mkdir()
    (page_dir / "index.html").write_text("<html><body>hello</body></html>")
    from tests.browser.conftest import free_port

    port = free_port()
    site = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=page_dir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    context = browser.new_context()
    try:
        page = context.new_page()
        for _ in range(50):
            try:
                page.goto(f"http://localhost:{port}/")
                break
            except Exception:
                time.sleep(0.2)
        target = live_server.url + PREFIX
        page.evaluate(
            """async (target) => {
                const blob = (data) => new Blob([JSON.stringify(data)]);
                const send = (path, data) => fetch(target + path, {method: "POST", mode: "no-cors", body: blob(data)})
                    .catch(() => null);
                await send("/favourite", {name: "ink-style", favourite: true});
                await send("/metadata", {name: "ink-style", values: {notes: "pwned"}});
                await fetch(target + "/favourite", {method: "POST", headers: {"Content-Type": "application/json"},
                    body: JSON.stringify({name: "ink-style", favourite: true})}).catch(() => null);
            }""",
            target,
        )
        time.sleep(0.5)
    finally:
        context.close()
        site.terminate()
        site.wait(5)
    assert favourites(live_server) == []
    assert "pwned" not in (live_server.library / "ink-style.json").read_text()


# -- 15. permissions -----------------------------------------------------------------------------


def test_saving_keeps_the_mode_and_new_files_get_the_umasks(live_server: LiveServer) -> None:
    sidecar = live_server.library / "ink-style.json"
    sidecar.chmod(0o644)
    assert call(live_server, "POST", "/metadata", {"name": "ink-style", "values": {"notes": "a"}}, JSON)[0] == 200
    assert stat.S_IMODE(sidecar.stat().st_mode) == 0o644
    sidecar.chmod(0o640)
    assert call(live_server, "POST", "/metadata", {"name": "ink-style", "values": {"notes": "b"}}, JSON)[0] == 200
    assert stat.S_IMODE(sidecar.stat().st_mode) == 0o640
    fresh = live_server.library / "detail-slider.json"
    if fresh.exists():
        fresh.unlink()
    pixel = live_server.library / "styles" / "pixel-art.json"
    assert not pixel.exists()
    assert call(live_server, "POST", "/metadata", {"name": "pixel-art", "values": {"notes": "new"}}, JSON)[0] == 200
    assert stat.S_IMODE(pixel.stat().st_mode) == 0o644  # the server runs with umask 022
    assert call(live_server, "POST", "/favourite", {"name": "pixel-art", "favourite": True}, JSON)[0] == 200
    assert stat.S_IMODE((live_server.library / "loraloom-gallery.json").stat().st_mode) == 0o644


# -- 16. lost updates ----------------------------------------------------------------------------

FIELDS = {
    "description": "d",
    "activation text": "a",
    "negative text": "n",
    "notes": "x",
    "sd version": "SD1",
    "preferred weight": 0.25,
    "weight min": -3,
    "weight max": 3,
}


def test_concurrent_saves_of_different_fields_all_land(live_server: LiveServer) -> None:
    sidecar = live_server.library / "characters" / "robot-pilot.json"
    for round_ in range(3):
        barrier = threading.Barrier(len(FIELDS))
        results: list[int] = []
        values = {
            key: (f"{value}{round_}" if isinstance(value, str) and key != "sd version" else value)
            for key, value in FIELDS.items()
        }

        def save(key: str, value: Any, barrier: threading.Barrier = barrier, results: list[int] = results) -> None:
            barrier.wait()
            results.append(
                call(live_server, "POST", "/metadata", {"name": "robot-pilot", "values": {key: value}}, JSON)[0]
            )

        threads = [threading.Thread(target=save, args=item) for item in values.items()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert results == [200] * len(values)
        written = json.loads(sidecar.read_text())
        assert {key: written.get(key) for key in values} == values, f"round {round_}: fields were lost"


# -- 17. bad bodies ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/toggle", {"text": 5, "name": "ink-style"}, "text"),
        ("/toggle", {"text": "a", "cursor": "3", "name": "ink-style"}, "cursor"),
        ("/toggle", {"text": "a", "cursor": 1.5, "name": "ink-style"}, "cursor"),
        ("/toggle", {"text": "a", "name": ["ink-style"]}, "name"),
        ("/toggle", {"text": "a", "name": "ink-style", "with_words": "false"}, "with_words"),
        ("/toggle", {"text": "a", "name": "ink-style", "added_words": "ink"}, "added_words"),
        ("/toggle", {"text": "a", "name": "ink-style", "added_words": [1]}, "added_words"),
        ("/weight", {"text": "<lora:x:1>", "index": 0, "te": "nan"}, "te"),
        ("/weight", {"text": "<lora:x:1>", "index": 0, "te": None}, "te"),
        ("/weight", {"text": "<lora:x:1>", "index": "0", "te": 1}, "index"),
        ("/weight", {"text": "<lora:x:1>", "index": 0, "te": 1, "unet": "x"}, "unet"),
        ("/weight", {"text": "<lora:x:1>", "index": True, "te": 1}, "index"),
        ("/remove", {"text": "<lora:x:1>", "index": [0]}, "index"),
        ("/remove", {"text": "<lora:x:1>", "index": -1}, "index"),
        ("/rows", {"prompt": {"a": 1}}, "prompt"),
        ("/rows", {"prompt": "", "family": 3}, "family"),
        ("/rows", {"prompt": "", "family": "sd9"}, "family"),
        ("/favourite", {"name": "ink-style", "favourite": "false"}, "favourite"),
        ("/favourite", {"name": "ink-style", "favourite": 1}, "favourite"),
        ("/metadata", {"name": "ink-style", "values": ["notes"]}, "values"),
        ("/metadata", {"name": 7, "values": {}}, "name"),
    ],
)
def test_wrong_types_are_400_naming_the_field(shared_server: LiveServer, path: str, body: dict, field: str) -> None:
    code, answer = call(shared_server, "POST", path, body, JSON)
    assert code == 400, answer
    assert answer.get("field") == field and field in answer["detail"]
    assert favourites(shared_server) == []


@pytest.mark.parametrize(
    "raw",
    [
        b'{"text": "<lora:x:1>", "index": 0, "te": NaN}',
        b'{"text": "<lora:x:1>", "index": 0, "te": 1e400}',
        b"[1]",
        b"{",
    ],
)
def test_non_finite_numbers_and_broken_json_never_reach_the_prompt(shared_server: LiveServer, raw: bytes) -> None:
    code, answer = call(shared_server, "POST", "/weight", raw, JSON)
    assert code == 400 and "full" not in answer and answer["detail"]


def test_good_requests_still_work(live_server: LiveServer) -> None:
    code, answer = call(live_server, "POST", "/weight", {"text": "<lora:x:1>", "index": 0, "te": 0.5}, JSON)
    assert code == 200 and answer["full"] == "<lora:x:0.5>"
    code, answer = call(live_server, "POST", "/toggle", {"text": "cat", "cursor": 3, "name": "pixel-art"}, JSON)
    assert code == 200 and answer["change"]["full"] == "cat <lora:pixel-art:1>"
    assert call(live_server, "POST", "/refresh", b"{}", JSON)[0] == 200
    assert call(live_server, "POST", "/refresh")[0] == 200  # a script with no body


def test_huge_bodies_are_refused_unread(live_server: LiveServer) -> None:
    before = live_server.peak_memory_kb()
    size = 210 * 1024 * 1024
    connection = http.client.HTTPConnection("127.0.0.1", live_server.port, timeout=60)
    connection.putrequest("POST", PREFIX + "/rows")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(size))
    connection.endheaders()
    try:
        chunk = b" " * (1024 * 1024)
        for _ in range(210):
            connection.send(chunk)
    except OSError:
        pass  # the server answered and closed early: what we want
    response = connection.getresponse()
    assert response.status == 413
    connection.close()
    chunked = http.client.HTTPConnection("127.0.0.1", live_server.port, timeout=60)
    body = (b'{"prompt": "' + b"a" * (8 * 1024 * 1024) + b'"}' for _ in range(1))
    chunked.request(
        "POST", PREFIX + "/rows", body=body, headers={**JSON, "Transfer-Encoding": "chunked"}, encode_chunked=True
    )
    assert chunked.getresponse().status == 413
    chunked.close()
    grown = live_server.peak_memory_kb() - before
    assert grown < 150_000, f"the server's peak memory grew by {grown:,} KB"


def test_oversized_fields_are_refused_and_nothing_is_written(live_server: LiveServer) -> None:
    sidecar = live_server.library / "ink-style.json"
    before = sidecar.read_text()
    description = "x" * (1024 * 1024)
    code, answer = call(
        live_server, "POST", "/metadata", {"name": "ink-style", "values": {"description": description}}, JSON
    )
    assert code == 400 and "description" in answer["detail"]
    assert sidecar.read_text() == before
    code, answer = call(live_server, "POST", "/rows", {"prompt": "a" * 300_000}, JSON)
    assert code == 400 and answer["field"] == "prompt"
    words = ["w"] * 1000
    code, answer = call(live_server, "POST", "/toggle", {"text": "", "name": "ink-style", "added_words": words}, JSON)
    assert code == 400 and answer["field"] == "added_words"


def test_a_failed_favourite_save_is_reported_and_undone(live_server: LiveServer) -> None:
    state = live_server.library / "loraloom-gallery.json"
    if state.exists():
        state.unlink()
    state.mkdir()  # the rename onto it fails, as a full disk or a read-only folder would
    try:
        code, answer = call(live_server, "POST", "/favourite", {"name": "ink-style", "favourite": True}, JSON)
        assert code == 507 and "could not be saved" in answer["detail"]
        cards = call(live_server, "GET", "/cards")[1]["cards"]
        assert not next(card for card in cards if card["name"] == "ink-style")["favourite"]
    finally:
        state.rmdir()


def test_a_failed_sidecar_save_is_507_and_nothing_changes(live_server: LiveServer) -> None:
    blocker = live_server.library / "styles" / "pixel-art.json"  # pixel-art has no sidecar yet
    blocker.mkdir()  # the write cannot happen, as on a full disk or a read-only folder
    try:
        assert call(live_server, "POST", "/refresh", b"{}", JSON)[0] == 200
        code, answer = call(live_server, "POST", "/metadata", {"name": "pixel-art", "values": {"notes": "n"}}, JSON)
        assert code == 507 and "could not be written" in answer["detail"] and "unchanged" in answer["detail"]
        assert blocker.is_dir() and not os.listdir(blocker)
    finally:
        blocker.rmdir()


# -- 18. leftovers and links -----------------------------------------------------------------------


def test_temporary_files_of_killed_saves_are_removed(live_server: LiveServer) -> None:
    folder = live_server.library
    target = folder / "ink-style.json"
    before = target.read_text()
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import os, sys, time\n"
            "import loraloom.library.atomic as atomic\n"
            "real = os.replace\n"
            "os.replace = lambda *a: (print('written', flush=True), time.sleep(60))\n"
            "atomic.write_text_atomically(sys.argv[1], '{\"half\": true}')\n",
            str(target),
        ],
        stdout=subprocess.PIPE,
        env=os.environ,
    )
    assert writer.stdout is not None and writer.stdout.readline().strip() == b"written"
    writer.kill()  # kill -9 mid-save: the temporary file is complete, the rename never happened
    writer.wait(5)
    leftovers = [name for name in os.listdir(folder) if name.startswith(".loraloom-")]
    assert leftovers and target.read_text() == before
    old = folder / ".loraloom-abcdef.tmp"  # the naming before pids were recorded
    old.write_text("x")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    assert call(live_server, "POST", "/refresh", b"{}", JSON)[0] == 200
    assert not [name for name in os.listdir(folder) if name.startswith(".loraloom-")]
    assert target.read_text() == before


def test_a_preview_linked_outside_the_library_is_not_served(live_server: LiveServer, tmp_path) -> None:
    from PIL import Image

    secret = tmp_path / "secret.png"
    Image.new("RGB", (8, 8), "red").save(secret)
    preview = live_server.library / "detail-slider.png"
    for name in os.listdir(live_server.library):
        if name.startswith("detail-slider.") and name.endswith((".png", ".jpg", ".webp", ".jpeg", ".gif")):
            os.unlink(live_server.library / name)
    os.symlink(secret, preview)
    inside = live_server.library / "styles" / "pixel-art.preview.png"
    assert call(live_server, "POST", "/refresh", b"{}", JSON)[0] == 200
    code, answer = call(live_server, "GET", "/thumb?name=detail-slider")
    assert code == 404 and "not inside the LoRA folders" in answer["detail"]
    if inside.exists():  # a library file's own preview is still served
        assert call(live_server, "GET", "/thumb?name=pixel-art")[0] == 200


def test_a_symlinked_sub_folder_keeps_its_previews(tmp_path) -> None:
    """Following a linked folder is a library feature: its files' own previews stay visible."""
    from loraloom.library import Library
    from loraloom.samples import write_samples
    from loraloom.ui.service import GalleryService
    from loraloom.ui.user_state import UserState

    elsewhere = tmp_path / "elsewhere"
    write_samples(str(elsewhere))
    root = tmp_path / "root"
    root.mkdir()
    os.symlink(elsewhere / "styles", root / "linked")
    library = Library([str(root)])
    library.refresh()
    service = GalleryService(library, UserState(None))
    names = {entry.name for entry in library.entries}
    assert "linked/pixel-art" in names or "linked/watercolour" in names
    with_preview = [e for e in library.entries if e.sidecars.preview]
    assert with_preview and service.thumbnail(with_preview[0].stem)


# -- 14 inside A1111: the same login as the UI ------------------------------------------------------


@pytest.fixture
def a1111_app(monkeypatch, tmp_path):
    """The A1111 stand-in's callbacks on a real gradio app with a login (``--gradio-auth``)."""
    import gradio as gr

    standin = Path(__file__).parents[1] / "a1111" / "standin"
    monkeypatch.syspath_prepend(str(standin))
    for name in [n for n in sys.modules if n == "modules" or n.startswith("modules.")]:
        monkeypatch.delitem(sys.modules, name)
    from modules import shared  # type: ignore[import-not-found]

    from tests.hostile.builders import good_lora

    folder = tmp_path / "Lora"
    folder.mkdir()
    good_lora(folder / "ink.safetensors")
    monkeypatch.setattr(shared.cmd_opts, "lora_dir", str(folder), raising=False)
    monkeypatch.setattr(shared.cmd_opts, "gradio_auth", "user:pass", raising=False)
    monkeypatch.setattr(shared.cmd_opts, "api_auth", "api:secret", raising=False)
    import loraloom.hosts.a1111 as host

    monkeypatch.setattr(host, "_session", None)
    monkeypatch.setattr(host, "_cache_path", lambda: str(tmp_path / "cache.json"))
    with gr.Blocks() as demo:
        gr.Markdown("x")
    demo.auth = [("user", "pass")]
    app = gr.routes.App.create_app(demo)
    host.on_app_started(demo, app)
    yield app
    if host._session is not None and host._session.gallery is not None:
        host._session.gallery.wait(30)


def test_a1111_routes_sit_behind_the_webui_login(a1111_app) -> None:
    import base64

    from fastapi.testclient import TestClient

    client = TestClient(a1111_app, base_url="http://127.0.0.1:7860")
    for method, path in [
        ("GET", "/loraloom/v1/ui/cards"),
        ("GET", "/loraloom/v1/loras"),
        ("GET", "/sdapi/v1/loras"),
        ("POST", "/loraloom/v1/refresh"),
    ]:
        assert client.request(method, path).status_code == 401, path
    denied = client.post("/loraloom/v1/ui/favourite", json={"name": "ink", "favourite": True})
    assert denied.status_code == 401 and "log in" in denied.json()["detail"]
    wrong = {"Authorization": "Basic " + base64.b64encode(b"api:wrong").decode()}
    assert client.get("/loraloom/v1/loras", headers=wrong).status_code == 401
    basic = {"Authorization": "Basic " + base64.b64encode(b"api:secret").decode()}
    assert client.get("/loraloom/v1/loras", headers=basic).status_code == 200
    assert client.get("/loraloom/v1/ui/cards", headers=basic).status_code == 200
    login = client.post("/login", data={"username": "user", "password": "pass"})
    assert login.status_code == 200, login.text
    assert client.get("/loraloom/v1/ui/cards").status_code == 200  # the session cookie of the UI
    assert client.get("/sdapi/v1/loras").status_code == 200
    evil = client.post(
        "/loraloom/v1/ui/favourite", json={"name": "ink", "favourite": True}, headers={"Origin": "http://evil.example"}
    )
    assert evil.status_code == 403
    own = client.post(
        "/loraloom/v1/ui/favourite",
        json={"name": "ink", "favourite": True},
        headers={"Origin": "http://127.0.0.1:7860"},
    )
    assert own.status_code == 200


def test_rows_of_a_hostile_prompt_answer_quickly(shared_server: LiveServer) -> None:
    """20,000 distinct unknown, invalid tags: one parse, each name searched once, at most 200 rows."""
    prompt = "".join(f"<lora:zz{index}:o.8>" for index in range(12_000))[:199_000]
    started = time.perf_counter()
    code, answer = call(shared_server, "POST", "/rows", {"prompt": prompt, "negative": "<a:" * 60_000}, JSON)
    elapsed = time.perf_counter() - started
    assert code == 200 and len(answer["positive"]) == 200 and answer["negative"] == []
    assert "not a number" in answer["positive"][0]["warning"] and "no LoRA named" in answer["positive"][0]["warning"]
    assert elapsed < 10, f"{elapsed:.1f} s"


# -- 6, 8, 9, 13 over HTTP: a hostile library never makes a route answer 500 or hang -----------------


def test_a_hostile_library_is_served(live_server: LiveServer) -> None:
    from tests.hostile.builders import bytes_name, fifo, good_lora, nested, raw_safetensors, release_fifo

    root = live_server.library
    good_lora(root / "freq.safetensors", metadata={"ss_tag_frequency": '{"a": {"x": NaN, "y": 1e400, "z": 2}}'})
    raw_safetensors(root / "deep.safetensors", nested(100_000))
    good_lora(root / "civitai.safetensors")
    (root / "civitai.civitai.info").write_text('{"trainedWords": 5, "model": {"tags": "fantasy"}}')
    (root / "freq.json").write_text('{"preferred weight": "inf", "weight min": -1e309, "activation text": ["x"]}')
    good_lora(bytes_name(root, b"caf\xe9.safetensors"))
    good_lora(root / "piped.safetensors")
    pipes = [fifo(root / "piped.png"), fifo(root / "pipe.safetensors"), fifo(root / "piped.json")]
    try:
        assert call(live_server, "POST", "/refresh", b"{}", JSON)[0] == 200
        for _ in range(100):
            if call(live_server, "GET", "/progress")[1]["phase"] == "idle":
                break
            time.sleep(0.2)
        code, data = call(live_server, "GET", "/cards")
        assert code == 200
        cards = {card["name"]: card for card in data["cards"]}
        assert {"freq", "deep", "civitai", "caf\\xe9", "piped", "pipe"} <= set(cards)
        assert cards["freq"]["preferred_weight"] is None and cards["freq"]["range"] == [-2.0, 2.0]
        assert cards["civitai"]["trigger_words"] == []
        for name in ("freq", "deep", "civitai", "caf\\xe9", "piped", "pipe"):
            code, detail = call(live_server, "GET", f"/detail?name={name.replace(chr(92), '%5C')}")
            assert code == 200, (name, detail)
        threads = [
            threading.Thread(target=lambda: results.append(call(live_server, "GET", "/thumb?name=piped")[0]))
            for _ in range(40)
        ]
        results: list[int] = []
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert results == [404] * 40  # a FIFO preview is refused at once; no worker thread is parked
        assert call(live_server, "GET", "/cards")[0] == 200
        page = http.client.HTTPConnection("127.0.0.1", live_server.port, timeout=30)
        page.request("GET", "/")
        assert page.getresponse().status == 200  # the page answers too
        page.close()
    finally:
        for path in pipes:
            release_fifo(path)


def test_the_server_starts_on_names_with_unicode_digits(tmp_path) -> None:
    from tests.browser.conftest import free_port, wait_until_idle
    from tests.hostile.builders import good_lora

    library = tmp_path / "loras"
    library.mkdir()
    for name in ("①", "10²", "²1", "٣", "x1"):
        good_lora(library / f"{name}.safetensors")
    port = free_port()
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    command = [sys.executable, "-m", "loraloom", "ui", "--lora-dir", str(library), "--port", str(port)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_idle(f"http://127.0.0.1:{port}", process, timeout=60)
        server = LiveServer(f"http://127.0.0.1:{port}", port, library, process)
        names = {card["name"] for card in call(server, "GET", "/cards")[1]["cards"]}
        assert names == {"①", "10²", "²1", "٣", "x1"}
    finally:
        process.terminate()
        process.wait(10)
