"""Bearer tokens, CORS, and secrets that never leave the service."""

from __future__ import annotations

import hashlib
import json
import socket
import stat
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
import requests

from occo.api import Occo
from occo.config import Config, RestSettings
from occo.errors import ConfigError
from occo.model.tokens import token_digest
from occo.rest import RestService, ServiceSettings, create_app
from tests.rest.conftest import CLUSTER

TOKEN = "t0ken-for-tests"
LOCAL_NODE = "- resource: {type: local, command: [sleep, '1000']}\n"


def digests(*tokens: str) -> tuple[str, ...]:
    return tuple(token_digest(t) for t in tokens)


def test_tokens_are_required_for_every_endpoint(occo: Occo,
                                                start_service: Callable[..., Any]) -> None:
    rest = start_service(occo, token_digests=digests(TOKEN, "another-token"))
    for method, path in [("GET", "/infrastructures/"), ("GET", "/openapi.json"),
                         ("GET", "/docs"), ("POST", "/validate"), ("GET", "/no/such/path")]:
        answer = rest(method, path)
        assert answer.status_code == 401, path
        assert answer.json()["error"] == "unauthorized"
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = rest("GET", "/infrastructures/", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    basic = rest("GET", "/infrastructures/", headers={"Authorization": f"Basic {TOKEN}"})
    assert basic.status_code == 401
    for token in (TOKEN, "another-token"):
        ok = rest("GET", "/infrastructures/", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200 and ok.json() == {"infrastructures": []}
    spec = rest("GET", "/openapi.json", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    assert spec["security"] == [{"bearerAuth": []}]


def test_tokens_come_from_the_config_and_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCCO_REST_TOKENS", " env-one , ,env-two")
    config = Config(rest=RestSettings(tokens=["from-config"]))
    settings = ServiceSettings.from_config(config, host="0.0.0.0", port=0)
    assert settings.token_digests == digests("from-config", "env-one", "env-two")
    settings.check()                                  # a token: may listen anywhere


def test_tokens_are_kept_only_as_digests(tmp_path: Path,
                                         start_service: Callable[..., Any]) -> None:
    digest_only = "sha256:" + hashlib.sha256(b"known-by-digest").hexdigest()
    config = Config(home=tmp_path / "home",
                    rest=RestSettings(tokens=[TOKEN, digest_only.upper().replace("SHA", "sha")]))
    assert TOKEN not in repr(config) and TOKEN not in json.dumps(asdict(config), default=str)
    settings = ServiceSettings.from_config(config, port=0)
    assert TOKEN not in repr(settings)
    api = Occo(config)
    try:
        rest = start_service(api, token_digests=settings.token_digests)
        for token in (TOKEN, "known-by-digest"):
            assert rest("GET", "/infrastructures/",
                        headers={"Authorization": f"Bearer {token}"}).status_code == 200
        # the digest itself is not a token
        assert rest("GET", "/infrastructures/",
                    headers={"Authorization": f"Bearer {digest_only}"}).status_code == 401
    finally:
        api.close()


def test_a_generated_token_is_kept_in_home_readable_by_its_owner_only(
        tmp_path: Path, start_service: Callable[..., Any],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OCCO_REST_TOKENS", raising=False)
    home = tmp_path / "home"
    config = Config(home=home, rest=RestSettings(generate_token=True))
    settings = ServiceSettings.from_config(config, host="0.0.0.0", port=0)
    settings.check()                                 # a generated token counts as a token
    token_file = home / "rest_token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    token = token_file.read_text().strip()
    assert len(token) >= 32 and token not in repr(settings)
    again = ServiceSettings.from_config(config, port=0)
    assert again.token_digests == settings.token_digests      # made once, then reused
    api = Occo(config)
    try:
        rest = start_service(api, token_digests=again.token_digests)
        assert rest("GET", "/infrastructures/").status_code == 401
        assert rest("GET", "/infrastructures/",
                    headers={"Authorization": f"Bearer {token}"}).status_code == 200
    finally:
        api.close()
    token_file.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        ServiceSettings.from_config(config, port=0)


def test_names_other_than_the_services_own_are_refused(
        rest: Any, occo: Occo, start_service: Callable[..., Any]) -> None:
    """DNS rebinding: a page at evil.example rebinds its name to 127.0.0.1 and calls in."""
    port = rest.service.port
    for host in ("evil.example", f"evil.example:{port}", "127.0.0.1.nip.io"):
        answer = rest("POST", "/infrastructures/", data=CLUSTER, headers={"Host": host})
        assert answer.status_code == 400, host
        assert "rest.allowed_hosts" in answer.json()["message"]
        assert rest("PUT", "/node-definitions/x", data=LOCAL_NODE,
                    headers={"Host": host}).status_code == 400
    assert occo.list_infrastructures() == [] and "x" not in occo.node_definitions()
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", "LOCALHOST.", f"[::1]:{port}",
                 f"{socket.gethostname()}:{port}"):
        assert rest("GET", "/infrastructures/", headers={"Host": host}).status_code == 200, host
    named = start_service(occo, allowed_hosts=("occo.internal.example",))
    assert named("GET", "/infrastructures/",
                 headers={"Host": "occo.internal.example:80"}).status_code == 200
    assert named("GET", "/infrastructures/",
                 headers={"Host": "evil.example"}).status_code == 400


def test_web_pages_cannot_change_anything(rest: Any, occo: Occo,
                                          start_service: Callable[..., Any]) -> None:
    """A text/plain POST needs no CORS preflight, so a page could send it: refused."""
    page = {"Origin": "http://evil.example", "Content-Type": "text/plain"}
    answer = rest("POST", "/infrastructures/", data=CLUSTER, headers=page)
    assert answer.status_code == 403
    assert answer.json()["error"] == "forbidden"
    assert "rest.cors_origins" in answer.json()["message"]
    for method, path in [("PUT", "/node-definitions/x"), ("DELETE", "/node-definitions/fast"),
                         ("POST", "/validate")]:
        assert rest(method, path, data=LOCAL_NODE, headers=page).status_code == 403, path
    assert rest("POST", "/infrastructures/", data=CLUSTER,
                headers={**page, "Origin": "null"}).status_code == 403
    assert occo.list_infrastructures() == []
    assert sorted(occo.node_definitions()) == ["fast", "slow"]
    # reading is harmless (the page cannot see the answer without CORS headers)
    assert rest("GET", "/infrastructures/", headers=page).status_code == 200
    # curl and scripts send no Origin
    assert rest("POST", "/validate", data=CLUSTER).status_code == 200
    allowed = start_service(occo, cors_origins=("https://dashboard.example.org",))
    assert allowed("POST", "/validate", data=CLUSTER,
                   headers={"Origin": "https://dashboard.example.org"}).status_code == 200


def test_node_definitions_that_run_host_commands_only_from_loopback(occo: Occo) -> None:
    """Sent from another machine, a local node or a command check is refused (403)."""
    remote = {"REMOTE_ADDR": "203.0.113.7"}
    command_check = ("- resource: {type: dummy}\n"
                     "  health_check: {ping: false, command: [touch, /tmp/pwned]}\n")
    for setting, body, from_addr, expected in [
            ("loopback", LOCAL_NODE, remote, 403),
            ("loopback", command_check, remote, 403),
            ("loopback", "- resource: {type: dummy}\n", remote, 200),
            ("loopback", LOCAL_NODE, {"REMOTE_ADDR": "127.0.0.1"}, 200),
            ("always", LOCAL_NODE, remote, 200),
            ("never", LOCAL_NODE, {"REMOTE_ADDR": "127.0.0.1"}, 403)]:
        app = create_app(occo, ServiceSettings(host_commands=setting, maintain=False))
        answer = app.test_client().put("/node-definitions/x", data=body,
                                       environ_base=from_addr)
        assert answer.status_code == expected, (setting, body, from_addr, answer.json)
        stored = "x" in occo.node_definitions()
        assert stored == (expected == 200)
        if expected == 403:
            assert answer.json["error"] == "forbidden"
            assert "rest.host_commands" in answer.json["message"]
        if stored:
            occo.delete_node_definition("x")


def test_non_loopback_without_token_refuses(occo: Occo,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OCCO_REST_TOKENS", raising=False)
    settings = ServiceSettings.from_config(occo.config, host="0.0.0.0", port=0)
    with pytest.raises(ConfigError, match="without a bearer token"):
        RestService(occo, settings)
    ServiceSettings.from_config(occo.config, host="localhost", port=0).check()
    ServiceSettings.from_config(occo.config, host="::1", port=0).check()


def test_no_cors_unless_configured(rest: Any, occo: Occo,
                                   start_service: Callable[..., Any]) -> None:
    origin = {"Origin": "https://dashboard.example.org"}
    assert "Access-Control-Allow-Origin" not in rest("GET", "/infrastructures/",
                                                     headers=origin).headers

    allowed = start_service(occo, cors_origins=("https://dashboard.example.org",),
                            token_digests=digests(TOKEN))
    auth = {"Authorization": f"Bearer {TOKEN}"}
    answer = allowed("GET", "/infrastructures/", headers={**origin, **auth})
    assert answer.headers["Access-Control-Allow-Origin"] == "https://dashboard.example.org"
    other = allowed("GET", "/infrastructures/",
                    headers={"Origin": "https://evil.example.com", **auth})
    assert "Access-Control-Allow-Origin" not in other.headers
    # a browser's preflight carries no token; it only learns what is allowed
    preflight = allowed("OPTIONS", "/infrastructures/",
                        headers={**origin, "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 200
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
    assert allowed("GET", "/infrastructures/", headers=origin).status_code == 401


def test_auth_data_secrets_never_appear_in_answers(tmp_path: Path,
                                                   start_service: Callable[..., Any]) -> None:
    password = "hunter2-sëcret\"quoted"
    config = Config(home=tmp_path / "home", auth_data={"resource": [
        {"type": "dummy", "auth_data": {"username": "admin", "password": password}}]})
    api = Occo(config)
    try:
        rest = start_service(api)
        # a careless node definition that embeds the password must not echo it back
        body = (f"- resource: {{type: dummy, create_delay: 0.01}}\n"
                f"  variables: {{db_password: '{password}', owner: admin}}\n")
        answer = rest("PUT", "/node-definitions/leaky", data=body)
        assert answer.status_code == 200, answer.text
        shown = rest("GET", "/node-definitions/leaky")
        assert password not in shown.text
        assert shown.json()["implementations"][0]["variables"] == {"db_password": "***",
                                                                   "owner": "admin"}
        assert api.store.node_defs.get("leaky")[0]["variables"]["db_password"] == password
    finally:
        api.close()


def test_the_service_binds_loopback_by_default(occo: Occo) -> None:
    settings = ServiceSettings.from_config(occo.config, port=0)
    assert settings.host == "127.0.0.1"
    service = RestService(occo, settings)
    try:
        assert service.addresses[0][0] == "127.0.0.1"
    finally:
        service.stop()
        service.serve()                   # returns at once: stop was already asked for
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{service.port}/", timeout=5)
