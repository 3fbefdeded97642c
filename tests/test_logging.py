"""Logging as a user of the commands and the service sees it: one stderr stream,
console or JSON lines, levels from flags/environment/config file, no secrets."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from occo.cli.maintain import main as maintain
from occo.context.auth import AuthData
from occo.errors import ConfigError, UserInputError
from occo.logsetup import choose, configure_logging
from occo.periodic import Periodic
from tests.support.wait import wait_until

SECRET = "Marker-S3cret-9921"
AUTH = {"resource": [{"type": "nova", "auth_data": {"username": "u", "password": SECRET}}]}


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Each test configures the process's logging; put it back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    configure_logging("warning", "console")   # removes occo's handlers, re-propagates
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


def test_json_lines_carry_timestamp_level_and_logger(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", "json")
    logging.getLogger("occo.engine.x").info("built %d instances", 3)
    logging.getLogger("botocore.hooks").debug("not shown at info")
    out, err = capsys.readouterr()
    assert out == ""                                          # stdout is the command's result
    lines = [json.loads(line) for line in err.splitlines()]
    assert len(lines) == 1
    assert lines[0]["event"] == "built 3 instances"
    assert lines[0]["level"] == "info" and lines[0]["logger"] == "occo.engine.x"
    assert lines[0]["@timestamp"].endswith("Z")


def test_every_logger_is_redacted_where_records_are_emitted(
        capsys: pytest.CaptureFixture[str]) -> None:
    redact = AuthData.parse(AUTH).redactor
    configure_logging("debug", "console", redact=redact)
    logging.getLogger("keystoneauth.session").debug("sent password=%s", SECRET)
    try:
        raise RuntimeError(f"cloud said no to {SECRET}")
    except RuntimeError:
        logging.getLogger("occo.resources.nova").exception("create failed")
    err = capsys.readouterr().err
    assert "sent password=***" in err and "cloud said no to ***" in err
    assert SECRET not in err


def test_flags_beat_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCCO_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("OCCO_LOG_FORMAT", "json")
    assert choose(None, None) == ("debug", "json")
    assert choose("error", "console") == ("error", "console")
    monkeypatch.setenv("OCCO_LOG_LEVEL", "loud")
    with pytest.raises(UserInputError, match="'loud' is not one of"):
        choose(None, None)


def test_occopus_logging_section_writes_to_stderr_and_its_files(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log_file = tmp_path / "occopus.log"
    section = {
        "version": 1,
        "root": {"level": "DEBUG", "handlers": ["console", "file"]},
        "formatters": {"short": {"format": "** %(message)s"}},
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": "short",
                        "level": "INFO", "stream": "ext://sys.stdout"},
            "file": {"class": "logging.FileHandler", "formatter": "short", "mode": "w",
                     "level": "DEBUG", "filename": str(log_file)},
        },
        "loggers": {"occo": {"propagate": False, "level": "DEBUG",
                             "handlers": ["console", "file"]}},
    }
    configure_logging(None, None, dict_config=section,
                      redact=AuthData.parse(AUTH).redactor)
    logging.getLogger("occo.api").info("token %s used", SECRET)
    logging.getLogger("occo.api").debug("detail")
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "** token *** used\n"
    assert log_file.read_text() == "** token *** used\n** detail\n"
    # an explicit level replaces the file's section
    configure_logging("warning", None, dict_config=section)
    logging.getLogger("occo.api").info("hidden")
    logging.getLogger("occo.api").warning("shown")
    assert "shown" in capsys.readouterr().err and "hidden" not in log_file.read_text()


@pytest.mark.parametrize("handler", [
    {"class": "os.system"},
    {"()": "os.system", "class": "logging.StreamHandler"},
])
def test_logging_section_may_not_name_arbitrary_code(handler: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match=r"logging\.handlers\.h\.class"):
        configure_logging(None, None, dict_config={"version": 1, "handlers": {"h": handler}})


def test_commands_take_log_flags_and_refuse_bad_values(tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"OCCOPUS_HOME": str(tmp_path), "HOME": str(tmp_path)}
    ok = runner.invoke(maintain, ["-l", "--log-level", "debug", "--log-format", "json"],
                       env=env)
    assert ok.exit_code == 0, ok.output
    bad = runner.invoke(maintain, ["-l"], env={**env, "OCCO_LOG_LEVEL": "chatty"})
    assert bad.exit_code == 2
    assert bad.stderr.strip() == ("error: log level 'chatty' is not one of debug, info, "
                                  "warning, error, critical")


def test_a_run_longer_than_its_interval_is_not_a_warning_per_tick(
        caplog: pytest.LogCaptureFixture) -> None:
    runs: list[float] = []
    in_flight = threading.Lock()
    overlapped: list[bool] = []

    def slow() -> None:
        overlapped.append(not in_flight.acquire(blocking=False))
        runs.append(time.monotonic())
        threading.Event().wait(0.3)      # the work itself takes six intervals
        in_flight.release()

    periodic = Periodic()
    # occo's log set-up (run by other tests in this process) raises apscheduler's level
    with caplog.at_level(logging.DEBUG), caplog.at_level(logging.DEBUG, logger="apscheduler"):
        periodic.every(0.05, slow, name="slow")
        try:
            wait_until(lambda: len(runs) >= 3, timeout=20, what="three runs")
        finally:
            periodic.stop(wait=True)
    assert not any(overlapped)
    noisy = [r for r in caplog.records if r.name.startswith("apscheduler")
             and r.levelno >= logging.WARNING]
    assert noisy == []
    skipped = [r for r in caplog.records if "skipped" in r.getMessage()]
    assert skipped and all(r.levelno == logging.DEBUG for r in skipped)
