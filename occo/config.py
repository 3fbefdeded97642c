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

import logging
import os
import re
import stat
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from occo.errors import ConfigError, DescriptionError
from occo.model.tokens import token_digest

if TYPE_CHECKING:       # the YAML loader is imported when a file is read
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


class RestSettings(BaseModel):
    """The REST service's defaults (command-line flags override host and port);
    ``tokens`` hold SHA-256 digests once loaded, never the tokens themselves."""

    model_config = ConfigDict(extra="forbid")
    host: str = "127.0.0.1"
    port: int = Field(default=5000, ge=0, le=65535)
    tokens: list[str] = Field(default_factory=list)
    generate_token: bool = False
    cors_origins: list[str] = Field(default_factory=list)
    allowed_hosts: list[str] = Field(default_factory=list)
    host_commands: Literal["loopback", "always", "never"] = "loopback"
    webhook_local_targets: bool = False
    max_body_bytes: int = 1_048_576

    @field_validator("tokens")
    @classmethod
    def _digests(cls, tokens: list[str]) -> list[str]:
        return list(dict.fromkeys(token_digest(t) for t in tokens if t.strip()))


class Config(BaseModel):
    """Everything occo reads from its config file and environment."""

    model_config = ConfigDict(extra="forbid")

    home: Path = Field(default_factory=lambda: Path(
        os.environ.get("OCCOPUS_HOME", Path.home() / ".occopus")))
    store_url: str | None = None
    concurrency: int = Field(default=10, ge=1)
    max_instances: int = Field(default=100_000, ge=1, le=10_000_000)
    create_timeout: float = Field(default=600.0, gt=0)
    destroy_timeout: float = Field(default=300.0, gt=0)
    maintain_interval: float = Field(default=10.0, gt=0)
    failure_brake: float = Field(default=0.5, gt=0, le=1)
    lease_ttl: float = Field(default=30.0, ge=1, le=3600)
    report_log: str | None = None
    rest: RestSettings = Field(default_factory=RestSettings)
    #: Python's ``logging.config.dictConfig`` schema, from the Occopus file's
    #: ``logging:`` section, with handlers on stdout moved to stderr (stdout
    #: carries only results). None when the file has none.
    logging: dict[str, Any] | None = None
    #: settings of individual resource handlers, by type: ``{cloudsigma: {poll_interval: 5}}``
    handlers: dict[str, dict[str, Any]] = Field(default_factory=dict)
    auth_data: list[dict[str, Any]] | dict[str, Any] | None = None
    auth_source: str | None = None       # the auth_data.yaml read, for messages
    source: Path | None = None

    @property
    def resolved_store_url(self) -> str:
        env_url = os.environ.get("OCCOPUS_STORE_URL")
        if env_url:
            return env_url
        if self.store_url:
            return self.store_url
        return f"sqlite:///{self.home / 'occopus.db'}"


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
    from occo.model.yamlio import describe_validation_error

    try:
        return Config.model_validate(data)
    except ValidationError as exc:
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
    config = Config.model_validate(data)
    config.source = path
    return config
