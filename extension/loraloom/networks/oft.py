"""OFT and BOFT: orthogonal (Cayley) rotations of the target's output channels.

diag-OFT (``oft_blocks`` [blocks, size, size], legacy ``oft_diag``): Q = B − Bᵀ, shrunk to the
COFT constraint (alpha × out) when larger; R = (I + Q)(I − Q)⁻¹; each block of output rows
becomes Rᵀ·W_block (LyCORIS's convention); ΔW = W' − W, linear in the multiplier.
BOFT (``oft_blocks`` [m, blocks, size, size]): m butterfly stages; the multiplier interpolates
each stage toward identity (so ΔW is recomputed per multiplier). Optional ``rescale`` scales rows.
"""

from __future__ import annotations

import torch

from .adapter import Adapter, TargetInfo, TensorSource


def cayley(blocks: torch.Tensor, constraint: float) -> torch.Tensor:
    eye = torch.eye(blocks.shape[-1], device=blocks.device, dtype=blocks.dtype)
    q = blocks - blocks.transpose(-1, -2)
    if constraint > 0:
        norm = torch.norm(q) + 1e-8
        if norm > constraint:
            q = q * (constraint / norm)
    return (eye + q) @ torch.linalg.inv(eye - q)


class OFT(Adapter):
    kind = "oft"
    needs_weight = True

    def __init__(self, target: TargetInfo, get: TensorSource) -> None:
        super().__init__(target)
        blocks = get("oft_blocks")
        self.blocks = blocks if blocks is not None else get("oft_diag")
        self.rescale = get("rescale")
        alpha = get("alpha")
        self.constraint = (float(alpha.float().reshape(-1)[0]) if alpha is not None else 0.0) * target.weight_shape[0]

    def delta_weight(self, weight: torch.Tensor, multiplier: float = 1.0) -> torch.Tensor:
        rotation = cayley(self.blocks, self.constraint)  # type: ignore[arg-type]
        eye = torch.eye(rotation.shape[-1], device=rotation.device)
        count, size = rotation.shape[0], rotation.shape[1]
        original = weight.float()
        rows = original.reshape(count, size, *original.shape[1:])
        delta = torch.einsum("k n m, k n ... -> k m ...", rotation - eye, rows).reshape(original.shape)
        if self.rescale is not None:
            delta = self.rescale * (original + delta) - original
        return delta * multiplier


class BOFT(OFT):
    kind = "boft"
    linear_in_multiplier = False

    def delta_weight(self, weight: torch.Tensor, multiplier: float = 1.0) -> torch.Tensor:
        stages, _, size, _ = self.blocks.shape  # type: ignore[union-attr]
        half = size // 2
        rotations = cayley(self.blocks, self.constraint)  # type: ignore[arg-type]
        eye = torch.eye(size, device=rotations.device)
        original = weight.float()
        current = original
        for stage in range(stages):
            rotation = rotations[stage]
            if multiplier != 1:
                rotation = rotation * multiplier + (1 - multiplier) * eye
            span = 2**stage * half
            current = current.unflatten(0, (-1, 2, span)).transpose(1, 2).flatten(0, 2).unflatten(0, (-1, size))
            current = torch.einsum("b i j, b j ... -> b i ...", rotation, current)
            current = current.flatten(0, 1).unflatten(0, (-1, span, 2)).transpose(1, 2).flatten(0, 2)
        if self.rescale is not None:
            current = current * self.rescale
        return current - original
