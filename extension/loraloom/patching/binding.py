"""A ``Binding``: what the patcher needs from a host's modules, as one small object.

Which modules are patchable, what an adapter must know about one (its logical weight shape,
linear or conv), whether a module can take part at all, whether its weight is packed (a
quantized layer: hooks mode adds the outputs of the kinds that never read the layer's weight;
merging into it, or a kind that reads it, is reported by name — never silently skipped) and
whether merge mode is possible. The default binds torch's own layers; a host whose layers are
not torch's (Forge's ``ForgeOperations.Linear`` is a plain ``nn.Module``) brings its own. Hooks
mode computes every adapter on the input's device and dtype, so any base weight format works.
"""

from __future__ import annotations

from torch import nn

from ..networks.adapter import TargetInfo

TORCH_TYPES = (nn.Linear, nn.Conv2d, nn.GroupNorm, nn.LayerNorm)


class Binding:
    """torch's layers: ``Linear``, ``Conv2d``, ``GroupNorm``, ``LayerNorm`` (and subclasses)."""

    name = "torch"
    merge_unavailable: str | None = None
    """Why merge mode cannot be used with this host (``None``: it can)."""

    def patchable(self, module: nn.Module) -> bool:
        return isinstance(module, TORCH_TYPES)

    def unpatchable(self, module: nn.Module) -> str | None:
        """Why a module that looks patchable cannot be (``None``: it can)."""
        return None

    def target_info(self, module: nn.Module) -> TargetInfo:
        return TargetInfo.of(module)

    def packed(self, module: nn.Module) -> str | None:
        """How a patchable module stores its weight when not as a dense tensor (``"bitsandbytes
        nf4"``): hooks mode can still add the outputs of the kinds that never read the layer's
        own weight; merging, and the kinds that read it, cannot (``None``: dense)."""
        return None


TORCH = Binding()
