"""A stateful fake OpenStack (Keystone v3, Nova v2.1, Glance v2, Neutron) for the tests.

No OpenStack can run on the test machines, so the nova handler talks to this
small WSGI app over real HTTP on 127.0.0.1 (port 0), through the real
openstacksdk. It keeps its state in memory and answers the way the real
services do where occo depends on it:

* Keystone issues tokens for a known user (password) or application
  credential, and refuses anything else with 401.
* Nova servers go BUILD -> ACTIVE after ``build_polls`` GETs or listings, or to ERROR
  (with a fault) when booted from an image or flavor listed in
  ``error_images`` / ``error_flavors``; a create over ``quota_instances``
  gets 403 "Quota exceeded"; a GET or DELETE of an unknown server gets 404.
* Booting from a volume (``block_device_mapping_v2``) creates a volume that
  survives the server unless ``delete_on_termination`` was asked for.
* ``POST /servers/{id}/remote-consoles`` answers a noVNC URL with a fresh
  token (kept in ``consoles``), or the error ``console_error`` when set,
  after ``console_delay`` seconds.
* Neutron allocates floating IPs from external networks and associates them
  with a server's port; the server's ``addresses`` then show them.

What reached the cloud is kept for assertions: every create request body
(with ``user_data`` base64-decoded), the live and deleted servers, and a log
of requests.
"""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import json
import re
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from werkzeug.wrappers import Request, Response

from tests.clouds.fakehttp import FakeHttpServer

PROJECT_ID = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
USER = "alice"
PASSWORD = "correct-horse-battery"
APP_CRED_ID = "3a7c1f0e5b2d4c6a8e9f0a1b2c3d4e5f"
APP_CRED_SECRET = "app-credential-secret-value"
REGION = "RegionOne"

IMAGE_ID = "5b4c3d2e-0000-4000-8000-00000000a001"
BROKEN_IMAGE_ID = "5b4c3d2e-0000-4000-8000-00000000dead"
FLAVORS = {"m1.small": "101", "m1.medium": "102", "m1.broken": "199"}
PRIVATE_NET_ID = "7d1d7a1e-0000-4000-8000-0000000000a1"
PUBLIC_NET_ID = "7d1d7a1e-0000-4000-8000-0000000000f1"
PUBLIC_NET_NAME = "public"


class _HttpError(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


def _not_found(what: str) -> _HttpError:
    return _HttpError(404, {"itemNotFound": {"code": 404,
                                             "message": f"{what} could not be found."}})


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class FakeServer:
    """One Nova server as the fake keeps it."""

    id: str
    name: str
    image_id: str | None
    flavor_id: str
    metadata: dict[str, str]
    user_data: str | None
    network_id: str | None
    key_name: str | None
    security_groups: list[str]
    fixed_ip: str
    port_id: str
    polls_left: int
    fails: bool
    volume_ids: list[str] = field(default_factory=list)
    status: str = "BUILD"
    created: str = field(default_factory=_now)


@dataclass
class FakeVolume:
    id: str
    size: int
    image_id: str
    delete_on_termination: bool
    server_id: str | None
    status: str = "in-use"


@dataclass
class FakeFloatingIp:
    id: str
    address: str
    network_id: str
    description: str
    port_id: str | None = None


class FakeOpenStack(FakeHttpServer):
    """The fake cloud; ``start()`` it, point the handler at :attr:`auth_url`."""

    name = "fake-openstack"

    def __init__(self, *, build_polls: int = 2, quota_instances: int = 10,
                 error_images: Iterable[str] = (BROKEN_IMAGE_ID,),
                 error_flavors: Iterable[str] = ("m1.broken",)) -> None:
        super().__init__()
        self.build_polls = build_polls
        self.quota_instances = quota_instances
        self.error_images = set(error_images)
        self.error_flavors = {FLAVORS.get(f, f) for f in error_flavors}
        self.tokens: dict[str, dict[str, Any]] = {}
        self.servers: dict[str, FakeServer] = {}
        self.deleted_servers: list[FakeServer] = []
        self.create_requests: list[dict[str, Any]] = []
        self.volumes: dict[str, FakeVolume] = {}
        self.floating_ips: dict[str, FakeFloatingIp] = {}
        self.consoles: dict[str, str] = {}          # server id -> last console URL issued
        self.console_error: int | None = None       # e.g. 501: the cloud has no consoles
        self.console_delay = 0.0                    # seconds a console request hangs
        self._ips = itertools.count(10)
        self._fips = itertools.count(100)
        self._add_routes()

    @property
    def auth_url(self) -> str:
        """What a node definition names as ``endpoint`` (Keystone, with /v3)."""
        return f"{self.base}/identity/v3"

    # -- what the tests look at ---------------------------------------------------------
    def live_servers(self) -> list[FakeServer]:
        with self.lock:
            return list(self.servers.values())

    def user_data_received(self) -> list[str | None]:
        """The decoded user data of every create request, in order."""
        with self.lock:
            return [r.get("decoded_user_data") for r in self.create_requests]

    # -- WSGI ---------------------------------------------------------------------------
    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        path = request.path.rstrip("/") or "/"
        with self.lock:
            self.requests.append((request.method, request.full_path))
        injected = self._take_injected(request)
        if injected is not None:
            return injected(environ, start_response)
        try:
            for method, pattern, handler in self._routes:
                match = pattern.fullmatch(path)
                if match and method == request.method:
                    status, body, headers = self._call(handler, request, match)
                    break
            else:
                with self.lock:
                    self.unknown_routes.append((request.method, request.full_path))
                raise _HttpError(404, {"error": {"code": 404, "message": f"no route {path}"}})
        except _HttpError as exc:
            status, body, headers = exc.status, exc.body, {}
        data = b"" if body is None else json.dumps(body).encode()
        response = Response(data, status=status, headers=headers,
                            content_type="application/json")
        return response(environ, start_response)

    def _call(self, handler: Callable[..., Any], request: Request,
              match: re.Match[str]) -> tuple[int, Any, dict[str, str]]:
        if getattr(handler, "needs_token", True):
            self._check_token(request)
        body = request.get_json(silent=True) if request.data else None
        with self.lock:
            result = handler(request, body, **match.groupdict())
        if len(result) == 2:
            return result[0], result[1], {}
        return result

    def _check_token(self, request: Request) -> None:
        token = request.headers.get("X-Auth-Token")
        if token not in self.tokens:
            raise _HttpError(401, {"error": {"code": 401, "title": "Unauthorized",
                                             "message": "The request you have made requires "
                                                        "authentication."}})

    def _route(self, method: str, pattern: str, handler: Callable[..., Any],
               public: bool = False) -> None:
        if public:
            handler.__func__.needs_token = False
        self._routes.append((method, re.compile(pattern), handler))

    def _add_routes(self) -> None:
        r = self._route
        r("GET", r"/identity", self._identity_versions, public=True)
        r("GET", r"/identity/v3", self._identity_v3, public=True)
        r("POST", r"/identity/v3/auth/tokens", self._issue_token, public=True)
        r("GET", r"/compute", self._compute_versions, public=True)
        r("GET", r"/compute/v2\.1", self._compute_v21, public=True)
        r("GET", r"/compute/v2\.1/flavors/detail", self._list_flavors)
        r("GET", r"/compute/v2\.1/flavors", self._list_flavors)
        r("GET", r"/compute/v2\.1/flavors/(?P<flavor_id>[^/]+)", self._get_flavor)
        r("POST", r"/compute/v2\.1/servers", self._create_server)
        r("GET", r"/compute/v2\.1/servers/detail", self._list_servers)
        r("GET", r"/compute/v2\.1/servers", self._list_servers)
        r("GET", r"/compute/v2\.1/servers/(?P<server_id>[^/]+)", self._get_server)
        r("DELETE", r"/compute/v2\.1/servers/(?P<server_id>[^/]+)", self._delete_server)
        r("POST", r"/compute/v2\.1/servers/(?P<server_id>[^/]+)/remote-consoles",
          self._remote_console)
        r("GET", r"/image", self._image_versions, public=True)
        r("GET", r"/image/v2/images", self._list_images)
        r("GET", r"/image/v2/images/(?P<image_id>[^/]+)", self._get_image)
        r("GET", r"/network", self._network_versions, public=True)
        r("GET", r"/network/v2\.0/networks", self._list_networks)
        r("GET", r"/network/v2\.0/networks/(?P<net_id>[^/]+)", self._get_network)
        r("GET", r"/network/v2\.0/ports", self._list_ports)
        r("GET", r"/network/v2\.0/floatingips", self._list_fips)
        r("POST", r"/network/v2\.0/floatingips", self._create_fip)
        r("PUT", r"/network/v2\.0/floatingips/(?P<fip_id>[^/]+)", self._update_fip)
        r("DELETE", r"/network/v2\.0/floatingips/(?P<fip_id>[^/]+)", self._delete_fip)

    # -- Keystone -----------------------------------------------------------------------
    def _v3_doc(self) -> dict[str, Any]:
        return {"id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
                "links": [{"rel": "self", "href": f"{self.base}/identity/v3/"}],
                "media-types": [{"base": "application/json",
                                 "type": "application/vnd.openstack.identity-v3+json"}]}

    def _identity_versions(self, _req: Request, _body: Any) -> tuple[int, Any]:
        return 300, {"versions": {"values": [self._v3_doc()]}}

    def _identity_v3(self, _req: Request, _body: Any) -> tuple[int, Any]:
        return 200, {"version": self._v3_doc()}

    def _issue_token(self, _req: Request, body: Any) -> tuple[int, Any, dict[str, str]]:
        identity = ((body or {}).get("auth") or {}).get("identity") or {}
        methods = identity.get("methods") or []
        user_ok = False
        if "password" in methods:
            user = (identity.get("password") or {}).get("user") or {}
            user_ok = user.get("name") == USER and user.get("password") == PASSWORD
            scope = ((body["auth"].get("scope") or {}).get("project") or {})
            user_ok = user_ok and scope.get("id") in (PROJECT_ID, None)
        elif "application_credential" in methods:
            cred = identity.get("application_credential") or {}
            user_ok = cred.get("id") == APP_CRED_ID and cred.get("secret") == APP_CRED_SECRET
        if not user_ok:
            self.auth_failures += 1
            raise _HttpError(401, {"error": {"code": 401, "title": "Unauthorized",
                                             "message": "The request you have made requires "
                                                        "authentication."}})
        token = uuid.uuid4().hex
        self.tokens[token] = {"project": PROJECT_ID}
        expires = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).strftime(
            "%Y-%m-%dT%H:%M:%S.000000Z")

        def service(kind: str, name: str, path: str) -> dict[str, Any]:
            return {"type": kind, "name": name, "id": uuid.uuid4().hex,
                    "endpoints": [{"id": uuid.uuid4().hex, "interface": "public",
                                   "region": REGION, "region_id": REGION,
                                   "url": f"{self.base}{path}"}]}

        catalog = [service("identity", "keystone", "/identity"),
                   service("compute", "nova", "/compute/v2.1"),
                   service("image", "glance", "/image"),
                   service("network", "neutron", "/network")]
        payload = {"token": {
            "methods": methods, "expires_at": expires, "issued_at": _now(),
            "user": {"id": "u-" + USER, "name": USER,
                     "domain": {"id": "default", "name": "Default"}},
            "project": {"id": PROJECT_ID, "name": "demo",
                        "domain": {"id": "default", "name": "Default"}},
            "roles": [{"id": "r1", "name": "member"}], "catalog": catalog}}
        return 201, payload, {"X-Subject-Token": token}

    # -- Nova ---------------------------------------------------------------------------
    def _compute_version_doc(self) -> dict[str, Any]:
        return {"id": "v2.1", "status": "CURRENT", "version": "2.79", "min_version": "2.1",
                "updated": "2013-07-23T11:33:21Z",
                "links": [{"rel": "self", "href": f"{self.base}/compute/v2.1/"}]}

    def _compute_versions(self, _req: Request, _body: Any) -> tuple[int, Any]:
        return 200, {"versions": [self._compute_version_doc()]}

    def _compute_v21(self, _req: Request, _body: Any) -> tuple[int, Any]:
        return 200, {"version": self._compute_version_doc()}

    def _flavor(self, name: str, flavor_id: str) -> dict[str, Any]:
        return {"id": flavor_id, "name": name, "ram": 2048, "vcpus": 1, "disk": 20,
                "OS-FLV-EXT-DATA:ephemeral": 0, "swap": "", "rxtx_factor": 1.0,
                "os-flavor-access:is_public": True, "links": []}

    def _list_flavors(self, _req: Request, _body: Any) -> tuple[int, Any]:
        return 200, {"flavors": [self._flavor(n, i) for n, i in FLAVORS.items()]}

    def _get_flavor(self, _req: Request, _body: Any, flavor_id: str) -> tuple[int, Any]:
        for name, fid in FLAVORS.items():
            if fid == flavor_id:
                return 200, {"flavor": self._flavor(name, fid)}
        raise _not_found(f"Flavor {flavor_id}")

    def _create_server(self, _req: Request, body: Any) -> tuple[int, Any]:
        spec = dict((body or {}).get("server") or {})
        record = {"body": spec}
        if spec.get("user_data"):
            record["decoded_user_data"] = base64.b64decode(spec["user_data"]).decode()
        self.create_requests.append(record)
        if len(self.servers) >= self.quota_instances:
            used = len(self.servers)
            raise _HttpError(403, {"forbidden": {"code": 403, "message": (
                f"Quota exceeded for instances: Requested 1, but already used {used} of "
                f"{self.quota_instances} instances")}})
        flavor_id = str(spec.get("flavorRef", ""))
        if flavor_id not in FLAVORS.values():
            raise _HttpError(400, {"badRequest": {
                "code": 400, "message": f"Flavor {flavor_id} could not be found."}})
        bdm = spec.get("block_device_mapping_v2") or []
        image_id = spec.get("imageRef") or next(
            (b.get("uuid") for b in bdm if b.get("source_type") == "image"), None)
        if image_id not in (IMAGE_ID, BROKEN_IMAGE_ID):
            raise _HttpError(400, {"badRequest": {"code": 400,
                                                  "message": "Can not find requested image"}})
        networks = spec.get("networks")
        network_id = PRIVATE_NET_ID
        if isinstance(networks, list) and networks:
            network_id = networks[0].get("uuid")
            if network_id not in (PRIVATE_NET_ID,):
                raise _HttpError(400, {"badRequest": {"code": 400, "message": (
                    f"Network {network_id} could not be found.")}})
        server_id = str(uuid.uuid4())
        server = FakeServer(
            id=server_id, name=str(spec.get("name")), image_id=image_id, flavor_id=flavor_id,
            metadata=dict(spec.get("metadata") or {}),
            user_data=record.get("decoded_user_data"), network_id=network_id,
            key_name=spec.get("key_name"),
            security_groups=[g.get("name") for g in spec.get("security_groups") or []],
            fixed_ip=f"10.0.0.{next(self._ips)}", port_id=str(uuid.uuid4()),
            polls_left=self.build_polls,
            fails=image_id in self.error_images or flavor_id in self.error_flavors)
        for mapping in bdm:
            if mapping.get("destination_type") == "volume":
                volume = FakeVolume(
                    id=str(uuid.uuid4()), size=int(mapping.get("volume_size") or 20),
                    image_id=str(image_id),
                    delete_on_termination=bool(mapping.get("delete_on_termination")),
                    server_id=server_id)
                self.volumes[volume.id] = volume
                server.volume_ids.append(volume.id)
        self.servers[server_id] = server
        return 202, {"server": {"id": server_id, "links": [], "OS-DCF:diskConfig": "MANUAL",
                                "security_groups": [{"name": g} for g in server.security_groups],
                                "adminPass": "generated"}}

    def _server_view(self, server: FakeServer) -> dict[str, Any]:
        addresses: list[dict[str, Any]] = []
        if server.status != "BUILD":
            addresses.append({"version": 4, "addr": server.fixed_ip, "OS-EXT-IPS:type": "fixed",
                              "OS-EXT-IPS-MAC:mac_addr": "fa:16:3e:00:00:01"})
            for fip in self.floating_ips.values():
                if fip.port_id == server.port_id:
                    addresses.append({"version": 4, "addr": fip.address,
                                      "OS-EXT-IPS:type": "floating",
                                      "OS-EXT-IPS-MAC:mac_addr": "fa:16:3e:00:00:01"})
        view: dict[str, Any] = {
            "id": server.id, "name": server.name, "status": server.status,
            "tenant_id": PROJECT_ID, "user_id": "u-" + USER, "metadata": server.metadata,
            "image": {"id": server.image_id} if server.image_id else "",
            "flavor": {"id": server.flavor_id, "links": []},
            "addresses": {"private": addresses} if addresses else {},
            "key_name": server.key_name, "created": server.created, "updated": _now(),
            "security_groups": [{"name": g} for g in server.security_groups],
            "os-extended-volumes:volumes_attached": [{"id": v} for v in server.volume_ids],
            "OS-EXT-STS:vm_state": server.status.lower(), "links": [],
        }
        if server.status == "ERROR":
            view["fault"] = {"code": 500, "created": server.created,
                             "message": "No valid host was found. There are not enough hosts "
                                        "available."}
        return view

    def _advance(self, server: FakeServer) -> None:
        if server.status != "BUILD":
            return
        if server.polls_left > 0:
            server.polls_left -= 1
            return
        server.status = "ERROR" if server.fails else "ACTIVE"

    def _get_server(self, _req: Request, _body: Any, server_id: str) -> tuple[int, Any]:
        server = self.servers.get(server_id)
        if server is None:
            raise _not_found(f"Instance {server_id}")
        self._advance(server)
        return 200, {"server": self._server_view(server)}

    def _list_servers(self, req: Request, _body: Any) -> tuple[int, Any]:
        name = req.args.get("name")
        found = [s for s in self.servers.values()
                 if name is None or re.search(name, s.name)]
        for server in found:               # a listing observes each server, as a GET does
            self._advance(server)
        return 200, {"servers": [self._server_view(s) for s in found]}

    def _delete_server(self, _req: Request, _body: Any, server_id: str) -> tuple[int, Any]:
        server = self.servers.pop(server_id, None)
        if server is None:
            raise _not_found(f"Instance {server_id}")
        for fip in self.floating_ips.values():
            if fip.port_id == server.port_id:
                fip.port_id = None
        for volume_id in server.volume_ids:
            volume = self.volumes[volume_id]
            if volume.delete_on_termination:
                del self.volumes[volume_id]
            else:
                volume.server_id, volume.status = None, "available"
        server.status = "DELETED"
        self.deleted_servers.append(server)
        return 204, None

    def _remote_console(self, req: Request, body: Any, server_id: str) -> tuple[int, Any]:
        time.sleep(self.console_delay)
        if server_id not in self.servers:
            raise _not_found(f"Instance {server_id}")
        if self.console_error is not None:
            raise _HttpError(self.console_error, {"HTTPNotImplemented": {
                "code": self.console_error, "message": "Unable to get console"}})
        spec = (body or {}).get("remote_console") or {}
        if spec.get("protocol") != "vnc" or spec.get("type") != "novnc":
            raise _HttpError(400, {"badRequest": {"code": 400,
                                                  "message": "Unavailable console type"}})
        asked = (req.headers.get("OpenStack-API-Version") or "compute 2.1").split()[-1]
        if tuple(int(p) for p in asked.split(".")) < (2, 6):    # as Nova: not before 2.6
            raise _not_found("The resource")
        url = f"{self.base}/vnc_auto.html?token={uuid.uuid4()}"
        self.consoles[server_id] = url
        return 200, {"remote_console": {"protocol": "vnc", "type": "novnc", "url": url}}

    # -- Glance -------------------------------------------------------------------------
    def _image_versions(self, _req: Request, _body: Any) -> tuple[int, Any]:
        return 300, {"versions": [{"id": "v2.16", "status": "CURRENT",
                                   "links": [{"rel": "self", "href": f"{self.base}/image/v2/"}]}]}

    def _image(self, image_id: str) -> dict[str, Any]:
        name = "broken-image" if image_id == BROKEN_IMAGE_ID else "ubuntu-24.04"
        return {"id": image_id, "name": name, "status": "active", "visibility": "public",
                "disk_format": "qcow2", "container_format": "bare", "min_disk": 0,
                "min_ram": 0, "size": 1024, "tags": [], "protected": False,
                "created_at": _now(), "updated_at": _now(), "owner": PROJECT_ID,
                "self": f"/v2/images/{image_id}", "file": f"/v2/images/{image_id}/file",
                "schema": "/v2/schemas/image"}

    def _list_images(self, req: Request, _body: Any) -> tuple[int, Any]:
        images = [self._image(i) for i in (IMAGE_ID, BROKEN_IMAGE_ID)]
        if "name" in req.args:
            images = [i for i in images if i["name"] == req.args["name"]]
        if "id" in req.args:
            images = [i for i in images if i["id"] == req.args["id"]]
        return 200, {"images": images, "schema": "/v2/schemas/images",
                     "first": "/v2/images"}

    def _get_image(self, _req: Request, _body: Any, image_id: str) -> tuple[int, Any]:
        if image_id not in (IMAGE_ID, BROKEN_IMAGE_ID):
            raise _HttpError(404, {"code": 404, "title": "Not Found",
                                   "message": f"No image found with ID {image_id}"})
        return 200, self._image(image_id)

    # -- Neutron ------------------------------------------------------------------------
    def _network_versions(self, _req: Request, _body: Any) -> tuple[int, Any]:
        return 200, {"versions": [{"id": "v2.0", "status": "CURRENT",
                                   "links": [{"rel": "self",
                                              "href": f"{self.base}/network/v2.0/"}]}]}

    @staticmethod
    def _network(net_id: str, name: str, external: bool) -> dict[str, Any]:
        return {"id": net_id, "name": name, "router:external": external, "status": "ACTIVE",
                "admin_state_up": True, "shared": False, "subnets": [],
                "project_id": PROJECT_ID, "tenant_id": PROJECT_ID}

    def _list_networks(self, req: Request, _body: Any) -> tuple[int, Any]:
        nets = [self._network(PRIVATE_NET_ID, "private", False),
                self._network(PUBLIC_NET_ID, PUBLIC_NET_NAME, True)]
        for key in ("name", "id"):
            if key in req.args:
                nets = [n for n in nets if n[key] == req.args[key]]
        if "router:external" in req.args:
            want = req.args["router:external"].lower() == "true"
            nets = [n for n in nets if n["router:external"] == want]
        return 200, {"networks": nets}

    def _get_network(self, req: Request, body: Any, net_id: str) -> tuple[int, Any]:
        for net in self._list_networks(req, body)[1]["networks"]:
            if net["id"] == net_id:
                return 200, {"network": net}
        raise _HttpError(404, {"NeutronError": {"type": "NetworkNotFound",
                                                "message": f"Network {net_id} could not be "
                                                           "found.", "detail": ""}})

    def _list_ports(self, req: Request, _body: Any) -> tuple[int, Any]:
        device = req.args.get("device_id")
        ports = [{"id": s.port_id, "device_id": s.id, "network_id": s.network_id,
                  "status": "ACTIVE", "device_owner": "compute:nova",
                  "fixed_ips": [{"ip_address": s.fixed_ip}], "project_id": PROJECT_ID}
                 for s in self.servers.values()
                 if s.status != "BUILD" and (device is None or s.id == device)]
        return 200, {"ports": ports}

    @staticmethod
    def _fip_view(fip: FakeFloatingIp) -> dict[str, Any]:
        return {"id": fip.id, "floating_ip_address": fip.address,
                "floating_network_id": fip.network_id, "port_id": fip.port_id,
                "description": fip.description, "project_id": PROJECT_ID,
                "tenant_id": PROJECT_ID, "router_id": None,
                "status": "ACTIVE" if fip.port_id else "DOWN", "fixed_ip_address": None}

    def _list_fips(self, req: Request, _body: Any) -> tuple[int, Any]:
        fips = [self._fip_view(f) for f in self.floating_ips.values()]
        for key in ("port_id", "description", "floating_ip_address", "id"):
            if key in req.args:
                fips = [f for f in fips if str(f[key]) == req.args[key]]
        return 200, {"floatingips": fips}

    def _create_fip(self, _req: Request, body: Any) -> tuple[int, Any]:
        spec = (body or {}).get("floatingip") or {}
        if spec.get("floating_network_id") != PUBLIC_NET_ID:
            raise _HttpError(404, {"NeutronError": {
                "type": "ExternalGatewayForFloatingIPNotFound",
                "message": "External network not found", "detail": ""}})
        fip = FakeFloatingIp(id=str(uuid.uuid4()), address=f"172.24.4.{next(self._fips)}",
                             network_id=PUBLIC_NET_ID, description=spec.get("description", ""),
                             port_id=spec.get("port_id"))
        self.floating_ips[fip.id] = fip
        return 201, {"floatingip": self._fip_view(fip)}

    def _update_fip(self, _req: Request, body: Any, fip_id: str) -> tuple[int, Any]:
        fip = self.floating_ips.get(fip_id)
        if fip is None:
            raise _HttpError(404, {"NeutronError": {"type": "FloatingIPNotFound",
                                                    "message": f"Floating IP {fip_id} could "
                                                               "not be found", "detail": ""}})
        port = ((body or {}).get("floatingip") or {}).get("port_id")
        if port is not None and port not in {s.port_id for s in self.servers.values()}:
            raise _HttpError(404, {"NeutronError": {"type": "PortNotFound",
                                                    "message": f"Port {port} could not be found",
                                                    "detail": ""}})
        fip.port_id = port
        return 200, {"floatingip": self._fip_view(fip)}

    def _delete_fip(self, _req: Request, _body: Any, fip_id: str) -> tuple[int, Any]:
        if self.floating_ips.pop(fip_id, None) is None:
            raise _HttpError(404, {"NeutronError": {"type": "FloatingIPNotFound",
                                                    "message": f"Floating IP {fip_id} could "
                                                               "not be found", "detail": ""}})
        return 204, None
