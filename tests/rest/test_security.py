"""Bearer tokens, CORS, and secrets that never leave the service."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from occo.api import Occo
from occo.config import Config, RestSettings
from occo.errors import ConfigError
from occo.rest import RestService, ServiceSettings

TOKEN = "t0ken-for-tests"


def test_tokens_are_required_for_every_endpoint(occo: Occo,
                                                start_service: Callable[..., Any]) -> None:
    rest = start_service(occo, tokens=(TOKEN, "another-token"))
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
    assert settings.tokens == ("from-config", "env-one", "env-two")
    settings.check()                                  # a token: may listen anywhere


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
                            tokens=(TOKEN,))
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
