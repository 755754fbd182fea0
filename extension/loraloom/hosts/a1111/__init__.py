"""The A1111 / Forge-style host: registers loraloom with the WebUI's callbacks.

``scripts/loraloom.py`` calls :func:`setup` every time A1111 executes it (startup and every
"Reload UI"; A1111 clears its callback lists before a reload, so registering again is right and
nothing is registered twice). All state lives in one :class:`~.session.Session`, the registry
the host needs; everything else is in the core.
"""

from __future__ import annotations

import contextlib
from typing import Any

from ...library import Library
from .ownership import TagOwnership
from .prompts import restore_negative_tags
from .session import Session, Settings, lora_folders, parse_hashes

SECTION = ("loraloom", "loraloom")
_session: Session | None = None


def get_session() -> Session:
    """The one registry of this WebUI process (created on first use)."""
    global _session
    if _session is None:
        from modules import shared  # type: ignore[import-not-found]

        extra = [d.strip() for d in str(getattr(shared.opts, "loraloom_extra_dirs", "") or "").split(",") if d.strip()]
        library = Library(lora_folders(shared.cmd_opts, extra), cache_path=_cache_path())
        library.refresh()
        _session = Session(library)
        _session.ownership = TagOwnership(make_extra_network)
    return _session


def _cache_path() -> str:
    import os

    from modules import paths  # type: ignore[import-not-found]

    return os.path.join(getattr(paths, "data_path", "."), "cache", "loraloom.json")


def make_extra_network() -> Any:
    """The ``ExtraNetwork`` subclass, built when A1111's modules exist."""
    from modules import extra_networks, shared  # type: ignore[import-not-found]

    class LoraloomNetwork(extra_networks.ExtraNetwork):  # type: ignore[misc,name-defined]
        loraloom = True

        def __init__(self) -> None:
            super().__init__("lora")

        def activate(self, p: Any, params_list: list) -> None:
            session = get_session()
            problems = session.ownership.unload_displaced(p)
            problems += session.activate(p, params_list, shared.sd_model, Settings.from_opts(shared.opts))
            for line in problems:
                _tell(line, p)

        def deactivate(self, p: Any) -> None:
            """Housekeeping only: the next activate decides what stays applied."""

    return LoraloomNetwork()


def _tell(line: str, p: Any = None, *, loud: bool = False) -> None:
    """A problem in the console, the infotext (when ``p`` is given) and a toast in the browser."""
    print(f"[loraloom] {'WARNING: ' if loud else ''}{line}")
    if p is not None and hasattr(p, "comment"):
        p.comment(f"loraloom: {line}")
    _warn_in_ui(line)


def _warn_in_ui(line: str) -> None:
    """A gradio toast in the browser (gradio ≥ 3.37; outside a request it only logs)."""
    with contextlib.suppress(Exception):  # a toast must never break a generation
        import gradio as gr

        gr.Warning(f"loraloom: {line}")


def _callback_registered(kind: str, function: Any) -> bool:
    from modules import script_callbacks  # type: ignore[import-not-found]

    return any(getattr(c, "callback", None) is function for c in script_callbacks.callback_map.get(kind, []))


def handles_tags() -> bool:
    from modules import shared  # type: ignore[import-not-found]

    return bool(getattr(shared.opts, "loraloom_handle_tags", True))


def claim_tags(p: Any = None) -> None:
    """Own ``lora``/``lyco`` (setting on) or hand them back (off); say what happened, once.

    Called in ``before_ui``, again in ``app_started`` (after every ``before_ui``, whatever their
    order) and before every generation (a reload or another extension may have re-registered).
    """
    from modules import extra_networks  # type: ignore[import-not-found]

    session = get_session()
    if handles_tags():
        lines = session.ownership.claim(extra_networks)
        loud = not session.ownership.owns(extra_networks)
        for line in lines:
            _tell(line, p if loud else None, loud=loud)
    elif session.ownership.displaced or session.ownership.holds_any(extra_networks):
        for line in session.ownership.hand_back(extra_networks):
            print(f"[loraloom] {line}")
        session.release()


def on_before_ui() -> None:
    claim_tags()


def on_model_loaded(sd_model: Any) -> None:
    if _session is not None:
        _session.model_changed()


def on_cfg_denoiser(params: Any) -> None:
    if _session is not None:
        _session.on_cfg_denoiser(params)


def on_script_unloaded() -> None:
    if _session is not None:
        _session.release()


def on_infotext_pasted(infotext: str, params: dict) -> None:
    """Re-resolve pasted ``<lora:NAME:…>`` names by their ``Lora hashes`` (renamed files still work)
    and turn kohya AddNet fields into tags."""
    restore_negative_tags(params)
    prompt = params.get("Prompt")
    if not isinstance(prompt, str):
        return
    library = get_session().library
    prompt += addnet_tags(params, library)
    hashes = parse_hashes(str(params.get("Lora hashes", "")))
    params["Prompt"] = rename_by_hash(prompt, hashes, library) if hashes else prompt


def addnet_tags(params: dict, library: Library) -> str:
    """``AddNet Module N``/``Model N``/``Weight A N``/``Weight B N`` (sd-webui-additional-networks) as tags."""
    tags = []
    for index in range(1, 21):
        if str(params.get(f"AddNet Module {index}", "")) != "LoRA":
            continue
        model = str(params.get(f"AddNet Model {index}", ""))
        name, _, rest = model.partition("(")
        short_hash = rest.rstrip(")").strip()
        found = library.resolve(short_hash) if short_hash else None
        name = found.entry.name if found is not None and found.entry is not None else name.strip()
        te = str(params.get(f"AddNet Weight A {index}", "1")).strip() or "1"
        unet = str(params.get(f"AddNet Weight B {index}", te)).strip() or te
        if name:
            tags.append(f"<lora:{name}:{te}>" if te == unet else f"<lora:{name}:{te}:{unet}>")
    return (" " + " ".join(tags)) if tags else ""


def rename_by_hash(prompt: str, hashes: dict[str, str] | Any, library: Library) -> str:
    """Point tags at the local files whose hash the infotext recorded, verifying the hash first.

    One parse of the prompt; each renamed tag is edited on its own text and spliced back by its
    span, so a pasted prompt with thousands of tags costs linear time."""
    from ...syntax import parse_prompt, rename_tag

    pieces, last = [], 0
    for tag in parse_prompt(prompt).tags:
        wanted = hashes.get(tag.name.translate(str.maketrans("", "", ":,")))
        if not wanted or (library.resolve(tag.name).entry is not None and _hash_matches(library, tag.name, wanted)):
            continue
        found = library.resolve(wanted)
        if found.entry is not None and found.how == "hash":
            pieces += [prompt[last : tag.span[0]], rename_tag(tag.raw, 0, found.entry.name).text]
            last = tag.span[1]
    return "".join(pieces) + prompt[last:]


def _hash_matches(library: Library, name: str, wanted: str) -> bool:
    entry = library.resolve(name).entry
    if entry is None:
        return False
    try:
        hashes = library.hashes(entry)
    except OSError:
        return False
    # A1111 and reForge write the addnet hash, Forge the whole-file sha256: either names the file
    return wanted[:12] in (hashes.infotext_hash, hashes.sha256[:12])


def on_ui_settings() -> None:
    from modules import shared  # type: ignore[import-not-found]

    options = {
        "loraloom_handle_tags": shared.OptionInfo(
            True, "Handle <lora:…>/<lyco:…> tags (off: the builtin Lora extension does; applies at the next generation)"
        ),
        "loraloom_mode": shared.OptionInfo("hooks", "How LoRAs are applied", _radio(), {"choices": ["hooks", "merge"]}),
        "loraloom_cache_count": shared.OptionInfo(8, "LoRAs kept in memory (count)", _integer(), {"precision": 0}),
        "loraloom_cache_mb": shared.OptionInfo(2048, "LoRAs kept in memory (MB)", _integer(), {"precision": 0}),
        "loraloom_settle_mb": shared.OptionInfo(
            4096,
            "Hooks mode: memory for merged copies of layers whose LoRA weights stay put (MB; 0: always add outputs)",
            _integer(),
            {"precision": 0},
        ),
        "loraloom_default_weight": shared.OptionInfo(
            1.0,
            "Weight of a LoRA inserted from the gallery",
            _slider(),
            {"minimum": -2.0, "maximum": 2.0, "step": 0.05},
        ),
        "loraloom_extra_dirs": shared.OptionInfo("", "More LoRA folders (comma separated)"),
        "loraloom_negative_tags": shared.OptionInfo(True, "Read <lora:…> tags in the negative prompt"),
        "loraloom_hide_other_families": shared.OptionInfo(
            False, "Gallery: hide LoRAs of another model family (off: they are dimmed with a badge)"
        ),
        "loraloom_trigger_words": shared.OptionInfo(
            True,
            "Gallery: a click also inserts the trigger words, and removing the tag removes them "
            "(off: only the tag; shift-click adds the words)",
        ),
    }
    for name, option in options.items():
        option.section = SECTION
        shared.opts.add_option(name, option)


def _radio() -> Any:
    import gradio as gr

    return gr.Radio


def _integer() -> Any:
    import gradio as gr

    return gr.Number


def _slider() -> Any:
    import gradio as gr

    return gr.Slider


def on_app_started(demo: Any, app: Any) -> None:
    from modules import shared  # type: ignore[import-not-found]

    claim_tags()
    from ...ui.routes import add_gallery_routes
    from .access import a1111_policy
    from .api import add_routes
    from .gallery import gallery_service

    policy = a1111_policy(app, shared.cmd_opts)  # the UI's login and --api-auth, not open routes
    add_routes(app, get_session, policy)
    add_gallery_routes(app, lambda: gallery_service(get_session()), policy)


def on_ui_tabs() -> list[tuple[Any, str, str]]:
    from .gallery import gallery_service, gallery_tabs

    gallery_service(get_session())  # start reading headers while the page loads
    return gallery_tabs()


def setup() -> None:
    """Register every callback once per (re)load of the WebUI's scripts."""
    from modules import script_callbacks  # type: ignore[import-not-found]

    registrations = [
        ("callbacks_before_ui", script_callbacks.on_before_ui, on_before_ui),
        ("callbacks_model_loaded", script_callbacks.on_model_loaded, on_model_loaded),
        ("callbacks_cfg_denoiser", script_callbacks.on_cfg_denoiser, on_cfg_denoiser),
        ("callbacks_script_unloaded", script_callbacks.on_script_unloaded, on_script_unloaded),
        ("callbacks_infotext_pasted", script_callbacks.on_infotext_pasted, on_infotext_pasted),
        ("callbacks_ui_settings", script_callbacks.on_ui_settings, on_ui_settings),
        ("callbacks_app_started", script_callbacks.on_app_started, on_app_started),
        ("callbacks_ui_tabs", script_callbacks.on_ui_tabs, on_ui_tabs),
    ]
    for kind, register, function in registrations:
        if not _callback_registered(kind, function):
            register(function, name=function.__name__)
