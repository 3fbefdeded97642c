"""Plugin registry: resource handlers and health checks found by entry point.

Built-in plugins register exactly like third-party ones. Entry points are
read once per registry, on first use, and each plugin is imported only when
a node needs it (so no cloud SDK is imported to list infrastructures).
"""

from __future__ import annotations

import difflib
import importlib.util
import threading
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from occo.configure.base import ConfigEnv, ConfigManager
from occo.errors import DescriptionError
from occo.health.base import HealthCheck
from occo.resources.base import HandlerEnv, ResourceHandler

RESOURCE_GROUP = "occo.resource_handlers"
CONFIG_GROUP = "occo.config_managers"
HEALTH_GROUP = "occo.health_checks"


class PluginRegistry:
    """Instantiates plugins on demand and keeps one instance of each.

    Executors ask from many threads at once; a lock makes sure each plugin is
    created once (a handler may open a session or a pool when created).
    """

    def __init__(self, env: HandlerEnv) -> None:
        self.env = env
        self._points: dict[str, dict[str, EntryPoint]] = {}
        self._handlers: dict[str, ResourceHandler] = {}
        self._checks: dict[str, HealthCheck] = {}
        self._managers: dict[str, ConfigManager | None] = {}
        self._lock = threading.RLock()

    def _group(self, group: str) -> dict[str, EntryPoint]:
        with self._lock:
            if group not in self._points:
                self._points[group] = {ep.name: ep for ep in entry_points(group=group)}
            return self._points[group]

    def _load(self, group: str, name: str, unknown: str) -> Any:
        """The plugin class registered as ``name``; a clear error listing the others."""
        point = self._group(group).get(name)
        if point is None:
            known = sorted(self._group(group))
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean '{close[0]}'?" if close else ""
            raise DescriptionError(f"{unknown} '{name}' (available: {', '.join(known)})"
                                   + (f"; {hint}" if hint else ""))
        return point.load()

    def handler(self, resource_type: str) -> ResourceHandler:
        handler = self._handlers.get(resource_type)   # the common case takes no lock
        if handler is None:
            with self._lock:
                if resource_type not in self._handlers:
                    cls = self._load(RESOURCE_GROUP, resource_type,
                                     "no resource handler for type")
                    _check_installed(f"resource type '{resource_type}'", cls)
                    self._handlers[resource_type] = cls(self.env)
                handler = self._handlers[resource_type]
        return handler

    def health_check(self, name: str) -> HealthCheck:
        check = self._checks.get(name)
        if check is None:
            with self._lock:
                if name not in self._checks:
                    self._checks[name] = self._load(HEALTH_GROUP, name,
                                                    "unknown health check")()
                check = self._checks[name]
        return check

    def resource_types(self) -> set[str]:
        """The resource types a handler is registered for (no plugin is imported)."""
        return set(self._group(RESOURCE_GROUP))

    def config_manager(self, kind: str | None) -> ConfigManager | None:
        """The server-side config manager of a ``config_management`` type, or None for
        types that only shape user data (puppet_solo, jobs)."""
        if not kind:
            return None
        if kind not in self._managers:
            with self._lock:
                if kind not in self._managers:
                    point = self._group(CONFIG_GROUP).get(kind)
                    manager = None
                    if point is not None:
                        cls = point.load()
                        _check_installed(f"config_management type '{kind}'", cls)
                        manager = cls(ConfigEnv(self.env.auth_data, self.env.auth_source))
                    self._managers[kind] = manager
        return self._managers[kind]

    def config_model(self, resource_type: str) -> Any:
        return type(self.handler(resource_type)).config_model


def _check_installed(what: str, cls: type[ResourceHandler] | type[ConfigManager]) -> None:
    """Refuse a plugin whose SDK is not installed, naming the extra that installs it
    (looked up without importing it, so a check costs nothing)."""
    for module, extra in cls.requires.items():
        if importlib.util.find_spec(module) is None:
            raise DescriptionError(
                f"{what} needs the Python package '{module}', which is not installed: "
                f"pip install 'occo[{extra}]'")
