"""The standalone app over HTTP (FastAPI's test client): routes, assets, thumbnails, errors."""

from __future__ import annotations

import pytest

from loraloom.ui.routes import PREFIX
from loraloom.ui.standalone import make_app


@pytest.fixture
def client(service):
    from fastapi.testclient import TestClient

    return TestClient(make_app(service), base_url="http://127.0.0.1")


def test_the_page_loads_the_gallery_script_and_style(client) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert "/loraloom/assets/loraloom.js" in page.text and "/loraloom/assets/style.css" in page.text
    script = client.get("/loraloom/assets/loraloom.js")
    assert script.status_code == 200 and "class Gallery" in script.text
    assert client.get("/loraloom/assets/..%2Fpyproject.toml").status_code == 404


def test_cards_state_and_edits(client) -> None:
    data = client.get(PREFIX + "/cards").json()
    assert len(data["cards"]) == 6 and data["state"]["family_choice"] is True
    toggled = client.post(PREFIX + "/toggle", json={"text": "cat", "cursor": 3, "name": "ink-style"}).json()
    assert toggled["action"] == "inserted" and toggled["change"]["full"] == "cat <lora:ink-style:0.8>"
    weight = client.post(PREFIX + "/weight", json={"text": "<lora:a:1>", "index": 0, "te": 0.5}).json()
    assert weight["full"] == "<lora:a:0.5>"
    stale = client.post(PREFIX + "/weight", json={"text": "no tag", "index": 0, "te": 0.5})
    assert stale.status_code == 409
    rows = client.post(PREFIX + "/rows", json={"prompt": "<lora:zzz:1>", "negative": "<lora:ink-style:-1>"}).json()
    assert "no LoRA named 'zzz'" in rows["positive"][0]["warning"] and rows["negative"][0]["te"] == -1


def test_thumbnails_are_small_and_only_of_library_previews(client, sample_dir) -> None:
    thumb = client.get(PREFIX + "/thumb", params={"name": "ink-style"})
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    from io import BytesIO

    from PIL import Image

    assert max(Image.open(BytesIO(thumb.content)).size) == 256
    for name in ("robot-pilot", "../../etc/passwd", "/etc/passwd"):
        assert client.get(PREFIX + "/thumb", params={"name": name}).status_code == 404


def test_a_preview_outside_the_roots_is_refused(service, tmp_path) -> None:
    from loraloom.ui.thumbnails import Thumbnails

    outside = tmp_path / "secret.png"
    outside.write_bytes(b"\x89PNG")
    with pytest.raises(ValueError, match="not inside the LoRA folders"):
        Thumbnails().get(str(outside), service.library.roots)


def test_bad_sidecar_requests_are_400_with_the_reason(client) -> None:
    response = client.post(PREFIX + "/metadata", json={"name": "ink-style", "values": {"owner": "me"}})
    assert response.status_code == 400 and "unknown fields owner" in response.json()["detail"]
    assert client.post(PREFIX + "/metadata", json={"name": "ink-style", "values": "x"}).status_code == 400
    assert client.get(PREFIX + "/detail", params={"name": "missing"}).status_code == 400
