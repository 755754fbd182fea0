"""The recorder inside a real A1111: an always-visible script and two callbacks (see README)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from modules import extra_networks, script_callbacks, scripts, shared
from recorder_events import recorder_from_env

RECORDER = recorder_from_env()


class RecorderScript(scripts.Script):
    def title(self):
        return "loraloom recorder"

    def show(self, is_img2img):
        return scripts.AlwaysVisible

    def before_process(self, p, *args):
        RECORDER.owners(extra_networks, "before_process")
        RECORDER.add("before_process", img2img=hasattr(p, "init_images"), batch_size=p.batch_size, n_iter=p.n_iter)
        original = extra_networks.activate

        def activate(p, data):
            RECORDER.activate(p, data)
            return original(p, data)

        activate.recorder_original = original
        extra_networks.activate = activate
        RECORDER.attach(shared.sd_model)
        path = os.environ.get("LORALOOM_CATALOGUE")
        if path and not os.path.exists(path):
            import json

            from recorder_events import catalogue

            with open(path, "w", encoding="utf-8") as stream:
                json.dump(catalogue(shared.sd_model), stream)

    def process(self, p, *args):
        RECORDER.add(
            "process",
            all_prompts=list(p.all_prompts),
            all_negative_prompts=list(p.all_negative_prompts),
            hr=bool(getattr(p, "enable_hr", False)),
        )

    def before_process_batch(self, p, *args, **kwargs):
        RECORDER.add("before_process_batch", iteration=p.iteration, prompts=list(p.prompts))

    def process_batch(self, p, *args, **kwargs):
        RECORDER.add("process_batch", prompts=list(p.prompts), negative_prompts=list(p.negative_prompts))

    def before_hr(self, p, *args):
        RECORDER.add("before_hr", hr_prompts=list(getattr(p, "hr_prompts", [])))

    def postprocess(self, p, processed, *args):
        RECORDER.add("postprocess")
        RECORDER.detach()
        original = getattr(extra_networks.activate, "recorder_original", None)
        if original is not None:
            extra_networks.activate = original


script_callbacks.on_cfg_denoiser(RECORDER.cfg_denoiser, name="recorder cfg")
script_callbacks.on_app_started(lambda demo, app: RECORDER.owners(extra_networks, "app_started"), name="recorder app")
