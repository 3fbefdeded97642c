"""The execution-group aggregate status, exactly as seed 000 defines it."""

from __future__ import annotations

import pytest

from occo.engine.groups import aggregate_status, merge_parameters
from occo.model.states import ExecutionStatus as S


@pytest.mark.parametrize("statuses, expected", [
    ([S.PENDING, S.PENDING], "pending"),
    ([S.QUEUED, S.PENDING], "pending"),
    ([S.QUEUED, S.STARTED], "started"),
    ([S.TERMINATED, S.STARTED, S.QUEUED], "started"),
    ([S.FAILED, S.STARTED], "started"),
    ([S.TERMINATED, S.QUEUED], "started"),          # some ended, rest paused
    ([S.TERMINATED, S.TERMINATED], "terminated"),
    ([S.TERMINATED, S.CANCELLED], "terminated"),     # ended, none failed
    ([S.TERMINATED, S.FAILED, S.CANCELLED], "failed"),
    ([S.FAILED], "failed"),
])
def test_aggregate_status(statuses: list[S], expected: str) -> None:
    assert aggregate_status(statuses) == expected


def test_walk_through_every_transition() -> None:
    members = [S.QUEUED] * 3
    seen = [aggregate_status(members)]
    for i, status in [(0, S.STARTED), (0, S.TERMINATED), (1, S.STARTED), (2, S.STARTED),
                      (1, S.FAILED), (2, S.TERMINATED)]:
        members[i] = status
        seen.append(aggregate_status(members))
    assert seen == ["pending", "started", "started", "started", "started", "started", "failed"]


def test_parameters_are_defaults_overridden_per_infrastructure() -> None:
    defaults = {"concurrency": 2, "rollback": True}
    overrides = {"a": {"rollback": False}, "b": {"extra": 1}}
    assert merge_parameters(defaults, overrides, "a") == {"concurrency": 2, "rollback": False}
    assert merge_parameters(defaults, overrides, "b") == {"concurrency": 2, "rollback": True,
                                                           "extra": 1}
    assert merge_parameters(defaults, overrides, "c") == defaults
