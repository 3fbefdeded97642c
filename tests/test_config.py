"""Finding and reading occopus_config.yaml and auth_data.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest

from occo.config import load_config
from occo.errors import ConfigError


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


def test_occopus_config_keys_are_accepted_and_ours_are_checked(isolated: Path) -> None:
    occopus = _write(isolated / "c.yaml", "logging: !python_import x\ncomponents:\n"
                     "  resource_handler: {protocol: basic}\nstore_url: sqlite:///x.db\n")
    assert load_config(str(occopus)).store_url == "sqlite:///x.db"
    typo = _write(isolated / "typo.yaml", "concurrencyy: 3\n")
    with pytest.raises(ConfigError, match="concurrencyy"):
        load_config(str(typo))
    broken = _write(isolated / "broken.yaml", "a: [1,\n")
    with pytest.raises(ConfigError, match=r"broken.yaml:\d+:\d+"):
        load_config(str(broken))


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
    with pytest.raises(ConfigError, match="only file://"):
        load_config(None, str(isolated / "bad.yaml"))


def test_config_path_naming_a_file_finds_auth_data_beside_it(isolated: Path,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    conf = _write(isolated / "etc/occo/my_config.yaml", "concurrency: 7\n")
    _write(isolated / "etc/occo/auth_data.yaml", "resource: []\n")
    monkeypatch.setenv("OCCOPUS_CONFIG_PATH", str(conf))
    config = load_config()
    assert config.concurrency == 7 and config.auth_data == {"resource": []}
