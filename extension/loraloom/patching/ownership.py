"""Who has merged a parameter: at most one live patch at a time, and the patcher's errors.

A merge swaps a parameter's data for a pooled buffer and keeps the original to put back (O(1),
the very same bits). Two merges stacked on one parameter would each keep what they found as
"the original": the second keeps the first's pooled buffer, and removing them in any order but
the reverse one leaves wrong weights (or a buffer another patch reuses). Rather than stacking,
a parameter has one merge owner and a second merge is refused with :class:`PatchConflict`:
simple, exact, and loud instead of silently wrong.

The claim lives on the parameter itself, the one object every patch of a model shares, and only
while it is merged (nothing is left after ``restore``). One process-wide lock makes claiming a
check-and-set across threads; it guards no data of its own, and it is held for microseconds.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

import torch

_ATTRIBUTE = "_loraloom_merge_owner"
_LOCK = threading.Lock()


class PatchError(RuntimeError):
    """``apply()`` could not patch the model; the model is exactly as it was before the call."""


class PatchConflict(PatchError):
    """A parameter is already merged by another live patch (remove that one first, or use hooks)."""


class PatchFailed(PatchError):
    """Patching failed part way (out of memory, a shape the adapter did not expect, …);
    everything done so far was undone. The original error is the ``__cause__``."""


class _Claim:
    """The owner of a merged parameter, held weakly: a patch dropped without ``remove()`` does
    not block the parameter forever. Copies and pickles of the model get an empty claim."""

    __slots__ = ("owner",)

    def __init__(self, owner: object | None = None) -> None:
        self.owner = weakref.ref(owner) if owner is not None else None

    def holder(self, parameter: torch.Tensor) -> Any:
        """The live owner of ``parameter`` (``None`` if dead, empty or copied from another one)."""
        owner = self.owner() if self.owner is not None else None
        return owner if owner is not None and getattr(owner, "weight", None) is parameter else None

    def __reduce__(self) -> tuple[type, tuple]:
        return _Claim, ()

    def __deepcopy__(self, memo: dict) -> _Claim:
        return _Claim()


def claim(parameter: torch.Tensor, owner: object, name: str) -> None:
    """Make ``owner`` the merge owner of ``parameter`` or raise :class:`PatchConflict`.

    ``owner`` must keep ``parameter`` as its ``weight`` (a ``MergedWeight``); claiming again by
    the same owner is a no-op.
    """
    with _LOCK:
        current = parameter.__dict__.get(_ATTRIBUTE)
        holder = current.holder(parameter) if isinstance(current, _Claim) else None
        if holder is owner:
            return
        if holder is not None:
            raise PatchConflict(
                f"{name or 'a parameter'} is already merged by another patch that is still applied; "
                "remove that patch first, or apply this one in hooks mode"
            )
        parameter.__dict__[_ATTRIBUTE] = _Claim(owner)


def release(parameter: torch.Tensor, owner: object) -> None:
    """Drop ``owner``'s claim on ``parameter`` (no-op if it holds none)."""
    with _LOCK:
        current = parameter.__dict__.get(_ATTRIBUTE)
        if isinstance(current, _Claim):
            holder = current.holder(parameter)
            if holder is owner or holder is None:
                del parameter.__dict__[_ATTRIBUTE]


def merge_owner(parameter: torch.Tensor) -> object | None:
    """The live patch weight that has ``parameter`` merged, if any (for tests and reports)."""
    current = parameter.__dict__.get(_ATTRIBUTE)
    return current.holder(parameter) if isinstance(current, _Claim) else None
