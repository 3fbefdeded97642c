"""``config_management: {type: chef}``: nodes registered on a Chef server, as Occopus does.

Occopus's chef config manager adds nothing to a node's user data; the
node's own ``context_template`` installs chef-client and names the node
``{{node_id}}`` in environment ``{{infra_id}}``. Before the resource is
created, the server is told about it, with the same names Occopus uses:

* environment ``<infra_id>``;
* role ``<infra_id>_<node name>``;
* node ``<node_id>`` in that environment, run list ``role[<infra_id>_<name>]``,
  ``recipe[connect]`` (Occopus's bootstrap cookbook, which reads the
  ``connections`` attribute written from dependency ``mappings``) and the
  section's ``run_list``, normal attributes from the contextualisation's
  ``attributes``.

The node counts as configured once chef-client has reported back
(``ohai_time`` is set) and every attribute another node synchronises on has
a value. Destroying an instance deletes its node; destroying the
infrastructure deletes its roles and environment.

Requests are signed with the client key of the matching ``config_management``
entry of auth_data.yaml (``client_name``, ``client_key``; protocol 1.3,
RSA-SHA256), which needs ``pip install 'occo[chef]'``. Example::

    config_management:
      type: chef
      endpoint: https://chef.example.org/organizations/lab
      run_list: [recipe[apache2]]

occo also reads ``environment`` (instead of ``<infra_id>``) and
``attributes`` (more normal attributes), which Occopus does not have.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any, ClassVar

from occo.configure.base import ConfigEnv, ConfigManager, Configured, ManagedNode
from occo.context.auth import AuthData
from occo.errors import ConfigError, ResourceError

BOOTSTRAP_RECIPE = "recipe[connect]"
TIMEOUT = 30.0
_SIGNATURE_LINE = 60


def role_name(infra_id: str, node_name: str) -> str:
    return f"{infra_id}_{node_name}"


def run_list(infra_id: str, node_name: str, wanted: list[str]) -> list[str]:
    """The section's run list with the role and the bootstrap recipe in front (once)."""
    out = list(wanted)
    for item in (BOOTSTRAP_RECIPE, f"role[{role_name(infra_id, node_name)}]"):
        if item not in out:
            out.insert(0, item)
    return out


def dotted(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """Attributes with dotted names (``mysql.port``) made nested, as Occopus sets them."""
    out: dict[str, Any] = {}
    for key, value in attributes.items():
        target = out
        *parents, last = str(key).split(".")
        for part in parents:
            target = target.setdefault(part, {})
        target[last] = value
    return out


def _lookup(data: Mapping[str, Any], name: str) -> Any:
    current: Any = data
    for part in name.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return None
        current = current[part]
    return current


class ChefServer:
    """A signed JSON client of one Chef server (organisation) for one API client."""

    def __init__(self, endpoint: str, client_name: str, client_key: str) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.client_name = client_name
        self._key_pem = client_key.encode()
        self._key: Any = None

    def _sign(self, method: str, path: str, body: bytes) -> dict[str, str]:
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import padding

        if self._key is None:
            try:
                self._key = serialization.load_pem_private_key(self._key_pem, password=None)
            except (ValueError, TypeError) as exc:
                raise ConfigError(f"chef client key of '{self.client_name}' is not a PEM "
                                  f"private key: {exc}") from None
        content_hash = base64.b64encode(hashlib.sha256(body).digest()).decode()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        canonical = "\n".join([
            f"Method:{method}", f"Path:{path}", f"X-Ops-Content-Hash:{content_hash}",
            "X-Ops-Sign:version=1.3", f"X-Ops-Timestamp:{stamp}",
            f"X-Ops-UserId:{self.client_name}", "X-Ops-Server-API-Version:1"])
        signature = base64.b64encode(self._key.sign(
            canonical.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()
        headers = {"X-Ops-Sign": "algorithm=sha256;version=1.3",
                   "X-Ops-Userid": self.client_name, "X-Ops-Timestamp": stamp,
                   "X-Ops-Content-Hash": content_hash, "X-Ops-Server-API-Version": "1"}
        for number, start in enumerate(range(0, len(signature), _SIGNATURE_LINE), start=1):
            headers[f"X-Ops-Authorization-{number}"] = signature[start:start + _SIGNATURE_LINE]
        return headers

    def call(self, method: str, path: str, body: Any = None,
             ok: tuple[int, ...] = ()) -> tuple[int, Any]:
        """One request; a status in ``ok`` (besides 2xx) is answered, others raise."""
        url = self.endpoint + path
        data = b"" if body is None else json.dumps(body).encode()
        signed_path = "/" + "/".join(p for p in urllib.parse.urlsplit(url).path.split("/") if p)
        headers = {"Accept": "application/json", "Content-Type": "application/json",
                   "X-Chef-Version": "17.0.0", **self._sign(method, signed_path, data)}
        request = urllib.request.Request(url, data=data if body is not None else None,
                                         method=method, headers=headers)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=TIMEOUT) as answer:
                return answer.status, _json(answer.read())
        except urllib.error.HTTPError as exc:
            payload = _json(exc.read())
            exc.close()
            if exc.code in ok:
                return exc.code, payload
            raise ResourceError(f"chef server {self.endpoint}: {method} {path} answered "
                                f"{exc.code}: {_reason(payload)}", handler="chef") from None
        except OSError as exc:
            raise ResourceError(f"chef server {self.endpoint}: {method} {path}: {exc}",
                                handler="chef") from None


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw or b"null")
    except ValueError:
        return raw.decode("utf-8", "replace")[:200]


def _reason(payload: Any) -> str:
    if isinstance(payload, Mapping) and payload.get("error"):
        error = payload["error"]
        return "; ".join(map(str, error)) if isinstance(error, list) else str(error)
    return str(payload)[:200]


class ChefConfigManager(ConfigManager):
    name: ClassVar[str] = "chef"
    requires: ClassVar[Mapping[str, str]] = {"cryptography": "chef"}

    def __init__(self, env: ConfigEnv) -> None:
        super().__init__(env)
        self._auth = AuthData.parse(env.auth_data, env.auth_source)
        self._servers: dict[tuple[str, str], ChefServer] = {}

    def _server(self, section: Mapping[str, Any]) -> ChefServer:
        endpoint = str(section.get("endpoint") or "")
        entry = self._auth.match("config_management", section)
        name = entry.auth_data.get("client_name")
        key = entry.auth_data.get("client_key")
        if not name or not key:
            raise ConfigError(f"{self._auth.source}: {entry.describe()}: chef needs "
                              "'client_name' and 'client_key'")
        cache = (endpoint, str(name))
        if cache not in self._servers:
            self._servers[cache] = ChefServer(endpoint, str(name), str(key))
        return self._servers[cache]

    def check(self, section: Mapping[str, Any]) -> None:
        self._server(section)

    def register(self, node: ManagedNode) -> None:
        server = self._server(node.section)
        env_name = str(node.section.get("environment") or node.infra_id)
        role = role_name(node.infra_id, node.node_name)
        server.call("POST", "/environments", {
            "name": env_name, "json_class": "Chef::Environment", "chef_type": "environment",
            "description": "occo infrastructure", "default_attributes": {},
            "override_attributes": {}, "cookbook_versions": {}}, ok=(409,))
        status, _ = server.call("GET", f"/roles/{role}", ok=(404,))
        if status == 404:
            server.call("POST", "/roles", {
                "name": role, "json_class": "Chef::Role", "chef_type": "role",
                "description": "", "run_list": [], "default_attributes": {},
                "override_attributes": {}, "env_run_lists": {}}, ok=(409,))
        document = {
            "name": node.instance_id, "chef_environment": env_name,
            "json_class": "Chef::Node", "chef_type": "node",
            "run_list": run_list(node.infra_id, node.node_name,
                                 [str(r) for r in node.section.get("run_list") or []]),
            "normal": dotted({**node.attributes, **(node.section.get("attributes") or {})}),
            "default": {}, "override": {}, "automatic": {}}
        status, _ = server.call("POST", "/nodes", document, ok=(409,))
        if status == 409:
            server.call("PUT", f"/nodes/{node.instance_id}", document)

    def configured(self, node: ManagedNode) -> Configured:
        status, document = self._server(node.section).call(
            "GET", f"/nodes/{node.instance_id}", ok=(404,))
        if status == 404 or not isinstance(document, Mapping):
            return Configured(False, f"chef node {node.instance_id} is not registered")
        merged: dict[str, Any] = {}
        for level in ("default", "normal", "override", "automatic"):
            part = document.get(level)
            if isinstance(part, Mapping):
                merged.update(part)
        if "ohai_time" not in merged:
            return Configured(False, "chef-client has not reported back yet")
        missing = [a for a in node.synch_attributes if _lookup(merged, a) is None]
        if missing:
            return Configured(False, f"chef attributes not exported yet: {', '.join(missing)}")
        return Configured(True)

    def drop(self, node: ManagedNode) -> None:
        self._server(node.section).call("DELETE", f"/nodes/{node.instance_id}", ok=(404,))

    def drop_infrastructure(self, infra_id: str, section: Mapping[str, Any]) -> None:
        server = self._server(section)
        _, roles = server.call("GET", "/roles")
        for role in sorted(roles or {}):
            if str(role).startswith(f"{infra_id}_"):
                server.call("DELETE", f"/roles/{role}", ok=(404,))
        if not section.get("environment"):       # a named environment may be shared
            server.call("DELETE", f"/environments/{infra_id}", ok=(404,))
