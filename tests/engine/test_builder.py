"""The create executor's scheduling, observed through build reports."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from occo.api import Occo
from occo.config import Config
from occo.errors import BuildFailed


@pytest.fixture
def occo(tmp_path: Path) -> Iterator[Occo]:
    api = Occo(Config(home=tmp_path / "home", concurrency=50))
    yield api
    api.close()


def _file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _defs(tmp_path: Path, **types: tuple[float, float]) -> Path:
    text = "".join(f"'node_def:{name}':\n  - resource: {{type: dummy, create_delay: {c}, "
                   f"boot_delay: {b}}}\n" for name, (c, b) in types.items())
    return _file(tmp_path, "defs.yaml", text)


def _tasks(report: dict) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for name, node in report["nodes"].items():
        out[name] = list(node["instances"].values())
    return out


def _assert_times_out(occo: Occo, tmp_path: Path, definition: str, seconds: str) -> None:
    """Building one node of ``definition`` fails on its timeout and leaves nothing."""
    _file(tmp_path, "defs.yaml", definition)
    occo.import_node_definitions(tmp_path / "defs.yaml")
    node_type = definition.split("'node_def:")[1].split("'")[0]
    with pytest.raises(BuildFailed, match=f"not ready within {seconds} s"):
        occo.build(_file(tmp_path, "i.yaml",
                         f"infra_name: t\nnodes:\n  - {{name: n, type: {node_type}}}\n"))
    assert occo.store.dummy.count() == 0 and occo.list_infrastructures() == []


def test_an_instance_waits_only_for_its_own_dependencies(occo: Occo, tmp_path: Path) -> None:
    occo.import_node_definitions(_defs(tmp_path, slow=(0.1, 1.0), fast=(0.05, 0.05)))
    result = occo.build(_file(tmp_path, "i.yaml", """
infra_name: no-barriers
nodes:
  - &S {name: slow, type: slow}
  - &F {name: fast, type: fast}
  - &C {name: child, type: fast}
dependencies:
  - [*C, *F]
"""), parallelize=True)
    tasks = _tasks(result.report)
    slow_ready = tasks["slow"][0]["timings"]["ready_after"]
    child_ready = tasks["child"][0]["timings"]["ready_after"]
    # Level barriers would hold "child" until "slow" (same level as "fast") is ready.
    assert child_ready < slow_ready - 0.5
    path = [step["node"] for step in result.report["critical_path"]]
    assert path == ["slow"]


def test_concurrency_bounds_create_calls_in_flight(occo: Occo, tmp_path: Path) -> None:
    occo.import_node_definitions(_defs(tmp_path, w=(0.2, 0.0)))
    result = occo.build(_file(tmp_path, "i.yaml", """
infra_name: limited
nodes:
  - {name: w, type: w, scaling: {min: 6, max: 6}}
"""), parallelize=True, concurrency=2)
    started = result.report["started_at"]
    assert result.execution_id is not None
    # Each create call from its start to its answer, as recorded (the report's
    # timings are rounded spans: summed up they can make back-to-back calls overlap).
    intervals = [(t.started_at, t.created_at) for t in occo.execution_tasks(result.execution_id)
                 if t.started_at is not None and t.created_at is not None]
    assert len(intervals) == 6                                     # every create answered
    peak = max(sum(1 for b, e in intervals if b <= point < e) for point, _ in intervals)
    assert peak == 2
    assert result.report["duration"] >= 0.55 and started.endswith("Z")   # three rounds of two


def test_without_parallelize_one_create_at_a_time(occo: Occo, tmp_path: Path) -> None:
    occo.import_node_definitions(_defs(tmp_path, w=(0.1, 0.0)))
    result = occo.build(_file(tmp_path, "i.yaml", """
infra_name: sequential
nodes:
  - {name: a, type: w, scaling: {min: 2, max: 2}}
  - {name: b, type: w, scaling: {min: 2, max: 2}}
"""))
    calls = sorted((i["timings"]["ready_after"] - i["timings"]["boot"]
                    - i["timings"]["create_call"], i["timings"]["create_call"])
                   for node in _tasks(result.report).values() for i in node)
    for (begin, length), (next_begin, _) in itertools.pairwise(calls):
        assert next_begin >= begin + length - 0.01


def test_create_timeout_fails_and_rolls_back(occo: Occo, tmp_path: Path) -> None:
    _assert_times_out(occo, tmp_path, """
'node_def:never':
  - resource: {type: dummy, boot_delay: 30}
    health_check: {timeout: 0.5}
""", "0.5")
    failed = occo.executions()[0]
    assert failed.status == "failed" and failed.report is not None
    assert "not ready within" in failed.report["error"]


def test_health_check_type_key_is_a_setting_and_unknown_checks_are_refused(
        occo: Occo, tmp_path: Path) -> None:
    from occo.errors import DescriptionError

    _file(tmp_path, "defs.yaml", """
'node_def:basic':
  - resource: {type: dummy}
    health_check: {type: basic, timeout: 30}
""")
    occo.import_node_definitions(tmp_path / "defs.yaml")
    ok = occo.build(_file(tmp_path, "a.yaml", "infra_name: a\nnodes:\n  - {name: n, type: basic}\n"))
    assert occo.report(ok.infra_id)["n"]["scaling"]["actual"] == 1
    _file(tmp_path, "odd.yaml", """
'node_def:odd':
  - resource: {type: dummy}
    health_check: {telepathy: true}
""")
    with pytest.raises(DescriptionError, match=r"odd.yaml:4:20: .*unknown key 'telepathy'"):
        occo.import_node_definitions(tmp_path / "odd.yaml")


def test_a_probe_that_outlives_the_timeout_still_rolls_back_cleanly(
        occo: Occo, tmp_path: Path) -> None:
    _assert_times_out(occo, tmp_path, f"""
'node_def:slowcheck':
  - resource: {{type: dummy}}
    health_check:
      command: ["{sys.executable}", "-c", "import time; time.sleep(0.8)"]
      timeout: 0.3
""", "0.3")
    assert occo.executions()[0].status == "failed"


def test_a_create_call_that_outlives_the_timeout_is_recorded_and_rolled_back(
        occo: Occo, tmp_path: Path) -> None:
    # The late resource is recorded when the call returns, then rolled back.
    _assert_times_out(occo, tmp_path, """
'node_def:slowcreate':
  - resource: {type: dummy, create_delay: 1.0}
    health_check: {timeout: 0.3}
""", "0.3")
