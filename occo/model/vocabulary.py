"""Closed vocabularies passed between layers: what an execution does, what a
task does, what a scaling request asks. StrEnums, so stored rows stay plain text."""

from __future__ import annotations

from enum import StrEnum


class Workflow(StrEnum):
    """What an execution runs over one infrastructure."""

    BUILD = "build"
    UPDATE = "update"
    DESTROY = "destroy"
    SCALE = "scale"
    MAINTAIN = "maintain"
    ORCHESTRATE = "orchestrate"       # jobs of an orchestration file on running instances


#: What a cron trigger may start: every workflow on an existing infrastructure.
SCHEDULABLE = (Workflow.SCALE, Workflow.MAINTAIN, Workflow.UPDATE, Workflow.DESTROY,
               Workflow.ORCHESTRATE)


class TaskAction(StrEnum):
    """What a task does to its instance."""

    CREATE = "create"
    DESTROY = "destroy"


class ScalingKind(StrEnum):
    """What a scaling request asks for."""

    CHANGE = "change"    # target +/- count
    SET = "set"          # target = count
    DROP = "drop"        # one given instance goes, target - 1
