"""Who may call loraloom's routes inside A1111: the same people as A1111's UI and API.

A1111 (v1.10.1) protects its page with gradio's login (``--gradio-auth``/``--gradio-auth-path``:
a session cookie gradio keeps in ``app.tokens``) and its ``/sdapi`` routes with HTTP Basic
(``--api-auth``), but routes an extension adds with ``app.add_api_route`` get neither. Here a
request passes when no auth is configured (A1111's default, on 127.0.0.1), or when it carries a
logged-in gradio session, or valid ``--api-auth`` credentials. Origins listed in
``--cors-allow-origins`` count as the app's own.
"""

import base64
import binascii
from secrets import compare_digest
from typing import Any

from ...ui.requests import MAX_BODY_BYTES, HTTPRefusal, RequestPolicy, check_access, check_origin


def api_credentials(api_auth: str | None) -> dict:
    """``--api-auth "user:pass,user2:pass2"`` → ``{user: pass}`` (A1111's own parsing)."""
    credentials = {}
    for item in (api_auth or "").split(","):
        user, separator, password = item.partition(":")
        if separator:
            credentials[user] = password
    return credentials


def _session_user(app: Any, request: Any) -> str | None:
    """The gradio login behind the request's cookie (gradio 3.41 and 4.x cookie names)."""
    dependency = getattr(app, "auth_dependency", None)
    if dependency is not None:
        return dependency(request)
    tokens = getattr(app, "tokens", None) or {}
    cookie_id = getattr(app, "cookie_id", None)
    names = [f"access-token-{cookie_id}", f"access-token-unsecure-{cookie_id}"] if cookie_id else []
    for name in [*names, "access-token", "access-token-unsecure"]:
        token = request.cookies.get(name)
        if token and token in tokens:
            return tokens[token]
    return None


def _basic_user(request: Any, credentials: dict) -> str | None:
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    expected = credentials.get(user)
    return user if expected is not None and compare_digest(password.encode(), expected.encode()) else None


def a1111_policy(app: Any, cmd_opts: Any) -> RequestPolicy:
    """The policy for this WebUI: its login and API credentials, its CORS origins."""
    credentials = api_credentials(getattr(cmd_opts, "api_auth", None))
    ui_login = bool(
        getattr(app, "auth", None)
        or getattr(app, "auth_dependency", None)
        or getattr(cmd_opts, "gradio_auth", None)
        or getattr(cmd_opts, "gradio_auth_path", None)
    )
    origins = frozenset(
        origin.strip().rstrip("/") for origin in str(getattr(cmd_opts, "cors_allow_origins", "") or "").split(",")
    ) - {""}

    def authorize(request: Any) -> str | None:
        if not ui_login and not credentials:
            return None
        if ui_login and _session_user(app, request) is not None:
            return None
        if credentials and _basic_user(request, credentials) is not None:
            return None
        return "log in to the WebUI first" + (" (or send the --api-auth credentials)" if credentials else "")

    return RequestPolicy(allowed_origins=origins, authorize=authorize)


def route_guard(policy: RequestPolicy) -> Any:
    """A FastAPI dependency applying ``policy`` to a route added with ``add_api_route``."""
    from fastapi import HTTPException, Request

    def guard(request: Request) -> None:
        try:
            check_access(request, policy)
            if request.method == "POST":
                check_origin(request, policy)
                declared = request.headers.get("content-length", "0")
                if not declared.isdigit() or int(declared) > MAX_BODY_BYTES:
                    raise HTTPRefusal(413, f"the body is larger than {MAX_BODY_BYTES:,} bytes")
        except HTTPRefusal as refusal:
            headers = {"WWW-Authenticate": "Basic"} if refusal.status == 401 else None
            raise HTTPException(status_code=refusal.status, detail=refusal.message, headers=headers) from None

    return guard
