"""The loader fails cleanly on hostile YAML: one line, a position, no crash, no warning.

Warnings are errors in this suite (setup.cfg), so a ruamel warning reaching
stderr fails these tests too.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from occo.errors import DescriptionError
from occo.model.description import load_infra_description, parse_infra_description
from occo.model.nodedef import load_node_definitions
from occo.model.yamlio import MAX_DEPTH, load_yaml_file, load_yaml_text
from tests.support import hostile

REFUSED_ON_LOAD = {name: doc for name, doc in hostile.DESCRIPTIONS.items()
                   if name not in ("min_hundred_million", "max_beyond_bound",
                                   "filter_matching_nothing")}


def one_line_at_a_position(error: DescriptionError, source: str) -> str:
    message = str(error)
    assert "\n" not in message, message
    assert error.location is not None and error.location.file == source, message
    assert message.startswith(f"{error.location}: "), message
    return message


@pytest.mark.parametrize("name", sorted(REFUSED_ON_LOAD))
def test_hostile_descriptions_are_refused_at_a_position(tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.yaml"
    path.write_bytes(REFUSED_ON_LOAD[name])
    with pytest.raises(DescriptionError) as caught:
        load_infra_description(path)
    one_line_at_a_position(caught.value, str(path))


@pytest.mark.parametrize("name", sorted(hostile.NODE_DEFINITIONS))
def test_hostile_node_definitions_are_refused_at_a_position(tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.yaml"
    path.write_bytes(hostile.NODE_DEFINITIONS[name])
    with pytest.raises(DescriptionError) as caught:
        load_node_definitions(path)
    one_line_at_a_position(caught.value, str(path))


def test_undecodable_bytes_are_named_by_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("infra_name: x\nnodes:\n  - {name: café, type: t}\n".encode("latin-1"))
    with pytest.raises(DescriptionError) as caught:
        load_yaml_file(path)
    assert str(caught.value) == f"{path}:3:15: not UTF-8 text: byte 0xe9 cannot be decoded"


def test_nesting_is_bounded_also_through_aliases() -> None:
    value = load_yaml_text(f"v: {hostile.nested(MAX_DEPTH - 2)}\n", "ok.yaml").plain["v"]
    depth = 0
    while value:
        value, depth = value[0], depth + 1
    assert depth == MAX_DEPTH - 3                     # as deep as allowed, and intact
    with pytest.raises(DescriptionError, match="nested more than"):
        load_yaml_text(f"v: {hostile.nested(MAX_DEPTH + 1)}\n", "deep.yaml")
    with pytest.raises(DescriptionError, match="counting YAML aliases") as caught:
        load_yaml_text(hostile._deep_aliases(), "aliases.yaml")
    assert caught.value.location is not None and caught.value.location.line > 1


def test_duplicate_keys_name_the_key_never_the_values() -> None:
    with pytest.raises(DescriptionError) as caught:
        load_yaml_text("auth_data:\n  password: first-value\n  password: second-value\n", "a.yaml")
    message = str(caught.value)
    assert message == "a.yaml:3:3: YAML syntax error: duplicate key 'password' (first at line 2)"


def test_values_python_cannot_make_are_not_echoed() -> None:
    for text in ("password: !!int not-a-number-5ecret\n",
                 "password: !!timestamp not-a-date-5ecret\n",
                 "password: !!float nope-5ecret\n"):
        with pytest.raises(DescriptionError) as caught:
            load_yaml_text(text, "a.yaml")
        assert "5ecret" not in str(caught.value)
        assert str(caught.value).startswith("a.yaml:1:11: ")


def test_yaml_11_documents_load_without_ruamel_warnings() -> None:
    loaded = load_yaml_text("%YAML 1.1\n---\na: 1e5\nb: &x 1\nc: &x 2\nd: 1_0.5\n", "old.yaml")
    assert loaded.plain == {"a": 100000.0, "b": 1, "c": 2, "d": 10.5}


@pytest.mark.parametrize("kind", ["directory", "fifo", "device"])
def test_text_import_of_anything_but_a_regular_file_is_refused(tmp_path: Path,
                                                               kind: str) -> None:
    target = tmp_path / "target"
    if kind == "directory":
        target.mkdir()
    elif kind == "fifo":
        os.mkfifo(target)           # no writer: reading would block for ever
    else:
        target = Path("/dev/zero")  # reading would never end
    text = f"a: 1\nscript: !text_import {{url: 'file://{target}'}}\n"
    started = time.monotonic()
    with pytest.raises(DescriptionError) as caught:
        load_yaml_text(text, "nodes.yaml", tmp_path)
    assert time.monotonic() - started < 5
    message = one_line_at_a_position(caught.value, "nodes.yaml")
    assert message.startswith("nodes.yaml:2:9: !text_import: cannot read ")
    assert "not a regular file" in message


def test_a_top_level_pipe_is_read(tmp_path: Path) -> None:
    """``occopus-build <(envsubst < infra.yaml)`` hands occo a pipe: that works."""
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)

    def write() -> None:
        with open(fifo, "w") as out:
            out.write("infra_name: piped\nnodes: [{name: a, type: t}]\n")

    writer = threading.Thread(target=write, daemon=True)   # never blocks the run
    writer.start()
    try:
        infra = load_infra_description(fifo)
    finally:
        writer.join(10)
    assert infra.infra_name == "piped" and infra.source_text is not None
    assert "piped" in infra.source_text


def test_imports_are_bounded_in_chain_length(tmp_path: Path) -> None:
    for i in range(12):
        (tmp_path / f"f{i}.yaml").write_text(f"next: !yaml_import {{url: 'file://f{i + 1}.yaml'}}\n")
    (tmp_path / "f12.yaml").write_text("end: true\n")
    with pytest.raises(DescriptionError, match="imports nested more than") as caught:
        load_yaml_file(tmp_path / "f0.yaml")
    assert "\n" not in str(caught.value)


def test_a_description_with_many_aliases_stays_within_budget() -> None:
    with pytest.raises(DescriptionError, match="values once its YAML aliases are expanded"):
        parse_infra_description(hostile.DESCRIPTIONS["alias_bomb"].decode(), "bomb.yaml",
                                Path("."))
