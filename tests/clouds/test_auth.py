"""auth_data.yaml: sub-dict matching, clear errors, the permission warning, redaction."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

from occo.config import load_config
from occo.context.auth import AuthData, Redactor
from occo.errors import ConfigError

AUTH = {
    "resource": [
        {"type": "nova", "endpoint": "https://a.example.org:5000/v3",
         "auth_data": {"username": "alice", "password": "alice-pass-1"}},
        {"type": "nova", "endpoint": "https://b.example.org:5000/v3", "name": "lab",
         "auth_data": {"type": "application_cred", "id": "app-cred-id-42",
                       "secret": "app-cred-secret-42"}},
        {"type": "ec2", "auth_data": {"accesskey": "AKIAEXAMPLE0001", "secretkey": "ec2-secret"}},
    ],
    "config_management": [
        {"type": "chef", "auth_data": {"client_name": "ops", "client_key": "-----BEGIN KEY"}},
    ],
}


def test_an_entry_matches_when_its_keys_are_a_sub_dict_of_the_resource() -> None:
    auth = AuthData.parse(AUTH)
    entry, creds = auth.for_resource({"type": "nova", "endpoint": "https://b.example.org:5000/v3",
                                      "name": "lab", "image_id": "x", "flavor_name": "m1"})
    assert entry.position == 2 and creds["secret"] == "app-cred-secret-42"
    entry, creds = auth.for_resource({"type": "ec2", "endpoint": "https://ec2", "regionname": "r"})
    assert entry.describe() == "resource entry #3 {type: ec2}" and creds["accesskey"]
    assert auth.match("config_management", {"type": "chef", "endpoint": "x"}).position == 1


def test_two_matches_are_refused_naming_both() -> None:
    auth = AuthData.parse({"resource": [{"type": "ec2", "auth_data": {"accesskey": "k1"}},
                                        {"type": "ec2", "regionname": "eu-west-1",
                                         "auth_data": {"accesskey": "k2"}}]})
    with pytest.raises(ConfigError) as caught:
        auth.for_resource({"type": "ec2", "endpoint": "https://ec2.eu-west-1.amazonaws.com",
                           "regionname": "eu-west-1"})
    assert str(caught.value) == (
        "auth_data.yaml: resource {type: ec2, endpoint: https://ec2.eu-west-1.amazonaws.com} "
        "matches more than one entry: resource entry #1 {type: ec2} and resource entry #2 "
        "{type: ec2, regionname: eu-west-1}; make them distinct (add 'endpoint' or 'name' to "
        "the entries)")
    assert caught.value.exit_code == 2


def test_no_match_names_the_resource_and_the_entries() -> None:
    with pytest.raises(ConfigError) as caught:
        AuthData.parse(AUTH).for_resource({"type": "nova", "endpoint": "https://c.example.org",
                                           "name": "prod"})
    message = str(caught.value)
    assert message.startswith("auth_data.yaml: no resource entry matches resource "
                              "{type: nova, name: prod, endpoint: https://c.example.org}")
    assert "resource entry #1 {type: nova, endpoint: https://a.example.org:5000/v3}" in message
    assert "alice-pass-1" not in message and "app-cred-secret-42" not in message
    with pytest.raises(ConfigError, match=r"^resource \{type: nova\} needs credentials, but no "
                                          r"auth_data.yaml was found"):
        AuthData.parse(None).for_resource({"type": "nova"})
    with pytest.raises(ConfigError, match=r"^a.yaml: resource \{type: nova\} needs credentials, "
                                          r"but the file has no 'resource:' entries; add a "
                                          r"'resource:' entry with type: nova"):
        AuthData.parse({"config_management": []}, "a.yaml").for_resource({"type": "nova"})


@pytest.mark.parametrize("raw", [AUTH["resource"], {"entries": AUTH["resource"]}])
def test_a_bare_list_is_read_as_resource_entries(raw: object) -> None:
    assert AuthData.parse(raw).for_resource({"type": "ec2"})[0].position == 3


@pytest.mark.parametrize(("raw", "message"), [
    ("just text", "must be a mapping with 'resource'"),
    ({"resource": {"type": "nova"}}, "resource: must be a list of entries"),
    ({"resource": ["nova"]}, "resource entry #1 must be a mapping"),
    ({"resource": [{"type": "nova"}]}, "resource entry #1 needs an 'auth_data' mapping"),
])
def test_malformed_files_are_refused(raw: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        AuthData.parse(raw)


def test_every_secret_is_redacted_but_names_are_not() -> None:
    redact = AuthData.parse(AUTH).redactor
    text = ("alice used alice-pass-1, app-cred-id-42/app-cred-secret-42, AKIAEXAMPLE0001 "
            "with ec2-secret and -----BEGIN KEY")
    assert redact(text) == "alice used ***, ***/***, *** with *** and ***"
    assert redact.redact_tree({"a": ["ec2-secret", 3], "b": "ok"}) == {"a": ["***", 3],
                                                                      "b": "ok"}
    assert Redactor(["abc"])("abc") == "abc"           # too short to be told from words


def _write_auth(directory: Path, mode: int) -> Path:
    path = directory / "auth_data.yaml"
    path.write_text("resource:\n  - type: ec2\n    auth_data: {accesskey: AK, secretkey: SK}\n")
    os.chmod(path, mode)
    return path


def test_readable_auth_file_warns_and_private_one_does_not(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("OCCOPUS_CONFIG_PATH", raising=False)
    shared = _write_auth(tmp_path, 0o644)
    with pytest.warns(UserWarning, match=r"auth_data.yaml is readable by group or others; "
                                         r"it holds secrets \(chmod 600\)"):
        config = load_config(None, shared)
    assert AuthData.parse(config.auth_data).for_resource({"type": "ec2"})[1]["secretkey"] == "SK"
    private = _write_auth(tmp_path, 0o600)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_config(None, private)


def test_azure_and_rest_cloud_entries_hide_secrets_but_not_identifiers() -> None:
    auth = AuthData.parse({"resource": [
        {"type": "azure_vm", "auth_data": {
            "tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47", "client_id": "app-0001",
            "client_secret": "azure-secret-1", "subscription_id": "sub-0001",
            "authority": "https://login.example.org"}},
        {"type": "cloudsigma", "auth_data": {"email": "ops@example.org",
                                             "password": "sigma-pass-1"}}]})
    text = ("tenant 72f988bf-86f1-41af-91ab-2d7cd011db47 app app-0001 sub sub-0001 at "
            "https://login.example.org with azure-secret-1; ops@example.org/sigma-pass-1")
    assert auth.redactor(text) == (
        "tenant 72f988bf-86f1-41af-91ab-2d7cd011db47 app app-0001 sub sub-0001 at "
        "https://login.example.org with ***; ops@example.org/***")
    entry, creds = auth.for_resource({"type": "cloudsigma", "endpoint": "https://x/api/2.0",
                                      "libdrive_id": "l", "description": {"cpu": 1}})
    assert entry.position == 2 and creds["email"] == "ops@example.org"
