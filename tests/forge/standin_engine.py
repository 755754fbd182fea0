"""A tiny SD1 model shaped like Forge's ``ForgeDiffusionEngine``: no ``model`` and no
``cond_stage_model``; the UNet (LDM names, Forge-like plain-Module Linears) under
``forge_objects.unet.model.diffusion_model``, called with ``context=`` and
``transformer_options=``; the text encoder under ``forge_objects.clip.cond_stage_model.clip_l``,
called with token ids by ``get_learned_conditioning(texts)``."""

from __future__ import annotations

from types import SimpleNamespace

import torch
from torch import nn

from tests.a1111.standin_model import LdmNamedUNet
from tests.fixtures.models import tiny_text_encoder, tiny_unet
from tests.forge.forge_layers import Linear, forgeify


class ForgeUNet(LdmNamedUNet):
    def forward(self, x, timesteps, context=None, transformer_options=None, **kwargs):  # type: ignore[no-untyped-def]
        return self.runner(x, timesteps, encoder_hidden_states=context)


class ForgeEngine:
    def __init__(self, seed: int = 0) -> None:
        self.unet = tiny_unet(seed)  # torch layers: LoRA files are written from these names
        self.text_encoder = tiny_text_encoder(seed)
        runner = forgeify(tiny_unet(seed))
        layers = [(n, m) for n, m in runner.named_modules() if isinstance(m, nn.Conv2d) or type(m) is Linear]
        forge_unet = ForgeUNet(runner, layers)
        clip_l = forgeify(tiny_text_encoder(seed))
        self.forge_objects = SimpleNamespace(
            unet=SimpleNamespace(model=SimpleNamespace(diffusion_model=forge_unet)),
            clip=SimpleNamespace(cond_stage_model=SimpleNamespace(clip_l=clip_l)),
        )
        self.cond_stage_model = None
        self.is_sd1 = True

    @property
    def modules(self) -> list[nn.Module]:
        objects = self.forge_objects
        return [objects.unet.model.diffusion_model, objects.clip.cond_stage_model.clip_l]

    def get_learned_conditioning(self, texts: list[str]) -> torch.Tensor:
        words = [" ".join(str(text).split()) for text in texts]
        ids = torch.tensor([[1 + ord(c) % 70 for c in text[:20].ljust(20)] for text in words])
        with torch.no_grad():
            return self.forge_objects.clip.cond_stage_model.clip_l(ids).last_hidden_state
