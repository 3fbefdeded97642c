"""Validate a scaling request against the stored infrastructure, then record it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from occo.errors import NotFound, UserInputError
from occo.model.vocabulary import ScalingKind

if TYPE_CHECKING:
    from occo.store.quick import QuickStore
    from occo.store.store import Store


@dataclass(frozen=True)
class ScaleAccepted:
    request_id: int
    message: str
    clamped: bool


def record_scaling_request(store: Store | QuickStore, infra_id: str, node_name: str, *,
                           change: int | None = None, set_to: int | None = None,
                           drop: str | None = None) -> ScaleAccepted:
    """Checks: infra, node, instance for ``drop``, ``change != 0``, ``set_to >= 0``."""
    store.infras.get(infra_id)
    nodes = {n.name: n for n in store.infras.nodes(infra_id)}
    if node_name not in nodes:
        raise NotFound(f"infrastructure {infra_id} has no node '{node_name}' "
                       f"(nodes: {', '.join(sorted(nodes))})")
    node = nodes[node_name]
    given = [x is not None for x in (change, set_to)].count(True)
    if given > 1:
        raise UserInputError("give either -c/--changescale or -s/--setscale, not both")
    if drop is not None:
        if set_to is not None or (change is not None and change != -1):
            raise UserInputError("-f/--filter drops exactly one instance; "
                                 "use it alone or with -c -1")
        instance = store.instances.find(infra_id, node_name, drop)
        request_id = store.scaling.add(infra_id, node_name, ScalingKind.DROP, -1, instance.id)
        clamped = node.target - 1 < node.min
        note = (f"; the target is at min {node.min}, so it will be replaced" if clamped else "")
        return ScaleAccepted(request_id, f"request {request_id} recorded: drop instance "
                             f"{instance.id} of '{node_name}'{note}", clamped)
    if given == 0:
        raise UserInputError("nothing to do: give -c/--changescale N, -s/--setscale N "
                             "or -f/--filter INSTANCE")
    if change is not None:
        if change == 0:
            raise UserInputError("-c/--changescale 0 changes nothing")
        wanted, kind, count = node.target + change, ScalingKind.CHANGE, change
    else:
        assert set_to is not None
        if set_to < 0:
            raise UserInputError(f"-s/--setscale must be 0 or more, not {set_to}")
        wanted, kind, count = set_to, ScalingKind.SET, set_to
    request_id = store.scaling.add(infra_id, node_name, kind, count)
    clamped = not node.min <= wanted <= node.max
    message = f"request {request_id} recorded for '{node_name}'"
    if clamped:
        message += (f"; {wanted} is outside [{node.min}, {node.max}] and will be clamped "
                    f"to {max(node.min, min(node.max, wanted))}")
    return ScaleAccepted(request_id, message, clamped)
