"""Sandboxed Jinja2 rendering with the names Occopus templates use.

``variables``, ``infra_id``, ``infra_name``, ``name``, ``node_id``,
``getip(node)``, ``getprivip(node)``, ``getipall(node)`` and ``cut``; plus
occo's ``getport(node, port)`` for local nodes that share 127.0.0.1.
User templates can never reach Python internals (SandboxedEnvironment).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from occo.context.yamlfold import fold_inserted, mark_inserted
from occo.errors import DescriptionError
from occo.model.templates import ORIGINS_KEY, origin_of
from occo.model.yamlio import DataPath, format_path


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
    extras: Mapping[str, Any] = field(default_factory=dict)       # more names (ip, puppet...)
    origins: Mapping[str, Any] = field(default_factory=dict)      # where templates start


def cut(value: Any, start: int | None = None, end: int | None = None) -> str:
    """Slice a string: ``cut(s, 0, 8)``; handy for short ids in host names."""
    return str(value)[start:end]


def _make_env(**options: Any) -> SandboxedEnvironment:
    env = SandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=True,
                               **options)
    env.filters["cut"] = cut
    return env


class TemplateRenderer:
    """Renders templates for one instance; one Jinja environment per renderer (and
    one that marks what it inserts, for strings of a YAML document)."""

    def __init__(self) -> None:
        self._env = _make_env()
        self._marking_env = _make_env(finalize=mark_inserted)

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
            "attributes": dict(ctx.attributes), **ctx.extras,
        }

    def render(self, template: str, ctx: TemplateContext, *, what: str = "template",
               path: DataPath = (), in_yaml: bool = False) -> str:
        """Render one template; an error names the node and, when the node definition
        recorded it, the template's file and line. ``in_yaml``: the template is a
        string of a YAML document that Occopus wrote out before rendering, so what
        it inserts is folded as Occopus's round trip folded it
        (:mod:`occo.context.yamlfold`)."""
        if "{{" not in template and "{%" not in template:
            return template
        try:
            if in_yaml:
                marked = self._marking_env.from_string(template).render(self.namespace(ctx))
                return fold_inserted(template, marked)
            return self._env.from_string(template).render(self.namespace(ctx))
        except (DescriptionError, TemplateError) as exc:
            message = exc.message if isinstance(exc, DescriptionError) else str(exc)
            if isinstance(exc, DescriptionError) and exc.location is not None:
                raise
            where = origin_of({ORIGINS_KEY: dict(ctx.origins)}, path, _template_line(exc))
            raise DescriptionError(f"{what} of node '{ctx.node_name}': {message}",
                                   location=where,
                                   path=format_path(path) if where else None) from None

    def render_tree(self, value: Any, ctx: TemplateContext, *, what: str = "template",
                    path: DataPath = (), in_yaml: bool = False) -> Any:
        """Render every string inside nested dicts/lists."""
        if isinstance(value, str):
            return self.render(value, ctx, what=what, path=path, in_yaml=in_yaml)
        if isinstance(value, list):
            return [self.render_tree(v, ctx, what=what, path=(*path, i), in_yaml=in_yaml)
                    for i, v in enumerate(value)]
        if isinstance(value, dict):
            return {k: self.render_tree(v, ctx, what=what, path=(*path, k), in_yaml=in_yaml)
                    for k, v in value.items()}
        return value


def _template_line(exc: BaseException) -> int:
    """The template line an error happened on: given by a syntax error, found in the
    traceback (Jinja maps template frames to ``<template>`` lines) otherwise."""
    line = getattr(exc, "lineno", None)
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return int(line or 1)


#: Health checks fill in the instance's address themselves, once it is known.
IP_PLACEHOLDER = "{{ip}}"
_HEALTH_SETTINGS = frozenset({"timeout", "type", "ping"})


def render_health_check(renderer: TemplateRenderer, spec: Mapping[str, Any],
                        ctx: TemplateContext) -> dict[str, Any]:
    """A node's ``health_check`` for one instance: every value a template rendered with
    the node's names (``variables``, ``infra_id``...), as Occopus renders its URLs and
    database logins; ``{{ip}}`` is kept for the check to fill in."""
    ctx = replace(ctx, extras={**ctx.extras, "ip": IP_PLACEHOLDER})
    return {key: value if key in _HEALTH_SETTINGS
            else renderer.render_tree(value, ctx, what=f"health_check {key}",
                                      path=("health_check", key))
            for key, value in spec.items()}
