"""Sandboxed Jinja2 rendering with the names Occopus templates use.

``variables``, ``infra_id``, ``infra_name``, ``name``, ``node_id``,
``getip(node)``, ``getprivip(node)``, ``getipall(node)`` and ``cut``; plus
occo's ``getport(node, port)`` for local nodes that share 127.0.0.1.
User templates can never reach Python internals (SandboxedEnvironment).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from occo.errors import DescriptionError


@dataclass(frozen=True)
class NodeAddresses:
    """Addresses of the ready instances of one node: (public, private) pairs,
    and the first instance's wanted->actual port map (local nodes remap ports)."""

    pairs: tuple[tuple[str | None, str | None], ...] = ()
    ports: Mapping[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class TemplateContext:
    infra_id: str
    infra_name: str
    node_name: str
    instance_id: str
    variables: Mapping[str, Any] = field(default_factory=dict)
    addresses: Mapping[str, NodeAddresses] = field(default_factory=dict)
    attributes: Mapping[str, Any] = field(default_factory=dict)   # contextualisation attributes


def cut(value: Any, start: int | None = None, end: int | None = None) -> str:
    """Slice a string: ``cut(s, 0, 8)``; handy for short ids in host names."""
    return str(value)[start:end]


def _make_env() -> SandboxedEnvironment:
    env = SandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=True)
    env.filters["cut"] = cut
    return env


class TemplateRenderer:
    """Renders templates for one instance; one Jinja environment per renderer."""

    def __init__(self) -> None:
        self._env = _make_env()

    def namespace(self, ctx: TemplateContext) -> dict[str, Any]:
        def lookup(node: str) -> NodeAddresses:
            if node not in ctx.addresses:
                raise DescriptionError(
                    f"template asks for the address of '{node}', which is not a ready "
                    f"dependency of '{ctx.node_name}'")
            return ctx.addresses[node]

        def getip(node: str) -> str | None:
            pairs = lookup(node).pairs
            return (pairs[0][0] or pairs[0][1]) if pairs else None

        def getprivip(node: str) -> str | None:
            pairs = lookup(node).pairs
            return (pairs[0][1] or pairs[0][0]) if pairs else None

        def getipall(node: str) -> list[str]:
            return [ip for p, q in lookup(node).pairs if (ip := p or q)]

        def getport(node: str, wanted: int) -> int:
            """occo extension: the port a dependency really listens on for ``wanted``."""
            return int(lookup(node).ports.get(int(wanted), wanted))

        return {
            "getport": getport,
            "variables": dict(ctx.variables), "infra_id": ctx.infra_id,
            "infra_name": ctx.infra_name, "name": ctx.node_name, "node_id": ctx.instance_id,
            "getip": getip, "getprivip": getprivip, "getipall": getipall, "cut": cut,
            "attributes": dict(ctx.attributes),
        }

    def render(self, template: str, ctx: TemplateContext, *, what: str = "template") -> str:
        if "{{" not in template and "{%" not in template:
            return template
        try:
            return self._env.from_string(template).render(self.namespace(ctx))
        except DescriptionError:
            raise
        except TemplateError as exc:
            raise DescriptionError(f"{what} of node '{ctx.node_name}': {exc}") from None

    def render_tree(self, value: Any, ctx: TemplateContext, *, what: str = "template") -> Any:
        """Render every string inside nested dicts/lists."""
        if isinstance(value, str):
            return self.render(value, ctx, what=what)
        if isinstance(value, list):
            return [self.render_tree(v, ctx, what=what) for v in value]
        if isinstance(value, dict):
            return {k: self.render_tree(v, ctx, what=what) for k, v in value.items()}
        return value
