"""``script_callbacks``: named callback lists, registration and the calls processing makes."""

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


def _add(kind, callback, name):
    callback_map[kind].append(ScriptCallback("scripts/loraloom.py", callback, name))


def on_app_started(callback, *, name=None):
    _add("callbacks_app_started", callback, name)


def on_model_loaded(callback, *, name=None):
    _add("callbacks_model_loaded", callback, name)


def on_ui_settings(callback, *, name=None):
    _add("callbacks_ui_settings", callback, name)


def on_cfg_denoiser(callback, *, name=None):
    _add("callbacks_cfg_denoiser", callback, name)


def on_infotext_pasted(callback, *, name=None):
    _add("callbacks_infotext_pasted", callback, name)


def on_script_unloaded(callback, *, name=None):
    _add("callbacks_script_unloaded", callback, name)


def on_before_ui(callback, *, name=None):
    _add("callbacks_before_ui", callback, name)


def on_ui_tabs(callback, *, name=None):
    _add("callbacks_ui_tabs", callback, name)


def ui_tabs_callback():
    """As A1111: each callback returns (blocks, label, id) tuples; the lists are concatenated."""
    tabs = []
    for entry in callback_map["callbacks_ui_tabs"]:
        tabs += entry.callback() or []
    return tabs


def _call(kind, *args):
    for entry in callback_map[kind]:
        entry.callback(*args)


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
    _call("callbacks_before_ui")
