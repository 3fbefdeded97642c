"""occo's configuration: a typed model, found the way Occopus finds its files.

Search order for ``occopus_config.yaml`` and ``auth_data.yaml``: the explicit
path (``--cfg`` / ``--auth_data_path``), ``$OCCOPUS_CONFIG_PATH``,
``~/.occopus/``, ``./``, ``/etc/occopus/``. Neither file is needed: the
embedded default is a SQLite store under ``$OCCOPUS_HOME`` (``~/.occopus``).

Both files go through the one YAML loader of descriptions
(:mod:`occo.model.yamlio`), so an error reads ``file:line:col: path: message``.
Occopus's own config file loads as shipped: its object tags
(``!python_import``, ``!ResourceHandler``...) are kept as inert data, the
sections occo has a use for are taken (``components.rest`` host and port,
``logging``) and the rest are ignored with one debug line.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import operator
import os
import re
import stat
import types
import typing
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, cast

from occo.errors import ConfigError, DescriptionError

if TYPE_CHECKING:       # pydantic and the YAML loader are imported when a file is read
    from pydantic import TypeAdapter

    from occo.model.yamlio import LoadedYaml

__all__ = ["AUTH_NAME", "CONFIG_NAME", "OCCOPUS_SECTIONS", "Config", "RestSettings",
           "find_file", "load_config"]

CONFIG_NAME = "occopus_config.yaml"
AUTH_NAME = "auth_data.yaml"
#: Top-level sections of Occopus's config files (every release) that occo reads no
#: settings from, apart from ``components.rest`` and ``logging``. A top-level value
#: carrying one of Occopus's object tags (``kvs: !KeyValueStore``) counts as one too.
OCCOPUS_SECTIONS = frozenset({
    "plugins", "autoimport", "components", "logging", "kvs", "infrastructure",
    "occo_loglevel", "resource_handler", "resourcehandler", "cloudhandler", "cloud_handler",
    "infra_processor", "infraprocessor", "servicecomposer", "uds", "ib", "infobroker",
    "configmanager", "config_manager", "eventlog", "dry_run"})
_OCCOPUS_TAG = re.compile(r"!(python_import|[A-Z][A-Za-z]*)")
_STDOUT = "ext://sys.stdout"
_STDERR = "ext://sys.stderr"

_log = logging.getLogger(__name__)


def _default_home() -> Path:
    return Path(os.environ.get("OCCOPUS_HOME", Path.home() / ".occopus"))


# Bounds of numeric settings: (field, rule, limit). Checked when a settings object
# is made (a file's values first get their types checked by pydantic).
_RULES: dict[str, tuple[Callable[[Any, Any], bool], str]] = {
    "ge": (operator.ge, "greater than or equal to"), "gt": (operator.gt, "greater than"),
    "le": (operator.le, "less than or equal to")}


@dataclass
class RestSettings:
    """The REST service's defaults (command-line flags override host and port);
    ``tokens`` hold SHA-256 digests once made, never the tokens themselves."""

    __pydantic_config__: ClassVar[dict[str, Any]] = {"extra": "forbid"}
    bounds: ClassVar[tuple[tuple[str, str, float], ...]] = (
        ("port", "ge", 0), ("port", "le", 65535), ("max_body_bytes", "ge", 1))
    host: str = "127.0.0.1"
    port: int = 5000
    tokens: list[str] = field(default_factory=list)
    generate_token: bool = False
    cors_origins: list[str] = field(default_factory=list)
    allowed_hosts: list[str] = field(default_factory=list)
    host_commands: Literal["loopback", "always", "never"] = "loopback"
    webhook_local_targets: bool = False
    max_body_bytes: int = 1_048_576

    def __post_init__(self) -> None:
        if self.tokens:
            from occo.model.tokens import token_digest

            self.tokens = list(dict.fromkeys(token_digest(t) for t in self.tokens if t.strip()))


@dataclass
class Config:
    """Everything occo reads from its config file and environment.

    A plain dataclass: a command that reads no config file imports no pydantic
    (it costs several times the interpreter's start-up). A file's settings are
    checked against the same fields by :func:`load_config`, with pydantic.
    """

    __pydantic_config__: ClassVar[dict[str, Any]] = {"extra": "forbid"}
    bounds: ClassVar[tuple[tuple[str, str, float], ...]] = (
        ("concurrency", "ge", 1), ("create_timeout", "gt", 0), ("destroy_timeout", "gt", 0),
        ("maintain_interval", "gt", 0), ("failure_brake", "gt", 0), ("failure_brake", "le", 1),
        ("lease_ttl", "ge", 1), ("lease_ttl", "le", 3600),
        ("max_instances", "ge", 1), ("max_instances", "le", 10_000_000))
    home: Path = field(default_factory=_default_home)
    store_url: str | None = None
    concurrency: int = 10
    max_instances: int = 100_000
    create_timeout: float = 600.0
    destroy_timeout: float = 300.0
    maintain_interval: float = 10.0
    failure_brake: float = 0.5
    lease_ttl: float = 30.0
    report_log: str | None = None
    rest: RestSettings = field(default_factory=RestSettings)
    #: Python's ``logging.config.dictConfig`` schema, from the Occopus file's
    #: ``logging:`` section, with handlers on stdout moved to stderr (stdout
    #: carries only results). None when the file has none.
    logging: dict[str, Any] | None = None
    #: settings of individual resource handlers, by type: ``{cloudsigma: {poll_interval: 5}}``
    handlers: dict[str, dict[str, Any]] = field(default_factory=dict)
    auth_data: list[dict[str, Any]] | dict[str, Any] | None = None
    auth_source: str | None = None       # the auth_data.yaml read, for messages
    source: Path | None = None

    def __post_init__(self) -> None:
        self.home = Path(self.home)
        check_bounds(self)
        check_bounds(self.rest, "rest.")

    @property
    def resolved_store_url(self) -> str:
        env_url = os.environ.get("OCCOPUS_STORE_URL")
        if env_url:
            return env_url
        if self.store_url:
            return self.store_url
        return f"sqlite:///{self.home / 'occopus.db'}"


def check_bounds(settings: Config | RestSettings, prefix: str = "") -> None:
    """A ConfigError (``path``: the setting) for a value outside its bounds."""
    for name, rule, limit in settings.bounds:
        value = getattr(settings, name)
        test, words = _RULES[rule]
        if not test(value, limit):
            raise ConfigError(f"Input should be {words} {limit:g}", path=f"{prefix}{name}")


@functools.cache
def _adapter() -> TypeAdapter[Config]:
    from pydantic import TypeAdapter

    return TypeAdapter(Config)


def _validated(data: dict[str, Any]) -> Config:
    """``data`` checked against Config's annotations (types, bounds, unknown keys).

    Settings that already have their annotated types (what a YAML file gives for
    a valid config) are taken as they are; pydantic, costly to start, is asked
    only to convert or to explain the rest.
    """
    taken = _as_annotated(data, Config)
    if taken is not _UNSURE:
        return cast(Config, taken)
    return _adapter().validate_python(data)


_UNSURE = object()      # a value _as_annotated leaves to pydantic


@functools.cache
def _annotations(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _as_annotated(value: Any, hint: Any) -> Any:
    """``value`` as pydantic would return it for ``hint`` when it already has that type
    (an int where a float is wanted, a string where a path is), else :data:`_UNSURE`."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return value
    if hint is type(None):
        return None if value is None else _UNSURE
    if hint is bool:
        return value if isinstance(value, bool) else _UNSURE
    if hint is int:
        return int(value) if isinstance(value, int) and not isinstance(value, bool) else _UNSURE
    if hint is float:
        plain = isinstance(value, (int, float)) and not isinstance(value, bool)
        return float(value) if plain else _UNSURE
    if hint is str:
        return str(value) if isinstance(value, str) else _UNSURE
    if hint is Path:
        return Path(value) if isinstance(value, str) and value else _UNSURE
    if origin is Literal:
        return value if any(type(value) is type(a) and value == a for a in args) else _UNSURE
    if origin in (typing.Union, types.UnionType):
        fits = [v for v in (_as_annotated(value, a) for a in args) if v is not _UNSURE]
        return fits[0] if len(fits) == 1 else _UNSURE     # ambiguous: pydantic decides
    if origin is list and isinstance(value, list):
        items = [_as_annotated(item, args[0]) for item in value]
        return _UNSURE if any(i is _UNSURE for i in items) else items
    if origin is dict and isinstance(value, dict):
        pairs = [(_as_annotated(k, args[0]), _as_annotated(v, args[1]))
                 for k, v in value.items()]
        return _UNSURE if any(_UNSURE in pair for pair in pairs) else dict(pairs)
    if dataclasses.is_dataclass(hint) and isinstance(value, dict):
        fields = _annotations(cast(type, hint))
        if not set(value) <= set(fields):
            return _UNSURE                # an unknown key: pydantic names it
        given = {k: _as_annotated(v, fields[k]) for k, v in value.items()}
        return _UNSURE if _UNSURE in given.values() else cast(type, hint)(**given)
    return _UNSURE


def _candidates(name: str, explicit: str | os.PathLike[str] | None) -> list[Path]:
    if explicit:
        return [Path(explicit)]
    out = []
    if env := os.environ.get("OCCOPUS_CONFIG_PATH"):
        # a directory, or the config file itself (then its directory, for auth_data)
        given = Path(env)
        if given.suffix in (".yaml", ".yml") and not given.is_dir():
            out.append(given if given.name == name or name == CONFIG_NAME
                       else given.parent / name)
        else:
            out.append(given / name)
    out += [Path.home() / ".occopus" / name, Path.cwd() / name, Path("/etc/occopus") / name]
    return out


def find_file(name: str, explicit: str | os.PathLike[str] | None) -> Path | None:
    """The first existing candidate; an explicit path that is missing is an error."""
    for path in _candidates(name, explicit):
        if path.is_file():
            return path
    if explicit:
        raise ConfigError(f"file not found: {explicit}")
    return None


def _as_config_error(exc: DescriptionError) -> ConfigError:
    return ConfigError(exc.message, location=exc.location, path=exc.path)


def _load(path: Path, *, keep_tags: bool) -> LoadedYaml:
    from occo.model.yamlio import load_yaml_file

    try:
        return load_yaml_file(path, keep_tags=keep_tags)
    except DescriptionError as exc:
        raise _as_config_error(exc) from None


def _stdout_to_stderr(section: dict[str, Any]) -> dict[str, Any]:
    """Occopus logs to stdout; occo keeps stdout for results (an infra id, a report)."""
    handlers = section.get("handlers")
    if isinstance(handlers, dict):
        section = {**section, "handlers": {
            name: ({**handler, "stream": _STDERR}
                   if isinstance(handler, dict) and handler.get("stream") == _STDOUT
                   else handler)
            for name, handler in handlers.items()}}
    return section


def _occopus_sections(loaded: LoadedYaml) -> tuple[dict[str, Any], list[str]]:
    """What occo takes from Occopus's sections, and the names of those it ignores."""
    taken: dict[str, Any] = {}
    ignored: list[str] = []
    for key in loaded.raw:
        if not _is_occopus_section(loaded, key):
            continue
        plain = loaded.plain[key]
        if key == "logging":
            if not isinstance(plain, dict):
                raise ConfigError("must be a mapping (Python's logging dictConfig schema)",
                                  location=loaded.locations.value((key,)), path=key)
            taken["logging"] = _stdout_to_stderr(plain)
        elif key == "components" and isinstance(plain, dict):
            for name, component in plain.items():
                if name == "rest" and isinstance(component, dict):
                    taken["rest"] = {k: v for k, v in component.items() if k in ("host", "port")}
                else:
                    ignored.append(f"components.{name}")
        else:
            ignored.append(str(key))
    return taken, ignored


def _validate(data: dict[str, Any], loaded: LoadedYaml, prefix: tuple[str, ...]) -> Config:
    try:
        return _validated(data)
    except ConfigError as exc:          # out of bounds: say where it is written
        where = (*prefix, *(exc.path or "").split("."))
        raise ConfigError(exc.message, location=loaded.locations.value(where),
                          path=".".join(where)) from None
    except Exception as exc:            # pydantic is imported only once it had to judge
        from pydantic import ValidationError

        from occo.model.yamlio import describe_validation_error

        if not isinstance(exc, ValidationError):
            raise
        raise _as_config_error(
            describe_validation_error(exc, loaded, Config, prefix=prefix)) from None


def _settings(path: Path) -> dict[str, Any]:
    """The settings of one config file, checked against the model."""
    loaded = _load(path, keep_tags=True)
    raw = loaded.plain
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError("the config file must be a mapping", location=loaded.locations.value(()))
    taken, ignored = _occopus_sections(loaded)
    if ignored:
        _log.debug("%s: ignoring Occopus sections occo has no use for: %s", path,
                   ", ".join(ignored))
    occo_keys: dict[str, Any] = raw.get("occo") or {}
    if not isinstance(occo_keys, dict):
        raise ConfigError("must be a mapping of occo's settings",
                          location=loaded.locations.value(("occo",)), path="occo")
    own = {k: v for k, v in raw.items() if k != "occo" and not _is_occopus_section(loaded, k)}
    _validate(own, loaded, ())
    data = {**own, **occo_keys}
    if occo_keys:
        _validate(data, loaded, ("occo",))
    if "rest" in taken:                 # occo's own rest: section wins over components.rest
        _validate({"rest": taken["rest"]}, loaded, ("components",))
        data["rest"] = {**taken.pop("rest"), **data.get("rest", {})}
    return {**taken, **data}


def _is_occopus_section(loaded: LoadedYaml, key: Any) -> bool:
    from occo.model.yamlio import tag_of

    return key in OCCOPUS_SECTIONS or bool(_OCCOPUS_TAG.fullmatch(tag_of(loaded.raw[key]) or ""))


def _auth_data(path: Path) -> Any:
    from occo.model.authfile import parse_auth_entries

    mode = path.stat().st_mode
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        warnings.warn(f"{path} is readable by group or others; "
                      "it holds secrets (chmod 600)", UserWarning, stacklevel=3)
    loaded = _load(path, keep_tags=False)
    parse_auth_entries(loaded.plain, str(path), loaded.locations)    # refuse a bad shape now
    return loaded.plain


def load_config(cfg_path: str | os.PathLike[str] | None = None,
                auth_data_path: str | os.PathLike[str] | None = None) -> Config:
    """Build the Config from files (if any) and environment."""
    path = find_file(CONFIG_NAME, cfg_path)
    data = _settings(path) if path is not None else {}
    auth_path = find_file(AUTH_NAME, auth_data_path)
    if auth_path is not None:
        data["auth_data"] = _auth_data(auth_path)
        data["auth_source"] = str(auth_path)
    config = _validated(data) if data else Config()
    config.source = path
    return config
