"""The activation core every host shares: tags → :class:`Plan` → patch, and the row plan.

Hosts parse their prompts with :mod:`loraloom.syntax`, call :func:`plan` once per batch, hand
the plan to their :class:`ActivationSession` with the model parts, and describe each model call
(:class:`Row`, :class:`TextRow`). No host is imported here.
"""

from .plan import INFOTEXT_NAME, Plan, PlannedNetwork, addnet_hash, plan, sha256_prefix
from .rows import NEGATIVE, POSITIVE, NetworkRows, Row, RowPlan, TextRow, cfg_rows
from .session import ActivationSession, Applied

__all__ = [
    "INFOTEXT_NAME",
    "NEGATIVE",
    "POSITIVE",
    "ActivationSession",
    "Applied",
    "NetworkRows",
    "Plan",
    "PlannedNetwork",
    "Row",
    "RowPlan",
    "TextRow",
    "addnet_hash",
    "cfg_rows",
    "plan",
    "sha256_prefix",
]
