"""Turn one module of a :class:`Network` into the adapter of its kind, for one target module.

The kind's row in :mod:`loraloom.kinds` names the adapter class; a module with ``dora_scale``
(of any kind) is wrapped in DoRA's weight decomposition.
"""

from __future__ import annotations

import torch
from torch import nn

from ..kinds import DORA_SUFFIX, kind_named
from .adapter import Adapter, TargetInfo
from .dora import DoRA
from .network import Network, NetworkModule


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

    adapter_class: type[Adapter] = kind_named(module.kind).adapter_class()
    adapter = adapter_class.build(target, get, host_module, dyn=dyn)
    dora_scale = get(DORA_SUFFIX)
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


def reads_layer_weight(module: NetworkModule) -> bool:
    """Whether this module's adapter reads the target layer's own weight (IA3, OFT, GLoRA, DoRA):
    it cannot act on a layer whose weight is stored packed."""
    adapter_class: type[Adapter] = kind_named(module.kind).adapter_class()
    return adapter_class.needs_weight or module.dora
