"""What a node's templates ask of other nodes, found before anything is rendered.

Occopus builds level by level, so a template may call ``getip('db')`` for any
node of an earlier level, declared as a dependency or not. occo builds a
per-node DAG instead; to keep such files working, every address lookup a
template makes (``getip``, ``getprivip``, ``getipall``, ``getport``) is found
here by reading the template's syntax tree, its argument resolved when it is
a literal or a ``variables.*`` path, and the node asked about becomes an
implicit dependency of the asker (see
:meth:`occo.model.description.InfraDescription.with_template_dependencies`).

Where each template's text starts is recorded when node definitions are
imported (``_origins`` in the stored implementation), so that a problem in a
template can be reported as ``file:line``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from occo.errors import DescriptionError, SourceLocation

__all__ = [
    "ADDRESS_FUNCTIONS",
    "ORIGINS_KEY",
    "RENDERED_SECTIONS",
    "AddressCall",
    "TemplateDependency",
    "address_calls",
    "merge_variables",
    "origin_of",
    "template_dependencies",
    "template_strings",
]

ADDRESS_FUNCTIONS = frozenset({"getip", "getprivip", "getipall", "getport"})
#: Sections of an implementation that occo renders as templates.
RENDERED_SECTIONS = ("resource", "contextualisation", "config_management", "health_check")
#: Key of the stored implementation holding where each template's text starts.
ORIGINS_KEY = "_origins"
#: Names a template may use without defining them (occo's namespace and Jinja's globals).
KNOWN_NAMES = frozenset({
    "variables", "infra_id", "infra_name", "name", "node_id", "ip", "attributes", "puppet",
    "occo", "cut", *ADDRESS_FUNCTIONS, "range", "dict", "lipsum", "cycler", "joiner",
    "namespace"})


def merge_variables(*layers: Mapping[str, Any] | None) -> dict[str, Any]:
    """Later layers win key by key, mappings merged recursively (as Occopus merges an
    infrastructure's variables with a node's: ``{db: {port: 1}}`` keeps ``db.host``)."""
    out: dict[str, Any] = {}
    for layer in layers:
        for key, value in (layer or {}).items():
            have = out.get(key)
            if isinstance(have, dict) and isinstance(value, Mapping):
                out[key] = merge_variables(have, value)
            elif isinstance(value, Mapping):
                out[key] = merge_variables(value)
            else:
                out[key] = value
    return out


@dataclass(frozen=True)
class AddressCall:
    """One ``getip(...)``-like call in a template."""

    function: str
    argument: str            # as written: "'db'", "variables.consul_host", "master"
    node: str | None         # the node asked about, when known before rendering
    undefined: str | None    # a bare name the template never defines (``getip(master)``)
    line: int                # 1-based, within the template's text

    @property
    def text(self) -> str:
        return f"{self.function}({self.argument})"


def _expression_text(expr: Any) -> str:
    from jinja2 import nodes

    if isinstance(expr, nodes.Const):
        return repr(expr.value)
    if isinstance(expr, nodes.Name):
        return str(expr.name)
    if isinstance(expr, nodes.Getattr):
        return f"{_expression_text(expr.node)}.{expr.attr}"
    if isinstance(expr, nodes.Getitem):
        return f"{_expression_text(expr.node)}[{_expression_text(expr.arg)}]"
    return "..."


def _resolve(expr: Any, variables: Mapping[str, Any]) -> tuple[bool, Any]:
    """(known, value) of a literal or a ``variables.*`` path; anything else is unknown."""
    from jinja2 import nodes

    if isinstance(expr, nodes.Const):
        return True, expr.value
    if isinstance(expr, nodes.Name) and expr.name == "variables":
        return True, variables
    if isinstance(expr, (nodes.Getattr, nodes.Getitem)):
        known, base = _resolve(expr.node, variables)
        if isinstance(expr, nodes.Getattr):
            key_known, key = True, expr.attr
        else:
            key_known, key = _resolve(expr.arg, variables)
        if known and key_known and isinstance(base, Mapping) and key in base:
            return True, base[key]
    return False, None


def address_calls(template: str, variables: Mapping[str, Any]) -> list[AddressCall]:
    """The address lookups of one template; raises jinja2's TemplateSyntaxError."""
    from jinja2 import Environment, meta, nodes

    tree = Environment().parse(template)
    undeclared = meta.find_undeclared_variables(tree)
    found: list[AddressCall] = []
    for call in tree.find_all(nodes.Call):
        if not isinstance(call.node, nodes.Name) or call.node.name not in ADDRESS_FUNCTIONS \
                or not call.args:
            continue
        argument = call.args[0]
        known, value = _resolve(argument, variables)
        undefined = None
        if isinstance(argument, nodes.Name) and argument.name in undeclared \
                and argument.name not in KNOWN_NAMES:
            undefined = str(argument.name)
        node = str(value) if known and isinstance(value, (str, int)) else None
        found.append(AddressCall(str(call.node.name), _expression_text(argument), node,
                                 undefined, int(call.lineno)))
    return found


def template_strings(implementation: Mapping[str, Any]
                     ) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every string of the rendered sections that holds template syntax, with its path."""
    stack: list[tuple[tuple[str | int, ...], Any]] = [
        ((section,), implementation.get(section)) for section in reversed(RENDERED_SECTIONS)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if "{{" in value or "{%" in value:
                yield path, value
        elif isinstance(value, Mapping):
            stack.extend(((*path, k), v) for k, v in reversed(list(value.items())))
        elif isinstance(value, list):
            stack.extend(((*path, i), v) for i, v in reversed(list(enumerate(value))))


def origin_of(implementation: Mapping[str, Any], path: tuple[str | int, ...],
              line: int = 1) -> SourceLocation | None:
    """Where line ``line`` of the template at ``path`` was written, if recorded."""
    from occo.model.yamlio import format_path

    origins = implementation.get(ORIGINS_KEY) or {}
    start = origins.get(format_path(path))
    if not isinstance(start, list) or len(start) != 3:
        return None
    file, first_line, column = start
    return SourceLocation(str(file), int(first_line) + line - 1, int(column) if line == 1 else 1)


@dataclass(frozen=True)
class TemplateDependency:
    """``dependent`` must wait for ``dependee``: one of its templates asks about it."""

    dependent: str
    dependee: str
    call: str
    where: SourceLocation | None

    @property
    def reason(self) -> str:
        return f"its template calls {self.call}"


def _refuse(message: str, where: SourceLocation | None, path: tuple[str | int, ...]
            ) -> DescriptionError:
    from occo.model.yamlio import format_path

    return DescriptionError(message, location=where, path=format_path(path))


def node_template_dependencies(node: str, implementation: Mapping[str, Any],
                               variables: Mapping[str, Any],
                               node_names: list[str]) -> list[TemplateDependency]:
    """The nodes one node's templates ask about; refuses a call that names no node."""
    from jinja2 import TemplateSyntaxError

    from occo.model.yamlio import suggest

    found: list[TemplateDependency] = []
    for path, text in template_strings(implementation):
        try:
            calls = address_calls(text, variables)
        except TemplateSyntaxError as exc:
            where = origin_of(implementation, path, exc.lineno or 1)
            raise _refuse(f"template of node '{node}' is not valid Jinja2: {exc.message}",
                          where, path) from None
        for call in calls:
            where = origin_of(implementation, path, call.line)
            if call.undefined is not None:
                raise _refuse(
                    f"template of node '{node}' calls {call.text}, but '{call.undefined}' is "
                    f"not defined; to name the node, quote it: "
                    f"{call.function}('{call.undefined}')", where, path)
            if call.node is None or call.node == node:
                continue           # known only when rendered, or its own earlier instances
            if call.node not in node_names:
                hint = suggest(call.node, node_names) or f" (nodes: {', '.join(node_names)})"
                raise _refuse(f"template of node '{node}' calls {call.text}, but the "
                              f"infrastructure has no node '{call.node}'{hint}", where, path)
            found.append(TemplateDependency(node, call.node, call.text, where))
    return found


def template_dependencies(infra_variables: Mapping[str, Any],
                          nodes: list[tuple[str, Mapping[str, Any], Mapping[str, Any]]]
                          ) -> list[TemplateDependency]:
    """Across an infrastructure: ``nodes`` lists (name, node variables, implementation)."""
    names = [name for name, _, _ in nodes]
    found: list[TemplateDependency] = []
    for name, node_variables, implementation in nodes:
        variables = merge_variables(infra_variables, implementation.get("variables"),
                                    node_variables)
        found += node_template_dependencies(name, implementation, variables, names)
    return found
