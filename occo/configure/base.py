"""The config-manager contract: what a server-side config manager (chef) does per node.

Config managers that only shape a node's user data (puppet_solo, jobs) need
none of this. One that keeps state on a server registers each node before
its resource is created, tells when the node has been configured (part of
being ready), and forgets nodes and infrastructures when they are destroyed.
Plugins register through the ``occo.config_managers`` entry point group,
named after the ``config_management`` type they serve.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True)
class ConfigEnv:
    """What a config manager may use: the auth_data file's content and its name."""

    auth_data: Any = None
    auth_source: str | None = None


@dataclass(frozen=True)
class ManagedNode:
    """One instance as its config manager sees it."""

    infra_id: str
    node_name: str
    instance_id: str
    section: Mapping[str, Any]                  # config_management, rendered
    attributes: Mapping[str, Any] = field(default_factory=dict)   # set on the server
    synch_attributes: tuple[str, ...] = ()      # must be exported before it is ready


@dataclass(frozen=True)
class Configured:
    """Whether a node has been configured; ``reason`` says what is awaited."""

    done: bool
    reason: str = ""


class ConfigManager(ABC):
    """Keeps one kind of config-management server in step with occo's instances."""

    name: ClassVar[str]
    #: Python modules it needs that an extra installs: module -> extra.
    requires: ClassVar[Mapping[str, str]] = {}

    def __init__(self, env: ConfigEnv) -> None:
        self.env = env

    @abstractmethod
    def check(self, section: Mapping[str, Any]) -> None:
        """Refuse now (a dry run too) what registering would refuse (e.g. no
        credentials); raises ConfigError."""

    @abstractmethod
    def register(self, node: ManagedNode) -> None:
        """Make the server ready for the node, before its resource is created."""

    @abstractmethod
    def configured(self, node: ManagedNode) -> Configured:
        """Whether the node has applied its configuration."""

    @abstractmethod
    def drop(self, node: ManagedNode) -> None:
        """Forget the node (its resource is gone); forgetting a missing one is fine."""

    @abstractmethod
    def drop_infrastructure(self, infra_id: str, section: Mapping[str, Any]) -> None:
        """Forget what the infrastructure left on the server."""
