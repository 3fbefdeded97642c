"""The ``cloudsigma`` handler: CloudSigma servers through its REST API 2.0.

Each instance is a server booted from a private copy of a library drive:

1. ``POST /libdrives/{libdrive_id}/action/?do=clone`` makes the copy, named
   ``occo-<instance id>``; occo waits until it is ``unmounted`` (cloned);
2. ``POST /servers/`` creates the server from the node's ``description``
   (``cpu``, ``mem``, ``vnc_password`` and any other key of CloudSigma's
   server schema, passed on as given) with the copy as its boot drive, and
   cloud-init user data in its ``meta`` (``cloudinit-user-data``, base64, as
   CloudSigma's cloud-init datasource reads it) beside occo's own keys;
3. ``POST /servers/{uuid}/action/?do=start``.

The state is the server's ``status``; the address is the IPv4 of its first
public NIC (``runtime.nics[].ip_v4.uuid``). Destroy stops the server, waits
until it is ``stopped``, deletes it, then deletes the cloned drive, and only
that: drives the description attaches stay. Credentials: the
``auth_data.yaml`` entry matching the resource, ``{email, password}``
(HTTP basic authentication). Example::

    'node_def:worker':
      - resource:
          type: cloudsigma
          endpoint: https://zrh.cloudsigma.com/api/2.0
          libdrive_id: 40aa6ce2-5198-4e6b-b569-1e5e9fbaf488
          description:
            cpu: 2000
            mem: 2147483648
            vnc_password: change-me
            pubkeys: [2c7ca6bd-3ab4-4cb9-9c0a-fd8b3c3bb2ec]
            nics: [{ip_v4_conf: {conf: dhcp}, model: virtio}]
        contextualisation:
          type: cloudinit
          context_template: !text_import {url: file://worker.yaml}
"""

from __future__ import annotations

import base64
import json
import logging
import re
from typing import Any, ClassVar

from pydantic import BaseModel

from occo.errors import ResourceError
from occo.model.resource_types import CloudSigmaResource
from occo.model.states import ResourceState
from occo.resources.base import (
    Address,
    CreateRequest,
    CreateResult,
    ResourceRef,
    StateReport,
    config_as,
)
from occo.resources.rest import ApiError, RestApi, RestCloudHandler

log = logging.getLogger(__name__)

META_INSTANCE = "occo_instance_id"
DRIVE_PREFIX = "occo-"
USER_DATA_KEY = "cloudinit-user-data"
MAX_USER_DATA = 65_536          # bytes of user data before base64

_S = ResourceState
CLOUDSIGMA_STATE_MAP: dict[str, ResourceState] = {
    "starting": _S.PENDING, "paused": _S.PENDING,
    "running": _S.RUNNING,
    "stopping": _S.FAILED, "stopped": _S.FAILED,
}
"""CloudSigma server statuses -> occo's; anything else (``unavailable``) is UNKNOWN."""

_QUOTA = re.compile(r"quota|limit|maximum|insufficient|not enough|funds", re.I)


def cloudsigma_state(status: str | None) -> ResourceState:
    return CLOUDSIGMA_STATE_MAP.get((status or "").lower(), ResourceState.UNKNOWN)



def error_details(body: str) -> tuple[str, str]:
    """(error_type, error_message) of a CloudSigma error body (a list of errors, or
    one error object); the raw text when it is not one."""
    try:
        data: Any = json.loads(body)
    except ValueError:
        return "", body.strip()[:300]
    first = data[0] if isinstance(data, list) and data else data
    if isinstance(first, dict):
        message = first.get("error_message") or first.get("detail") or json.dumps(first)
        return str(first.get("error_type") or ""), str(message)
    return "", body.strip()[:300]


def nic_addresses(server: dict[str, Any]) -> tuple[str | None, str | None]:
    """(public, private) IPv4 of a server: its first public NIC's, its first other NIC's."""
    public = private = None
    for nic in (server.get("runtime") or {}).get("nics") or []:
        ip = ((nic or {}).get("ip_v4") or {}).get("uuid")
        if not ip:
            continue
        if (nic.get("interface_type") or "public") == "public":
            public = public or str(ip)
        else:
            private = private or str(ip)
    return public, private


class CloudSigmaHandler(RestCloudHandler):
    """CloudSigma servers, each on its own clone of a library drive."""

    name: ClassVar[str] = "cloudsigma"
    config_model: ClassVar[type[BaseModel]] = CloudSigmaResource
    cloud: ClassVar[str] = "CloudSigma"
    accept: ClassVar[str] = "application/json"

    def _message(self, error: ApiError) -> str:
        return error_details(error.body)[1]

    def _is_quota(self, error: ApiError, message: str) -> bool:
        kind = error_details(error.body)[0]
        return kind in ("billing", "payment") or error.status == 402 or \
            (error.status in (400, 403, 409) and bool(_QUOTA.search(message)))

    def _secrets(self, config: BaseModel) -> tuple[str | None, ...]:
        return (config_as(CloudSigmaResource, config).description.vnc_password,)

    # -- create ---------------------------------------------------------------------
    def create(self, request: CreateRequest) -> CreateResult:
        config = config_as(CloudSigmaResource, request.config)
        try:
            api, entry = self._api(config)
            spec = self._server_spec(config, request)
        except Exception:
            self._not_created.add(request.instance_id)
            raise
        drive_id: str | None = None
        server_id: str | None = None
        doing = f"cloning library drive {config.libdrive_id} for node '{request.node_name}'"
        try:
            reply = api.call("POST", f"/libdrives/{config.libdrive_id}/action/",
                             params={"do": "clone"},
                             json={"name": DRIVE_PREFIX + request.instance_id}, ok=(200, 202))
            drive_id = str(reply.json()["objects"][0]["uuid"])
            doing = f"waiting for the clone {drive_id} of library drive {config.libdrive_id}"
            self._wait(doing, lambda: self._cloned(api, str(drive_id)))
            doing = f"creating a server for node '{request.node_name}'"
            spec["drives"] = [{"boot_order": 1, "dev_channel": "0:0", "device": "virtio",
                               "drive": drive_id}, *spec.get("drives", [])]
            reply = api.call("POST", "/servers/", json={"objects": [spec]}, ok=(200, 201))
            server_id = str(reply.json()["objects"][0]["uuid"])
            doing = f"starting server {server_id}"
            api.call("POST", f"/servers/{server_id}/action/", params={"do": "start"},
                     ok=(200, 202))
            self._wait(doing, lambda: self._started(api, str(server_id)))
        except Exception as exc:  # noqa: BLE001 - undone, then reported as one message
            error = self._error(exc, doing, config, entry)
            if self._undo(api, config, server_id, drive_id):
                self._not_created.add(request.instance_id)
            raise error from None
        log.debug("cloudsigma server %s created for instance %s", server_id,
                  request.instance_id)
        return CreateResult(resource_id=server_id, data={"drive": drive_id})

    def _server_spec(self, config: CloudSigmaResource, request: CreateRequest) -> dict[str, Any]:
        spec = config.description.model_dump(mode="json", exclude_none=True)
        spec.setdefault("name", f"occo-{request.node_name}-{request.instance_id[:8]}")
        meta = {str(k): str(v) for k, v in (spec.get("meta") or {}).items()}
        meta.update({META_INSTANCE: request.instance_id, "occo_infra_id": request.infra_id,
                     "occo_node": request.node_name})
        if request.user_data:
            raw = request.user_data.encode()
            if len(raw) > MAX_USER_DATA:
                raise ResourceError(f"the user data of node '{request.node_name}' is "
                                    f"{len(raw)} bytes; CloudSigma meta takes at most "
                                    f"{MAX_USER_DATA}", handler=self.name)
            meta[USER_DATA_KEY] = base64.b64encode(raw).decode()
            fields = {f for f in meta.get("base64_fields", "").split(",") if f}
            meta["base64_fields"] = ",".join(sorted(fields | {USER_DATA_KEY}))
        spec["meta"] = meta
        spec["drives"] = list(spec.get("drives") or [])
        return spec

    @staticmethod
    def _cloned(api: RestApi, drive_id: str) -> bool | None:
        status = str(api.call("GET", f"/drives/{drive_id}/").json().get("status"))
        if status == "unmounted":
            return True
        if status.startswith("cloning") or status == "creating":
            return None
        raise ResourceError(f"the cloned drive {drive_id} is {status}, not unmounted")

    @staticmethod
    def _started(api: RestApi, server_id: str) -> bool | None:
        status = str(api.call("GET", f"/servers/{server_id}/").json().get("status"))
        return True if status in ("starting", "running") else None

    def _undo(self, api: RestApi, config: CloudSigmaResource, server_id: str | None,
              drive_id: str | None) -> bool:
        """Remove what a failed create made; False when something may be left."""
        try:
            if server_id:
                self._drop_server(api, server_id)
            if drive_id:
                self._drop_drive(api, drive_id)
        except Exception as exc:  # noqa: BLE001 - the create's error is the one reported
            log.warning("%s", self._error(exc, "removing a half-created server", config))
            return False
        return True

    # -- inspect --------------------------------------------------------------------
    def _server(self, api: RestApi, server_id: str) -> dict[str, Any] | None:
        try:
            data: dict[str, Any] = api.call("GET", f"/servers/{server_id}/").json()
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise
        return data

    @staticmethod
    def _interpret(server: dict[str, Any] | None) -> StateReport:
        if server is None:
            return StateReport(ResourceState.GONE, reason="server no longer exists")
        status = str(server.get("status") or "")
        state = cloudsigma_state(status)
        if state == ResourceState.RUNNING:
            return StateReport(state)
        return StateReport(state, reason=f"server is {status or 'in an unknown state'}")

    def state(self, ref: ResourceRef) -> StateReport:
        config = config_as(CloudSigmaResource, ref.config)
        api, entry = self._api(config)
        try:
            return self._interpret(self._server(api, ref.resource_id))
        except Exception as exc:  # noqa: BLE001
            raise self._error(exc, f"reading server {ref.resource_id}", config, entry) from None

    def states(self, refs: list[ResourceRef]) -> list[StateReport]:
        """All states with one detailed server listing per account (a maintenance pass)."""
        listings: dict[int, dict[str, dict[str, Any]]] = {}
        out = []
        for ref in refs:
            config = config_as(CloudSigmaResource, ref.config)
            api, entry = self._api(config)
            servers = listings.get(id(api))
            if servers is None:
                try:
                    servers = {str(s["uuid"]): s for s in self._servers(api)}
                except Exception as exc:  # noqa: BLE001
                    raise self._error(exc, "listing servers", config, entry) from None
                listings[id(api)] = servers
            out.append(self._interpret(servers.get(ref.resource_id)))
        return out

    @staticmethod
    def _servers(api: RestApi) -> list[dict[str, Any]]:
        objects: list[dict[str, Any]] = api.call(
            "GET", "/servers/detail/", params={"limit": 0}).json().get("objects") or []
        return objects

    def address(self, ref: ResourceRef) -> Address:
        config = config_as(CloudSigmaResource, ref.config)
        api, entry = self._api(config)
        try:
            server = self._server(api, ref.resource_id)
        except Exception as exc:  # noqa: BLE001
            raise self._error(exc, f"reading server {ref.resource_id}", config, entry) from None
        if server is None:
            return Address(public=None)
        public, private = nic_addresses(server)
        return Address(public=public or private, private=private)

    def recover(self, instance_id: str, config: BaseModel) -> CreateResult | None:
        """The server made for ``instance_id`` (by its meta), with its cloned drive; a
        clone whose server was never made is deleted, and None returned."""
        if instance_id in self._not_created:
            return None
        sigma = config_as(CloudSigmaResource, config)
        api, entry = self._api(sigma)
        try:
            drives = api.call("GET", "/drives/detail/", params={"limit": 0}).json()
            drive = next((str(d["uuid"]) for d in drives.get("objects") or []
                          if d.get("name") == DRIVE_PREFIX + instance_id), None)
            for server in self._servers(api):
                if (server.get("meta") or {}).get(META_INSTANCE) == instance_id:
                    return CreateResult(resource_id=str(server["uuid"]), data={"drive": drive})
            if drive is not None:
                self._drop_drive(api, drive)
        except Exception as exc:  # noqa: BLE001
            raise self._error(exc, "looking for a lost server", sigma, entry) from None
        return None

    # -- destroy --------------------------------------------------------------------
    def destroy(self, ref: ResourceRef) -> None:
        config = config_as(CloudSigmaResource, ref.config)
        api, entry = self._api(config)
        try:
            self._drop_server(api, ref.resource_id)
            drive = ref.data.get("drive")
            if drive:
                self._drop_drive(api, str(drive))
        except Exception as exc:  # noqa: BLE001
            raise self._error(exc, f"deleting server {ref.resource_id}", config, entry) from None
        log.debug("cloudsigma server %s deleted (instance %s)", ref.resource_id, ref.instance_id)

    def _drop_server(self, api: RestApi, server_id: str) -> None:
        """Stop the server, wait until it is stopped, delete it (a missing one is fine)."""
        server = self._server(api, server_id)
        if server is None:
            return
        if server.get("status") not in ("stopped", "stopping"):
            api.call("POST", f"/servers/{server_id}/action/", params={"do": "stop"},
                     ok=(200, 202))

        def stopped() -> bool | None:
            now = self._server(api, server_id)
            return True if now is None or now.get("status") == "stopped" else None

        self._wait(f"stopping server {server_id}", stopped)
        api.call("DELETE", f"/servers/{server_id}/", ok=(200, 204, 404))

    def _drop_drive(self, api: RestApi, drive_id: str) -> None:
        """Delete a drive once it is unmounted (a missing one is fine)."""

        def deleted() -> bool | None:
            try:
                api.call("DELETE", f"/drives/{drive_id}/", ok=(200, 204, 404))
            except ApiError as exc:
                if exc.status == 409 or error_details(exc.body)[0] == "concurrency":
                    return None            # still mounted, or busy: try again
                raise
            return True

        self._wait(f"deleting drive {drive_id}", deleted)
