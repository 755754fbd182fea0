"""Who may call the gallery's routes, and what a request body must look like.

- **Host**: standalone, the server answers only to the names it was bound as (``127.0.0.1``,
  ``localhost``…), so a DNS-rebinding page cannot read or write through the user's browser.
- **Origin**: a browser always sends ``Origin`` with a cross-site ``POST``; it must be this
  server itself (its ``Host``, or a configured origin). Requests without ``Origin`` come from
  scripts, not from pages, and cannot be forged by a page the user visits.
- **Content type**: a body is read only as ``application/json`` — what a page can send
  cross-origin without CORS (``text/plain`` blobs, forms) is refused, so ``fetch(…, {mode:
  "no-cors"})`` cannot reach a writing route.
- **Size**: bodies are read in chunks and refused past :data:`MAX_BODY_BYTES` (never buffered
  whole); each field has its own type and size, checked by :class:`Fields`.
- **Who**: hosts may add an ``authorize`` check (A1111: its login and API credentials).

Each refusal is an :class:`HTTPRefusal` with a status and one sentence saying what to do.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ..library.untrusted import UntrustedJSON, loads

MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_PROMPT_CHARS = 200_000
"""Longer than any prompt A1111 can encode; parsing stays well under a second."""
MAX_NAME_CHARS = 1024
MAX_WORDS = 64
MAX_WORD_CHARS = 256
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


class HTTPRefusal(Exception):
    """A request refused before any work: ``status`` and a message the page shows as is."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field

    def to_json(self) -> dict[str, Any]:
        return {"detail": self.message, **({"field": self.field} if self.field else {})}


@dataclass(frozen=True)
class RequestPolicy:
    """What the routes accept; hosts build one (``standalone`` and ``hosts/a1111`` do)."""

    allowed_hosts: frozenset[str] | None = None
    """Host names the server answers to (``None``: any, e.g. when bound to ``0.0.0.0``)."""
    allowed_origins: frozenset[str] = frozenset()
    """Origins besides the server's own (``scheme://host:port``), e.g. A1111's ``--cors-allow-origins``."""
    authorize: Callable[[Any], str | None] | None = None
    """``request → None`` when it may proceed, else why not (answered 401)."""
    max_body_bytes: int = MAX_BODY_BYTES


def loopback_policy(host: str = "127.0.0.1") -> RequestPolicy:
    """The standalone server's policy: answer only to loopback names (and ``host`` itself)."""
    if host in ("0.0.0.0", "::", ""):
        return RequestPolicy(allowed_hosts=None)
    return RequestPolicy(allowed_hosts=LOOPBACK_HOSTS | {host.lower()})


def _host_name(host: str) -> str:
    """``example.org:7860`` → ``example.org``; ``[::1]:7870`` → ``[::1]``."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def check_access(request: Any, policy: RequestPolicy) -> None:
    """Host and authorization checks, for every route (reading ones too)."""
    host = request.headers.get("host", "")
    if policy.allowed_hosts is not None and _host_name(host) not in policy.allowed_hosts:
        raise HTTPRefusal(
            403, f"this server answers only as {', '.join(sorted(policy.allowed_hosts))}; open it by that address"
        )
    if policy.authorize is not None:
        reason = policy.authorize(request)
        if reason is not None:
            raise HTTPRefusal(401, reason)


def check_origin(request: Any, policy: RequestPolicy) -> None:
    """A browser's cross-site write is refused: ``Origin`` must be this server (or allowed)."""
    origin = request.headers.get("origin")
    fetch_site = request.headers.get("sec-fetch-site", "")
    if origin is None:
        if fetch_site == "cross-site":
            raise HTTPRefusal(403, "cross-site requests are refused")
        return
    if origin.rstrip("/") in policy.allowed_origins:
        return
    parts = urlsplit(origin)
    hosts = {request.headers.get("host", "").lower(), request.headers.get("x-forwarded-host", "").lower()}
    if origin == "null" or not parts.netloc or parts.netloc.lower() not in hosts - {""}:
        raise HTTPRefusal(403, f"requests from {origin[:100]} are refused: only this app's own page may write")


async def read_json_body(request: Any, policy: RequestPolicy) -> dict[str, Any]:
    """The request's JSON object, after the origin, content-type and size checks."""
    check_origin(request, policy)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise HTTPRefusal(415, "send the body as JSON with 'Content-Type: application/json'")
    declared = request.headers.get("content-length")
    limit = policy.max_body_bytes
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise HTTPRefusal(413, f"the body is larger than {limit:,} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPRefusal(413, f"the body is larger than {limit:,} bytes")
        chunks.append(chunk)
    try:
        body = loads(b"".join(chunks))
    except UntrustedJSON as error:
        raise HTTPRefusal(400, f"the body {error}") from None
    if not isinstance(body, dict):
        raise HTTPRefusal(400, "the body must be a JSON object")
    return body


class Fields:
    """Typed access to a JSON body: each getter checks its field or raises a 400 naming it."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body

    def _bad(self, name: str, reason: str) -> HTTPRefusal:
        return HTTPRefusal(400, f"'{name}' {reason}", name)

    def text(self, name: str, limit: int, default: str | None = None) -> str:
        value = self.body.get(name, default)
        if not isinstance(value, str):
            raise self._bad(name, "must be a string" if name in self.body else "is required")
        if len(value) > limit:
            raise self._bad(name, f"is {len(value):,} characters; at most {limit:,} are accepted")
        return value

    def optional_text(self, name: str, limit: int) -> str | None:
        return None if self.body.get(name) is None else self.text(name, limit)

    def integer(self, name: str, low: int, high: int, default: int | None = None) -> int:
        value = self.body.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._bad(name, "must be a whole number" if name in self.body else "is required")
        if not low <= value <= high:
            raise self._bad(name, f"must be between {low} and {high}")
        return value

    def number(self, name: str) -> float:
        value = self.body.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise self._bad(name, "must be a finite number" if name in self.body else "is required")
        return float(value)

    def optional_number(self, name: str) -> float | None:
        return None if self.body.get(name) is None else self.number(name)

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.body.get(name, default)
        if not isinstance(value, bool):
            raise self._bad(name, "must be true or false")
        return value

    def words(self, name: str) -> list[str]:
        value = self.body.get(name) or []
        if not isinstance(value, list) or not all(isinstance(word, str) for word in value):
            raise self._bad(name, "must be a list of strings")
        if len(value) > MAX_WORDS or any(len(word) > MAX_WORD_CHARS for word in value):
            raise self._bad(name, f"may hold at most {MAX_WORDS} words of {MAX_WORD_CHARS} characters")
        return value

    def mapping(self, name: str) -> dict[str, Any]:
        value = self.body.get(name)
        if not isinstance(value, dict):
            raise self._bad(name, "must be an object of sidecar fields")
        return value
