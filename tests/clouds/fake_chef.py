"""A stateful fake Chef server: the REST API occo's chef config manager uses.

It checks every request's signature (protocol 1.3: RSA-SHA256 over the
canonical request, the body's SHA-256 in X-Ops-Content-Hash) against the
public key of the client named in X-Ops-Userid, and keeps environments, roles
and nodes of one organisation in memory. ``report_run`` plays a chef-client
run: it sets a node's automatic attributes, ``ohai_time`` among them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

ORG = "lab"


class FakeChef:
    """Serves on 127.0.0.1 (port 0) until ``stop()``."""

    def __init__(self, clients: dict[str, rsa.RSAPublicKey]) -> None:
        self.clients = clients
        self.environments: dict[str, dict[str, Any]] = {"_default": {"name": "_default"}}
        self.roles: dict[str, dict[str, Any]] = {}
        self.nodes: dict[str, dict[str, Any]] = {}
        self.refused: list[str] = []            # why requests were answered 401
        self.lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/organizations/{ORG}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)

    def report_run(self, node: str, **automatic: Any) -> None:
        with self.lock:
            self.nodes[node]["automatic"] = {"ohai_time": 1.0, **automatic}

    # -- requests -----------------------------------------------------------------
    def verify(self, method: str, path: str, headers: Any, body: bytes) -> str | None:
        """Why the request's signature is not acceptable, or None when it is."""
        user = headers.get("X-Ops-Userid", "")
        key = self.clients.get(user)
        if key is None:
            return f"unknown client {user!r}"
        if "version=1.3" not in headers.get("X-Ops-Sign", ""):
            return "not signed with protocol 1.3"
        content_hash = base64.b64encode(hashlib.sha256(body).digest()).decode()
        if headers.get("X-Ops-Content-Hash") != content_hash:
            return "content hash does not match the body"
        parts, number = [], 1
        while (part := headers.get(f"X-Ops-Authorization-{number}")) is not None:
            parts.append(part)
            number += 1
        canonical = "\n".join([
            f"Method:{method}", f"Path:{path}", f"X-Ops-Content-Hash:{content_hash}",
            "X-Ops-Sign:version=1.3", f"X-Ops-Timestamp:{headers.get('X-Ops-Timestamp')}",
            f"X-Ops-UserId:{user}",
            f"X-Ops-Server-API-Version:{headers.get('X-Ops-Server-API-Version')}"])
        try:
            key.verify(base64.b64decode("".join(parts)), canonical.encode(),
                       padding.PKCS1v15(), hashes.SHA256())
        except (InvalidSignature, ValueError):
            return "bad signature"
        return None

    def answer(self, method: str, parts: list[str], body: Any) -> tuple[int, Any]:
        kind = parts[0] if parts else ""
        table = {"environments": self.environments, "roles": self.roles,
                 "nodes": self.nodes}.get(kind)
        if table is None:
            return 404, {"error": [f"no such endpoint /{'/'.join(parts)}"]}
        with self.lock:
            if len(parts) == 1 and method == "GET":
                return 200, {name: f"{self.endpoint}/{kind}/{name}" for name in table}
            if len(parts) == 1 and method == "POST":
                if body["name"] in table:
                    return 409, {"error": ["Object already exists"]}
                table[body["name"]] = body
                return 201, {"uri": f"{self.endpoint}/{kind}/{body['name']}"}
            name = parts[1]
            if name not in table:
                return 404, {"error": [f"Cannot load {kind[:-1]} {name}"]}
            if method == "GET":
                return 200, table[name]
            if method == "PUT":
                table[name] = body
                return 200, body
            if method == "DELETE":
                return 200, table.pop(name)
        return 405, {"error": ["method not allowed"]}


def _handler(chef: FakeChef) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            path = self.path.split("?")[0]
            why = chef.verify(self.command, path, self.headers, body)
            prefix = f"/organizations/{ORG}/"
            if why is not None:
                chef.refused.append(why)
                status, payload = 401, {"error": [why]}
            elif not path.startswith(prefix):
                status, payload = 404, {"error": ["no such organization"]}
            else:
                status, payload = chef.answer(self.command, path[len(prefix):].split("/"),
                                              json.loads(body) if body else None)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, *args: Any) -> None:
            pass

    return Handler
