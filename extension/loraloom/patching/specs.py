"""How one network is to be applied: weights (or schedules), block weights, start/stop.

Built from ``(Network, te, unet)`` tuples or ``(Network, Tag)`` pairs; evaluated at a point
of the sampling pass into the two multipliers (text encoder, UNet) the patch uses.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..networks.network import Network
from ..syntax import SD1_BLOCKS, SDXL_BLOCKS, Tag, block_values, is_schedule, weight_at, within_bounds
from ..syntax.model import Bound, Weight


@dataclass
class NetworkSpec:
    network: Network
    te: Weight
    unet: Weight
    lbw: str | tuple[float, ...] | None = None
    start: Bound | None = None
    stop: Bound | None = None
    dyn: int | None = None
    name: str = ""
    raw: str = ""
    """The tag text it came from, if any (hosts match specs to images by it)."""

    @property
    def steady(self) -> bool:
        """Whether its multipliers are the same at every step of a pass (no schedule, no bounds)."""
        return not (is_schedule(self.te) or is_schedule(self.unet)) and self.start is None and self.stop is None

    def multipliers(self, step: float, total_steps: int) -> tuple[float, float]:
        """``(te, unet)`` at ``step`` of ``total_steps`` (0 outside start/stop)."""
        if not within_bounds(self.start, self.stop, step, total_steps):
            return 0.0, 0.0
        return weight_at(self.te, step, total_steps), weight_at(self.unet, step, total_steps)

    def block_factors(self, family: str | None) -> tuple[dict[str, float] | None, str | None]:
        """Per-block factors for ``lbw=`` on a model of ``family`` (None: no block weights)."""
        if self.lbw is None:
            return None, None
        blocks = SDXL_BLOCKS if family == "sdxl" else SD1_BLOCKS
        values = block_values(self.lbw, len(blocks))
        if values is None:
            what = self.lbw if isinstance(self.lbw, str) else f"{len(self.lbw)} values"
            return None, f"lbw={what} does not fit this model's {len(blocks)} blocks; block weights ignored"
        return dict(zip(blocks, values, strict=True)), None


NetworkInput = tuple  # (Network, te, unet) | (Network, Tag) | NetworkSpec


def to_spec(item: NetworkInput | NetworkSpec) -> NetworkSpec:
    if isinstance(item, NetworkSpec):
        return item
    network = item[0]
    if len(item) == 2 and isinstance(item[1], Tag):
        tag = item[1]
        if not tag.valid or tag.te is None or tag.unet is None:
            raise ValueError(f"tag {tag.raw!r} is not valid; pass only valid tags")
        return NetworkSpec(network, tag.te, tag.unet, tag.lbw, tag.start, tag.stop, tag.dyn, tag.name)
    if len(item) == 3:
        return NetworkSpec(network, item[1], item[2], name=network.name)
    raise TypeError("networks are (Network, te, unet), (Network, Tag) or NetworkSpec")
