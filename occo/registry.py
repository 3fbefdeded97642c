"""Plugin registry: resource handlers and health checks found by entry point.

Built-in plugins register exactly like third-party ones. Entry points are
read once per registry, on first use, and each plugin is imported only when
a node needs it (so no cloud SDK is imported to list infrastructures).
"""

from __future__ import annotations

import threading
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from occo.errors import DescriptionError
from occo.health.base import HealthCheck
from occo.resources.base import HandlerEnv, ResourceHandler

RESOURCE_GROUP = "occo.resource_handlers"
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
            raise DescriptionError(f"{unknown} '{name}' (available: "
                                   f"{', '.join(sorted(self._group(group)))})")
        return point.load()

    def handler(self, resource_type: str) -> ResourceHandler:
        handler = self._handlers.get(resource_type)   # the common case takes no lock
        if handler is None:
            with self._lock:
                if resource_type not in self._handlers:
                    cls = self._load(RESOURCE_GROUP, resource_type,
                                     "no resource handler for type")
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

    def config_model(self, resource_type: str) -> Any:
        return type(self.handler(resource_type)).config_model
