"""Instances left half-created by a run that no longer runs.

An instance is PENDING or CREATING only while the run that recorded it works
on it, under the infrastructure's lease. Whoever holds the lease next and
finds one whose run has ended, whose process died, or that belongs to an
earlier attempt of its own execution, resolves it at once instead of
counting it as live until the create timeout.
"""

from __future__ import annotations

from occo.engine.leasing import holder_is_dead
from occo.model.states import InstanceState
from occo.store.records import InstanceRecord
from occo.store.store import Store

HALF_CREATED = frozenset({InstanceState.PENDING, InstanceState.CREATING})


def find_orphans(store: Store, instances: list[InstanceRecord], holder: str,
                 states: frozenset[InstanceState] = HALF_CREATED) -> list[InstanceRecord]:
    """The ``instances`` in ``states`` that no live run other than ``holder``'s owns.

    Call it holding the lease, before recording new intents.
    """
    half = [i for i in instances if i.state in states]
    if not half:
        return []
    runs = store.executions.statuses(sorted({i.execution_id for i in half if i.execution_id}))

    def orphaned(inst: InstanceRecord) -> bool:
        status, owner = runs.get(inst.execution_id or "", (None, None))
        return status is None or status.is_terminal or owner is None or owner == holder \
            or holder_is_dead(owner)

    return [i for i in half if orphaned(i)]
