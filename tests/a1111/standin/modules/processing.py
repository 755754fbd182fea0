"""``processing``: ``p`` and ``process_images`` in A1111 v1.10.1's order, on a tiny model.

``shared.flavour = "forge"`` runs Forge's differences instead (recorded in a real Forge
``dfdcbab6``, ``tests/forge/recordings``): the hires conditionings are encoded right after the
first pass's (the hires tags activated outside the hires pass, then the first pass's again);
at CFG 1 the negative prompt is not encoded; the CFG step's callback sees the images' rows only
and the UNet gets one call whose ``transformer_options["cond_or_uncond"]`` lists its chunks —
unconditional first, then one chunk per ``AND`` part, each holding every image.
``"reforge"`` (reForge ``3b56b268``, ``tests/reforge/recordings``) samples the same way on
A1111's model layout, and at CFG 1 encodes the negative prompt but runs no unconditional chunk.

The order (checked against recordings from a real A1111 by ``tests/a1111/test_recordings.py``):
``before_process`` → prompts set up → ``process`` → per batch: slice → ``before_process_batch``
→ tags stripped (only the first image's reach extra networks) → ``extra_networks.activate`` →
``process_batch`` → conditionings (negative first, each distinct prompt encoded once, cached
across generations by A1111's class-level caches) → sampling (``cfg_denoiser`` before each
step, the CFG batch is every image's conditional rows then the unconditional rows, the
denoiser's ``step`` counts from 0, ``state.sampling_step`` follows one step behind) → hires
pass (``is_hr_pass``, ``activate`` again with the hires tags, hires conditionings, sampling).
"""

from typing import ClassVar

import torch

from . import extra_networks, prompt_parser, script_callbacks, shared


class StableDiffusionProcessing:
    cached_uc: ClassVar[list] = [None, None]  # A1111 shares these caches across generations
    cached_c: ClassVar[list] = [None, None]

    def __init__(self, prompt="", negative_prompt="", steps=20, batch_size=1, n_iter=1, seed=1, **kwargs):
        self.prompt = prompt
        self.negative_prompt = negative_prompt
        self.steps = steps
        self.batch_size = batch_size
        self.n_iter = n_iter
        self.seed = seed
        self.cfg_scale = kwargs.pop("cfg_scale", 7.0)
        self.enable_hr = kwargs.pop("enable_hr", False)
        self.hr_prompt = kwargs.pop("hr_prompt", "")
        self.hr_negative_prompt = kwargs.pop("hr_negative_prompt", "")
        self.hr_second_pass_steps = kwargs.pop("hr_second_pass_steps", 0)
        self.scripts = kwargs.pop("scripts", None)
        self.all_prompts_given = kwargs.pop("all_prompts", None)
        self.all_seeds_given = kwargs.pop("all_seeds", None)
        if kwargs:
            raise TypeError(f"unknown arguments {sorted(kwargs)}")
        self.extra_generation_params = {}
        self.comments = {}
        self.is_hr_pass = False
        self.iteration = 0
        self.disable_extra_networks = False

    def comment(self, text):
        self.comments[text] = 1

    def setup_prompts(self):
        count = self.batch_size * self.n_iter
        self.all_prompts = list(self.all_prompts_given or [self.prompt] * count)
        self.all_negative_prompts = [self.negative_prompt] * len(self.all_prompts)
        self.all_seeds = list(self.all_seeds_given or [self.seed + i for i in range(len(self.all_prompts))])
        if self.enable_hr:
            self.all_hr_prompts = [self.hr_prompt or prompt for prompt in self.all_prompts]
            self.all_hr_negative_prompts = [self.hr_negative_prompt or n for n in self.all_negative_prompts]

    def parse_extra_network_prompts(self):
        self.prompts, self.extra_network_data = extra_networks.parse_prompts(self.prompts)
        if self.enable_hr:
            size, n = self.batch_size, self.iteration
            self.hr_prompts = self.all_hr_prompts[n * size : (n + 1) * size]
            self.hr_negative_prompts = self.all_hr_negative_prompts[n * size : (n + 1) * size]
            self.hr_prompts, self.hr_extra_network_data = extra_networks.parse_prompts(self.hr_prompts)

    def _conds(self, prompts, negative_prompts, caches_c, caches_uc, network_data):
        negative = prompt_parser.SdConditioning(negative_prompts, is_negative_prompt=True)
        positive = prompt_parser.SdConditioning(prompts)
        if flavour() == "forge" and self.cfg_scale == 1:
            uc = None
        else:
            uc = _cached(prompt_parser.get_learned_conditioning, negative, self.steps, caches_uc, network_data)
        c = _cached(prompt_parser.get_multicond_learned_conditioning, positive, self.steps, caches_c, network_data)
        return c, uc

    def setup_conds(self):
        self.c_uc = self._conds(
            self.prompts, self.negative_prompts, self.cached_c, self.cached_uc, self.extra_network_data
        )
        self.hr_c_uc = None
        if forge() and self.enable_hr:
            extra_networks.activate(self, self.hr_extra_network_data)
            first, self.c_uc = self.c_uc, None
            self.calculate_hr_conds()
            self.hr_c_uc, self.c_uc = self.c_uc, first
            extra_networks.activate(self, self.extra_network_data)

    def calculate_hr_conds(self):
        self.c_uc = self._conds(
            self.hr_prompts, self.hr_negative_prompts, [None, None], [None, None], self.hr_extra_network_data
        )

    def sample(self, steps):
        c, uc = self.c_uc
        seeds = self.all_seeds[self.iteration * self.batch_size : (self.iteration + 1) * self.batch_size]
        x = torch.stack([torch.randn(4, 8, 8, generator=torch.Generator().manual_seed(s)) for s in seeds])
        denoiser = CFGDenoiser(self, c, uc, steps)
        for index in range(steps):
            x = x - 0.1 * denoiser.forward(x)
            shared.state.sampling_step = index  # the sampler's callback reports the step just done
        return x

    def sampling_steps(self, steps):
        return steps


def _cached(function, prompts, steps, cache, network_data):
    key = (tuple(prompts), steps, repr(network_data))
    if cache[0] == key:
        return cache[1]
    cache[1] = function(shared.sd_model, prompts, steps)
    cache[0] = key
    return cache[1]


class StableDiffusionProcessingImg2Img(StableDiffusionProcessing):
    """img2img: ``int(denoising_strength × steps) + 1`` denoiser steps (the rest of the schedule)."""

    def __init__(self, *args, init_images=None, denoising_strength=0.75, **kwargs):
        super().__init__(*args, **kwargs)
        self.init_images = init_images or []
        self.denoising_strength = denoising_strength

    def sampling_steps(self, steps):
        return int(min(self.denoising_strength, 0.999) * steps) + 1


class CFGDenoiser:
    """The CFG step: conditional rows (one per ``AND`` part) of every image, then unconditional ones."""

    def __init__(self, p, c, uc, steps):
        self.p = p
        self.step = 0
        self.total_steps = steps
        self.sampler = type("Sampler", (), {})()
        self.sampler.sampler_extra_args = {"cond": c, "uncond": uc}

    def forward(self, x):
        if forge():
            return self.forward_forge(x)
        c, uc = self.sampler.sampler_extra_args["cond"], self.sampler.sampler_extra_args["uncond"]
        repeats = [len(parts) for parts in c.batch]
        tensor = torch.cat([part.schedules[0].cond[None] for parts in c.batch for part in parts])
        uncond = torch.cat([schedule[0].cond[None] for schedule in uc])
        x_in = torch.cat([torch.stack([x[i]] * n) for i, n in enumerate(repeats)] + [x])
        params = script_callbacks.CFGDenoiserParams(
            x_in, None, None, shared.state.sampling_step, shared.state.sampling_steps, tensor, uncond, self
        )
        script_callbacks.cfg_denoiser_callback(params)
        width = max(tensor.shape[1], uncond.shape[1])
        cond_in = torch.cat([_pad(tensor, width), _pad(uncond, width)])
        timesteps = torch.full((x_in.shape[0],), 999 - 100 * self.step)
        with torch.no_grad():
            out = shared.sd_model.model.diffusion_model(x_in, timesteps, encoder_hidden_states=cond_in).sample
        images = len(repeats)
        denoised_uncond = out[-images:]
        cond_out, start = [], 0
        for n in repeats:
            cond_out.append(out[start : start + n].mean(0))
            start += n
        self.step += 1
        return denoised_uncond + self.p.cfg_scale * (torch.stack(cond_out) - denoised_uncond)


def _forge_forward(self, x):
    c, uc = self.sampler.sampler_extra_args["cond"], self.sampler.sampler_extra_args["uncond"]
    parts = max(len(image) for image in c.batch)
    tensor = torch.cat([part.schedules[0].cond[None] for image in c.batch for part in image])
    uncond = torch.cat([schedule[0].cond[None] for schedule in uc]) if uc is not None else None
    params = script_callbacks.CFGDenoiserParams(
        x, None, None, shared.state.sampling_step, shared.state.sampling_steps, tensor, uncond, self
    )
    script_callbacks.cfg_denoiser_callback(params)
    with_uncond = uncond is not None and self.p.cfg_scale != 1  # reForge encodes it, then skips it
    chunks = ([1] if with_uncond else []) + [0] * parts
    contexts = ([uncond] if with_uncond else []) + [
        torch.cat([image[min(k, len(image) - 1)].schedules[0].cond[None] for image in c.batch]) for k in range(parts)
    ]
    width = max(t.shape[1] for t in contexts)
    context = torch.cat([_pad(t, width) for t in contexts])
    x_in = torch.cat([x] * len(chunks))
    timesteps = torch.full((x_in.shape[0],), 999 - 100 * self.step)
    unet = getattr(getattr(shared.sd_model, "model", None), "diffusion_model", None)
    if unet is None:  # Forge's engine: the UNet is only in forge_objects
        unet = shared.sd_model.forge_objects.unet.model.diffusion_model
    with torch.no_grad():
        out = unet(x_in, timesteps, context=context, transformer_options={"cond_or_uncond": chunks}).sample
    pieces = out.chunk(len(chunks))
    cond = torch.stack(pieces[len(chunks) - parts :]).mean(0)
    self.step += 1
    if not with_uncond:
        return cond
    return pieces[0] + self.p.cfg_scale * (cond - pieces[0])


def flavour():
    return getattr(shared, "flavour", "a1111")


def forge():
    """Forge and reForge sample the ComfyUI way (their recordings agree on it)."""
    return flavour() in ("forge", "reforge")


CFGDenoiser.forward_forge = _forge_forward


def _pad(tensor, width):
    if tensor.shape[1] == width:
        return tensor
    return torch.cat([tensor, tensor[:, -1:].expand(-1, width - tensor.shape[1], -1)], dim=1)


class Processed:
    def __init__(self, p, images):
        self.images = images
        self.extra_generation_params = dict(p.extra_generation_params)
        self.comments = dict(p.comments)


def process_images(p):
    """One generation, as A1111's ``process_images`` / ``process_images_inner`` run it."""
    if p.scripts is not None:
        p.scripts.before_process(p)
    p.setup_prompts()
    if p.scripts is not None:
        p.scripts.process(p)
    images = []
    for n in range(p.n_iter):
        p.iteration = n
        p.prompts = p.all_prompts[n * p.batch_size : (n + 1) * p.batch_size]
        p.negative_prompts = p.all_negative_prompts[n * p.batch_size : (n + 1) * p.batch_size]
        if p.scripts is not None:
            p.scripts.before_process_batch(p, batch_number=n, prompts=p.prompts)
        p.parse_extra_network_prompts()
        if not p.disable_extra_networks:
            extra_networks.activate(p, p.extra_network_data)
        if p.scripts is not None:
            p.scripts.process_batch(p, batch_number=n, prompts=p.prompts)
        p.setup_conds()
        shared.state.sampling_step, shared.state.sampling_steps = 0, p.steps
        samples = p.sample(p.sampling_steps(p.steps))
        if p.enable_hr:
            p.is_hr_pass = True
            if not p.disable_extra_networks:
                extra_networks.activate(p, p.hr_extra_network_data)
            if p.hr_c_uc is not None:
                p.c_uc = p.hr_c_uc
            else:
                p.calculate_hr_conds()
            if p.scripts is not None:
                p.scripts.before_hr(p)
            steps = p.hr_second_pass_steps or p.steps
            shared.state.sampling_step, shared.state.sampling_steps = 0, steps
            samples = p.sample(steps)
            p.is_hr_pass = False
        images += list(samples)
    processed = Processed(p, images)
    if p.scripts is not None:
        p.scripts.postprocess(p, processed)
    return processed
