"""REST routes under ``/loraloom/v1`` (plain JSON: works with pydantic 1 and 2 alike)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...library.untrusted import json_safe
from ...syntax import parse
from ...ui.requests import RequestPolicy
from .session import Session


def add_routes(app: Any, get_session: Callable[[], Session], policy: RequestPolicy | None = None) -> None:
    """Add the REST routes; ``policy`` (see ``access.py``) says who may call them."""
    from fastapi import Body, Depends, HTTPException

    from .access import route_guard

    guard = [Depends(route_guard(policy or RequestPolicy()))]

    def loras() -> list[dict[str, Any]]:
        library = get_session().library
        return json_safe([_summary(library.describe(entry, with_hashes=False).to_json()) for entry in library.entries])

    def lora(name: str) -> dict[str, Any]:
        library = get_session().library
        resolution = library.resolve(name)
        if resolution.entry is None:
            raise HTTPException(status_code=404, detail=resolution.note)
        return json_safe(library.describe(resolution.entry).to_json())

    def refresh() -> dict[str, Any]:
        library = _refreshed_library()
        return {"count": len(library.entries), "problems": library.problems}

    def _refreshed_library() -> Any:
        """Re-list the files; with the gallery open, through it so its cards follow."""
        session = get_session()
        if session.gallery is not None:
            session.gallery.refresh()
        else:
            session.library.refresh()
        return session.library

    def parse_route(request: dict = Body(...)) -> dict[str, Any]:  # noqa: B008 - FastAPI's idiom
        return parse(str(request.get("prompt", "")), str(request.get("negative", ""))).to_json()

    def sdapi_loras() -> list[dict[str, Any]]:
        """The builtin's ``/sdapi/v1/loras`` shape: name, alias, path, metadata."""
        library = get_session().library
        result = []
        for entry in library.entries:
            summary = library.summary(entry)
            alias = summary.metadata.get("ss_output_name") or entry.stem
            result.append({"name": entry.stem, "alias": alias, "path": entry.path, "metadata": summary.metadata})
        return json_safe(result)

    def sdapi_refresh() -> None:
        _refreshed_library()

    app.add_api_route("/sdapi/v1/loras", sdapi_loras, methods=["GET"], dependencies=guard)
    app.add_api_route("/sdapi/v1/refresh-loras", sdapi_refresh, methods=["POST"], dependencies=guard)
    app.add_api_route("/loraloom/v1/loras", loras, methods=["GET"], dependencies=guard)
    app.add_api_route("/loraloom/v1/loras/{name:path}", lora, methods=["GET"], dependencies=guard)
    app.add_api_route("/loraloom/v1/refresh", refresh, methods=["POST"], dependencies=guard)
    app.add_api_route("/loraloom/v1/parse", parse_route, methods=["POST"], dependencies=guard)


def _summary(record: dict[str, Any]) -> dict[str, Any]:
    """The gallery-sized view of a LoRA (no full metadata); each hash named by what it is."""
    keys = (
        "name",
        "alias",
        "path",
        "family",
        "format",
        "kinds",
        "rank",
        "alpha",
        "size",
        "sha256",
        "addnet_hash",
        "trigger_words",
        "preferred_weight",
        "preview",
        "problems",
    )
    summary = {key: record.get(key) for key in keys}
    sha256, addnet = record.get("sha256"), record.get("addnet_hash")
    summary["autov2"] = sha256[:10] if sha256 else None  # Civitai's short hash
    summary["infotext_hash"] = (addnet or sha256 or "")[:12] or None  # what "Lora hashes" holds in A1111
    return summary
