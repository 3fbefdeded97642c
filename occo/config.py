"""occo's configuration: a typed model, found the way Occopus finds its files.

Search order for ``occopus_config.yaml`` and ``auth_data.yaml``: the explicit
path (``--cfg`` / ``--auth_data_path``), ``$OCCOPUS_CONFIG_PATH``,
``~/.occopus/``, ``./``, ``/etc/occopus/``. Neither file is needed: the
embedded default is a SQLite store under ``$OCCOPUS_HOME`` (``~/.occopus``).
Occopus-only keys (``logging``, ``components``...) are accepted and ignored,
so an existing Occopus config file can be pointed at.
"""

from __future__ import annotations

import os
import stat
import warnings
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from occo.errors import ConfigError

CONFIG_NAME = "occopus_config.yaml"
AUTH_NAME = "auth_data.yaml"
OCCOPUS_ONLY_KEYS = frozenset({"logging", "components", "occo_loglevel", "resource_handler",
                               "cloudhandler", "infra_processor", "servicecomposer",
                               "uds", "ib", "configmanager"})


class RestSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tokens: list[str] = Field(default_factory=list)
    cors_origins: list[str] = Field(default_factory=list)
    max_body_bytes: int = 1_048_576


class Config(BaseModel):
    """Everything occo reads from its config file and environment."""

    model_config = ConfigDict(extra="forbid")

    home: Path = Field(default_factory=lambda: Path(
        os.environ.get("OCCOPUS_HOME", Path.home() / ".occopus")))
    store_url: str | None = None
    concurrency: int = Field(default=10, ge=1)
    create_timeout: float = Field(default=600.0, gt=0)
    destroy_timeout: float = Field(default=300.0, gt=0)
    maintain_interval: float = Field(default=10.0, gt=0)
    failure_brake: float = Field(default=0.5, gt=0, le=1)
    report_log: str | None = None
    rest: RestSettings = Field(default_factory=RestSettings)
    auth_data: list[dict[str, Any]] | dict[str, Any] | None = None
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


def _import_target(path: Path, loader: Any, node: Any) -> Path:
    """The file a ``!text_import``/``!yaml_import {url: file://...}`` names."""
    spec = loader.construct_mapping(node, deep=True)
    url = str(spec.get("url", ""))
    if not url.startswith("file://"):
        raise ConfigError(f"{path}:{node.start_mark.line + 1}: only file:// imports are "
                          f"supported, not {url!r}")
    target = Path(url[len("file://"):])
    target = target if target.is_absolute() else path.parent / target
    if not target.is_file():
        raise ConfigError(f"{path}:{node.start_mark.line + 1}: imported file not found: "
                          f"{target}")
    return target


def _load_yaml(path: Path) -> Any:
    """Safe YAML with Occopus's import tags (relative to ``path``, e.g. a chef key in
    auth_data.yaml); other tags Occopus config files use (``!python_import``...)
    read as None."""
    from ruamel.yaml import YAML
    from ruamel.yaml.constructor import SafeConstructor
    from ruamel.yaml.error import YAMLError

    class _Lenient(SafeConstructor):
        pass

    _Lenient.add_constructor(None, lambda _loader, _node: None)
    _Lenient.add_constructor(
        "!text_import", lambda loader, node: _import_target(path, loader, node).read_text())
    _Lenient.add_constructor(
        "!yaml_import", lambda loader, node: _load_yaml(_import_target(path, loader, node)))
    yaml = YAML(typ="safe", pure=True)
    yaml.Constructor = _Lenient
    try:
        return yaml.load(path.read_text())
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ConfigError(f"{where}: {getattr(exc, 'problem', None) or exc}") from None


def load_config(cfg_path: str | os.PathLike[str] | None = None,
                auth_data_path: str | os.PathLike[str] | None = None) -> Config:
    """Build the Config from files (if any) and environment."""
    data: dict[str, Any] = {}
    path = find_file(CONFIG_NAME, cfg_path)
    if path is not None:
        raw = _load_yaml(path) or {}
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: the config file must be a mapping")
        data = {k: v for k, v in raw.items() if k not in OCCOPUS_ONLY_KEYS}
        data.pop("occo", None)
        if isinstance(raw.get("occo"), dict):
            data.update(raw["occo"])
    auth_path = find_file(AUTH_NAME, auth_data_path)
    if auth_path is not None:
        mode = auth_path.stat().st_mode
        if mode & (stat.S_IRGRP | stat.S_IROTH):
            warnings.warn(f"{auth_path} is readable by group or others; "
                          "it holds secrets (chmod 600)", UserWarning, stacklevel=2)
        data["auth_data"] = _load_yaml(auth_path)
    try:
        config = Config(**data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{path}: {where}: {first['msg']}") from None
    config.source = path
    return config
