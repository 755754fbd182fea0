"""The hostile-input suite: every input is built here at test time, none is committed.

Hypothesis runs derandomized (a failure reproduces on every run) with a small example budget
and a per-example deadline, so the whole suite stays within CI's time.
"""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, settings

HOSTILE = settings(
    max_examples=80,
    deadline=timedelta(seconds=5),
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
"""Bounded and seeded: use as ``@HOSTILE`` on every ``@given`` test of this suite."""
