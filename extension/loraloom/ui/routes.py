"""The gallery's REST routes under ``/loraloom/v1/ui`` — the same in A1111 and standalone.

Plain Starlette routes with JSON read by :mod:`.requests` (no pydantic models), so they work on
FastAPI 0.94/pydantic 1 (A1111) and current FastAPI/pydantic 2 (Forge, standalone) alike. Every
route checks the :class:`~.requests.RequestPolicy` (host, authorization); writing routes also
the origin, the content type and the body size. Each field is typed and bounded; a refusal is a
4xx with one sentence (and the field) — bad input never reaches the service as a 500.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ..library.untrusted import json_safe
from .requests import (
    MAX_NAME_CHARS,
    MAX_PROMPT_CHARS,
    Fields,
    HTTPRefusal,
    RequestPolicy,
    check_access,
    check_origin,
    read_json_body,
)
from .service import GalleryError, GalleryService, SaveFailed

PREFIX = "/loraloom/v1/ui"
FAMILIES = ("sd1", "sd2", "sdxl", "unknown")

Handler = Callable[[GalleryService, Any, "Fields | None"], Any]


def json_response(content: Any, status: int = 200) -> Any:
    """A JSON response any client can parse: strict JSON, valid UTF-8, whatever a file held."""
    from starlette.responses import Response

    try:
        body = json.dumps(content, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except (ValueError, TypeError, UnicodeEncodeError):
        body = json.dumps(json_safe(content), ensure_ascii=False, allow_nan=False, default=str).encode("utf-8")
    return Response(body, status_code=status, media_type="application/json")


def add_gallery_routes(
    app: Any, get_service: Callable[[], GalleryService], policy: RequestPolicy | None = None
) -> None:
    """Add the routes to ``app`` (FastAPI or Starlette); ``policy`` says who may call them."""
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import Response

    rules = policy or RequestPolicy()

    def route(path: str, method: str, handler: Handler, *, body: bool = False) -> None:
        async def endpoint(request: Any) -> Any:
            try:
                check_access(request, rules)
                fields = Fields(await read_json_body(request, rules)) if body else None
                if method == "POST" and not body:
                    check_origin(request, rules)
                result = await run_in_threadpool(handler, get_service(), request, fields)
            except HTTPRefusal as refusal:
                return json_response(refusal.to_json(), refusal.status)
            except SaveFailed as error:
                return json_response({"detail": str(error)}, 507)
            except GalleryError as error:
                return json_response({"detail": str(error)}, 400)
            except IndexError as error:  # the prompt changed since the browser parsed it
                return json_response({"detail": str(error)}, 409)
            return result if isinstance(result, Response) else json_response(result)

        endpoint.__name__ = handler.__name__
        app.add_route(PREFIX + path, endpoint, methods=[method])

    for path, method, handler, body in ROUTES:
        route(path, method, handler, body=body)


def _query_name(request: Any) -> str:
    name = request.query_params.get("name")
    if name is None:
        raise HTTPRefusal(400, "'name' is required", "name")
    if len(name) > MAX_NAME_CHARS:
        raise HTTPRefusal(400, f"'name' is longer than {MAX_NAME_CHARS} characters", "name")
    return name


def state(service: GalleryService, request: Any, fields: Fields | None) -> Any:
    return service.settings_json()


def cards(service: GalleryService, request: Any, fields: Fields | None) -> Any:
    return {"cards": service.cards(), "state": service.settings_json()}


def progress(service: GalleryService, request: Any, fields: Fields | None) -> Any:
    return service.progress_json()


def detail(service: GalleryService, request: Any, fields: Fields | None) -> Any:
    return service.detail(_query_name(request))


def thumbnail(service: GalleryService, request: Any, fields: Fields | None) -> Any:
    from starlette.responses import Response

    from .thumbnails import image_type

    try:
        data = service.thumbnail(_query_name(request))
    except (GalleryError, OSError, ValueError) as error:
        return json_response({"detail": str(error)}, 404)
    return Response(data, media_type=image_type(data), headers={"Cache-Control": "max-age=86400"})


def refresh(service: GalleryService, request: Any, fields: Fields | None) -> Any:
    return service.refresh()


def metadata(service: GalleryService, request: Any, fields: Fields | None) -> Any:
    assert fields is not None
    return service.save_user_metadata(fields.text("name", MAX_NAME_CHARS), fields.mapping("values"))


def favourite(service: GalleryService, request: Any, fields: Fields | None) -> Any:
    assert fields is not None
    name, on = fields.text("name", MAX_NAME_CHARS), fields.flag("favourite")
    return {"name": service.set_favourite(name, on), "favourite": on}


def toggle(service: GalleryService, request: Any, fields: Fields | None) -> Any:
    assert fields is not None
    text = fields.text("text", MAX_PROMPT_CHARS, "")
    cursor = fields.integer("cursor", 0, MAX_PROMPT_CHARS, len(text))
    name = fields.text("name", MAX_NAME_CHARS)
    with_words, words = fields.flag("with_words"), fields.words("added_words")
    return service.toggle(text, cursor, name, with_words=with_words, added_words=words).to_json()


def weight(service: GalleryService, request: Any, fields: Fields | None) -> Any:
    assert fields is not None
    text = fields.text("text", MAX_PROMPT_CHARS, "")
    index = fields.integer("index", 0, MAX_PROMPT_CHARS)
    return service.set_weight(text, index, fields.number("te"), fields.optional_number("unet")).to_json()


def remove(service: GalleryService, request: Any, fields: Fields | None) -> Any:
    assert fields is not None
    text = fields.text("text", MAX_PROMPT_CHARS, "")
    index = fields.integer("index", 0, MAX_PROMPT_CHARS)
    return service.remove(text, index, fields.words("added_words")).to_json()


def rows(service: GalleryService, request: Any, fields: Fields | None) -> Any:
    assert fields is not None
    prompt = fields.text("prompt", MAX_PROMPT_CHARS, "")
    negative = fields.text("negative", MAX_PROMPT_CHARS, "")
    family = fields.optional_text("family", 16) or None
    if family is not None and family not in FAMILIES:
        raise HTTPRefusal(400, f"'family' must be one of {', '.join(FAMILIES)}", "family")
    return {
        "positive": service.rows(prompt, "positive", family),
        "negative": service.rows(negative, "negative", family),
    }


ROUTES: list[tuple[str, str, Handler, bool]] = [
    ("/state", "GET", state, False),
    ("/cards", "GET", cards, False),
    ("/detail", "GET", detail, False),
    ("/thumb", "GET", thumbnail, False),
    ("/progress", "GET", progress, False),
    ("/refresh", "POST", refresh, False),
    ("/metadata", "POST", metadata, True),
    ("/favourite", "POST", favourite, True),
    ("/toggle", "POST", toggle, True),
    ("/weight", "POST", weight, True),
    ("/remove", "POST", remove, True),
    ("/rows", "POST", rows, True),
]
"""``(path, method, handler, reads a JSON body)``: the whole API surface, in one place."""
