"""Turn one module of a :class:`Network` into the adapter of its kind, for one target module."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .adapter import Adapter, TargetInfo
from .dora import DoRA
from .full import Full, Norm
from .glora import GLoRA
from .ia3 import IA3
from .loha import LoHa
from .lokr import LoKr
from .lora import LoRA
from .network import Network, NetworkModule
from .oft import BOFT, OFT

KIND_CLASSES: dict[str, Callable[..., Adapter]] = {
    "lora": LoRA,
    "dora": LoRA,  # wrapped in DoRA below
    "loha": LoHa,
    "lokr": LoKr,
    "ia3": IA3,
    "oft": OFT,
    "boft": BOFT,
    "glora": GLoRA,
    "full": Full,
    "norm": Norm,
}


class BadTensors(ValueError):
    """A file's tensors cannot be used (NaN/Inf values, or shapes that do not fit the target)."""


def build_adapter(
    network: Network,
    module: NetworkModule,
    target: TargetInfo,
    host_module: nn.Module,
    device: torch.device,
    dyn: int | None = None,
) -> Adapter:
    """The adapter for ``module`` of ``network`` acting on ``host_module`` (fp32 on ``device``)."""

    def get(suffix: str) -> torch.Tensor | None:
        key = module.keys.get(suffix)
        if key is None:
            return None
        tensor = network.tensor(key, torch.float32, device)
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise BadTensors(f"tensor '{key}' holds NaN or infinite values")
        return tensor

    kind_class = KIND_CLASSES[module.kind]
    if kind_class is Norm:
        groups = host_module.num_groups if isinstance(host_module, nn.GroupNorm) else 0
        adapter: Adapter = Norm(target, get, groups=groups, eps=getattr(host_module, "eps", 1e-5))
    elif kind_class is LoRA:
        adapter = LoRA(target, get, dyn=dyn)
    else:
        adapter = kind_class(target, get)
    dora_scale = get("dora_scale")
    if dora_scale is not None:
        adapter = DoRA(adapter, dora_scale)
    _check_shape(adapter, target, module)
    return adapter


def _check_shape(adapter: Adapter, target: TargetInfo, module: NetworkModule) -> None:
    """Refuse an adapter whose change does not have the target weight's shape, before any forward."""
    try:
        shape = adapter.delta_shape()
    except RuntimeError as error:
        raise BadTensors(f"'{module.stem}' does not fit a target of shape {list(target.weight_shape)}") from error
    if shape != target.weight_shape:
        raise BadTensors(
            f"'{module.stem}' makes a change of shape {list(shape)} for a {list(target.weight_shape)} weight"
        )
