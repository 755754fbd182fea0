"""Evaluate weights, schedules and start/stop bounds at a point of the sampling pass."""

from __future__ import annotations

from itertools import pairwise

from .model import Bound, Tag, Weight, is_schedule


def _to_step(position: float, total_steps: int) -> float:
    """Keyframe position → step: ≤ 1 is a fraction of the pass, > 1 a step number."""
    return position * total_steps if position <= 1 else position


def weight_at(weight: Weight, step: float, total_steps: int) -> float:
    """The multiplier at ``step`` of ``total_steps``.

    Linear between keyframes; the first keyframe's weight holds before it, the last after it.
    """
    if not is_schedule(weight):
        return weight  # type: ignore[return-value]
    points = sorted(
        ((_to_step(k.position, total_steps), k.weight) for k in weight),  # type: ignore[union-attr]
        key=lambda point: point[0],
    )
    if step <= points[0][0]:
        return points[0][1]
    for (step_a, weight_a), (step_b, weight_b) in pairwise(points):
        if step <= step_b:
            if step_b == step_a:
                return weight_b
            return weight_a + (weight_b - weight_a) * (step - step_a) / (step_b - step_a)
    return points[-1][1]


def bound_step(bound: Bound, total_steps: int) -> float:
    """``start=``/``stop=`` → step: an int is a step, a float a fraction of the pass."""
    return float(bound) if isinstance(bound, int) else bound * total_steps


def is_active(tag: Tag, step: float, total_steps: int) -> bool:
    """Whether ``start=``/``stop=`` let the tag act at ``step`` (start inclusive, stop exclusive)."""
    return within_bounds(tag.start, tag.stop, step, total_steps)


def within_bounds(start: Bound | None, stop: Bound | None, step: float, total_steps: int) -> bool:
    if start is not None and step < bound_step(start, total_steps):
        return False
    return stop is None or step < bound_step(stop, total_steps)
