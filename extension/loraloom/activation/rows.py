"""The row plan: which network acts on which row of a call, from the host's description.

A host never lets the patcher guess. Before each UNet call it says which rows the batch holds
(image *i*, conditional or unconditional); before each text-encoder call it says which images
the texts belong to and whether they are negative prompts. From that and the plan's table
(network → images, positive or negative side) this module gives every network its factor per
row. Pure data: no torch, no host.

Rules (the builtin's behaviour where it has one, extended to per-image and negative tags):

- a positive-prompt network of image *i* acts on every row of image *i*: its conditional and
  unconditional UNet rows and the encoding of its positive and negative texts (A1111's builtin
  also computes the negative conditioning with the LoRA applied);
- a negative-prompt network of image *i* acts only on the unconditional UNet rows of image *i*
  and on the encoding of its negative text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

POSITIVE = "positive"
NEGATIVE = "negative"


@dataclass(frozen=True)
class Row:
    """One row of a UNet batch: image ``image`` of the batch, conditional or unconditional."""

    image: int
    uncond: bool = False


@dataclass(frozen=True)
class TextRow:
    """One text of a text-encoder call: the images it is for (``None``: every image)."""

    images: frozenset[int] | None
    negative: bool = False


def cfg_rows(images: int, *, uncond_first: bool, repeats: Sequence[int] | None = None, cfg: bool = True) -> list[Row]:
    """The rows of a classifier-free-guidance batch of ``images`` images.

    ``repeats[i]`` conditional rows for image *i* (A1111's ``AND`` gives an image several);
    ``uncond_first`` for diffusers (negatives, then prompts); A1111 puts them last.
    """
    counts = list(repeats) if repeats is not None else [1] * images
    cond = [Row(image) for image, count in enumerate(counts) for _ in range(count)]
    uncond = [Row(image, True) for image in range(images)] if cfg else []
    return uncond + cond if uncond_first else cond + uncond


@dataclass(frozen=True)
class NetworkRows:
    """Where one network of the plan acts: its side, and the images that carry its tag."""

    side: str
    images: frozenset[int] | None
    """``None``: every image of the batch."""

    def acts_on_image(self, image: int | None) -> bool:
        return self.images is None or image is None or image in self.images


@dataclass(frozen=True)
class RowPlan:
    """For every network of a plan (same order), where it acts; evaluated per described call."""

    networks: tuple[NetworkRows, ...]

    @property
    def uniform(self) -> bool:
        """Every network acts on every row alike: no routing is needed (the fast path)."""
        return all(n.side == POSITIVE and n.images is None for n in self.networks)

    @property
    def routed(self) -> list[int]:
        """Indices of the networks that need per-row factors."""
        return [i for i, n in enumerate(self.networks) if n.side != POSITIVE or n.images is not None]

    def unet_factors(self, rows: Sequence[Row]) -> dict[int, list[float]]:
        """For each routed network, its factor (0 or 1) on each row of a UNet call."""
        factors = {}
        for index in self.routed:
            network = self.networks[index]
            factors[index] = [
                float(network.acts_on_image(row.image) and (network.side == POSITIVE or row.uncond)) for row in rows
            ]
        return factors

    def text_factors(self, texts: Sequence[TextRow]) -> dict[int, list[float]]:
        """For each routed network, its factor on each text of a text-encoder call."""
        factors = {}
        for index in self.routed:
            network = self.networks[index]
            factors[index] = [float(_acts_on_text(network, text)) for text in texts]
        return factors


def _acts_on_text(network: NetworkRows, text: TextRow) -> bool:
    if network.side == NEGATIVE and not text.negative:
        return False
    if text.images is None or network.images is None:
        return True
    return bool(network.images & text.images)
