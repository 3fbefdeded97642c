"""Safe YAML loading that remembers where every value came from.

Descriptions are read with ruamel.yaml in round-trip mode, which records the
line and column of every mapping key, mapping value and sequence item. Those
positions are copied into a :class:`LocationIndex` keyed by the value's path
(``("nodes", 1, "scaling", "min")``), so that errors found long after loading
(by pydantic, or by checks on the dependency graph) can still name
``file:line:col``. The data itself is converted to plain dicts and lists, which
is what the models validate and what the store keeps as JSON.

Two Occopus tags are understood: ``!yaml_import {url: file://x.yaml}`` (the
value is the YAML document in that file) and ``!text_import {url: file://x.sh}``
(the value is the file's text). A relative path is resolved against the
directory of the file that names it. Any other tag is refused: nothing in a
description can build a Python object. Occopus's own config file is full of
object tags (``!python_import``, ``!ResourceHandler``...); loaded with
``keep_tags=True`` they are kept as inert data (the tagged mapping, list or
text, its tag readable with :func:`tag_of`), still never built.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import difflib
import math
import re
import types
import typing
from collections.abc import Iterable, Iterator, Mapping, Sequence, Set
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.composer import MaxDepthExceededError
from ruamel.yaml.constructor import ConstructorError, DuplicateKeyError, RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode
from ruamel.yaml.reader import Reader, ReaderError
from ruamel.yaml.scalarbool import ScalarBoolean

from occo.errors import DescriptionError, SourceLocation
from occo.model.textfiles import MAX_FILE_BYTES, position_in, read_text_file

if TYPE_CHECKING:   # pydantic is imported by what validates, not by reading a file
    from pydantic import ValidationError

__all__ = [
    "MAX_DEPTH",
    "MAX_PLAIN_ITEMS",
    "DataPath",
    "LoadedYaml",
    "LocationIndex",
    "allowed_keys",
    "describe_validation_error",
    "format_path",
    "load_yaml_file",
    "load_yaml_text",
    "suggest",
    "tag_of",
    "to_plain",
    "yaml_error",
    "yaml_problem",
]

DataPath = tuple[str | int, ...]
"""A path into loaded data: mapping keys and sequence indexes, outermost first."""

_FILE_SCHEME = "file://"


@dataclass
class LocationIndex:
    """Source positions of every key and value of a loaded document, by path.

    ``values`` maps a path to where its value starts (for a sequence item, the
    item); ``keys`` maps a mapping entry's path to where its key starts.
    """

    source: str
    values: dict[DataPath, SourceLocation] = field(default_factory=dict)
    keys: dict[DataPath, SourceLocation] = field(default_factory=dict)
    #: where a ``!text_import`` tag was written -> the file whose text it brought in
    imported_texts: dict[SourceLocation, str] = field(default_factory=dict)

    def value(self, path: Iterable[str | int]) -> SourceLocation | None:
        """Location of the value at ``path``, or of its nearest located parent."""
        return self._nearest(self.values, tuple(path))

    def key(self, path: Iterable[str | int]) -> SourceLocation | None:
        """Location of the key of ``path`` (falls back to its value, then parents)."""
        path = tuple(path)
        return self.keys.get(path) or self.value(path)

    def _nearest(self, table: dict[DataPath, SourceLocation],
                 path: DataPath) -> SourceLocation | None:
        for end in range(len(path), -1, -1):
            found = table.get(path[:end])
            if found is not None:
                return found
        return None


@dataclass(frozen=True)
class LoadedYaml:
    """One loaded document: ruamel data, its plain copy, and where things are."""

    source: str
    raw: Any
    plain: Any
    locations: LocationIndex
    text: str = ""                 # the document as read (without its imports)


# --------------------------------------------------------------------------- loading


MAX_DEPTH = 64
"""Deepest nesting of mappings and sequences, in one file and once aliases and
imports are expanded (deeper documents would exhaust Python's stack)."""

MAX_IMPORT_DEPTH = 8
"""Longest chain of ``!yaml_import`` (a file importing a file importing ...)."""

_CONSTRUCTION_ERRORS = (ValueError, TypeError, KeyError, IndexError, AssertionError,
                        OverflowError, RecursionError, UnicodeError)
"""What ruamel (or Python under it) raises on odd input that is not a YAMLError."""

MAX_NUMBER_CHARS = 100

_QUOTED = re.compile(r"\"[^\"]*\"|'[^']*'")

_REFUSED_STANDARD_TAGS = ("set", "omap", "pairs", "binary")
"""YAML 1.1 types with no meaning in a description; refused like unknown tags."""


@dataclass
class _LoadContext:
    """Shared by a top-level load and every file it imports."""

    root_source: str
    allow_imports: bool = True
    keep_tags: bool = False                                  # other tags kept as data
    import_root: Path | None = None                          # imports must stay below it
    file_of: dict[int, str] = field(default_factory=dict)   # id(container) -> file name
    keep_alive: list[Any] = field(default_factory=list)     # keeps ids in file_of valid
    importing: list[Path] = field(default_factory=list)     # the chain of yaml imports
    bytes_left: int = MAX_FILE_BYTES                         # for imports, all together
    text_imports: dict[SourceLocation, str] = field(default_factory=dict)  # tag -> file


def _one_line(text: object, limit: int = 200) -> str:
    """A message from a library on one line, and not endless."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[:limit - 3] + "..."


def _short(value: object) -> str:
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


class _PositionReader(Reader):
    """ruamel's reader, remembering where it stopped when a failed load resets it."""

    stopped_at: tuple[int, int] = (0, 0)

    def reset_reader(self) -> None:
        if getattr(self, "index", 0):
            self.stopped_at = (self.line, self.column)
        super().reset_reader()


class _OccoConstructor(RoundTripConstructor):
    """Round-trip constructor that knows the import tags and nothing unsafe.

    ``occo_base_dir``, ``occo_source`` and ``occo_context`` are set per load,
    so one class serves every file without shared mutable state. Values
    Python cannot make (a date like 2001-13-45, a 5,000-digit number) and
    duplicate keys are errors at their position; a duplicate key's values
    are never shown, since they may be secrets (auth_data.yaml).
    """

    occo_base_dir: Path = Path(".")
    occo_source: str = "<string>"
    occo_context: _LoadContext | None = None

    def construct_non_recursive_object(self, node: Node, tag: str | None = None) -> Any:
        try:
            return super().construct_non_recursive_object(node, tag)
        except _CONSTRUCTION_ERRORS:          # Python's message may quote the value: not shown
            kind = str(tag or node.tag).rsplit(":", 1)[-1]
            raise DescriptionError(f"not a valid {kind[:40]}",
                                   location=_mark_location(self, node)) from None

    def check_mapping_key(self, node: Node, key_node: Node, mapping: Any, key: Any,
                          value: Any) -> bool:
        if key in mapping:
            first = ""
            try:
                first = f" (first at line {mapping.lc.key(key)[0] + 1})"
            except (AttributeError, KeyError, TypeError):
                pass
            raise DescriptionError(f"YAML syntax error: duplicate key {_short(key)}{first}",
                                   location=_mark_location(self, key_node))
        return True

    def construct_yaml_int(self, node: Node) -> Any:
        _check_number_length(self, node)
        return super().construct_yaml_int(node)

    def construct_yaml_float(self, node: Node) -> Any:
        _check_number_length(self, node)
        if self.resolver.processing_version == (1, 2):
            return super().construct_yaml_float(node)
        # a %YAML 1.1 document: ruamel would print a warning for "1e5"; read it quietly
        return _yaml11_float(str(node.value))


def _check_number_length(constructor: _OccoConstructor, node: Node) -> None:
    """Longer numbers are no use, and Python refuses to print ints of 4,300+ digits."""
    if len(str(node.value)) > MAX_NUMBER_CHARS:
        raise DescriptionError(f"a number may have at most {MAX_NUMBER_CHARS} characters",
                               location=_mark_location(constructor, node))


def _yaml11_float(text: str) -> float:
    value = text.replace("_", "").lower()
    sign = -1.0 if value.startswith("-") else 1.0
    value = value.lstrip("+-")
    if value == ".inf":
        return sign * math.inf
    if value == ".nan":
        return math.nan
    total = 0.0
    for part in value.split(":"):           # sexagesimal: 190:20:30.15
        total = total * 60 + float(part)
    return sign * total


def _mark_location(constructor: _OccoConstructor, node: Node) -> SourceLocation:
    mark = node.start_mark
    return SourceLocation(constructor.occo_source, mark.line + 1, mark.column + 1)


def _import_target(constructor: _OccoConstructor, node: Node, tag: str) -> tuple[Path, str]:
    """Resolve the file a ``!yaml_import`` / ``!text_import`` node points at (and its URL)."""
    where = _mark_location(constructor, node)
    context = constructor.occo_context
    assert context is not None
    if not context.allow_imports:
        raise DescriptionError(f"{tag} is not allowed here", location=where)
    url: Any = None
    if isinstance(node, MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, ScalarNode) and key_node.value == "url":
                if not isinstance(value_node, ScalarNode):
                    raise DescriptionError(f"{tag}: 'url' must be a string", location=where)
                url = value_node.value
            elif isinstance(key_node, ScalarNode):
                raise DescriptionError(
                    f"{tag}: unknown key {_short(key_node.value)} (only 'url' is allowed)",
                    location=where)
    elif isinstance(node, ScalarNode):
        url = node.value
    if not url or not isinstance(url, str):
        raise DescriptionError(f"{tag} needs a 'url', e.g. {{url: file://script.sh}}",
                               location=where)
    if not url.startswith(_FILE_SCHEME):
        raise DescriptionError(
            f"{tag}: unsupported URL {_short(url)}: only file:// URLs can be imported",
            location=where)
    target = Path(url[len(_FILE_SCHEME):])
    if not target.is_absolute():
        target = constructor.occo_base_dir / target
    if context.import_root is not None and not target.resolve().is_relative_to(
            context.import_root):
        raise DescriptionError(f"{tag}: {_short(url)} is outside {str(context.import_root)!r}",
                               location=where)
    return target, url


def _read_import(constructor: _OccoConstructor, node: Node, tag: str, target: Path,
                 url: str) -> str:
    """An imported file's text: a regular file, within what this load may still read."""
    context = constructor.occo_context
    assert context is not None
    text = read_text_file(target, limit=max(0, context.bytes_left), regular_only=True,
                          where=_mark_location(constructor, node),
                          what=f"{tag}: cannot read {_short(url)}: ")
    context.bytes_left -= len(text.encode())
    return text


def _construct_text_import(constructor: _OccoConstructor, node: Node) -> str:
    target, url = _import_target(constructor, node, "!text_import")
    context = constructor.occo_context
    assert context is not None
    context.text_imports[_mark_location(constructor, node)] = str(target)
    return _read_import(constructor, node, "!text_import", target, url)


def _construct_yaml_import(constructor: _OccoConstructor, node: Node) -> Any:
    target, url = _import_target(constructor, node, "!yaml_import")
    context = constructor.occo_context
    assert context is not None
    where = _mark_location(constructor, node)
    resolved = target.resolve()
    if resolved in context.importing:
        chain = " -> ".join(str(p) for p in [*context.importing, resolved])
        raise DescriptionError(f"!yaml_import cycle: {chain}", location=where)
    if len(context.importing) > MAX_IMPORT_DEPTH:
        raise DescriptionError(f"!yaml_import: imports nested more than {MAX_IMPORT_DEPTH} "
                               f"files deep", location=where)
    text = _read_import(constructor, node, "!yaml_import", target, url)
    context.importing.append(resolved)
    try:
        data = _load(text, str(target), target.parent, context)
    finally:
        context.importing.pop()
    return data


def _construct_unknown(constructor: _OccoConstructor, node: Node) -> Any:
    context = constructor.occo_context
    if context is not None and context.keep_tags:
        # ruamel's round-trip reading of an unknown tag: plain data that remembers it
        return RoundTripConstructor.construct_unknown(constructor, node)
    raise DescriptionError(
        f"unsupported YAML tag {str(node.tag)[:60]} (only !yaml_import and !text_import "
        f"are allowed)", location=_mark_location(constructor, node))


_OccoConstructor.add_constructor("!text_import", _construct_text_import)
_OccoConstructor.add_constructor("!yaml_import", _construct_yaml_import)
_OccoConstructor.add_constructor(None, _construct_unknown)
_OccoConstructor.add_constructor("tag:yaml.org,2002:int", _OccoConstructor.construct_yaml_int)
_OccoConstructor.add_constructor("tag:yaml.org,2002:float",
                                 _OccoConstructor.construct_yaml_float)
for _tag in _REFUSED_STANDARD_TAGS:
    _OccoConstructor.add_constructor(f"tag:yaml.org,2002:{_tag}", _construct_unknown)


def yaml_problem(exc: MarkedYAMLError) -> str:
    """What ruamel says is wrong, on one line, without the value it could not construct
    (which may be a secret: ``password: !!timestamp S3cret`` quotes it)."""
    problem = _one_line(exc.problem or exc.context or "invalid YAML")
    if isinstance(exc, (ConstructorError, DuplicateKeyError)):
        problem = _QUOTED.sub("'...'", problem)
    return problem


def yaml_error(exc: YAMLError, source: str, text: str) -> DescriptionError:
    """A ruamel error as one DescriptionError, on one line, at the problem's position;
    ``text`` is the document (to place errors that give a character offset)."""
    if isinstance(exc, ReaderError):
        what = (f"character {exc.character!r}" if isinstance(exc.character, str)
                else f"character #x{exc.character:04x}")
        return DescriptionError(f"YAML syntax error: unacceptable {what} "
                                f"({_one_line(exc.reason)})",
                                location=position_in(text, int(exc.position), source))
    if isinstance(exc, MaxDepthExceededError):
        mark = exc.problem_mark
        return DescriptionError(f"YAML nested more than {MAX_DEPTH} levels deep",
                                location=SourceLocation(source, mark.line + 1, mark.column + 1))
    if isinstance(exc, MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        problem = yaml_problem(exc)
        if exc.context and exc.problem and exc.context_mark is not None:
            problem = f"{problem} ({exc.context} at line {exc.context_mark.line + 1})"
        location = (SourceLocation(source, mark.line + 1, mark.column + 1)
                    if mark is not None else SourceLocation(source, 1, 1))
        return DescriptionError(f"YAML syntax error: {problem}", location=location)
    return DescriptionError(f"YAML syntax error: {_one_line(exc)}",
                            location=SourceLocation(source, 1, 1))


def _containers(data: Any) -> Iterator[Any]:
    """Every mapping and sequence reachable from ``data``, each once."""
    seen: set[int] = set()
    stack = [data]
    while stack:
        item = stack.pop()
        if not isinstance(item, (CommentedMap, CommentedSeq)) or id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        stack.extend(item.values() if isinstance(item, CommentedMap) else item)


def _load(text: str, source: str, base_dir: Path, context: _LoadContext) -> Any:
    yaml = YAML(typ="rt", pure=True)
    yaml.Constructor = _OccoConstructor
    yaml.Reader = _PositionReader
    yaml.allow_duplicate_keys = False
    yaml.max_depth = MAX_DEPTH
    yaml.composer.warn_double_anchors = False     # a reused anchor is legal YAML
    constructor = yaml.constructor
    constructor.occo_base_dir = base_dir
    constructor.occo_source = source
    constructor.occo_context = context
    try:
        data = yaml.load(text)
    except YAMLError as exc:
        raise yaml_error(exc, source, text) from None
    except _CONSTRUCTION_ERRORS:          # e.g. the scanner meeting "\U0011ffff"
        line, column = getattr(yaml.reader, "stopped_at", (0, 0))
        raise DescriptionError("YAML syntax error: cannot read the text here",
                               location=SourceLocation(source, line + 1, column + 1)) from None
    for container in _containers(data):
        if id(container) not in context.file_of:
            context.file_of[id(container)] = source
            context.keep_alive.append(container)
    return data


def load_yaml_text(text: str, source: str, base_dir: Path | None = None, *,
                   allow_imports: bool = True, import_root: Path | None = None,
                   keep_tags: bool = False) -> LoadedYaml:
    """Load one YAML document from text; ``source`` names it in error messages.

    ``base_dir`` is where relative ``file://`` imports are looked up (default:
    the current directory). Text from an untrusted sender should be loaded
    with ``allow_imports=False``, or with ``import_root`` set to the only
    directory whose files it may pull in. ``keep_tags`` reads tags other than
    the two imports as inert data instead of refusing them.
    """
    context = _LoadContext(root_source=source, allow_imports=allow_imports, keep_tags=keep_tags,
                           import_root=import_root.resolve() if import_root else None)
    return _finish(_load(text, source, base_dir or Path("."), context), context, text)


def load_yaml_file(path: Path, *, allow_imports: bool = True,
                   import_root: Path | None = None, keep_tags: bool = False) -> LoadedYaml:
    """Load one YAML document from a file; its imports resolve next to it."""
    path = Path(path)
    text = read_text_file(path)
    context = _LoadContext(root_source=str(path), allow_imports=allow_imports,
                           keep_tags=keep_tags,
                           import_root=import_root.resolve() if import_root else None,
                           importing=[path.resolve()])
    return _finish(_load(text, str(path), path.parent, context), context, text)


def _finish(raw: Any, context: _LoadContext, text: str) -> LoadedYaml:
    source = context.root_source
    plain = to_plain(raw, source=source, file_of=context.file_of)
    return LoadedYaml(source=source, raw=raw, plain=plain, locations=_index(raw, context),
                      text=text)


def tag_of(raw: Any) -> str | None:
    """The explicit tag of a value loaded with ``keep_tags`` (``'!UDS'``), else None."""
    tag = getattr(raw, "tag", None)
    value = getattr(tag, "value", None)
    return str(value) if value and str(value).startswith("!") else None


# --------------------------------------------------------------------------- locations


def _index(raw: Any, context: _LoadContext) -> LocationIndex:
    """Record where every key, value and item of ``raw`` starts.

    A container reached twice (through YAML aliases) is described once, under
    the path of its anchor (visited first, in document order); lookups under
    an alias's path fall back to the alias's own position.
    """
    index = LocationIndex(source=context.root_source, imported_texts=dict(context.text_imports))
    index.values[()] = SourceLocation(context.root_source, 1, 1)
    seen: set[int] = set()
    stack: list[tuple[DataPath, Any]] = [((), raw)]
    while stack:
        path, item = stack.pop()
        if not isinstance(item, (CommentedMap, CommentedSeq)) or id(item) in seen:
            continue
        seen.add(id(item))
        source = context.file_of.get(id(item), context.root_source)
        children: list[tuple[DataPath, Any]] = []
        if isinstance(item, CommentedMap):
            for key, value in item.items():
                child = (*path, key)
                _record(index.keys, child, source, lambda k=key, m=item: m.lc.key(k))
                _record(index.values, child, source, lambda k=key, m=item: m.lc.value(k))
                children.append((child, value))
        else:
            for position, value in enumerate(item):
                child = (*path, position)
                _record(index.values, child, source, lambda i=position, m=item: m.lc.item(i))
                children.append((child, value))
        stack.extend(reversed(children))   # document order: anchors before aliases
    return index


def _record(table: dict[DataPath, SourceLocation], path: DataPath, source: str, get: Any) -> None:
    try:
        line, column = get()
    except (KeyError, IndexError, TypeError, AttributeError):
        return   # e.g. keys brought in by a YAML merge key carry no position
    table[path] = SourceLocation(source, line + 1, column + 1)


# --------------------------------------------------------------------------- plain data


MAX_PLAIN_ITEMS = 100_000
"""Ceiling on values produced by expanding aliases (guards against alias bombs)."""


def to_plain(data: Any, *, source: str = "<data>", max_items: int = MAX_PLAIN_ITEMS,
             file_of: Mapping[int, str] | None = None) -> Any:
    """Copy ruamel data into plain dicts, lists, str, int, float, bool and None.

    The result is JSON-able (dates become ISO strings) and has no ruamel
    subclasses left. Aliases are expanded into copies; a recursive alias, an
    expansion beyond ``max_items`` values or :data:`MAX_DEPTH` levels, and a
    mapping or sequence used as a mapping key are DescriptionErrors.
    ``file_of`` names the file each container came from, for positions.
    """
    plainer = _Plainer(source, max_items, file_of or {})
    plainer.check_expansion(data)
    return plainer.convert(data, ())


class _Plainer:
    """One conversion: remembers the containers being copied and the budget."""

    def __init__(self, source: str, budget: int, file_of: Mapping[int, str]) -> None:
        self.source = source
        self.budget = self.max_items = budget
        self.file_of = file_of
        self.active: set[int] = set()

    def _where(self, container: Any, key: Any = None) -> SourceLocation:
        source = self.file_of.get(id(container), self.source)
        try:
            line, column = container.lc.key(key) if key is not None else \
                (container.lc.line, container.lc.col)
        except (AttributeError, KeyError, TypeError):
            return SourceLocation(source, 1, 1)
        return SourceLocation(source, line + 1, column + 1)

    def check_expansion(self, root: Any) -> None:
        """Refuse an alias bomb before expanding it: each container's expanded size is
        counted once (shared ones through their anchors), so this takes time in
        proportion to the document as written."""
        sizes: dict[int, int] = {}
        on_path: set[int] = set()
        stack: list[tuple[Any, bool]] = [(root, False)]
        while stack:
            item, finished = stack.pop()
            if not isinstance(item, (Mapping, list)):
                continue
            children = list(item.values()) if isinstance(item, Mapping) else item
            if finished:
                on_path.discard(id(item))
                sizes[id(item)] = 1 + sum(sizes.get(id(child), 1) for child in children)
                if sizes[id(item)] > self.max_items:
                    raise DescriptionError(
                        f"more than {self.max_items} values once its YAML aliases are "
                        f"expanded", location=self._where(item))
            elif id(item) in on_path:
                raise DescriptionError("recursive YAML alias", location=self._where(item))
            elif id(item) not in sizes:
                on_path.add(id(item))
                stack.append((item, True))
                stack.extend((child, False) for child in children)

    def convert(self, data: Any, path: DataPath) -> Any:
        self.budget -= 1
        if not isinstance(data, (Mapping, list)):
            return _plain_scalar(data)
        if self.budget < 0:
            raise DescriptionError(f"more than {self.max_items} values once its YAML aliases "
                                   f"are expanded", location=self._where(data))
        if len(path) >= MAX_DEPTH:
            raise DescriptionError(
                f"nested more than {MAX_DEPTH} levels deep (counting YAML aliases and imports)",
                path=format_path(path[:8]) + "..." or None, location=self._where(data))
        if id(data) in self.active:
            raise DescriptionError("recursive YAML alias", path=format_path(path) or None,
                                   location=self._where(data))
        self.active.add(id(data))
        try:
            if isinstance(data, Mapping):
                return {self._key(data, key): self.convert(value, (*path, key))
                        for key, value in data.items()}
            return [self.convert(value, (*path, i)) for i, value in enumerate(data)]
        finally:
            self.active.discard(id(data))

    def _key(self, mapping: Any, key: Any) -> Any:
        """A mapping key: a plain value; a mapping or sequence as a key is refused."""
        if isinstance(key, (Mapping, Sequence, Set)) and not isinstance(key, str):
            raise DescriptionError("a mapping or sequence cannot be a mapping key",
                                   location=self._where(mapping, key))
        return _plain_scalar(key)


def _plain_scalar(value: Any) -> Any:
    if value is None or type(value) in (str, int, float, bool):
        return value
    if isinstance(value, ScalarBoolean):     # an anchored bool: an int subclass
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()
    if isinstance(value, TaggedScalar):
        return str(value.value)
    if isinstance(value, (tuple, set, frozenset)):
        return [_plain_scalar(v) for v in value]
    return str(value)


# --------------------------------------------------------------------------- messages


def format_path(path: Iterable[str | int]) -> str:
    """Render a path the way a user reads it: ``nodes[1].scaling.min``."""
    out = ""
    for part in path:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        elif isinstance(part, str) and part and all(c.isalnum() or c in "_-:" for c in part):
            out += f".{part}" if out else part
        else:
            out += f"[{part!r}]"
    return out


def suggest(word: str, candidates: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` when difflib finds a close candidate, else ``''``."""
    close = difflib.get_close_matches(str(word), sorted(set(candidates)), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _resolve(plain: Any, loc: tuple[Any, ...]) -> DataPath:
    """Follow a pydantic ``loc`` through the data, dropping segments that are
    not in it (union tags, ``[key]`` markers, names of missing fields)."""
    path: list[str | int] = []
    current = plain
    for segment in loc:
        in_dict = isinstance(current, dict) and segment in current
        in_list = isinstance(current, list) and isinstance(segment, int) \
            and 0 <= segment < len(current)
        if in_dict or in_list:
            path.append(segment)
            current = current[segment]
    return tuple(path)


def allowed_keys(annotation: Any, loc: Iterable[Any]) -> list[str]:
    """Keys a pydantic model accepts at ``loc`` below ``annotation`` (best effort).

    Used only to suggest a spelling for an unknown key, so anything the walk
    does not understand yields ``[]``.
    """
    current: Any = annotation
    for segment in loc:
        current = _step(current, segment)
        if current is None:
            return []
    keys: list[str] = []
    for member in _members(current):
        if _is_model(member):
            keys += [info.alias or name for name, info in member.model_fields.items()]
        elif dataclasses.is_dataclass(member):
            keys += [f.name for f in dataclasses.fields(member)]
    return keys


def _is_model(tp: Any) -> bool:
    from pydantic import BaseModel

    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _members(tp: Any) -> list[Any]:
    """Flatten Annotated / Optional / Union into the member types."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _members(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        out: list[Any] = []
        for arg in typing.get_args(tp):
            out.extend(_members(arg))
        return out
    return [tp]


def _step(tp: Any, segment: Any) -> Any:
    for member in _members(tp):
        if _is_model(member):
            for name, info in member.model_fields.items():
                if segment in (name, info.alias):
                    return info.annotation
            type_field = member.model_fields.get("type")
            if type_field is not None and segment in _literal_values(type_field.annotation):
                return member          # a discriminated-union tag names the member
            continue
        if isinstance(member, type) and dataclasses.is_dataclass(member):
            hints = typing.get_type_hints(member, include_extras=True)
            if segment in hints:
                return hints[segment]
            continue
        origin = typing.get_origin(member)
        args = typing.get_args(member)
        if origin in (list, tuple, set, frozenset) and isinstance(segment, int) and args:
            return args[0]
        if origin is dict and len(args) == 2 and isinstance(segment, str):
            return args[1]
    for member in _members(tp):     # tags that name no member (e.g. a fallback)
        if _is_model(member) and isinstance(segment, str) and segment.startswith("__"):
            return member
    return None


def _literal_values(tp: Any) -> tuple[Any, ...]:
    values: list[Any] = []
    for member in _members(tp):
        if typing.get_origin(member) is typing.Literal:
            values.extend(typing.get_args(member))
    return tuple(values)


def describe_validation_error(
    error: ValidationError,
    loaded: LoadedYaml | None,
    model: Any = None,
    *,
    prefix: DataPath = (),
    plain: Any = None,
) -> DescriptionError:
    """One DescriptionError for a pydantic ValidationError, at the offending spot.

    The error met first in the file is reported (missing keys last), with a
    count of the others.
    ``model`` (the validated type) lets an unknown key get a "did you mean"
    hint; ``prefix`` is prepended when only part of the document was
    validated. Without ``loaded`` (data rebuilt from the store) there is no
    location, only the path; pass the validated data as ``plain`` then.
    """
    data = loaded.plain if loaded is not None else plain
    found: list[tuple[tuple[int, int, int, int], DescriptionError]] = []
    for item in error.errors(include_url=False):
        loc = tuple(item["loc"])
        path = (*prefix, *_resolve(_at(data, prefix), loc))
        message, where, at_key, shown = _message(item, loc, path, model)
        location = None
        if loaded is not None:
            location = loaded.locations.key(where) if at_key else loaded.locations.value(where)
        # a missing key is often explained by a misspelt one, so it ranks last
        missing = int(item["type"] == "missing")
        rank = ((missing, int(location.file != loaded.source), location.line, location.column)
                if location is not None and loaded is not None else (missing, 0, 0, 0))
        found.append((rank, DescriptionError(message, location=location,
                                             path=format_path(shown) or None)))
    found.sort(key=lambda pair: pair[0])
    first = found[0][1]
    if len(found) > 1:
        more = len(found) - 1
        first = DescriptionError(f"{first.message} (and {more} more error{'s' * (more > 1)})",
                                 location=first.location, path=first.path)
    return first


def _at(data: Any, prefix: DataPath) -> Any:
    for part in prefix:
        data = data[part]
    return data


def _message(item: Any, loc: tuple[Any, ...], path: DataPath,
             model: Any) -> tuple[str, DataPath, bool, DataPath]:
    """Message, path to locate, whether to point at the key, and path to show."""
    kind = item["type"]
    ctx = item.get("ctx") or {}
    if kind in ("extra_forbidden", "unexpected_keyword_argument"):   # a model, a dataclass
        key = loc[-1]
        hint = suggest(str(key), allowed_keys(model, loc[:-1])) if model is not None else ""
        return f"unknown key {key!r}{hint}", path, True, path[:-1]
    if kind == "missing":
        return f"missing required key {loc[-1]!r}", path, False, path
    if kind == "union_tag_invalid":
        tag = ctx.get("tag")
        expected = [t.strip(" '") for t in str(ctx.get("expected_tags", "")).split(",")]
        hint = suggest(str(tag), expected) or f" (known: {', '.join(expected)})"
        return f"unknown type {tag!r}{hint}", (*path, "type"), False, (*path, "type")
    if kind in ("union_tag_not_found", "resource_type_missing"):
        return "missing required key 'type'", path, False, path
    if kind == "too_short" and ctx.get("min_length") == 1:
        return "must not be empty", path, False, path
    if len(loc) >= 2 and loc[-1] == "[key]":
        return f"invalid key {loc[-2]!r}: {item['msg']}", path, False, path
    if kind in ("value_error", "assertion_error") and "error" in ctx:
        return str(ctx["error"]), path, False, path
    value = item.get("input")
    if isinstance(value, (str, int, float, bool)) or value is None:
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        return f"{item['msg']} (got {shown})", path, False, path
    return str(item["msg"]), path, False, path
