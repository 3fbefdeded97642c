"""Scaling requests applied to node targets: pure, in arrival order, clamped."""

from __future__ import annotations

from dataclasses import dataclass, field

from occo.model.vocabulary import ScalingKind


@dataclass(frozen=True)
class Request:
    id: int
    node_name: str
    kind: ScalingKind
    count: int | None = None
    target_instance: str | None = None


def clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


@dataclass(frozen=True)
class Bounds:
    min: int
    max: int


@dataclass
class ScalingDecision:
    targets: dict[str, int]
    targeted_drops: list[str] = field(default_factory=list)
    outcomes: list[tuple[int, str]] = field(default_factory=list)   # (request id, text)
    clamped: list[int] = field(default_factory=list)


def apply_requests(requests: list[Request], bounds: dict[str, Bounds],
                   targets: dict[str, int], live: dict[str, set[str]]) -> ScalingDecision:
    """Fold the requests into new targets; each request gets one outcome line."""
    decision = ScalingDecision(targets=dict(targets))
    dropping: set[str] = set()
    for req in requests:
        if req.node_name not in bounds:
            decision.outcomes.append((req.id, f"ignored: node '{req.node_name}' no longer exists"))
            continue
        b = bounds[req.node_name]
        current = decision.targets[req.node_name]
        if req.kind == ScalingKind.DROP:
            instance = req.target_instance or ""
            if instance not in live.get(req.node_name, set()) or instance in dropping:
                decision.outcomes.append((req.id, f"ignored: instance {instance} is already gone"))
                continue
            dropping.add(instance)
            decision.targeted_drops.append(instance)
            wanted = current - 1
        elif req.kind == ScalingKind.SET:
            wanted = int(req.count or 0)
        else:
            wanted = current + int(req.count or 0)
        new = clamp(wanted, b.min, b.max)
        decision.targets[req.node_name] = new
        text = f"{req.node_name}: target {current} -> {new}"
        if req.kind == ScalingKind.DROP:
            text += f", dropping {req.target_instance}"
        if new != wanted:
            decision.clamped.append(req.id)
            text += f" (clamped from {wanted} to [{b.min}, {b.max}])"
            if req.kind == ScalingKind.DROP:
                text += "; the instance will be replaced"
        decision.outcomes.append((req.id, text))
    return decision
