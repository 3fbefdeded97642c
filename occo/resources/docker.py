"""The ``docker`` handler: one container per instance on a Docker Engine.

It talks to the Engine through the Docker SDK for Python (``occo[docker]``),
imported only when a docker node is acted on. The image comes from where
``origin`` says:

* ``dockerhub``: pulled (once per image and occo process, so a moved tag is
  followed at the next build without a pull per instance);
* ``local``: already on the Engine; a missing one is refused;
* any other value is a URL the Engine downloads a root filesystem tarball
  from and imports (``docker import``) as ``image:tag``, once: the image is
  labelled with the URL and reused while the label matches;
* not given: the image on the Engine, pulled if missing.

The node's ``docker`` contextualisation gives the container's ``env`` and
``command`` (a string is split like a shell would, never run by one).
``network_mode`` (``bridge``, ``host``, ``none`` or a network's name) places
it; its address (``getip``) is its IP on that network, or the Engine's host
for ``host``. Each container carries the labels ``occo.instance_id``,
``occo.infra_id`` and ``occo.node``, so :meth:`DockerHandler.recover` finds
one whose id occo never recorded, and destroy stops it (``stop_timeout``
seconds of grace, then SIGKILL) and removes it with its anonymous volumes.

Credentials are optional: an ``auth_data.yaml`` entry matching the resource
may give TLS material for a ``tcp://`` Engine (see :mod:`occo.resources.docker_client`).
Example node definition::

    'node_def:hello':
      - resource:
          type: docker
          endpoint: unix:///var/run/docker.sock
          image: busybox_helloworld
          tag: latest
          origin: https://example.org/images/busybox_helloworld.tar
          network_mode: bridge
        contextualisation:
          type: docker
          env: ["message={{variables.message}}"]
          command: "sh -c /root/start.sh"
        health_check:
          ping: true
"""

from __future__ import annotations

import json
import logging
import re
import shlex
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from pydantic import BaseModel

from occo.errors import OccoError, ResourceError
from occo.model.resource_types import DockerResource
from occo.model.states import ResourceState
from occo.resources.base import (
    Address,
    CreateRequest,
    CreateResult,
    HandlerEnv,
    ResourceRef,
    StateReport,
)
from occo.resources.cloud import CloudHandler
from occo.resources.docker_client import EngineClients, is_unreachable, one_line

if TYPE_CHECKING:
    from docker import DockerClient

    from occo.configure.container import ContainerTransport

log = logging.getLogger(__name__)

LABEL_INSTANCE = "occo.instance_id"
LABEL_INFRA = "occo.infra_id"
LABEL_NODE = "occo.node"
LABEL_ORIGIN = "occo.origin"
LOG_TAIL_LINES = 5
LOG_TAIL_CHARS = 2000

_S = ResourceState
DOCKER_STATE_MAP: dict[str, ResourceState] = {
    "created": _S.PENDING, "restarting": _S.PENDING,
    "running": _S.RUNNING,
    "paused": _S.FAILED, "exited": _S.FAILED, "dead": _S.FAILED,
    "removing": _S.GONE,
}
"""Container statuses -> occo's; a container that stopped will not come back by itself."""

_NAME_UNSAFE = re.compile(r"[^a-zA-Z0-9_.-]")


def docker_state(status: str | None) -> ResourceState:
    return DOCKER_STATE_MAP.get((status or "").lower(), ResourceState.UNKNOWN)


def to_docker_config(config: BaseModel) -> DockerResource:
    if isinstance(config, DockerResource):
        return config
    return DockerResource.model_validate(config.model_dump())


@dataclass(frozen=True)
class ContainerSpec:
    """What the docker contextualisation asks of the container."""

    env: dict[str, str]
    command: list[str] | None


def container_spec(user_data: str | None, node: str) -> ContainerSpec:
    """The ``{"env", "command"}`` document the docker contextualisation renders to."""
    if user_data is None:
        return ContainerSpec({}, None)
    try:
        doc = json.loads(user_data)
        if not isinstance(doc, dict):
            raise ValueError
    except ValueError:
        raise ResourceError(f"node '{node}': a docker resource takes its env and command from "
                            "a 'docker' contextualisation, not from cloud-init user data",
                            handler="docker") from None
    raw = doc.get("env") or {}
    pairs = raw.items() if isinstance(raw, dict) else (str(i).partition("=")[::2] for i in raw)
    env = {str(k): "" if v is None else str(v) for k, v in pairs}
    command = doc.get("command")
    if isinstance(command, str):
        command = shlex.split(command)
    return ContainerSpec(env, [str(c) for c in command] if command else None)


def container_name(node: str, instance_id: str) -> str:
    """``<node>-<instance id>`` with what Docker refuses in a name replaced."""
    return _NAME_UNSAFE.sub("_", f"{node}-{instance_id}").lstrip("_.-") or instance_id


def engine_host(endpoint: str) -> str:
    """The Engine's host: where a ``host``-network container is reached."""
    parts = urlsplit(endpoint)
    if parts.scheme in ("tcp", "http", "https", "ssh") and parts.hostname:
        return parts.hostname
    return "127.0.0.1"


class DockerHandler(CloudHandler):
    """Containers on a Docker Engine (or Swarm), one per instance."""

    name: ClassVar[str] = "docker"
    config_model: ClassVar[type[BaseModel]] = DockerResource

    def __init__(self, env: HandlerEnv) -> None:
        super().__init__(env)
        self._engines = EngineClients(self._auth, env.home, self._redact)
        self._images: set[tuple[str, str]] = set()        # (engine key, image) made ready
        self._image_locks: dict[tuple[str, str], threading.Lock] = {}

    def check_credentials(self, config: BaseModel) -> None:
        """Credentials are optional for docker: only two matching entries are refused."""
        self._auth.find("resource", config.model_dump(mode="json", exclude_none=True))

    def client(self, config: BaseModel) -> DockerClient:
        """The Docker SDK client for the Engine of this resource section (shared per
        endpoint and credentials), for callers that act on containers themselves."""
        return self._engines.get(to_docker_config(config))

    def _error(self, exc: BaseException, doing: str, config: DockerResource) -> ResourceError:
        return self._engines.error(exc, doing, config)

    # -- images ---------------------------------------------------------------------
    def _ensure_image(self, client: DockerClient, config: DockerResource) -> str:
        """``image:tag`` on the Engine, made ready the way ``origin`` says."""
        ref = f"{config.image}:{config.tag}"
        key = (self._engines.key(config), ref)
        with self._lock:
            if key in self._images:
                return ref
            lock = self._image_locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._images:
                self._fetch_image(client, config, ref)
                with self._lock:
                    self._images.add(key)
        return ref

    def _fetch_image(self, client: DockerClient, config: DockerResource, ref: str) -> None:
        from docker.errors import ImageNotFound

        origin = config.origin
        try:
            present = client.images.get(ref)
        except ImageNotFound:
            present = None
        if origin == "local" or (origin is None and present is not None):
            if present is None:
                raise ResourceError(f"the Docker Engine at {config.endpoint} has no image "
                                    f"'{ref}' (origin: local)", handler=self.name)
            return
        if origin in (None, "dockerhub"):
            log.info("pulling %s on %s", ref, config.endpoint)
            client.images.pull(config.image, tag=config.tag)
            return
        labels = (present.labels or {}) if present is not None else {}
        if labels.get(LABEL_ORIGIN) == origin:
            return
        log.info("importing %s from %s on %s", ref, origin, config.endpoint)
        doing = f"importing image '{ref}' from {origin}"
        try:
            reply = client.api.import_image_from_url(
                origin, repository=config.image, tag=config.tag,
                changes=[f"LABEL {LABEL_ORIGIN}={json.dumps(origin)}"])
        except Exception as exc:  # noqa: BLE001 - translated into one message
            raise self._error(exc, doing, config) from None
        failure = _stream_error(reply)
        if failure:
            raise ResourceError(self._redact(f"the Docker Engine at {config.endpoint}: {doing} "
                                             f"failed: {one_line(failure)}"), handler=self.name)

    # -- create ---------------------------------------------------------------------
    def create(self, request: CreateRequest) -> CreateResult:
        config = to_docker_config(request.config)
        doing = f"creating a container for node '{request.node_name}'"
        try:
            spec = container_spec(request.user_data, request.node_name)
            client = self.client(config)
            image = self._ensure_image(client, config)
            container = client.api.create_container(
                image, command=spec.command, environment=spec.env,
                name=container_name(request.node_name, request.instance_id),
                labels={LABEL_INSTANCE: request.instance_id, LABEL_INFRA: request.infra_id,
                        LABEL_NODE: request.node_name},
                host_config=client.api.create_host_config(network_mode=config.network_mode))
        except Exception as exc:
            if isinstance(exc, OccoError) or not _may_have_created(exc):
                self._not_created.add(request.instance_id)   # refused: nothing to clean up
            if isinstance(exc, OccoError):
                raise
            raise self._error(exc, doing, config) from None
        container_id = str(container["Id"])
        try:
            client.api.start(container_id)
        except Exception as exc:  # noqa: BLE001 - undone, then reported
            error = self._error(exc, f"starting the container of node '{request.node_name}'",
                                config)
            try:
                self._remove(client, container_id, config, stop=False)
            except ResourceError:
                raise error from None       # it stays; recover finds it by its label
            self._not_created.add(request.instance_id)
            raise error from None
        log.debug("docker container %s started for instance %s", container_id[:12],
                  request.instance_id)
        return CreateResult(resource_id=container_id, data={"endpoint": config.endpoint})

    # -- inspect --------------------------------------------------------------------
    def _inspect(self, client: DockerClient, container_id: str) -> dict[str, Any] | None:
        from docker.errors import NotFound

        try:
            return dict(client.api.inspect_container(container_id))
        except NotFound:
            return None

    def state(self, ref: ResourceRef) -> StateReport:
        config = to_docker_config(ref.config)
        client = self.client(config)
        try:
            attrs = self._inspect(client, ref.resource_id)
            return self._interpret(client, ref.resource_id, attrs)
        except Exception as exc:  # noqa: BLE001
            raise self._error(exc, f"reading container {ref.resource_id[:12]}", config) from None

    def _interpret(self, client: DockerClient, container_id: str,
                   attrs: dict[str, Any] | None) -> StateReport:
        if attrs is None:
            return StateReport(ResourceState.GONE, reason="container no longer exists")
        status = str((attrs.get("State") or {}).get("Status") or "")
        state = docker_state(status)
        if state == ResourceState.RUNNING:
            return StateReport(state)
        if state != ResourceState.FAILED:
            return StateReport(state, reason=f"container is {status or 'in an unknown state'}")
        return StateReport(state, reason=self._redact(
            self._failure(client, container_id, attrs.get("State") or {})))

    def _failure(self, client: DockerClient, container_id: str, state: Mapping[str, Any]) -> str:
        status = state.get("Status")
        text = f"container is {status}"
        if status == "exited":
            text = f"container exited with code {state.get('ExitCode')}"
            if state.get("OOMKilled"):
                text += " (killed: out of memory)"
        if state.get("Error"):
            text += f": {state['Error']}"
        try:
            tail = client.api.logs(container_id, tail=LOG_TAIL_LINES).decode(errors="replace")
        except Exception:  # noqa: BLE001 - the reason is still worth giving
            tail = ""
        tail = tail.rstrip()[-LOG_TAIL_CHARS:]                 # lines may be of any length
        return text + (f"; output tail:\n{tail}" if tail.strip() else "")

    def states(self, refs: list[ResourceRef]) -> list[StateReport]:
        """All states with one container listing per Engine (a maintenance pass)."""
        listings: dict[str, dict[str, str]] = {}
        out: list[StateReport] = []
        for ref in refs:
            config = to_docker_config(ref.config)
            client = self.client(config)
            key = self._engines.key(config)
            try:
                if key not in listings:
                    listings[key] = {str(c["Id"]): str(c.get("State") or "") for c in
                                     client.api.containers(all=True,
                                                           filters={"label": LABEL_INSTANCE})}
                status = listings[key].get(ref.resource_id)
                if status is None:
                    out.append(self._interpret(client, ref.resource_id, None))
                elif docker_state(status) == ResourceState.FAILED:
                    out.append(self.state(ref))               # with its exit code and output
                else:
                    out.append(self._interpret(client, ref.resource_id,
                                               {"State": {"Status": status}}))
            except ResourceError:
                raise
            except Exception as exc:  # noqa: BLE001
                raise self._error(exc, "listing containers", config) from None
        return out

    def address(self, ref: ResourceRef) -> Address:
        config = to_docker_config(ref.config)
        client = self.client(config)
        try:
            attrs = self._inspect(client, ref.resource_id)
        except Exception as exc:  # noqa: BLE001
            raise self._error(exc, f"reading container {ref.resource_id[:12]}", config) from None
        if attrs is None:
            return Address(public=None)
        networks: dict[str, Any] = (attrs.get("NetworkSettings") or {}).get("Networks") or {}
        wanted = networks.get(config.network_mode or "") or {}
        ips = [wanted.get("IPAddress")] + [n.get("IPAddress") for n in networks.values()]
        ip = next((i for i in ips if i), None)
        if ip is None and (config.network_mode == "host" or "host" in networks):
            ip = engine_host(config.endpoint)
        return Address(public=ip, private=ip)

    def transport(self, ref: ResourceRef, *, infra_id: str,
                  node_name: str) -> ContainerTransport:
        """Day-2 jobs run in the container through the Engine's exec (the JobTransports
        protocol); nothing is installed in it, but WORKDIR and ADD need its ``mkdir``."""
        from occo.configure.container import ContainerTransport

        return ContainerTransport(self.client(ref.config).api, ref.resource_id)

    def recover(self, instance_id: str, config: BaseModel) -> CreateResult | None:
        """The container labelled with ``instance_id``, if any."""
        if instance_id in self._not_created:
            return None
        docker_config = to_docker_config(config)
        client = self.client(docker_config)
        try:
            found = client.api.containers(
                all=True, filters={"label": f"{LABEL_INSTANCE}={instance_id}"})
        except Exception as exc:  # noqa: BLE001
            raise self._error(exc, "looking for a lost container", docker_config) from None
        for container in found:
            return CreateResult(resource_id=str(container["Id"]),
                                data={"endpoint": docker_config.endpoint})
        return None

    # -- destroy --------------------------------------------------------------------
    def destroy(self, ref: ResourceRef) -> None:
        config = to_docker_config(ref.config)
        client = self.client(config)
        self._remove(client, ref.resource_id, config, stop=True)
        log.debug("docker container %s removed (instance %s)", ref.resource_id[:12],
                  ref.instance_id)

    def _remove(self, client: DockerClient, container_id: str, config: DockerResource, *,
                stop: bool) -> None:
        from docker.errors import NotFound

        try:
            if stop:
                client.api.stop(container_id, timeout=config.stop_timeout)
            client.api.remove_container(container_id, v=True, force=True)
        except NotFound:
            return
        except Exception as exc:  # noqa: BLE001
            if getattr(exc, "status_code", None) == 409 and "already in progress" in str(exc):
                return                                    # someone else is removing it
            raise self._error(exc, f"removing container {container_id[:12]}", config) from None


def _stream_error(reply: Any) -> str | None:
    """The error of a streamed Engine reply (JSON lines), if it carries one."""
    for line in str(reply or "").splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict) and doc.get("error"):
            return str(doc.get("error"))
    return None


def _may_have_created(exc: BaseException) -> bool:
    """Whether a failed create call may still have made a container (a timeout,
    a dropped connection) rather than being refused outright."""
    status = getattr(exc, "status_code", None)
    return not (isinstance(status, int) and 400 <= status < 500) and not is_unreachable(exc)


