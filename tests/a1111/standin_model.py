"""A tiny SD1-shaped ``shared.sd_model`` for the stand-in: LDM-named UNet under
``model.diffusion_model`` and a text-encoder wrapper under ``cond_stage_model`` whose forward
takes the texts (A1111's ``SdConditioning``), as A1111's CLIP wrapper does."""

from __future__ import annotations

from types import SimpleNamespace

import torch
from torch import nn

from loraloom.patching.unet_names import diffusers_to_ldm
from tests.fixtures.models import patchable, tiny_text_encoder, tiny_unet, tree


class LdmNamedUNet(nn.Module):
    """The same module objects under CompVis/LDM paths (as A1111's ``UNetModel`` names them)."""

    def __init__(self, unet: nn.Module, layers: list[tuple[str, nn.Module]] | None = None) -> None:
        """``layers``: the modules to show (default: the UNet's torch Linear/Conv2d)."""
        super().__init__()
        names = dict(unet.named_modules())

        def up_has_attention(level: int) -> bool:
            return f"up_blocks.{level}.attentions" in names

        shown = layers if layers is not None else patchable(unet)
        view = tree((diffusers_to_ldm(path, up_has_attention) or path, module) for path, module in shown)
        for name, child in view.named_children():
            self.add_module(name, child)
        self.__dict__["runner"] = unet  # not a submodule: only the LDM names are visible

    def forward(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return self.runner(*args, **kwargs)


class TextWrapper(nn.Module):
    """Texts in, hidden states out; a toy tokenizer that, like CLIP's, ignores whitespace."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        self.wrapped = nn.Module()
        self.wrapped.transformer = tiny_text_encoder(seed)

    def forward(self, texts: list[str]) -> torch.Tensor:
        words = [" ".join(str(text).split()) for text in texts]
        ids = torch.tensor([[1 + ord(c) % 70 for c in text[:20].ljust(20)] for text in words])
        return self.wrapped.transformer(ids).last_hidden_state


class StandInModel(nn.Module):
    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        self.unet = tiny_unet(seed)
        self.model = SimpleNamespace(diffusion_model=LdmNamedUNet(self.unet))
        self.cond_stage_model = TextWrapper(seed)
        self.is_sd1 = True

    def get_learned_conditioning(self, texts: list[str]) -> torch.Tensor:
        with torch.no_grad():
            return self.cond_stage_model(texts)
