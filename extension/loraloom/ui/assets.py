"""The browser side (``javascript/loraloom.js`` + ``style.css``) and how the standalone app loads it.

A1111 loads both files itself (every extension's ``javascript/*.js`` and root ``style.css``); the
standalone app serves them under ``/loraloom/assets/`` and adds them to gradio's page with a
small ASGI middleware, which works the same under gradio 3 and 4.
"""

from __future__ import annotations

import os
from typing import Any

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
ASSETS = {
    "loraloom.js": (os.path.join(PROJECT_ROOT, "javascript", "loraloom.js"), "text/javascript"),
    "style.css": (os.path.join(PROJECT_ROOT, "style.css"), "text/css"),
}
ASSET_PREFIX = "/loraloom/assets/"
HEAD_TAGS = (
    f'<link rel="stylesheet" href="{ASSET_PREFIX}style.css">'
    f'<script type="text/javascript" src="{ASSET_PREFIX}loraloom.js"></script>'
).encode()


def add_asset_routes(app: Any) -> None:
    from fastapi import HTTPException
    from fastapi.responses import Response

    def asset(name: str) -> Any:
        if name not in ASSETS:
            raise HTTPException(status_code=404)
        path, media_type = ASSETS[name]
        with open(path, "rb") as handle:
            return Response(handle.read(), media_type=media_type, headers={"Cache-Control": "no-cache"})

    app.add_api_route(ASSET_PREFIX + "{name}", asset, methods=["GET"])


class InjectAssets:
    """ASGI middleware: adds the asset tags to the HTML page gradio serves at ``/``."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("method") != "GET" or scope.get("path") != "/":
            await self.app(scope, receive, send)
            return
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: dict) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            if message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = b"".join(chunks)
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
            if any(k.lower() == b"content-type" and v.startswith(b"text/html") for k, v in headers):
                body = body.replace(b"</head>", HEAD_TAGS + b"</head>", 1)
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, capture)
