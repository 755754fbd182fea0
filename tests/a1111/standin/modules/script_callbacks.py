"""``script_callbacks``: named callbacks as A1111 names them, ordered as A1111 orders them.

Names are ``<extension folder>/<file>/<category>[/<name>]``; ``before_ui`` runs in *reverse*
order (A1111 v1.10.1 ``before_ui_callback``); ``metadata.ini`` ``[callbacks/…]`` sections with
``Before``/``After`` reorder a category (topologically), as ``sort_callbacks`` does.
"""

import configparser
import inspect
import os
import re
from collections import namedtuple

ScriptCallback = namedtuple("ScriptCallback", ["script", "callback", "name"])
KINDS = [
    "callbacks_app_started",
    "callbacks_model_loaded",
    "callbacks_ui_settings",
    "callbacks_cfg_denoiser",
    "callbacks_infotext_pasted",
    "callbacks_script_unloaded",
    "callbacks_before_ui",
    "callbacks_ui_tabs",
]
callback_map = {kind: [] for kind in KINDS}
extension_roots = {}
"""Extension folder name → path (set by the tests, as A1111 lists ``extensions/``)."""


class CFGDenoiserParams:
    def __init__(
        self, x, image_cond, sigma, sampling_step, total_sampling_steps, text_cond, text_uncond, denoiser=None
    ):
        self.x = x
        self.image_cond = image_cond
        self.sigma = sigma
        self.sampling_step = sampling_step
        self.total_sampling_steps = total_sampling_steps
        self.text_cond = text_cond
        self.text_uncond = text_uncond
        self.denoiser = denoiser


def clear_callbacks():
    for callbacks in callback_map.values():
        callbacks.clear()


def _extension_of(filename):
    for name, root in extension_roots.items():
        if os.path.abspath(filename).startswith(os.path.abspath(root) + os.sep):
            return name
    return "base"


def _add(kind, callback, name):
    stack = [frame.filename for frame in inspect.stack() if frame.filename != __file__]
    filename = stack[0] if stack else "unknown"
    full = f"{_extension_of(filename)}/{os.path.basename(filename)}/{kind[len('callbacks_') :]}"
    if name is not None:
        full += f"/{name}"
    callback_map[kind].append(ScriptCallback(filename, callback, full))


def _order_rules():
    rules = []
    for name, root in extension_roots.items():
        config = configparser.ConfigParser()
        config.read(os.path.join(root, "metadata.ini"), encoding="utf-8")
        for section in config.sections():
            if section.startswith("callbacks/") and section[10:].startswith(name):
                split = lambda text: [x for x in re.split(r"[,\s]+", text.strip().lower()) if x]  # noqa: E731
                rules.append(
                    (
                        section[10:],
                        split(config.get(section, "Before", fallback="")),
                        split(config.get(section, "After", fallback="")),
                    )
                )
    return rules


def ordered(kind):
    callbacks = list(callback_map[kind])
    names = {c.name for c in callbacks}
    after = {c.name: [] for c in callbacks}
    for name, before_list, after_list in _order_rules():
        if name not in names:
            continue
        after[name] += [other for other in after_list if other in names]
        for other in before_list:
            if other in names:
                after[other].append(name)
    result, seen = [], set()

    def visit(name):
        if name in seen:
            return
        seen.add(name)
        for dependency in after[name]:
            visit(dependency)
        result.append(name)

    for callback in callbacks:
        visit(callback.name)
    by_name = {c.name: c for c in callbacks}
    return [by_name[name] for name in result]


def _register(kind):
    def register(callback, *, name=None):
        _add(kind, callback, name)

    return register


on_app_started = _register("callbacks_app_started")
on_model_loaded = _register("callbacks_model_loaded")
on_ui_settings = _register("callbacks_ui_settings")
on_cfg_denoiser = _register("callbacks_cfg_denoiser")
on_infotext_pasted = _register("callbacks_infotext_pasted")
on_script_unloaded = _register("callbacks_script_unloaded")
on_before_ui = _register("callbacks_before_ui")
on_ui_tabs = _register("callbacks_ui_tabs")


def _call(kind, *args):
    return [c.callback(*args) for c in ordered(kind)]


def ui_tabs_callback():
    tabs = []
    for result in _call("callbacks_ui_tabs"):
        tabs += result or []
    return tabs


def app_started_callback(demo, app):
    _call("callbacks_app_started", demo, app)


def model_loaded_callback(sd_model):
    _call("callbacks_model_loaded", sd_model)


def ui_settings_callback():
    _call("callbacks_ui_settings")


def cfg_denoiser_callback(params):
    _call("callbacks_cfg_denoiser", params)


def infotext_pasted_callback(infotext, params):
    _call("callbacks_infotext_pasted", infotext, params)


def script_unloaded_callback():
    _call("callbacks_script_unloaded")


def before_ui_callback():
    for c in reversed(ordered("callbacks_before_ui")):
        c.callback()
