"""The ``nova`` handler: OpenStack servers through openstacksdk.

openstacksdk is imported inside the methods that talk to the cloud, so a
console script that never touches a nova node never pays for importing it.
Credentials come from the one ``auth_data.yaml`` entry matching the resource
section: ``{username, password}`` or an application credential
(``{type: application_cred, id, secret}``, also spelled
``application_credential_id`` / ``application_credential_secret``).

Every server carries the metadata ``occo_instance_id``, so a server whose id
was never recorded (occo died during create) is found again by
:meth:`NovaHandler.recover`. With ``floating_ip`` set, a floating IP from
``floating_ip_pool`` (default: the first external network) is attached once
the server is ACTIVE; it carries the description ``occo:<instance id>`` and is
released on destroy. ``volume_size`` / ``volume_persist`` boot the server
from a new volume, kept after the server when ``volume_persist`` is true.
Example node definition::

    'node_def:head':
      - resource:
          type: nova
          endpoint: https://keystone.example.org:5000/v3
          project_id: 0f1e2d3c4b5a69788796a5b4c3d2e1f0
          user_domain_name: Default
          region_name: RegionOne
          image_id: 5b4c3d2e-0000-4000-8000-00000000a001
          flavor_name: m1.small
          network_id: 7d1d7a1e-0000-4000-8000-0000000000a1
          key_name: operator
          security_groups: [default]
          floating_ip: yes
          floating_ip_pool: public
        contextualisation:
          type: cloudinit
          context_template: !text_import {url: file://head.yaml}
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel

from occo.context.auth import AuthEntry
from occo.errors import ConfigError, ResourceError
from occo.model.resource_types import NovaResource
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

if TYPE_CHECKING:
    from openstack.compute.v2.server import Server
    from openstack.connection import Connection

log = logging.getLogger(__name__)

METADATA_KEY = "occo_instance_id"
FIP_PREFIX = "occo:"
REQUEST_TIMEOUT = 60.0
_DEFAULT_DOMAIN = "Default"

_S = ResourceState
NOVA_STATE_MAP: dict[str, ResourceState] = {
    "BUILD": _S.PENDING, "REBUILD": _S.PENDING, "REBOOT": _S.PENDING,
    "HARD_REBOOT": _S.PENDING, "PASSWORD": _S.PENDING, "RESIZE": _S.PENDING,
    "VERIFY_RESIZE": _S.PENDING, "REVERT_RESIZE": _S.PENDING, "MIGRATING": _S.PENDING,
    "ACTIVE": _S.RUNNING,
    "ERROR": _S.FAILED, "SHUTOFF": _S.FAILED, "SHELVED": _S.FAILED,
    "SHELVED_OFFLOADED": _S.FAILED,
    "DELETED": _S.GONE, "SOFT_DELETED": _S.GONE,
}
"""Nova server statuses -> occo's; anything else (PAUSED, RESCUE...) is UNKNOWN."""


def nova_state(status: str | None) -> ResourceState:
    return NOVA_STATE_MAP.get((status or "").upper(), ResourceState.UNKNOWN)


def to_nova_config(config: BaseModel) -> NovaResource:
    if isinstance(config, NovaResource):
        return config
    return NovaResource.model_validate(config.model_dump())


def wants_floating_ip(value: Any) -> bool:
    """Occopus: any value asks for a floating IP; occo also reads an explicit no as no."""
    return value is not None and value is not False and \
        str(value).strip().lower() not in ("no", "false", "off", "0", "")


def auth_url(endpoint: str) -> str:
    """Keystone's v3 URL: ``/v3`` is appended to a bare Keystone URL, and replaces the
    ``/v2.0`` of an old one (Keystone v2 is gone)."""
    url = endpoint.rstrip("/")
    for old in ("/v2.0", "/v2"):
        if url.endswith(old):
            url = url[: -len(old)]
    return url if url.endswith("/v3") else url + "/v3"


def server_addresses(server: Any) -> tuple[str | None, str | None]:
    """(floating, fixed) IPv4 addresses of a server, floating first."""
    floating = fixed = None
    for entries in (getattr(server, "addresses", None) or {}).values():
        for entry in entries:
            if entry.get("version", 4) != 4:
                continue
            if entry.get("OS-EXT-IPS:type") == "floating":
                floating = floating or entry.get("addr")
            else:
                fixed = fixed or entry.get("addr")
    return floating, fixed


class NovaHandler(CloudHandler):
    """OpenStack Nova servers (with Glance images and Neutron floating IPs)."""

    name: ClassVar[str] = "nova"
    config_model: ClassVar[type[BaseModel]] = NovaResource
    requires: ClassVar[Mapping[str, str]] = {"openstack": "openstack"}

    def __init__(self, env: HandlerEnv) -> None:
        super().__init__(env)
        self._connections: dict[str, Connection] = {}

    # -- connections ----------------------------------------------------------------
    def _credentials(self, config: NovaResource) -> tuple[AuthEntry, dict[str, Any]]:
        return self._auth.for_resource(config.model_dump(mode="json", exclude_none=True))

    def _connect(self, config: NovaResource) -> tuple[Connection, AuthEntry]:
        entry, auth = self._credentials(config)
        key = hashlib.sha256(json.dumps(
            [config.endpoint, config.project_id, config.tenant_name, config.user_domain_name,
             config.region_name, auth], sort_keys=True, default=str).encode()).hexdigest()
        with self._lock:
            conn = self._connections.get(key)
            if conn is None:
                conn = self._new_connection(config, entry, auth)
                self._connections[key] = conn
        return conn, entry

    def _new_connection(self, config: NovaResource, entry: AuthEntry,
                        auth: dict[str, Any]) -> Connection:
        from keystoneauth1 import session as ks_session
        from keystoneauth1.identity import v3
        from openstack.connection import Connection

        url = auth_url(config.endpoint)
        app_id = auth.get("application_credential_id") or (
            auth.get("id") if auth.get("type") in ("application_cred", "application_credential",
                                                   "v3applicationcredential") else None)
        plugin: Any
        if app_id:
            secret = auth.get("application_credential_secret") or auth.get("secret")
            if not secret:
                raise ConfigError(f"{self._auth.source}: {entry.describe()}: an application "
                                  "credential needs its 'secret'")
            plugin = v3.ApplicationCredential(auth_url=url, application_credential_id=str(app_id),
                                              application_credential_secret=str(secret))
        else:
            missing = [k for k in ("username", "password") if not auth.get(k)]
            if missing:
                raise ConfigError(
                    f"{self._auth.source}: {entry.describe()}: nova needs 'username' and "
                    "'password' or an application credential "
                    f"('type: application_cred', 'id', 'secret'); missing {', '.join(missing)}")
            domain = config.user_domain_name or auth.get("user_domain_name") or _DEFAULT_DOMAIN
            project: dict[str, Any] = ({"project_id": config.project_id} if config.project_id
                                       else {"project_name": config.tenant_name,
                                             "project_domain_name": auth.get(
                                                 "project_domain_name", domain)})
            plugin = v3.Password(auth_url=url, username=str(auth["username"]),
                                 password=str(auth["password"]), user_domain_name=domain,
                                 **project)
        session = ks_session.Session(auth=plugin, timeout=REQUEST_TIMEOUT, app_name="occo")
        return Connection(session=session, region_name=config.region_name, app_name="occo")

    # -- errors ---------------------------------------------------------------------
    def _error(self, exc: BaseException, doing: str, config: NovaResource,
               entry: AuthEntry | None = None) -> ResourceError:
        """One clear, secret-free message for what the cloud (or the way to it) said."""
        if isinstance(exc, ResourceError):
            return exc
        status = getattr(exc, "status_code", None) or getattr(exc, "http_status", None)
        detail = (getattr(exc, "details", None) or getattr(exc, "message", None)
                  or str(exc) or type(exc).__name__)
        where = f"OpenStack at {config.endpoint}"
        if status == 401:
            who = f" for {entry.describe()} of {self._auth.source}" if entry else ""
            text = f"{where} rejected the credentials{who}: {detail}"
        elif status in (403, 413) and "quota" in str(detail).lower():
            project = config.project_id or config.tenant_name
            text = f"{where}: quota exceeded in project {project} while {doing}: {detail}"
        elif status is None and _is_connection_error(exc):
            text = f"cannot reach {where} while {doing}: {detail}"
        else:
            code = f" (HTTP {status})" if status else ""
            text = f"{where}: {doing} failed: {detail}{code}"
        retry = 30.0 if status in (429, 503) else None
        return ResourceError(self._redact(text), handler=self.name, retry_after=retry)

    # -- create ---------------------------------------------------------------------
    def create(self, request: CreateRequest) -> CreateResult:
        config = to_nova_config(request.config)
        doing = f"creating a server for node '{request.node_name}'"
        posted = False
        entry: AuthEntry | None = None
        try:
            conn, entry = self._connect(config)
            flavor = conn.compute.find_flavor(config.flavor_name, ignore_missing=True)
            if flavor is None:
                raise ResourceError(f"OpenStack at {config.endpoint} has no flavor "
                                    f"'{config.flavor_name}'", handler=self.name)
            image = conn.image.find_image(config.image_id, ignore_missing=True)
            if image is None:
                raise ResourceError(f"OpenStack at {config.endpoint} has no image "
                                    f"'{config.image_id}'", handler=self.name)
            spec = self._server_spec(config, request, flavor.id, image.id, conn)
            posted = True
            server = conn.compute.create_server(**spec)
        except Exception as exc:
            status = getattr(exc, "status_code", None) or getattr(exc, "http_status", None)
            if not posted or (isinstance(status, int) and 400 <= status < 500):
                self._not_created.add(request.instance_id)   # refused: nothing to clean up
            if isinstance(exc, ConfigError):
                raise
            raise self._error(exc, doing, config, entry) from None
        log.debug("nova server %s created for instance %s", server.id, request.instance_id)
        return CreateResult(resource_id=str(server.id), data={"endpoint": config.endpoint})

    def _server_spec(self, config: NovaResource, request: CreateRequest, flavor_id: str,
                     image_id: str, conn: Connection) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "name": config.server_name or request.instance_id,
            "flavor_id": flavor_id,
            "metadata": {METADATA_KEY: request.instance_id,
                         "occo_infra_id": request.infra_id, "occo_node": request.node_name},
        }
        if request.user_data:
            spec["user_data"] = base64.b64encode(request.user_data.encode()).decode()
        if config.key_name:
            spec["key_name"] = config.key_name
        if config.security_groups:
            spec["security_groups"] = [{"name": g} for g in config.security_groups]
        if config.network_id:
            spec["networks"] = [{"uuid": config.network_id}]
        elif _supports(conn, "2.37"):
            spec["networks"] = "auto"
        if config.volume_size is not None or config.volume_persist:
            mapping: dict[str, Any] = {
                "boot_index": 0, "uuid": image_id, "source_type": "image",
                "destination_type": "volume",
                "delete_on_termination": not config.volume_persist}
            if config.volume_size:
                mapping["volume_size"] = config.volume_size
            spec["block_device_mapping"] = [mapping]
        else:
            spec["image_id"] = image_id
        return spec

    # -- inspect --------------------------------------------------------------------
    def _get(self, conn: Connection, server_id: str) -> Server | None:
        from openstack.exceptions import NotFoundException

        try:
            return conn.compute.get_server(server_id)
        except NotFoundException:
            return None

    def state(self, ref: ResourceRef) -> StateReport:
        config = to_nova_config(ref.config)
        conn, entry = self._connect(config)
        try:
            server = self._get(conn, ref.resource_id)
            return self._interpret(conn, config, ref.instance_id, server)
        except Exception as exc:  # noqa: BLE001 - any SDK error becomes one ResourceError
            raise self._error(exc, f"reading server {ref.resource_id}", config, entry) from None

    def _interpret(self, conn: Connection, config: NovaResource, instance_id: str,
                   server: Server | None) -> StateReport:
        if server is None:
            return StateReport(ResourceState.GONE, reason="server no longer exists")
        status = str(server.status or "")
        state = nova_state(status)
        if state == ResourceState.FAILED:
            fault = (getattr(server, "fault", None) or {}).get("message")
            reason = f"server is {status}" + (f": {fault}" if fault else "")
            return StateReport(state, reason=self._redact(reason))
        if state == ResourceState.RUNNING and wants_floating_ip(config.floating_ip) and \
                server_addresses(server)[0] is None:
            return self._attach_floating_ip(conn, config, instance_id, server)
        return StateReport(state, reason=None if state == ResourceState.RUNNING
                           else f"server is {status or 'in an unknown state'}")

    def _attach_floating_ip(self, conn: Connection, config: NovaResource, instance_id: str,
                            server: Server) -> StateReport:
        """Allocate a floating IP on the server's port (once); a failure fails the server."""
        from openstack.exceptions import SDKException

        description = FIP_PREFIX + instance_id
        try:
            ports = [p for p in conn.network.ports(device_id=server.id)
                     if not config.network_id or p.network_id == config.network_id]
            if not ports:
                return StateReport(ResourceState.PENDING, reason="waiting for the server's port")
            existing = list(conn.network.ips(description=description))
            if existing and existing[0].port_id:
                return StateReport(ResourceState.PENDING, reason="floating IP being attached")
            if existing:
                conn.network.update_ip(existing[0], port_id=ports[0].id)
            else:
                conn.network.create_ip(floating_network_id=self._pool(conn, config),
                                       port_id=ports[0].id, description=description)
        except (SDKException, ResourceError) as exc:
            error = self._error(exc, "attaching a floating IP", config)
            return StateReport(ResourceState.FAILED, reason=error.message)
        return StateReport(ResourceState.PENDING, reason="floating IP attached")

    def _pool(self, conn: Connection, config: NovaResource) -> str:
        if config.floating_ip_pool:
            network = conn.network.find_network(config.floating_ip_pool, ignore_missing=True)
            if network is None:
                raise ResourceError(f"OpenStack at {config.endpoint} has no floating IP pool "
                                    f"(network) '{config.floating_ip_pool}'", handler=self.name)
            return str(network.id)
        for network in conn.network.networks(is_router_external=True):
            return str(network.id)
        raise ResourceError(f"OpenStack at {config.endpoint} has no external network to take "
                            "a floating IP from; set floating_ip_pool", handler=self.name)

    def address(self, ref: ResourceRef) -> Address:
        config = to_nova_config(ref.config)
        conn, entry = self._connect(config)
        try:
            server = self._get(conn, ref.resource_id)
        except Exception as exc:  # noqa: BLE001 - any SDK error becomes one ResourceError
            raise self._error(exc, f"reading server {ref.resource_id}", config, entry) from None
        if server is None:
            return Address(public=None)
        floating, fixed = server_addresses(server)
        return Address(public=floating or fixed, private=fixed)   # the fixed IP without one

    def states(self, refs: list[ResourceRef]) -> list[StateReport]:
        """All states with one server listing per cloud (a maintenance pass)."""
        by_cloud: dict[str, list[int]] = {}
        configs = [to_nova_config(r.config) for r in refs]
        conns: dict[str, tuple[Connection, AuthEntry, NovaResource]] = {}
        for index, config in enumerate(configs):
            conn, entry = self._connect(config)
            key = str(id(conn))
            conns[key] = (conn, entry, config)
            by_cloud.setdefault(key, []).append(index)
        out: list[StateReport | None] = [None] * len(refs)
        for key, indexes in by_cloud.items():
            conn, entry, sample = conns[key]
            try:
                servers = {str(s.id): s for s in conn.compute.servers(details=True)}
                for i in indexes:
                    out[i] = self._interpret(conn, configs[i], refs[i].instance_id,
                                             servers.get(refs[i].resource_id))
            except Exception as exc:  # noqa: BLE001 - any SDK error becomes one ResourceError
                raise self._error(exc, "listing servers", sample, entry) from None
        return [r for r in out if r is not None]

    def recover(self, instance_id: str, config: BaseModel) -> CreateResult | None:
        """The server created for ``instance_id`` (by its metadata), if any."""
        if instance_id in self._not_created:
            return None
        nova = to_nova_config(config)
        conn, entry = self._connect(nova)
        query: dict[str, Any] = {"details": True}
        if not nova.server_name:
            query["name"] = f"^{instance_id}$"
        try:
            for server in conn.compute.servers(**query):
                if (server.metadata or {}).get(METADATA_KEY) == instance_id:
                    return CreateResult(resource_id=str(server.id),
                                        data={"endpoint": nova.endpoint})
        except Exception as exc:  # noqa: BLE001 - any SDK error becomes one ResourceError
            raise self._error(exc, "looking for a lost server", nova, entry) from None
        return None

    def console_url(self, ref: ResourceRef) -> str | None:
        """The server's noVNC console URL (Nova's remote-consoles API, microversion 2.6+).

        Best effort, for reports: a vanished server, an old cloud or a cloud
        without consoles gives None. The URL carries a short-lived token.
        """
        config = to_nova_config(ref.config)
        try:
            conn, _ = self._connect(config)
            console = conn.compute.create_server_remote_console(
                ref.resource_id, protocol="vnc", type="novnc")
        except Exception as exc:  # noqa: BLE001 - no console is not an error
            log.debug("no console URL for server %s: %s", ref.resource_id,
                      self._redact(str(exc)))
            return None
        url = getattr(console, "url", None)
        return str(url) if url else None

    # -- destroy --------------------------------------------------------------------
    def destroy(self, ref: ResourceRef) -> None:
        config = to_nova_config(ref.config)
        conn, entry = self._connect(config)
        try:
            if wants_floating_ip(config.floating_ip):
                for ip in list(conn.network.ips(description=FIP_PREFIX + ref.instance_id)):
                    conn.network.delete_ip(ip, ignore_missing=True)
            conn.compute.delete_server(ref.resource_id, ignore_missing=True)
        except Exception as exc:  # noqa: BLE001 - any SDK error becomes one ResourceError
            raise self._error(exc, f"deleting server {ref.resource_id}", config, entry) from None
        log.debug("nova server %s deleted (instance %s)", ref.resource_id, ref.instance_id)


def _supports(conn: Any, microversion: str) -> bool:
    from openstack import utils

    try:
        return bool(utils.supports_microversion(conn.compute, microversion))
    except Exception:  # noqa: BLE001 - an old cloud without microversions
        return False


def _is_connection_error(exc: BaseException) -> bool:
    names = {c.__name__ for c in type(exc).__mro__}
    return bool(names & {"ConnectFailure", "ConnectionError", "ConnectTimeout",
                         "EndpointNotFound", "DiscoveryFailure", "SSLError"})
