"""Fuzz: a few hundred hostile mutations of valid files, each refused cleanly.

Valid seed documents (a description, a node definition file, an auth_data
file holding a marker secret) have value slots; each case fills one slot
with something hostile (deep nesting, an alias bomb, an alias or sequence
used as a key, undecodable bytes, a huge number, an unknown tag, a control
character, a duplicate key). With a fixed seed the corpus is the same on
every run. Every case must give exit status 2 with one line naming
``file:line:col``, no traceback and no secret, and leave the store as it
was; sent to the REST service, every case gets a 4xx.

In-process (click's CliRunner and Flask's test client), so the few hundred
cases take seconds.
"""

from __future__ import annotations

import random
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from occo.api import Occo
from occo.cli import build, import_cmd, maintain
from occo.config import Config
from occo.rest import ServiceSettings, create_app
from tests.e2e.helpers import DATA
from tests.support import hostile

SEED = 20_241_101
CASES_PER_KIND = 80

DESCRIPTION = """\
infra_name: fuzzed
user_id: fuzz@example.org
variables: {greeting: {slot0}, port: 8080}
nodes:
  - &H
    name: head
    type: fast
    variables: {role: {slot1}}
  - &W
    name: worker
    type: fast
    scaling: {min: 1, max: 3}
    filter: {type: dummy}
    variables:
      depth: {slot2}
      list: [1, {slot3}]
dependencies:
  - [*W, *H]
"""

NODE_DEFINITION = """\
'node_def:fuzz':
  - resource:
      type: dummy
      create_delay: 0.1
      name: {slot0}
    health_check: {ping: false, ports: [22]}
    variables:
      x: {slot1}
      y: [a, {slot2}]
      z: {nested: {slot3}}
"""

AUTH_DATA = """\
resource:
  - type: dummy
    name: {slot0}
    auth_data:
      username: fuzz
      password: SECRET
      extra: {slot1}
  - type: nova
    endpoint: {slot2}
    auth_data: {password: SECRET, other: {slot3}}
""".replace("SECRET", hostile.SECRET)

FILLERS = ["plain", "'quoted'", "42", "true", "[a, b]", "{k: v}"]


def _deep(rng: random.Random) -> str:
    depth = rng.randint(65, 400)
    opener, closer = rng.choice([("[", "]"), ("{a: ", "}")])
    return opener * depth + ("1" if opener != "[" else "") + closer * depth


def _alias_bomb(rng: random.Random) -> str:
    width, levels, name = rng.randint(6, 12), rng.randint(7, 9), f"b{rng.randint(0, 99)}"
    items = [f"&{name}_0 [" + ", ".join(["x"] * width) + "]"]
    for level in range(1, levels):
        items.append(f"&{name}_{level} [" + ", ".join([f"*{name}_{level - 1}"] * width) + "]")
    return "[" + ", ".join(items) + "]"


def _alias_key(rng: random.Random) -> str:
    name = f"k{rng.randint(0, 999)}"
    return rng.choice([f"[&{name} {{a: 1}}, {{*{name} : 2}}]", "{? [a, b] : 1}",
                       f"{{&{name} [1, 2] : x}}", "{{x: 1}: y}"])


def _huge_number(rng: random.Random) -> str:
    digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(101, 6000)))
    return rng.choice(["1" + digits, "-1" + digits, "0x" + "f" * len(digits),
                       "1" + digits + ".5"])


def _unknown_tag(rng: random.Random) -> str:
    return rng.choice(["!!python/object/apply:os.system [id]", f"!x{rng.randint(0, 99)} 1",
                       "!<tag:evil.example,2024:thing> {a: 1}", "!!set {a, b}",
                       "!!binary aGVsbG8=", "!!python/name:os.system ''", "!!omap [a: 1]"])


def _control_character(rng: random.Random) -> str:
    character = chr(rng.choice([*range(1, 9), 11, 12, *range(14, 32), 127]))
    return rng.choice([f"ab{character}cd", f"'ab{character}'", f'"{character}"'])


def _duplicate_key(rng: random.Random) -> str:
    key = rng.choice(["a", "password", "type", "k1"])
    return f"{{{key}: 1, b: 2, {key}: 3}}"


TEXT_MUTATIONS: list[Callable[[random.Random], str]] = [
    _deep, _alias_bomb, _alias_key, _huge_number, _unknown_tag, _control_character,
    _duplicate_key]


def _bad_bytes(rng: random.Random) -> bytes:
    return rng.choice([b"\xff", b"\xc3", b"\xe2\x82", b"\x80abc", b"\xed\xa0\x80"])


@dataclass(frozen=True)
class Case:
    name: str
    data: bytes


def _fill(template: str, slot: int, value: str) -> str:
    text = template
    for i in range(4):
        text = text.replace(f"{{slot{i}}}", value if i == slot else FILLERS[i], 1)
    return text


def corpus(template: str, kind: str, count: int, rng: random.Random) -> list[Case]:
    cases = []
    for number in range(count):
        slot = rng.randrange(4)
        if number % 8 == 7:        # undecodable bytes in place of a value
            text = _fill(template, slot, "BAD").encode()
            data = text.replace(b"BAD", b"v" + _bad_bytes(rng) + b"w", 1)
            cases.append(Case(f"{kind}-{number}-bad_bytes", data))
            continue
        mutation = TEXT_MUTATIONS[number % len(TEXT_MUTATIONS)]
        cases.append(Case(f"{kind}-{number}-{mutation.__name__.strip('_')}",
                          _fill(template, slot, mutation(rng)).encode()))
    return cases


RNG = random.Random(SEED)
DESCRIPTIONS = corpus(DESCRIPTION, "description", CASES_PER_KIND, RNG)
NODE_DEFINITIONS = corpus(NODE_DEFINITION, "nodedef", CASES_PER_KIND, RNG)
AUTH_FILES = corpus(AUTH_DATA, "auth", CASES_PER_KIND, RNG)


def test_the_seeds_are_valid(tmp_path: Path) -> None:
    """The corpus tests the mutation, not a seed that was broken to begin with."""
    home = tmp_path / "home"
    auth = tmp_path / "auth_data.yaml"
    auth.write_text(_fill(AUTH_DATA, -1, ""))
    auth.chmod(0o600)
    with Occo(Config(home=home)) as api:
        api.import_node_definitions(DATA / "dummy_nodes.yaml")
        (tmp_path / "nodes.yaml").write_text(_fill(NODE_DEFINITION, -1, ""))
        assert api.import_node_definitions(tmp_path / "nodes.yaml") == ["fuzz"]
        (tmp_path / "infra.yaml").write_text(_fill(DESCRIPTION, -1, ""))
        assert not api.build(tmp_path / "infra.yaml", dry_run=True).plan.empty
    result = CliRunner().invoke(maintain.main, ["--auth_data_path", str(auth), "-l"],
                                env={"OCCOPUS_HOME": str(home)})
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def fuzz_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("fuzz") / "home"
    with Occo(Config(home=home)) as api:
        api.import_node_definitions(DATA / "dummy_nodes.yaml")
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield home
    for signum, handler in saved.items():     # occopus-build installs its own
        signal.signal(signum, handler)


def _refused(output: str, exit_code: int, source: Path, case: Case) -> None:
    lines = output.splitlines()
    assert exit_code == 2, (case.name, output)
    assert len(lines) == 1 and lines[0].startswith(f"error: {source}:"), (case.name, output)
    assert hostile.POSITION.search(lines[0]), (case.name, output)
    assert "Traceback" not in output and "internal error" not in output, case.name
    assert hostile.SECRET not in output, case.name


def test_the_console_scripts_refuse_every_case(fuzz_home: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"OCCOPUS_HOME": str(fuzz_home), "HOME": str(tmp_path), "OCCOPUS_CONFIG_PATH": None,
           "OCCOPUS_STORE_URL": None}
    plan: list[tuple[list[Case], Callable[[Path], tuple[click.Command, list[str]]]]] = [
        (DESCRIPTIONS, lambda path: (build.main, ["--dry-run", str(path)])),
        (NODE_DEFINITIONS, lambda path: (import_cmd.main, [str(path)])),
        (AUTH_FILES, lambda path: (maintain.main, ["--auth_data_path", str(path), "-l"])),
    ]
    path = tmp_path / "case.yaml"
    for cases, command in plan:
        for case in cases:
            path.write_bytes(case.data)
            path.chmod(0o600)
            main, args = command(path)
            result = runner.invoke(main, args, env=env)
            _refused(result.output, result.exit_code, path, case)
    with Occo(Config(home=fuzz_home)) as api:
        assert api.list_infrastructures() == [] and api.executions() == []
        assert sorted(api.node_definitions()) == ["broken", "fast", "slow"]


def test_the_rest_service_answers_every_case_with_a_4xx(fuzz_home: Path) -> None:
    with Occo(Config(home=fuzz_home)) as api:
        client = create_app(api, ServiceSettings(maintain=False)).test_client()
        sends = [("POST", ("/infrastructures/", "/validate")[i % 2], c)
                 for i, c in enumerate(DESCRIPTIONS + AUTH_FILES)] \
            + [("PUT", "/node-definitions/fuzz", c) for c in NODE_DEFINITIONS]
        for method, url, case in sends:
            answer = client.open(url, method=method, data=case.data,
                                 content_type="application/x-yaml")
            assert 400 <= answer.status_code < 500, (case.name, answer.get_data(as_text=True))
            body = answer.get_json()
            assert body["error"] and "\n" not in body["message"], case.name
            assert hostile.SECRET not in answer.get_data(as_text=True), case.name
        assert api.list_infrastructures() == [] and api.executions() == []
        assert sorted(api.node_definitions()) == ["broken", "fast", "slow"]
