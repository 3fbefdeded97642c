"""A stateful fake of CloudSigma's REST API 2.0 (``/api/2.0``), for the cloudsigma handler.

It answers as CloudSigma does where occo depends on it:

* HTTP basic authentication with :data:`EMAIL` / :data:`PASSWORD`; anything
  else gets 401 and an error list.
* ``POST /libdrives/{uuid}/action/?do=clone`` copies a library drive into the
  account: the copy is ``cloning_dst`` for ``clone_polls`` looks, then
  ``unmounted``.
* ``POST /servers/`` checks the required fields and that each drive exists and
  is unmounted; over ``quota_servers`` servers it answers 402 with a
  ``billing`` error. A server starts ``stopped``; ``do=start`` makes it
  ``starting`` then ``running`` after ``boot_polls`` looks, with a public IPv4
  on each DHCP NIC (booted from :data:`BROKEN_LIBDRIVE_ID`, it falls back to
  ``stopped`` instead); ``do=stop`` makes it ``stopping`` then ``stopped``.
* A running server cannot be deleted (409), nor a drive mounted on one or
  still cloning (409 ``concurrency``); a deleted server unmounts its drives
  unless ``?recurse=all_drives`` deletes them too.

What reached the fake is kept for the tests: servers, drives, the decoded
cloud-init user data of each create, and the request log.
"""

from __future__ import annotations

import base64
import itertools
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from werkzeug.wrappers import Request, Response

from tests.clouds.fakehttp import FakeHttpServer

EMAIL = "alice@example.org"
PASSWORD = "sigma-secret-password"
LIBDRIVE_ID = "40aa6ce2-5198-4e6b-b569-1e5e9fbaf488"
BROKEN_LIBDRIVE_ID = "0badc0de-5198-4e6b-b569-1e5e9fbaf488"
API = "/api/2.0"
UUID = r"(?P<uid>[0-9a-f-]{36})"


def error(status: int, kind: str, message: str, point: str | None = None) -> Response:
    body = [{"error_point": point, "error_type": kind, "error_message": message}]
    return Response(json.dumps(body), status=status, content_type="application/json")


def ok(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data), status=status, content_type="application/json")


@dataclass
class FakeDrive:
    uuid: str
    name: str
    size: int
    status: str = "unmounted"
    polls_left: int = 0
    mounted_on: list[str] = field(default_factory=list)

    def view(self) -> dict[str, Any]:
        return {"uuid": self.uuid, "name": self.name, "size": self.size, "media": "disk",
                "status": self.status, "meta": {}, "owner": {"uuid": "owner-1"},
                "mounted_on": [{"uuid": s} for s in self.mounted_on],
                "resource_uri": f"{API}/drives/{self.uuid}/"}


@dataclass
class FakeSigmaServer:
    uuid: str
    definition: dict[str, Any]
    status: str = "stopped"
    polls_left: int = 0
    ips: list[str | None] = field(default_factory=list)
    broken: bool = False              # booted from an unbootable drive: falls back to stopped

    @property
    def meta(self) -> dict[str, str]:
        return dict(self.definition.get("meta") or {})

    def view(self) -> dict[str, Any]:
        runtime = None
        if self.status == "running":
            nics = []
            for nic, ip in zip(self.definition.get("nics") or [], self.ips, strict=True):
                kind = "private" if nic.get("vlan") else "public"
                nics.append({"interface_type": kind, "mac": "22:aa:bb:cc:dd:ee",
                             "ip_v4": {"uuid": ip, "resource_uri": f"{API}/ips/{ip}/"}
                             if ip else None})
            runtime = {"nics": nics, "active_since": 1700000000}
        return {**self.definition, "uuid": self.uuid, "status": self.status,
                "runtime": runtime, "resource_uri": f"{API}/servers/{self.uuid}/"}


class FakeCloudSigma(FakeHttpServer):
    """The fake cloud; ``start()`` it and point the handler at :attr:`endpoint`."""

    name = "fake-cloudsigma"

    def __init__(self, *, clone_polls: int = 1, boot_polls: int = 1, stop_polls: int = 1,
                 quota_servers: int = 10) -> None:
        super().__init__()
        self.clone_polls = clone_polls
        self.boot_polls = boot_polls
        self.stop_polls = stop_polls
        self.quota_servers = quota_servers
        self.libdrives = {LIBDRIVE_ID: FakeDrive(LIBDRIVE_ID, "Ubuntu 24.04 LTS", 10 * 2**30),
                          BROKEN_LIBDRIVE_ID: FakeDrive(BROKEN_LIBDRIVE_ID, "Unbootable", 2**30)}
        self.broken_drives: set[str] = set()          # clones of the unbootable drive
        self.drives: dict[str, FakeDrive] = {}
        self.servers: dict[str, FakeSigmaServer] = {}
        self.deleted_servers: list[FakeSigmaServer] = []
        self.deleted_drives: list[FakeDrive] = []
        self._ips = itertools.count(10)
        routes = [
            ("POST", rf"{API}/libdrives/{UUID}/action/", self._clone),
            ("GET", rf"{API}/drives/detail/", self._list_drives),
            ("GET", rf"{API}/drives/{UUID}/", self._get_drive),
            ("DELETE", rf"{API}/drives/{UUID}/", self._delete_drive),
            ("POST", rf"{API}/servers/", self._create_server),
            ("GET", rf"{API}/servers/detail/", self._list_servers),
            ("GET", rf"{API}/servers/{UUID}/", self._get_server),
            ("POST", rf"{API}/servers/{UUID}/action/", self._server_action),
            ("DELETE", rf"{API}/servers/{UUID}/", self._delete_server),
        ]
        for method, pattern, handler in routes:
            self.route(method, pattern, handler)

    @property
    def endpoint(self) -> str:
        return self.base + API

    # -- what tests look at -------------------------------------------------------------
    def live(self) -> list[str]:
        """Everything the account holds: servers and drives."""
        with self.lock:
            return [f"server {s.uuid}" for s in self.servers.values()] + \
                [f"drive {d.uuid}" for d in self.drives.values()]

    def user_data_received(self) -> list[str | None]:
        with self.lock:
            every = [*self.deleted_servers, *self.servers.values()]
        out = []
        for server in every:
            encoded = server.meta.get("cloudinit-user-data")
            out.append(base64.b64decode(encoded).decode() if encoded else None)
        return out

    def add_drive(self, name: str) -> str:
        """A drive of the account's own (not occo's)."""
        drive = FakeDrive(str(uuid.uuid4()), name, 2**30)
        with self.lock:
            self.drives[drive.uuid] = drive
        return drive.uuid

    # -- auth ---------------------------------------------------------------------------
    def authorize(self, request: Request) -> Response | None:
        if self.basic_auth_is(request, EMAIL, PASSWORD):
            return None
        return error(401, "permission", "Invalid username or password")

    # -- drives -------------------------------------------------------------------------
    def _tick_drive(self, drive: FakeDrive) -> None:
        if drive.status == "cloning_dst":
            drive.polls_left -= 1
            if drive.polls_left <= 0:
                drive.status = "unmounted"

    def _clone(self, request: Request, uid: str) -> Response:
        source = self.libdrives.get(uid)
        if source is None or request.args.get("do") != "clone":
            return error(404, "notexist", f"Library drive {uid} does not exist")
        body = request.get_json(silent=True) or {}
        drive = FakeDrive(str(uuid.uuid4()), str(body.get("name") or source.name), source.size,
                          status="cloning_dst", polls_left=self.clone_polls)
        self.drives[drive.uuid] = drive
        if uid == BROKEN_LIBDRIVE_ID:
            self.broken_drives.add(drive.uuid)
        return ok({"objects": [drive.view()]}, 202)

    def _get_drive(self, request: Request, uid: str) -> Response:
        drive = self.drives.get(uid)
        if drive is None:
            return error(404, "notexist", f"Drive {uid} does not exist")
        self._tick_drive(drive)
        return ok(drive.view())

    def _list_drives(self, request: Request) -> Response:
        for drive in self.drives.values():
            self._tick_drive(drive)
        objects = [d.view() for d in self.drives.values()]
        return ok({"meta": {"limit": 0, "offset": 0, "total_count": len(objects)},
                   "objects": objects})

    def _delete_drive(self, request: Request, uid: str) -> Response:
        drive = self.drives.get(uid)
        if drive is None:
            return error(404, "notexist", f"Drive {uid} does not exist")
        busy = [s for s in drive.mounted_on if self.servers[s].status != "stopped"]
        if drive.status.startswith("cloning") or busy:
            return error(409, "concurrency", f"Drive {uid} is busy ({drive.status})")
        for server_id in drive.mounted_on:
            definition = self.servers[server_id].definition
            definition["drives"] = [d for d in definition["drives"] if d["drive"] != uid]
        self.deleted_drives.append(self.drives.pop(uid))
        return Response(status=204)

    # -- servers ------------------------------------------------------------------------
    def _tick_server(self, server: FakeSigmaServer) -> None:
        if server.status in ("starting", "stopping"):
            server.polls_left -= 1
            if server.polls_left <= 0:
                server.status = "running" if server.status == "starting" and \
                    not server.broken else "stopped"

    def _create_server(self, request: Request) -> Response:
        body = request.get_json(silent=True) or {}
        objects = body.get("objects") if isinstance(body, dict) else body
        if not isinstance(objects, list) or len(objects) != 1:
            return error(400, "validation", "Send one server in 'objects'")
        definition = dict(objects[0])
        missing = [k for k in ("name", "cpu", "mem", "vnc_password") if k not in definition]
        if missing:
            return error(400, "validation", "This field is required.", missing[0])
        for attached in definition.get("drives") or []:
            drive = self.drives.get(str(attached.get("drive")))
            if drive is None:
                return error(400, "notexist", f"Drive {attached.get('drive')} does not exist",
                             "drives")
            if drive.status != "unmounted":
                return error(409, "concurrency", f"Drive {drive.uuid} is {drive.status}")
        if len(self.servers) >= self.quota_servers:
            return error(402, "billing", "Not enough funds: the subscription allows "
                         f"{self.quota_servers} servers")
        server = FakeSigmaServer(str(uuid.uuid4()), definition)
        server.ips = [f"185.12.5.{next(self._ips)}"
                      if (nic.get("ip_v4_conf") or {}).get("conf") == "dhcp" else None
                      for nic in definition.get("nics") or []]
        for attached in definition.get("drives") or []:
            self.drives[str(attached["drive"])].mounted_on.append(server.uuid)
        self.servers[server.uuid] = server
        return ok({"objects": [server.view()]}, 201)

    def _get_server(self, request: Request, uid: str) -> Response:
        server = self.servers.get(uid)
        if server is None:
            return error(404, "notexist", f"Server {uid} does not exist")
        self._tick_server(server)
        return ok(server.view())

    def _list_servers(self, request: Request) -> Response:
        for server in self.servers.values():
            self._tick_server(server)
        objects = [s.view() for s in self.servers.values()]
        return ok({"meta": {"limit": 0, "offset": 0, "total_count": len(objects)},
                   "objects": objects})

    def _server_action(self, request: Request, uid: str) -> Response:
        server = self.servers.get(uid)
        if server is None:
            return error(404, "notexist", f"Server {uid} does not exist")
        action = request.args.get("do")
        if action == "start" and server.status == "stopped":
            server.status, server.polls_left = "starting", self.boot_polls
            if {str(d["drive"]) for d in server.definition.get("drives") or []} & \
                    self.broken_drives:
                server.polls_left += 1
                server.broken = True
        elif action == "stop" and server.status in ("running", "starting"):
            server.status, server.polls_left = "stopping", self.stop_polls
        else:
            return error(409, "permission", f"Cannot {action} a server that is {server.status}")
        return ok({"action": action, "result": "success", "uuid": uid}, 202)

    def _delete_server(self, request: Request, uid: str) -> Response:
        server = self.servers.get(uid)
        if server is None:
            return error(404, "notexist", f"Server {uid} does not exist")
        if server.status != "stopped":
            return error(409, "permission", "Cannot delete a server that is not stopped")
        for attached in server.definition.get("drives") or []:
            drive = self.drives.get(str(attached["drive"]))
            if drive is None:
                continue
            drive.mounted_on.remove(uid)
            if request.args.get("recurse") == "all_drives":
                self.deleted_drives.append(self.drives.pop(drive.uuid))
        self.deleted_servers.append(self.servers.pop(uid))
        return Response(status=204)
