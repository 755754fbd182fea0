"""The gallery's REST routes under ``/loraloom/v1/ui`` — the same in A1111 and standalone.

Plain JSON bodies (no pydantic models) so the routes work on FastAPI 0.94/pydantic 1 (A1111)
and on current FastAPI/pydantic 2 (Forge, standalone) alike.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .service import GalleryError, GalleryService

PREFIX = "/loraloom/v1/ui"


def add_gallery_routes(app: Any, get_service: Callable[[], GalleryService]) -> None:
    from fastapi import Body, HTTPException
    from fastapi.responses import Response

    def guarded(call: Callable[[], Any]) -> Any:
        try:
            return call()
        except GalleryError as error:
            raise HTTPException(status_code=400, detail=str(error)) from None
        except IndexError as error:  # the prompt changed since the browser parsed it
            raise HTTPException(status_code=409, detail=str(error)) from None

    def state() -> dict[str, Any]:
        return get_service().settings_json()

    def cards() -> dict[str, Any]:
        service = get_service()
        return {"cards": service.cards(), "state": service.settings_json()}

    def detail(name: str) -> dict[str, Any]:
        return guarded(lambda: get_service().detail(name))

    def thumbnail(name: str) -> Any:
        try:
            data = get_service().thumbnail(name)
        except (GalleryError, OSError, ValueError) as error:
            raise HTTPException(status_code=404, detail=str(error)) from None
        from .thumbnails import image_type

        return Response(data, media_type=image_type(data), headers={"Cache-Control": "max-age=86400"})

    def refresh() -> dict[str, Any]:
        return get_service().refresh()

    def progress() -> dict[str, Any]:
        return get_service().progress_json()

    def metadata(request: dict = Body(...)) -> dict[str, Any]:  # noqa: B008 - FastAPI's idiom
        values = request.get("values")
        if not isinstance(values, dict):
            raise HTTPException(status_code=400, detail="'values' must be an object of sidecar fields")
        return guarded(lambda: get_service().save_user_metadata(str(request.get("name", "")), values))

    def favourite(request: dict = Body(...)) -> dict[str, Any]:  # noqa: B008
        name, on = str(request.get("name", "")), bool(request.get("favourite"))
        guarded(lambda: get_service().set_favourite(name, on))
        return {"name": name, "favourite": on}

    def toggle(request: dict = Body(...)) -> dict[str, Any]:  # noqa: B008
        return guarded(
            lambda: (
                get_service()
                .toggle(
                    _text(request),
                    int(request.get("cursor", len(_text(request)))),
                    str(request.get("name", "")),
                    with_words=bool(request.get("with_words")),
                    added_words=_words(request),
                )
                .to_json()
            )
        )

    def weight(request: dict = Body(...)) -> dict[str, Any]:  # noqa: B008
        unet = request.get("unet")
        return guarded(
            lambda: (
                get_service()
                .set_weight(
                    _text(request), int(request["index"]), float(request["te"]), None if unet is None else float(unet)
                )
                .to_json()
            )
        )

    def remove(request: dict = Body(...)) -> dict[str, Any]:  # noqa: B008
        return guarded(lambda: get_service().remove(_text(request), int(request["index"]), _words(request)).to_json())

    def rows(request: dict = Body(...)) -> dict[str, Any]:  # noqa: B008
        service, family = get_service(), request.get("family") or None
        return {
            "positive": service.rows(str(request.get("prompt", "")), "positive", family),
            "negative": service.rows(str(request.get("negative", "")), "negative", family),
        }

    for path, endpoint, method in (
        ("/state", state, "GET"),
        ("/cards", cards, "GET"),
        ("/detail", detail, "GET"),
        ("/thumb", thumbnail, "GET"),
        ("/progress", progress, "GET"),
        ("/refresh", refresh, "POST"),
        ("/metadata", metadata, "POST"),
        ("/favourite", favourite, "POST"),
        ("/toggle", toggle, "POST"),
        ("/weight", weight, "POST"),
        ("/remove", remove, "POST"),
        ("/rows", rows, "POST"),
    ):
        app.add_api_route(PREFIX + path, endpoint, methods=[method])


def _text(request: dict[str, Any]) -> str:
    return str(request.get("text", ""))


def _words(request: dict[str, Any]) -> list[str]:
    words = request.get("added_words") or []
    return [str(word) for word in words] if isinstance(words, list) else []
