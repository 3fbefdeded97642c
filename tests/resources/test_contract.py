"""The contract every resource handler keeps, checked on every handler's backend.

Each test runs once per entry of :data:`CLOUDS`: the handler is found through
its entry point and driven on a backend the tests own (see backends.py).
Adding a cloud is one backend fixture (``<name>_backend`` in conftest.py) and
one line below; ``refuses`` names the refusals its backend can provoke
(``bad_credentials``, ``quota``, or the cloud's own kinds).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest

from occo.api import Occo
from occo.config import Config
from occo.context.auth import NOT_SECRET, AuthData
from occo.context.templating import TemplateContext, TemplateRenderer
from occo.context.userdata import render_user_data
from occo.errors import BuildFailed, OccoError
from occo.logsetup import configure_logging
from occo.model.states import ResourceState
from occo.registry import RESOURCE_GROUP
from occo.resources.base import (
    BatchStates,
    CreateRequest,
    Recoverable,
    ResourceHandler,
    ResourceRef,
    StateReport,
)
from tests.resources.backends import Backend, Refusal
from tests.support.wait import wait_until


@dataclass(frozen=True)
class Cloud:
    """One line of the suite's parameter list."""

    name: str
    refuses: tuple[str, ...] = ()

    def __str__(self) -> str:
        return self.name


CLOUDS = [
    Cloud("dummy"),
    Cloud("local"),
    Cloud("nova", refuses=("bad_credentials", "quota")),
    Cloud("ec2", refuses=("bad_credentials", "quota")),
    Cloud("docker", refuses=("bad_credentials", "missing_image", "unreachable")),
    Cloud("cloudsigma", refuses=("bad_credentials", "quota")),
    Cloud("cloudbroker", refuses=("bad_credentials", "quota")),
    Cloud("azure_vm", refuses=("bad_credentials", "quota")),
    Cloud("azure_aci", refuses=("bad_credentials", "quota")),
]


def _batching(cloud: Cloud) -> bool:
    (point,) = entry_points(group=RESOURCE_GROUP, name=cloud.name)
    return issubclass(point.load(), BatchStates)


each_cloud = pytest.mark.parametrize("cloud", CLOUDS, ids=str)
each_refusal = pytest.mark.parametrize(
    ("cloud", "kind"), [(c, k) for c in CLOUDS for k in c.refuses], ids=lambda v: str(v))
each_cloud_with_credentials = pytest.mark.parametrize(
    "cloud", [c for c in CLOUDS if "bad_credentials" in c.refuses], ids=str)
each_batching_cloud = pytest.mark.parametrize(
    "cloud", [c for c in CLOUDS if _batching(c)], ids=str)


@pytest.fixture
def backend(request: pytest.FixtureRequest, cloud: Cloud) -> Backend:
    found: Backend = request.getfixturevalue(f"{cloud.name}_backend")
    return found


class Creator:
    """Creates resources through a handler and destroys whatever is left at the end."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.made: list[tuple[ResourceHandler, ResourceRef]] = []

    def __call__(self, handler: ResourceHandler, resource: dict[str, Any] | None = None,
                 *, node: str = "node", instance_id: str | None = None) -> ResourceRef:
        section = resource or self.backend.resource()
        config = handler.config_model.model_validate(section)
        instance_id = instance_id or str(uuid.uuid4())
        result = handler.create(CreateRequest(self.backend.infra_id, instance_id, node, config,
                                              user_data_for(self.backend, node, instance_id)))
        ref = ResourceRef(instance_id, result.resource_id, config, result.data)
        self.made.append((handler, ref))
        return ref

    def cleanup(self) -> None:
        for handler, ref in self.made:
            try:
                handler.destroy(ref)
            except OccoError:
                pass


@pytest.fixture
def create(backend: Backend) -> Iterator[Creator]:
    creator = Creator(backend)
    try:
        yield creator
    finally:
        creator.cleanup()


def user_data_for(backend: Backend, node: str, instance_id: str) -> str | None:
    """What the engine hands the handler for the backend's contextualisation."""
    ctx = TemplateContext(infra_id=backend.infra_id, infra_name="contract", node_name=node,
                          instance_id=instance_id)
    return render_user_data(TemplateRenderer(), backend.contextualisation(), ctx)


def recoverer(handler: ResourceHandler) -> Recoverable:
    """Every handler must find a resource whose id occo never recorded."""
    assert isinstance(handler, Recoverable), f"{handler.name} does not implement recover()"
    return handler


def state_of(handler: ResourceHandler, ref: ResourceRef) -> ResourceState:
    return handler.state(ref).state


def wait_state(handler: ResourceHandler, ref: ResourceRef, wanted: ResourceState) -> StateReport:
    return wait_until(lambda: (r := handler.state(ref)).state == wanted and r,
                      what=f"{ref.resource_id} to be {wanted}")


# --------------------------------------------------------------------------- handler


@each_cloud
def test_create_returns_an_id_of_a_resource_that_recover_finds_again(
        backend: Backend, create: Creator) -> None:
    handler = backend.handler()
    assert handler.name == backend.name
    ref = create(handler)
    assert ref.resource_id and isinstance(ref.resource_id, str)
    assert backend.live() == {ref.resource_id}
    # Write-ahead: a fresh handler (another process) finds it from the instance id alone.
    found = recoverer(backend.handler()).recover(ref.instance_id, ref.config)
    assert found is not None and found.resource_id == ref.resource_id


@each_cloud
def test_state_reaches_running_and_the_address_is_reported(backend: Backend,
                                                           create: Creator) -> None:
    handler = backend.handler()
    ref = create(handler)
    wait_state(handler, ref, ResourceState.RUNNING)
    address = handler.address(ref)
    assert address.ip is not None
    ipaddress.ip_address(address.ip)                       # an address, not a name or ""
    assert address.ip == backend.address_of(ref.resource_id)


@each_cloud
def test_destroy_is_idempotent(backend: Backend, create: Creator) -> None:
    handler = backend.handler()
    ref = create(handler)
    handler.destroy(ref)
    handler.destroy(ref)                                   # already gone: not an error
    assert state_of(handler, ref) == ResourceState.GONE
    assert backend.live() == set()


@each_cloud
def test_a_resource_that_vanished_outside_occo_reads_as_gone(backend: Backend,
                                                             create: Creator) -> None:
    handler = backend.handler()
    ref = create(handler)
    wait_state(handler, ref, ResourceState.RUNNING)
    backend.vanish(ref)
    assert state_of(handler, ref) == ResourceState.GONE
    handler.destroy(ref)                                   # nothing to do, no error
    assert backend.live() == set()


@each_cloud
def test_recover_finds_a_create_whose_id_was_never_recorded(backend: Backend,
                                                            create: Creator) -> None:
    handler = backend.handler()
    instance_id = str(uuid.uuid4())
    create(handler, instance_id=instance_id)               # the result is "lost"
    other = create(handler)                                # someone else's
    config = handler.config_model.model_validate(backend.resource())
    fresh = backend.handler()
    found = recoverer(fresh).recover(instance_id, config)
    assert found is not None and found.resource_id != other.resource_id
    fresh.destroy(ResourceRef(instance_id, found.resource_id, config, found.data))
    assert backend.live() == {other.resource_id}
    assert recoverer(fresh).recover(instance_id, config) is None          # destroyed
    assert recoverer(fresh).recover(str(uuid.uuid4()), config) is None    # never created


@each_batching_cloud
def test_batch_states_equal_single_states(backend: Backend, create: Creator) -> None:
    handler = backend.handler()
    running, destroyed, vanished = (create(handler) for _ in range(3))
    wait_state(handler, running, ResourceState.RUNNING)
    wait_state(handler, vanished, ResourceState.RUNNING)
    handler.destroy(destroyed)
    backend.vanish(vanished)
    refs = [running, destroyed, vanished, running]
    assert isinstance(handler, BatchStates)
    batch = handler.states(refs)
    assert [r.state for r in batch] == [state_of(handler, r) for r in refs] == [
        ResourceState.RUNNING, ResourceState.GONE, ResourceState.GONE, ResourceState.RUNNING]


@each_refusal
def test_a_refused_create_gives_one_clear_message_and_leaves_nothing(
        backend: Backend, create: Creator, kind: str) -> None:
    refusal = backend.refuse(kind)
    handler = backend.handler(refusal)
    instance_id = str(uuid.uuid4())
    with pytest.raises(OccoError) as caught:
        create(handler, refusal.resource, node="head", instance_id=instance_id)
    message = str(caught.value)
    assert message == refusal.message.replace("{node}", "head")
    assert "\n" not in message and "Traceback" not in message
    assert backend.live() == set()
    config = handler.config_model.model_validate(refusal.resource)
    assert recoverer(handler).recover(instance_id, config) is None


@pytest.fixture
def occo_logging() -> Iterator[Callable[[dict[str, Any]], None]]:
    """Configure occo's process logging (DEBUG, redacting the given auth_data's
    secrets) as a command would; put the process's logging back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level

    def configure(auth_data: dict[str, Any]) -> None:
        configure_logging("debug", "console", redact=AuthData.parse(auth_data).redactor)

    yield configure
    configure_logging("warning", "console")            # removes occo's handler
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


@each_cloud_with_credentials
def test_no_secret_appears_in_any_error_or_log_line(
        backend: Backend, create: Creator, occo_logging: Callable[[dict[str, Any]], None],
        capsys: pytest.CaptureFixture[str]) -> None:
    """Every line occo's logging emits at DEBUG, the cloud SDK's own included."""
    refusal = backend.refuse("bad_credentials")
    assert backend.auth_data is not None and refusal.auth_data is not None
    both = {"resource": backend.auth_data["resource"] + refusal.auth_data["resource"]}
    occo_logging(both)
    handler = backend.handler()
    ref = create(handler)
    wait_state(handler, ref, ResourceState.RUNNING)
    handler.address(ref)
    handler.destroy(ref)
    with pytest.raises(OccoError) as caught:
        create(backend.handler(refusal), refusal.resource)
    emitted = capsys.readouterr().err
    assert f"{backend.name} " in emitted or "occo.resources" in emitted   # the handler did log
    secrets = set(backend.secrets) | _auth_values(refusal.auth_data)
    assert {s for s in secrets if s in emitted or s in str(caught.value)} == set()


def _auth_values(auth_data: dict[str, Any] | None) -> set[str]:
    """The secret values of an auth_data document (occo's own rule: NOT_SECRET keys, such
    as user names and Azure's tenant and subscription ids, name someone, not prove it)."""
    return {str(v) for entry in (auth_data or {}).get("resource", [])
            for k, v in entry["auth_data"].items() if k not in NOT_SECRET}


# --------------------------------------------------------------------------- through occo


@pytest.fixture
def occo_for(backend: Backend, tmp_path: Path) -> Iterator[Callable[..., Occo]]:
    """An Occo on the backend's home and store, with node definitions for a cluster:
    ``head`` and ``worker`` (depends on head, scaling 1..3)."""
    made: list[Occo] = []

    def make(resource: dict[str, Any] | None = None, refusal: Refusal | None = None,
             contextualisation: dict[str, Any] | None = None,
             health_check: dict[str, Any] | None = None) -> Occo:
        auth = refusal.auth_data if refusal else backend.auth_data
        occo = Occo(Config(home=backend.home, auth_data=auth, create_timeout=60,
                           destroy_timeout=60, handlers=backend.settings), store=backend.store)
        made.append(occo)
        resource = refusal.resource if refusal else resource or backend.resource()
        impl = {"resource": resource, "health_check": health_check or {"ping": False}}
        context = contextualisation or backend.contextualisation()
        if context:
            impl["contextualisation"] = context
        defs = tmp_path / "nodes.yaml"
        defs.write_text(json.dumps({"node_def:head": [impl], "node_def:worker": [impl]}))
        occo.import_node_definitions(defs)
        return occo

    yield make
    for occo in made:
        for infra in occo.list_infrastructures():
            try:
                occo.destroy(infra.id)
            except OccoError:
                pass


def write_infra(tmp_path: Path) -> Path:
    infra = tmp_path / "infra.yaml"
    infra.write_text("infra_name: contract\n"
                     "nodes:\n"
                     "  - &H {name: head, type: head}\n"
                     "  - &W {name: worker, type: worker, scaling: {min: 1, max: 3}}\n"
                     "dependencies:\n"
                     "  - [*W, *H]\n")
    return infra


def ready_addresses(occo: Occo, infra_id: str) -> dict[str, list[str | None]]:
    report = occo.report(infra_id)
    assert all(i["state"] == "ready" for n in report.values() for i in n["instances"].values())
    return {node: [i["resource_address"] for i in entry["instances"].values()]
            for node, entry in report.items()}


@each_cloud
def test_a_cluster_builds_scales_and_is_destroyed_leaving_nothing(
        backend: Backend, occo_for: Callable[..., Occo], tmp_path: Path) -> None:
    occo = occo_for()
    result = occo.build(write_infra(tmp_path), parallelize=True)
    addresses = ready_addresses(occo, result.infra_id)
    assert len(addresses["head"]) == len(addresses["worker"]) == 1
    assert len(backend.live()) == 2

    occo.scale(result.infra_id, "worker", change=2)
    [grown] = occo.maintain([result.infra_id])
    assert grown.created == 2 and len(backend.live()) == 4
    assert len(ready_addresses(occo, result.infra_id)["worker"]) == 3

    occo.scale(result.infra_id, "worker", set_to=1)
    [shrunk] = occo.maintain([result.infra_id])
    assert shrunk.dropped == 2 and len(backend.live()) == 2

    occo.destroy(result.infra_id)
    assert backend.live() == set()
    assert occo.list_infrastructures() == []


@each_refusal
def test_a_refused_build_rolls_back_leaving_nothing(backend: Backend, kind: str,
                                                   occo_for: Callable[..., Occo],
                                                   tmp_path: Path) -> None:
    refusal = backend.refuse(kind, allow=1)                # where it can: the head fits
    occo = occo_for(refusal=refusal)
    with pytest.raises(BuildFailed) as caught:
        occo.build(write_infra(tmp_path))
    message = str(caught.value)
    assert refusal.message.replace("{node}", "head") in message or \
        refusal.message.replace("{node}", "worker") in message
    assert "rollback incomplete" not in message
    assert backend.live() == set()
    assert occo.list_infrastructures() == []
    [execution] = occo.executions()
    stored = json.dumps(execution.report) + message
    assert not {s for s in _auth_values(refusal.auth_data) | set(backend.secrets) if s in stored}


@each_cloud
def test_a_resource_failing_after_create_fails_the_build_and_is_removed(
        backend: Backend, occo_for: Callable[..., Occo], tmp_path: Path) -> None:
    failing = backend.failing()
    # A check that never passes: the node cannot be ready before its resource fails
    # (a process that exits at once may still run when its state is first read).
    occo = occo_for(failing.resource, contextualisation=failing.contextualisation,
                    health_check={"ping": False, "command": ["false"]})
    with pytest.raises(BuildFailed) as caught:
        occo.build(write_infra(tmp_path))
    assert failing.reason in str(caught.value)
    assert backend.live() == set()
    assert occo.list_infrastructures() == []
