"""Finding and reading occopus_config.yaml and auth_data.yaml."""

from __future__ import annotations

import dataclasses
import logging
import re
from pathlib import Path

import pytest

from occo.config import load_config
from occo.errors import ConfigError
from occo.rest.settings import ServiceSettings


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("OCCOPUS_CONFIG_PATH", raising=False)
    monkeypatch.delenv("OCCOPUS_STORE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def test_no_files_needed(isolated: Path) -> None:
    config = load_config()
    assert config.source is None and config.auth_data is None
    assert config.resolved_store_url.endswith("occopus.db")


def test_search_order_explicit_env_home_cwd(isolated: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    _write(isolated / "occopus_config.yaml", "concurrency: 4\n")
    assert load_config().concurrency == 4                               # ./
    _write(isolated / "home/.occopus/occopus_config.yaml", "concurrency: 3\n")
    assert load_config().concurrency == 3                               # ~/.occopus first
    _write(isolated / "envdir/occopus_config.yaml", "concurrency: 2\n")
    monkeypatch.setenv("OCCOPUS_CONFIG_PATH", str(isolated / "envdir"))
    assert load_config().concurrency == 2                               # env var first
    explicit = _write(isolated / "mine.yaml", "concurrency: 1\n")
    assert load_config(str(explicit)).concurrency == 1                  # --cfg wins
    with pytest.raises(ConfigError, match="file not found"):
        load_config(str(isolated / "missing.yaml"))


# An Occopus-style config file, written for these tests: plugin imports, component
# objects with anchors and aliases, a logging dictConfig printing to stdout.
OCCOPUS_STYLE = """\
plugins: !python_import
    - occo_never_imported_marker
components:
    rest:
        host: 127.0.0.2
        port: 5123
    resourcehandler: !ResourceHandler &handler
        protocol: null
    store: !UDS &store
        protocol: redis
        port: 6379
    infobroker: !InfoRouter
        sub_providers:
            - !DynamicStateProvider
                resource_handler: *handler
            - !SynchronizationProvider
            - *store
logging:
    version: 1
    root: {level: INFO, handlers: [screen]}
    handlers:
        screen: {class: logging.StreamHandler, stream: ext://sys.stdout}
        keep: {class: logging.FileHandler, filename: occo-test.log}
concurrency: 4
"""


def test_occopus_config_file_loads_and_occo_takes_rest_and_logging(
        isolated: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    marker_dir = isolated / "plugins"
    _write(marker_dir / "occo_never_imported_marker.py",
           f"open({str(isolated / 'imported')!r}, 'w').close()\n")
    monkeypatch.syspath_prepend(str(marker_dir))
    config_file = _write(isolated / "occopus_config.yaml", OCCOPUS_STYLE)
    _write(isolated / "redis_config.yaml", "kvs: !KeyValueStore\n    protocol: redis\n")
    with caplog.at_level(logging.DEBUG, logger="occo.config"):
        config = load_config(str(config_file))
    assert not (isolated / "imported").exists()          # !python_import imports nothing
    assert (config.rest.host, config.rest.port, config.concurrency) == ("127.0.0.2", 5123, 4)
    settings = ServiceSettings.from_config(config)
    assert (settings.host, settings.port) == ("127.0.0.2", 5123)
    assert ServiceSettings.from_config(config, port=0).port == 0     # a flag still wins
    assert config.logging is not None
    assert config.logging["handlers"]["screen"]["stream"] == "ext://sys.stderr"
    assert config.logging["handlers"]["keep"] == {"class": "logging.FileHandler",
                                                  "filename": "occo-test.log"}
    ignored = [r.getMessage() for r in caplog.records if "ignoring" in r.getMessage()]
    assert len(ignored) == 1
    assert ignored[0].endswith("plugins, components.resourcehandler, components.store, "
                               "components.infobroker")


def test_own_rest_section_wins_over_components_rest(isolated: Path) -> None:
    both = _write(isolated / "c.yaml", "components:\n  rest: {host: 0.0.0.0, port: 6000}\n"
                                       "rest: {port: 7000}\n")
    config = load_config(str(both))
    assert (config.rest.host, config.rest.port) == ("0.0.0.0", 7000)


EVERY_SETTING = """\
home: {home}
store_url: sqlite:///{home}/other.db
concurrency: 3
max_instances: 500
create_timeout: 60
destroy_timeout: 30.5
maintain_interval: 5
failure_brake: 1
lease_ttl: 20
report_log: reports.log
handlers: {{nova: {{poll_interval: 5}}}}
logging: {{version: 1, root: {{level: INFO}}}}
rest: {{host: 0.0.0.0, port: 8080, tokens: [t1], generate_token: true,
        cors_origins: ['http://a'], allowed_hosts: [occo.example], host_commands: never,
        webhook_local_targets: true, max_body_bytes: 1000}}
"""


def test_every_setting_comes_out_as_pydantic_makes_it(isolated: Path) -> None:
    """Valid settings are taken without pydantic (it costs start-up time): they must
    load exactly as its validation would give them, types converted included."""
    from pydantic import TypeAdapter

    from occo.config import Config
    from occo.model.tokens import token_digest
    from occo.model.yamlio import load_yaml_file

    path = _write(isolated / "c.yaml", EVERY_SETTING.format(home=isolated / "h"))
    plain = load_yaml_file(path).plain
    read_elsewhere = {"auth_data", "auth_source", "source"}
    assert set(plain) | read_elsewhere == {f.name for f in dataclasses.fields(Config)}, \
        "a setting is missing from EVERY_SETTING"
    config = load_config(str(path))
    expected = TypeAdapter(Config).validate_python(plain)
    expected.source = path
    assert config == expected
    assert isinstance(config.home, Path) and isinstance(config.create_timeout, float)
    assert config.rest.tokens == [token_digest("t1")]


def test_values_pydantic_converts_still_load(isolated: Path) -> None:
    path = _write(isolated / "c.yaml", "concurrency: '3'\nrest: {port: '8080'}\n")
    config = load_config(str(path))
    assert (config.concurrency, config.rest.port) == (3, 8080)


@pytest.mark.parametrize(("text", "where"), [
    ("concurrencyy: 3\n", r"c.yaml:1:1: unknown key 'concurrencyy' \(did you mean 'concurrency'\?\)"),
    ("plugins: !python_import [x]\nocco:\n  concurrency: zero\n",
     r"c.yaml:3:16: occo.concurrency: Input should be a valid integer"),
    ("components:\n  rest:\n    port: 99999\n",
     r"c.yaml:3:11: components.rest.port: Input should be less than or equal to 65535"),
    ("logging: [console]\n", r"c.yaml:1:10: logging: must be a mapping"),
    ("a: [1,\n", r"c.yaml:2:1: "),
    ("nodes: !python/object:os.system echo\n", None),
])
def test_config_errors_name_file_line_column_and_path(isolated: Path, text: str,
                                                      where: str | None) -> None:
    path = _write(isolated / "c.yaml", text)
    if where is None:          # not an Occopus object tag: an unknown key, never built
        with pytest.raises(ConfigError, match="unknown key 'nodes'"):
            load_config(str(path))
        return
    with pytest.raises(ConfigError) as caught:
        load_config(str(path))
    assert re.match(re.escape(str(isolated)) + "/" + where, str(caught.value)), str(caught.value)


@pytest.mark.parametrize(("text", "where"), [
    ("resource:\n  - type: nova\n    auth_data: {username: u, password: p}\n  - type: ec2\n",
     r"a.yaml:4:5: resource\[1\]: resource entry #2 needs an 'auth_data' mapping"),
    ("resource: {type: nova}\n", r"a.yaml:1:11: resource: must be a list of entries"),
    ("resource:\n  - type: nova\n    auth_data: {password: !secret p}\n",
     r"a.yaml:3:27: unsupported YAML tag !secret"),
])
def test_auth_data_errors_name_file_line_column_and_path(isolated: Path, text: str,
                                                         where: str) -> None:
    path = _write(isolated / "a.yaml", text)
    with pytest.raises(ConfigError) as caught:
        load_config(None, str(path))
    assert re.match(re.escape(str(isolated)) + "/" + where, str(caught.value)), str(caught.value)


def test_auth_data_imports_and_permission_warning(isolated: Path) -> None:
    _write(isolated / "keys/client.pem", "KEY MATERIAL\n")
    auth = _write(isolated / "auth_data.yaml",
                  "config_management:\n  - type: chef\n    auth_data:\n"
                  "      client_key: !text_import {url: file://keys/client.pem}\n")
    data = load_config(None, str(auth)).auth_data
    assert data == {"config_management": [{"type": "chef",
                                           "auth_data": {"client_key": "KEY MATERIAL\n"}}]}
    auth.chmod(0o644)
    with pytest.warns(UserWarning, match="readable by group or others"):
        load_config(None, str(auth))
    _write(isolated / "bad.yaml", "x: !text_import {url: http://evil.example/key}\n")
    with pytest.raises(ConfigError, match="only file:// URLs can be imported"):
        load_config(None, str(isolated / "bad.yaml"))


def test_config_path_naming_a_file_finds_auth_data_beside_it(isolated: Path,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    conf = _write(isolated / "etc/occo/my_config.yaml", "concurrency: 7\n")
    _write(isolated / "etc/occo/auth_data.yaml", "resource: []\n")
    monkeypatch.setenv("OCCOPUS_CONFIG_PATH", str(conf))
    config = load_config()
    assert config.concurrency == 7 and config.auth_data == {"resource": []}
