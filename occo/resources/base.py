"""The resource-handler contract: four abstract methods and a typed config.

A handler translates its cloud's states into :class:`ResourceState` at its
edge, so the engine never sees vendor vocabulary.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel

from occo.model.states import ResourceState

if TYPE_CHECKING:
    from occo.configure.jobs import JobPlan
    from occo.configure.transport import Transport
    from occo.store.store import Store

Model = TypeVar("Model", bound=BaseModel)


def config_as(model: type[Model], config: BaseModel) -> Model:
    """A resource section as its handler's model (a request carries the model itself; a
    record read back from the store may carry an equal one)."""
    if isinstance(config, model):
        return config
    return model.model_validate(config.model_dump())


@dataclass(frozen=True)
class HandlerEnv:
    """What every handler may use; passed in, never looked up globally."""

    home: Path
    store: Store
    auth_data: dict[str, Any] | None = None
    auth_source: str | None = None          # the auth_data.yaml it came from, for messages
    #: per-handler settings by resource type (the config's ``handlers:`` section)
    settings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class CreateRequest:
    """Everything needed to create one instance's resource."""

    infra_id: str
    instance_id: str
    node_name: str
    config: BaseModel
    user_data: str | None = None


@dataclass(frozen=True)
class CreateResult:
    """The resource id, plus handler data kept with the instance (pid, ports...)."""

    resource_id: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ResourceRef:
    """How a handler finds a resource again, possibly in another process."""

    instance_id: str
    resource_id: str
    config: BaseModel
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StateReport:
    """A translated state; ``retry_after`` hints when asking again is useful."""

    state: ResourceState
    reason: str | None = None
    retry_after: float | None = None


@dataclass(frozen=True)
class Address:
    """Where an instance can be reached; ``ports`` maps wanted -> actual port."""

    public: str | None
    private: str | None = None
    ports: dict[int, int] = field(default_factory=dict)

    @property
    def ip(self) -> str | None:
        return self.public or self.private


class ResourceHandler(ABC):
    """Creates, inspects and drops resources of one kind (one cloud)."""

    name: ClassVar[str]
    config_model: ClassVar[type[BaseModel]]
    #: Python modules the handler needs that an extra installs: module -> extra
    #: (``{"openstack": "openstack"}``: ``pip install 'occo[openstack]'``).
    requires: ClassVar[Mapping[str, str]] = {}

    def __init__(self, env: HandlerEnv) -> None:
        self.env = env

    @abstractmethod
    def create(self, request: CreateRequest) -> CreateResult:
        """Start creating the resource; return as soon as it has an id."""

    @abstractmethod
    def state(self, ref: ResourceRef) -> StateReport:
        """The resource's current state (GONE when it no longer exists)."""

    @abstractmethod
    def address(self, ref: ResourceRef) -> Address:
        """Where the resource is reachable."""

    @abstractmethod
    def destroy(self, ref: ResourceRef) -> None:
        """Drop the resource; a resource that is already gone is not an error."""


@runtime_checkable
class Credentialed(Protocol):
    """Optional: check, before anything is created (a dry run too), that the
    credentials a resource needs can be found; raises ConfigError naming what to add."""

    def check_credentials(self, config: BaseModel) -> None: ...


@runtime_checkable
class BatchStates(Protocol):
    """Optional: report many states in one call (a maintenance pass over 10k)."""

    def states(self, refs: list[ResourceRef]) -> list[StateReport]: ...


@runtime_checkable
class Recoverable(Protocol):
    """Optional: find a resource whose id was never recorded (crash mid-create)."""

    def recover(self, instance_id: str, config: BaseModel) -> CreateResult | None: ...


@runtime_checkable
class Configurable(Protocol):
    """Optional: run a node's orchestration jobs on the resource itself (local nodes).

    The create executor calls it from the readiness probe once the resource is
    RUNNING and before health checks, until it answers RUNNING (jobs done) or
    FAILED (a job failed; the reason carries its output). It must be
    idempotent: repeated calls return the recorded outcome. Handlers without
    it get the jobs as cloud-init in their user data instead.
    """

    def configure(self, ref: ResourceRef, plan: JobPlan) -> StateReport: ...


@runtime_checkable
class JobTransports(Protocol):
    """Optional: reach a running resource directly to run orchestration jobs on it.

    Local nodes run jobs as processes in the instance's directory, environment
    and network namespace; containers through their engine's exec. Handlers
    without it (virtual machines) are reached over SSH instead. The caller
    closes the transport after the instance's last job.
    """

    def transport(self, ref: ResourceRef, *, infra_id: str, node_name: str) -> Transport: ...


@runtime_checkable
class ConsoleLinks(Protocol):
    """Optional: a browser console URL for a resource, linked from reports.

    One cheap call per instance; None when the cloud offers no console for it
    (or the resource has vanished), never an exception. EC2 does not implement
    it: AWS has no per-instance console URL API, and a web-console deep link
    would depend on the region and account sign-in, not on the endpoint.
    """

    def console_url(self, ref: ResourceRef) -> str | None: ...
