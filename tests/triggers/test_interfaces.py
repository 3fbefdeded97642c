"""occopus-triggers and /cron-triggers: the everyday example, and bad input refused."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from occo.cli.triggers import main as triggers
from tests.rest.conftest import start
from tests.support.cli import Cli
from tests.support.wait import wait_until
from tests.triggers.conftest import Sims


def cli(s: Sims, *args: str) -> Result:
    cfg = s.tmp_path / "occopus_config.yaml"
    cfg.write_text(f"home: {s.occo.config.home}\n")
    return CliRunner().invoke(triggers, ["--cfg", str(cfg), *args])


def test_nightly_scale_down_and_morning_scale_up(sims: Sims) -> None:
    s = sims
    up = cli(s, "create", "workers-up", "-w", "scale", "-i", s.infra_id, "--node", "worker",
             "--set-to", "10", "--cron", "0 8 * * 1-5", "--timezone", "Europe/Budapest")
    down = cli(s, "create", "workers-down", "-w", "scale", "-i", s.infra_id, "--node",
               "worker", "--set-to", "2", "--cron", "0 20 * * 1-5", "--timezone",
               "Europe/Budapest")
    assert up.exit_code == 0 and down.exit_code == 0, up.output + down.output
    assert up.stdout.split("\t")[1].strip().endswith(("T08:00:00+01:00", "T08:00:00+02:00"))
    listing = cli(s, "list").stdout.splitlines()
    assert [line.split("\t")[0] for line in listing] == ["workers-down", "workers-up"]
    assert listing[1].split("\t")[3] == "cron '0 8 * * 1-5' Europe/Budapest"

    shown = json.loads(cli(s, "show", "workers-up").stdout)
    assert shown["parameters"] == {"node": "worker", "set_to": 10}
    assert shown["state"] == "active" and shown["firings"] == []

    assert cli(s, "pause", "workers-up").exit_code == 0
    assert json.loads(cli(s, "show", "workers-up").stdout)["state"] == "paused"
    resumed = cli(s, "resume", "workers-up")
    assert resumed.exit_code == 0 and resumed.stdout.startswith("workers-up\t")
    assert cli(s, "delete", "workers-down").exit_code == 0
    assert [line.split("\t")[0] for line in cli(s, "list").stdout.splitlines()] == ["workers-up"]


BAD = [
    (["-w", "scale", "--node", "worker", "--set-to", "1", "--every", "60"],
     "exactly one"),                                               # no target
    (["-w", "scale", "-I", "--set-to", "1", "--every", "60"], "needs 'node'"),
    (["-w", "scale", "-I", "--node", "nope", "--set-to", "1", "--every", "60"],
     "no node 'nope'"),
    (["-w", "maintain", "-I", "--cron", "0 8 * *", "--every", "60"], "exactly one"),
    (["-w", "maintain", "-I", "--cron", "0 25 * * *"], "invalid cron expression"),
    (["-w", "maintain", "-I", "--cron", "0 8 * * *", "--timezone", "Mars/Olympus"],
     "unknown time zone"),
    (["-w", "maintain", "-I", "--every", "60", "--first", "yesterday"], "ISO 8601"),
    (["-w", "maintain", "-I", "--every", "60", "--last", "2001-01-01T00:00"],
     "no firing time left"),
    (["-w", "maintain", "-i", "no-such-infra", "--every", "60"], "unknown infrastructure"),
    (["-w", "orchestrate", "-I", "--every", "60", "--file", "BADFILE"], "BADFILE:1:1"),
    (["-w", "maintain", "-I", "--every", "0.5"], "0.5"),
    (["-w", "build", "-I", "--every", "60"], "'build'"),
]


@pytest.mark.parametrize(("args", "what"), BAD, ids=[
    "no-target", "no-node", "unknown-node", "two-schedules", "bad-cron", "bad-zone",
    "bad-time", "over", "unknown-infra", "bad-file", "too-often", "workflow"])
def test_bad_triggers_exit_2_and_change_nothing(sims: Sims, tmp_path: Path, args: list[str],
                                                what: str) -> None:
    bad_file = tmp_path / "bad.yaml"
    bad_file.write_text("{not: a list}\n")
    args = [str(bad_file) if a == "BADFILE" else a for a in args]
    args = [a for arg in args for a in (["-i", sims.infra_id] if arg == "-I" else [arg])]
    result = cli(sims, "create", "t", *args)
    assert result.exit_code == 2, result.output
    assert what.replace("BADFILE", str(bad_file)) in result.stderr, result.stderr
    assert sims.occo.triggers() == []


def test_a_taken_name_and_unknown_names_exit_2(sims: Sims) -> None:
    ok = ["-w", "maintain", "-i", sims.infra_id, "--every", "60"]
    assert cli(sims, "create", "t", *ok).exit_code == 0
    again = cli(sims, "create", "t", *ok)
    assert again.exit_code == 2 and "exists already" in again.stderr
    for command in ("show", "pause", "resume", "delete"):
        result = cli(sims, command, "nope")
        assert result.exit_code == 2 and "unknown trigger 'nope'" in result.stderr


def test_cron_triggers_over_rest(sims: Sims) -> None:
    s = sims
    service = start(s.occo)
    try:
        body = {"name": "nightly", "workflow": "scale", "infra_id": s.infra_id,
                "parameters": {"node": "worker", "set_to": 2}, "cron": "0 20 * * *",
                "timezone": "Europe/Budapest", "first_time": "2030-01-01T00:00"}
        made = service("POST", "/cron-triggers", json=body)
        assert made.status_code == 201, made.text
        assert made.headers["Location"].endswith("/cron-triggers/nightly")
        assert made.json()["next_fire_at"] == "2030-01-01T20:00:00+01:00"
        assert service("POST", "/cron-triggers", json=body).status_code == 409
        orchestrate = {"name": "tidy", "workflow": "orchestrate", "infra_id": s.infra_id,
                       "interval": 3600, "orchestration": [{"jobs": [{"RUN": "true"}]}]}
        assert service("POST", "/cron-triggers", json=orchestrate).status_code == 201
        names = [t["name"] for t in service("GET", "/cron-triggers").json()["items"]]
        assert names == ["nightly", "tidy"]
        detail = service("GET", "/cron-triggers/tidy").json()
        assert detail["parameters"]["orchestration"] == "<1 item(s)>" and detail["firings"] == []

        assert service("POST", "/cron-triggers/nightly/pause").json()["state"] == "paused"
        assert service("POST", "/cron-triggers/nightly/resume").json()["state"] == "active"
        assert service("DELETE", "/cron-triggers/nightly").status_code == 204
        assert service("GET", "/cron-triggers/nightly").status_code == 404

        bad = [{**body, "cron": "every day"}, {**body, "timezone": "Nowhere/Special"},
               {**body, "interval": 60}, {**body, "first_time": True},
               {**orchestrate, "name": "up", "orchestration": [{"jobs": [{"ADD": "a b"}]}]},
               {**body, "name": "x y"}]
        for item in bad:
            answer = service("POST", "/cron-triggers", json=item)
            assert answer.status_code == 400, (item, answer.text)
        assert [t["name"] for t in service("GET", "/cron-triggers").json()["items"]] == ["tidy"]
    finally:
        service.stop()


def test_destroying_an_infrastructure_removes_its_triggers(sims: Sims) -> None:
    s = sims
    s.occo.create_trigger("mine", "maintain", infra_id=s.infra_id, interval=60)
    s.occo.destroy(s.infra_id)
    assert s.occo.triggers() == []


def test_a_cyclic_maintainer_with_no_triggers_leaves_due_firings_to_others(
        sims: Sims, cli: Cli) -> None:
    """``occopus-maintain -c --no-triggers`` maintains but never fires; one without the
    flag fires the trigger that came due meanwhile."""
    s = sims
    due = time.time() + 0.5
    s.occo.create_trigger("nightly", "maintain", infra_id=s.infra_id, interval=3600,
                          first_time=due, count=1)

    def passes_until() -> float:
        return max((e.ended_at or 0.0 for e in s.occo.executions(s.infra_id)
                    if e.workflow == "maintain" and e.parameters.get("idle")), default=0.0)

    quiet = cli.popen("occopus-maintain", "-c", "-t", "0.25", "--no-triggers")
    # its passes go on for a second past the due time (a firing process looks every
    # TICK seconds), and nothing fires
    wait_until(lambda: passes_until() > due + 1.0 or quiet.poll() is not None,
               what="maintenance passes a second past the due time")
    assert quiet.poll() is None, quiet.communicate()
    assert s.occo.trigger_firings("nightly") == []

    firing = cli.popen("occopus-maintain", "-c", "-t", "60")
    (fired,) = wait_until(lambda: s.occo.trigger_firings("nightly"),
                          what="the trigger to fire")
    assert fired.fire_time == due and fired.claimed_by.split(":")[1] == str(firing.pid)
    for proc in (quiet, firing):
        proc.send_signal(signal.SIGTERM)
    outputs = [cli.finish(proc) for proc in (quiet, firing)]
    assert [quiet.returncode, firing.returncode] == [0, 0], outputs
    assert "firing cron triggers" not in outputs[0][1] and "firing cron triggers" in outputs[1][1]
