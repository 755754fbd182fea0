"""OFT and BOFT: orthogonal rotations of the target's output channels.

diag-OFT (``oft_blocks`` [blocks, size, size]): Q = B − Bᵀ, shrunk to the COFT constraint
(alpha × out) when larger; R = (I + Q)(I − Q)⁻¹ (Cayley); each block of output rows becomes
Rᵀ·W_block (LyCORIS's convention); ΔW = W' − W, linear in the multiplier.
Legacy ``oft_diag`` (LyCORIS 2.0 development releases) holds R without a Cayley transform, in
one of two readings told apart by the blocks' diagonal (see :func:`legacy_reading`).
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


LEGACY_ROTATION = "oft_diag read as the rotation blocks themselves (LyCORIS 2.0.0.dev9–10; as A1111 reads it)"
LEGACY_DIFFERENCE = "oft_diag read as the difference R − I (zero-initialised, LyCORIS 2.0.0.dev2–8)"


def legacy_reading(diag: torch.Tensor) -> str:
    """Which LyCORIS release wrote an ``oft_diag``, from its values.

    ``lycoris/modules/diag_oft.py`` saved it twice without a Cayley transform: from 2.0.0.dev9
    (commit 8d01ba3) identity-initialised and used as R itself (W' = (m·R + (1−m)·I)ᵀ·W, A1111's
    ``is_R`` reading), before that zero-initialised and used as R − I (W' = (m·D + I)ᵀ·W). Trained
    blocks stay close to where they started, so a diagonal near 1 is the first, near 0 the second.
    """
    return LEGACY_ROTATION if float(diag.diagonal(dim1=-2, dim2=-1).mean()) > 0.5 else LEGACY_DIFFERENCE


class OFT(Adapter):
    kind = "oft"
    needs_weight = True

    def __init__(self, target: TargetInfo, get: TensorSource) -> None:
        super().__init__(target)
        blocks = get("oft_blocks")
        self.rescale = get("rescale")
        self.needs_cayley = blocks is not None
        if blocks is None:  # legacy oft_diag: R as saved (no Cayley transform, no constraint)
            blocks = get("oft_diag")
            assert blocks is not None
            self.convention = legacy_reading(blocks)
            if self.convention == LEGACY_DIFFERENCE:
                blocks = blocks + torch.eye(blocks.shape[-1], device=blocks.device)
        self.blocks = blocks
        alpha = get("alpha")
        self.constraint = (float(alpha.float().reshape(-1)[0]) if alpha is not None else 0.0) * target.weight_shape[0]

    def _rotation(self) -> torch.Tensor:
        return cayley(self.blocks, self.constraint) if self.needs_cayley else self.blocks

    def delta_weight(self, weight: torch.Tensor, multiplier: float = 1.0) -> torch.Tensor:
        rotation = self._rotation()
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
        rotations = self._rotation()
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
