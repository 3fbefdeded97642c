"""The infrastructure description: what nodes to build and in what order.

Accepts every Occopus 1.10 infrastructure description, with one deliberate
difference: ``scaling.min`` may be 0 (a node that exists only after a scale
up). Each problem is reported once, as a DescriptionError at the file, line
and column of the offending key or value.

Example::

    infra_name: wordpress
    user_id: me@example.org
    variables: {db_name: wp}
    nodes:
      - &db {name: db, type: mysql}
      - &web {name: web, type: wordpress, scaling: {min: 2, max: 5}}
    dependencies:
      - [*web, *db]          # web depends on db
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from occo.errors import DescriptionError, NotFound, SourceLocation
from occo.model import graph
from occo.model.values import Count, check_name, check_text
from occo.model.yamlio import (
    DataPath,
    LoadedYaml,
    LocationIndex,
    describe_validation_error,
    format_path,
    load_yaml_file,
    load_yaml_text,
    suggest,
)

if TYPE_CHECKING:
    from occo.model.templates import TemplateDependency

IMPLICIT = "implicit"     # key of a dependency added because a template asks for it

__all__ = [
    "IMPLICIT",
    "Dependency",
    "InfraDescription",
    "NodeSpec",
    "Scaling",
    "check_node_types",
    "check_scaling_bounds",
    "load_infra_description",
    "parse_infra_description",
]


class _Strict(BaseModel):
    """Base of description models: unknown keys are errors; YAML numbers may
    stand where names are expected (Occopus accepted ``name: 1``)."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)


def _none_as_empty(value: Any) -> Any:
    """An empty YAML value (``variables:``) means an empty mapping."""
    return {} if value is None else value


class Scaling(_Strict):
    """How many instances of a node may exist; both bounds are hard limits."""

    min: Count = 1
    max: Count = 1

    @model_validator(mode="before")
    @classmethod
    def _max_defaults_to_min(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("max") is None:
            low = data.get("min", 1)
            bound = low if type(low) is int else None
            if bound is not None and bound < 0:
                bound = None          # min itself is invalid and is reported alone
            rest = {k: v for k, v in data.items() if k != "max"}
            data = rest if bound is None else {**rest, "max": bound}
        return data

    @field_validator("max")
    @classmethod
    def _max_not_below_min(cls, value: int, info: ValidationInfo) -> int:
        low = info.data.get("min")
        if low is not None and value < low:
            raise ValueError(f"min ({low}) is greater than max ({value})")
        return value


class NodeSpec(_Strict):
    """One node of the infrastructure: a name, a type and its options."""

    name: Annotated[str, Field(min_length=1), AfterValidator(check_name)]
    type: str = Field(min_length=1)
    scaling: Scaling = Field(default_factory=Scaling)
    filter: dict[str, Any] = Field(default_factory=dict)
    variables: dict[str, Any] = Field(default_factory=dict)

    @field_validator("filter", "variables", mode="before")
    @classmethod
    def _empty(cls, value: Any) -> Any:
        return _none_as_empty(value)

    @field_validator("scaling", mode="before")
    @classmethod
    def _empty_scaling(cls, value: Any) -> Any:
        return _none_as_empty(value)


def _node_ref(value: Any, position: str) -> str:
    """A dependency end: a node mapping (usually a YAML alias) or a node name."""
    if isinstance(value, dict):
        name = value.get("name")
        if name is None:
            raise ValueError(f"the {position} node mapping has no 'name'")
        return str(name)
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"the {position} must be a node (e.g. *A) or a node name, "
                     f"not {type(value).__name__}")


class Dependency(BaseModel):
    """``dependent`` is built only after ``dependee`` is ready.

    Read from ``[dependent, dependee]`` or ``{connection: [dependent,
    dependee], mappings: ...}``; each end may be a node (via a YAML alias) or
    a node name. Keys other than ``connection`` and ``mappings`` are kept in
    ``extras``, because Occopus passes them on to mediating services.
    """

    model_config = ConfigDict(extra="forbid")

    dependent: str
    dependee: str
    mappings: Any = None
    extras: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _normalise(cls, data: Any) -> Any:
        if isinstance(data, list):
            return cls._from_pair(data, "dependency")
        if isinstance(data, dict) and "connection" in data:
            rest = {k: v for k, v in data.items() if k not in ("connection", "mappings")}
            return {**cls._from_pair(data["connection"], "connection"),
                    "mappings": data.get("mappings"), "extras": rest}
        if isinstance(data, dict) and "dependent" in data:
            return data                      # already normal (rebuilt from storage)
        if isinstance(data, dict):
            raise ValueError("a dependency mapping needs a 'connection': [dependent, dependee]")
        raise ValueError("a dependency must be [dependent, dependee] "
                         "or {connection: [dependent, dependee]}")

    @staticmethod
    def _from_pair(pair: Any, what: str) -> dict[str, str]:
        if not isinstance(pair, list) or len(pair) != 2:
            raise ValueError(f"{what} must list exactly two nodes: [dependent, dependee]")
        return {"dependent": _node_ref(pair[0], "dependent"),
                "dependee": _node_ref(pair[1], "dependee")}


class InfraDescription(_Strict):
    """A validated infrastructure description with its dependency graph."""

    infra_name: Annotated[str, Field(min_length=1), AfterValidator(check_text)]
    user_id: str | None = None
    variables: dict[str, Any] = Field(default_factory=dict)
    nodes: list[NodeSpec] = Field(min_length=1)
    dependencies: list[Dependency] = Field(default_factory=list)

    _locations: LocationIndex | None = PrivateAttr(default=None)
    _source: str | None = PrivateAttr(default=None)
    _source_text: str | None = PrivateAttr(default=None)

    @field_validator("variables", mode="before")
    @classmethod
    def _empty_variables(cls, value: Any) -> Any:
        return _none_as_empty(value)

    @field_validator("dependencies", mode="before")
    @classmethod
    def _empty_dependencies(cls, value: Any) -> Any:
        return [] if value is None else value

    # ---------------------------------------------------------------- queries

    @property
    def node_names(self) -> list[str]:
        """Node names in the order they were written."""
        return [node.name for node in self.nodes]

    @property
    def source(self) -> str | None:
        """The file (or name given to the text) this was parsed from."""
        return self._source

    @property
    def source_text(self) -> str | None:
        """The text this was parsed from, as written (what a build records)."""
        return self._source_text

    def node(self, name: str) -> NodeSpec:
        """The node called ``name``; NotFound if there is none."""
        for node in self.nodes:
            if node.name == name:
                return node
        raise NotFound(f"unknown node {name!r}{suggest(name, self.node_names)}")

    def dependees(self, name: str) -> list[str]:
        """Nodes ``name`` depends on, in the order written, without repeats."""
        self.node(name)
        return list(dict.fromkeys(d.dependee for d in self.dependencies if d.dependent == name))

    def dependents(self, name: str) -> list[str]:
        """Nodes that depend on ``name``, in the order written, without repeats."""
        self.node(name)
        return list(dict.fromkeys(d.dependent for d in self.dependencies if d.dependee == name))

    def dependee_map(self) -> dict[str, list[str]]:
        """Every node with the nodes it depends on (the graph helpers' input)."""
        out: dict[str, list[str]] = {name: [] for name in self.node_names}
        for dep in self.dependencies:
            if dep.dependee not in out[dep.dependent]:
                out[dep.dependent].append(dep.dependee)
        return out

    def topological_order(self) -> list[str]:
        """Nodes so that each comes after its dependees; ties sorted by name."""
        return graph.topological_order(self.node_names, self.dependee_map())

    def implicit_dependencies(self) -> list[Dependency]:
        """The dependencies added because a template asks for another node's address."""
        return [d for d in self.dependencies if IMPLICIT in d.extras]

    def with_template_dependencies(self, found: Iterable[TemplateDependency]
                                   ) -> InfraDescription:
        """A copy where each node waits for the nodes its templates ask about.

        An edge is added only when the node would not wait for that one anyway
        (directly or through others); one that closes a loop is a
        DependencyCycle at the template's position.
        """
        dependees = self.dependee_map()
        added: list[Dependency] = []
        implied: dict[tuple[str, str], TemplateDependency] = {}
        for dep in found:
            if dep.dependee in _ancestors(dependees, dep.dependent):
                continue
            back = _chain(dependees, dep.dependee, dep.dependent)
            if back is not None:
                cycle = [dep.dependent, *back]
                earlier = [implied[edge] for edge in zip(cycle[1:], cycle[2:], strict=False)
                           if edge in implied]
                reasons = [f"'{dep.dependent}' waits for '{dep.dependee}' because {dep.reason}",
                           *(f"'{e.dependent}' waits for '{e.dependee}' because {e.reason}"
                             + (f" at {e.where}" if e.where else "") for e in earlier)]
                raise graph.DependencyCycle(cycle, location=dep.where, because="; ".join(reasons))
            implied[(dep.dependent, dep.dependee)] = dep
            dependees[dep.dependent].append(dep.dependee)
            added.append(Dependency(
                dependent=dep.dependent, dependee=dep.dependee,
                extras={IMPLICIT: dep.reason, "template": str(dep.where or "")}))
        if not added:
            return self
        copy = self.model_copy(update={"dependencies": [*self.dependencies, *added]})
        copy._locations, copy._source = self._locations, self._source
        return copy

    def location_of(self, path: tuple[str | int, ...]) -> SourceLocation | None:
        """Where ``path`` (e.g. ``("nodes", 0, "type")``) was written, if known."""
        if self._locations is None:
            return None
        return self._locations.value(path)

    # ---------------------------------------------------------------- storage

    def to_plain(self) -> dict[str, Any]:
        """A JSON-able dict that :meth:`from_plain` turns back into this object."""
        return self.model_dump(mode="json", by_alias=True)

    @classmethod
    def from_plain(cls, data: dict[str, Any]) -> InfraDescription:
        """Rebuild from :meth:`to_plain` output (or any plain description).

        Validated like a file, but errors carry no location.
        """
        try:
            infra = cls.model_validate(data)
        except ValidationError as exc:
            raise describe_validation_error(exc, None, cls, plain=data) from None
        _check_graph(infra, data, None)
        return infra


def _ancestors(dependees: dict[str, list[str]], node: str) -> set[str]:
    """Every node ``node`` waits for, directly or not."""
    seen: set[str] = set()
    stack = list(dependees.get(node, ()))
    while stack:
        current = stack.pop()
        if current not in seen:
            seen.add(current)
            stack.extend(dependees.get(current, ()))
    return seen


def _chain(dependees: dict[str, list[str]], start: str, goal: str) -> list[str] | None:
    """A path ``start`` -> ... -> ``goal`` along "waits for" edges, or None."""
    parents: dict[str, str | None] = {start: None}
    queue = deque([start])
    while queue:
        current = queue.popleft()
        if current == goal:
            path = [current]
            while (parent := parents[path[-1]]) is not None:
                path.append(parent)
            return list(reversed(path))
        for need in dependees.get(current, ()):
            if need not in parents:
                parents[need] = current
                queue.append(need)
    return None


# --------------------------------------------------------------------------- loading


def load_infra_description(path: Path) -> InfraDescription:
    """Read and validate an infrastructure description file."""
    return _build(load_yaml_file(Path(path)))


def parse_infra_description(text: str, source: str, base_dir: Path, *,
                            allow_imports: bool = True,
                            import_root: Path | None = None) -> InfraDescription:
    """Validate description text (e.g. a REST request body).

    ``source`` names the text in error messages; ``base_dir`` is where
    relative ``file://`` imports are looked up. For text from a remote
    caller, pass ``allow_imports=False`` or an ``import_root`` (see
    :func:`occo.model.yamlio.load_yaml_text`).
    """
    return _build(load_yaml_text(text, source, Path(base_dir), allow_imports=allow_imports,
                                 import_root=import_root))


def _build(loaded: LoadedYaml) -> InfraDescription:
    data = loaded.plain
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}, not a mapping"
        raise DescriptionError(f"an infrastructure description must be a mapping "
                               f"with infra_name and nodes; this document is {kind}",
                               location=loaded.locations.value(()))
    try:
        infra = InfraDescription.model_validate(data)
    except ValidationError as exc:
        raise describe_validation_error(exc, loaded, InfraDescription) from None
    _check_graph(infra, data, loaded.locations)
    infra._locations = loaded.locations
    infra._source = loaded.source
    infra._source_text = loaded.text
    return infra


def _error(message: str, path: DataPath, locations: LocationIndex | None,
           *, at_key: bool = False) -> DescriptionError:
    location = None
    if locations is not None:
        location = locations.key(path) if at_key else locations.value(path)
    return DescriptionError(message, location=location, path=format_path(path) or None)


def _dependency_end_path(data: dict[str, Any], index: int, end: int) -> DataPath:
    """Path of one end of dependency ``index`` as written (pair or connection).

    An end written as an alias points at its anchor, far away; the
    dependency entry itself is then the better place to show.
    """
    raw = data.get("dependencies", [])[index]
    pair_path: DataPath = ("dependencies", index)
    pair = raw
    if isinstance(raw, dict):
        pair_path = ("dependencies", index, "connection")
        pair = raw.get("connection")
    if isinstance(pair, list) and end < len(pair) and not isinstance(pair[end], dict):
        return (*pair_path, end)
    return pair_path


def _check_graph(infra: InfraDescription, data: dict[str, Any],
                 locations: LocationIndex | None) -> None:
    """Checks across nodes: unique names, known dependency ends, no cycles."""
    first_seen: dict[str, int] = {}
    for index, node in enumerate(infra.nodes):
        if node.name in first_seen:
            earlier = (locations.value(("nodes", first_seen[node.name], "name"))
                       if locations else None)
            where = f" (first defined at {earlier})" if earlier else ""
            raise _error(f"duplicate node name {node.name!r}{where}",
                         ("nodes", index, "name"), locations)
        first_seen[node.name] = index

    for index, dep in enumerate(infra.dependencies):
        for end, name in enumerate((dep.dependent, dep.dependee)):
            if name not in first_seen:
                hint = suggest(name, first_seen) or f" (nodes: {', '.join(first_seen)})"
                raise _error(f"dependency on unknown node {name!r}{hint}",
                             _dependency_end_path(data, index, end), locations)

    try:
        infra.topological_order()
    except graph.DependencyCycle as cycle:
        first_edge = (cycle.cycle[0], cycle.cycle[1])
        index = next(i for i, d in enumerate(infra.dependencies)
                     if (d.dependent, d.dependee) == first_edge)
        path = ("dependencies", index)
        raise graph.DependencyCycle(
            cycle.cycle, location=locations.value(path) if locations else None,
            path=format_path(path)) from None


def check_node_types(infra: InfraDescription, known_types: set[str]) -> None:
    """Every node's ``type`` must have a node definition; error at that ``type``."""
    for index, node in enumerate(infra.nodes):
        if node.type not in known_types:
            known = ", ".join(sorted(known_types)) or "none imported"
            raise _error(
                f"unknown node type {node.type!r}{suggest(node.type, known_types)} "
                f"(known types: {known})",
                ("nodes", index, "type"), infra._locations)


def check_scaling_bounds(infra: InfraDescription, limit: int) -> None:
    """Each node's ``min`` and ``max``, and the instances a build starts with, are at most
    ``limit``: checked before any work is planned per instance."""
    total = 0
    for index, node in enumerate(infra.nodes):
        for key in ("min", "max"):
            value = getattr(node.scaling, key)
            if value > limit:
                raise _error(f"scaling.{key} is {value}; a node may have at most {limit} "
                             f"instances (max_instances in occopus_config.yaml)",
                             ("nodes", index, "scaling", key), infra._locations)
        total += node.scaling.min
    if total > limit:
        raise _error(f"the nodes' scaling.min add up to {total} instances; at most {limit} "
                     f"(max_instances in occopus_config.yaml)", ("nodes",), infra._locations)
