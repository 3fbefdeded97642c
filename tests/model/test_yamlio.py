"""Safe YAML loading, import tags, locations and plain conversion."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from occo.errors import DescriptionError, SourceLocation
from occo.model.yamlio import (
    describe_validation_error,
    format_path,
    load_yaml_file,
    load_yaml_text,
    suggest,
    to_plain,
)

DATA = Path(__file__).parent / "data"


def _text(source: str) -> str:
    return textwrap.dedent(source).lstrip("\n")


def test_plain_data_has_no_ruamel_types() -> None:
    loaded = load_yaml_text(_text("""
        a: 1.5
        b: 0x10
        c: &flag true
        d: *flag
        e: 2019-01-01
        f: |
          literal
        g: [1, {h: null}]
    """), "x.yaml")
    plain = loaded.plain
    assert plain == {"a": 1.5, "b": 16, "c": True, "d": True, "e": "2019-01-01",
                     "f": "literal\n", "g": [1, {"h": None}]}
    for value in (plain["a"], plain["b"], plain["c"], plain["f"]):
        assert type(value) in (float, int, bool, str)
    json.dumps(plain)


def test_to_plain_expands_aliases_into_copies() -> None:
    loaded = load_yaml_text("a: &x {k: [1, 2]}\nb: *x\n", "x.yaml")
    plain = to_plain(loaded.raw)
    assert plain["a"] == plain["b"] == {"k": [1, 2]}
    assert plain["a"] is not plain["b"]


def test_locations_of_keys_values_and_items() -> None:
    loaded = load_yaml_text(_text("""
        infra_name: x
        nodes:
          - name: a
            scaling:
              min: 1
    """), "infra.yaml")
    where = loaded.locations
    assert where.value(("infra_name",)) == SourceLocation("infra.yaml", 1, 13)
    assert where.key(("nodes",)) == SourceLocation("infra.yaml", 2, 1)
    assert where.value(("nodes", 0)) == SourceLocation("infra.yaml", 3, 5)
    assert where.key(("nodes", 0, "scaling", "min")) == SourceLocation("infra.yaml", 5, 7)
    assert where.value(("nodes", 0, "scaling", "min")) == SourceLocation("infra.yaml", 5, 12)
    # an unknown path falls back to its nearest known parent
    assert where.value(("nodes", 0, "scaling", "max")) == where.value(("nodes", 0, "scaling"))


def test_anchor_keeps_its_own_locations_when_aliased_later() -> None:
    loaded = load_yaml_text(_text("""
        nodes:
          - &A
            name: a
            scaling: {min: 2}
        dependencies:
          - [*A, *A]
    """), "infra.yaml")
    assert loaded.locations.value(("nodes", 0, "scaling", "min")) == \
        SourceLocation("infra.yaml", 4, 20)


def test_yaml_syntax_error_names_file_line_column() -> None:
    with pytest.raises(DescriptionError) as caught:
        load_yaml_text("infra_name: x\nnodes:\n  - name: [a\n", "infra.yaml")
    assert str(caught.value).startswith("infra.yaml:4:1: YAML syntax error:")


def test_duplicate_key_is_a_syntax_error() -> None:
    with pytest.raises(DescriptionError) as caught:
        load_yaml_text("a: 1\nb: 2\na: 3\n", "dup.yaml")
    assert str(caught.value).startswith("dup.yaml:3:1: YAML syntax error:")
    assert "duplicate key" in str(caught.value)


@pytest.mark.parametrize("tag", ["!!python/object/apply:os.system", "!foo"])
def test_object_and_unknown_tags_are_refused(tag: str) -> None:
    with pytest.raises(DescriptionError) as caught:
        load_yaml_text(f"a: 1\nb: {tag} [echo hacked]\n", "evil.yaml")
    assert str(caught.value).startswith("evil.yaml:2:4: unsupported YAML tag")


def test_import_tags_resolve_relative_to_the_naming_file() -> None:
    loaded = load_yaml_file(DATA / "infra_cluster.yaml")
    tuning = loaded.plain["variables"]["tuning"]
    assert tuning == {"threads": 8, "motd": "Welcome to the compute cluster.\n"}
    # locations inside the imported file name that file
    imported = loaded.locations.value(("variables", "tuning", "threads"))
    assert imported is not None
    assert imported.file.endswith("vars/tuning.yaml")
    assert (imported.line, imported.column) == (2, 10)
    # the import itself is located in the importing file
    assert loaded.locations.value(("variables", "tuning")) == \
        SourceLocation(str(DATA / "infra_cluster.yaml"), 9, 11)


def test_text_import_from_text_uses_base_dir(tmp_path: Path) -> None:
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "boot.sh").write_text("#!/bin/sh\necho hi\n")
    loaded = load_yaml_text("script: !text_import {url: file://scripts/boot.sh}\n",
                            "posted", tmp_path)
    assert loaded.plain == {"script": "#!/bin/sh\necho hi\n"}


def test_absolute_file_url(tmp_path: Path) -> None:
    target = tmp_path / "x.yaml"
    target.write_text("k: v\n")
    loaded = load_yaml_text(f"a: !yaml_import {{url: 'file://{target}'}}\n", "t", Path("/"))
    assert loaded.plain == {"a": {"k": "v"}}


def test_missing_import_is_reported_at_the_tag(tmp_path: Path) -> None:
    text = "a: 1\nscript: !text_import\n  url: file://missing.sh\n"
    with pytest.raises(DescriptionError) as caught:
        load_yaml_text(text, "nodes.yaml", tmp_path)
    message = str(caught.value)
    assert message.startswith("nodes.yaml:2:9: !text_import: cannot read 'file://missing.sh'")


@pytest.mark.parametrize("url", ["http://example.org/x.sh", "ftp://x", "x.sh"])
def test_only_file_urls_are_imported(tmp_path: Path, url: str) -> None:
    with pytest.raises(DescriptionError) as caught:
        load_yaml_text(f"a: !yaml_import {{url: '{url}'}}\n", "n.yaml", tmp_path)
    assert str(caught.value) == (f"n.yaml:1:4: !yaml_import: unsupported URL {url!r}: "
                                 "only file:// URLs can be imported")


def test_import_without_url(tmp_path: Path) -> None:
    with pytest.raises(DescriptionError, match=r"n.yaml:1:4: !text_import needs a 'url'"):
        load_yaml_text("a: !text_import {}\n", "n.yaml", tmp_path)


def test_import_cycle_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("b: !yaml_import {url: file://b.yaml}\n")
    (tmp_path / "b.yaml").write_text("a: !yaml_import {url: file://a.yaml}\n")
    with pytest.raises(DescriptionError, match="!yaml_import cycle"):
        load_yaml_file(tmp_path / "a.yaml")


def test_syntax_error_inside_imported_file_names_that_file(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("k: [1\n")
    with pytest.raises(DescriptionError) as caught:
        load_yaml_text("a: !yaml_import {url: file://bad.yaml}\n", "main.yaml", tmp_path)
    assert caught.value.location is not None
    assert caught.value.location.file == str(tmp_path / "bad.yaml")


def test_missing_file() -> None:
    with pytest.raises(DescriptionError, match="no such file"):
        load_yaml_file(DATA / "does-not-exist.yaml")


def test_format_path() -> None:
    assert format_path(("nodes", 1, "scaling", "min")) == "nodes[1].scaling.min"
    assert format_path(("node_def:web", 0, "resource")) == "node_def:web[0].resource"
    assert format_path(("variables", "a key")) == "variables['a key']"
    assert format_path(()) == ""


def test_suggest() -> None:
    assert suggest("scailng", ["name", "type", "scaling"]) == " (did you mean 'scaling'?)"
    assert suggest("zzz", ["name", "type"]) == ""


class _Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min: int = 1


class _Outer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    nodes: list[_Inner]


def test_validation_error_maps_back_to_file_line_col() -> None:
    loaded = load_yaml_text("nodes:\n  - min: 1\n  - min: x\n", "infra.yaml")
    with pytest.raises(ValidationError) as caught:
        _Outer.model_validate(loaded.plain)
    error = describe_validation_error(caught.value, loaded, _Outer)
    assert str(error) == "infra.yaml:3:10: nodes[1].min: Input should be a valid integer, " \
                         "unable to parse string as an integer (got 'x')"


def test_validation_error_unknown_key_suggests_spelling() -> None:
    loaded = load_yaml_text("nodes:\n  - mni: 1\n", "infra.yaml")
    with pytest.raises(ValidationError) as caught:
        _Outer.model_validate(loaded.plain)
    error = describe_validation_error(caught.value, loaded, _Outer)
    assert str(error) == "infra.yaml:2:5: nodes[0]: unknown key 'mni' (did you mean 'min'?)"


def test_validation_error_reports_the_first_in_file_and_counts_the_rest() -> None:
    loaded = load_yaml_text("nodes:\n  - min: x\n  - min: y\n  - bad: 1\n", "infra.yaml")
    with pytest.raises(ValidationError) as caught:
        _Outer.model_validate(loaded.plain)
    error = describe_validation_error(caught.value, loaded, _Outer)
    assert str(error).startswith("infra.yaml:2:10: nodes[0].min: ")
    assert str(error).endswith("(and 2 more errors)")


def test_validation_error_without_locations() -> None:
    data = {"nodes": [{"min": "x"}]}
    with pytest.raises(ValidationError) as caught:
        _Outer.model_validate(data)
    error = describe_validation_error(caught.value, None, _Outer, plain=data)
    assert error.location is None
    assert str(error).startswith("nodes[0].min: Input should be a valid integer")


def test_imports_can_be_forbidden(tmp_path: Path) -> None:
    (tmp_path / "x.sh").write_text("echo\n")
    with pytest.raises(DescriptionError) as caught:
        load_yaml_text("a: 1\nb: !text_import {url: file://x.sh}\n", "posted", tmp_path,
                       allow_imports=False)
    assert str(caught.value) == "posted:2:4: !text_import is not allowed here"


def test_imports_can_be_confined_to_a_directory(tmp_path: Path) -> None:
    inside = tmp_path / "defs"
    inside.mkdir()
    (inside / "ok.sh").write_text("ok\n")
    (tmp_path / "secret.txt").write_text("secret\n")
    loaded = load_yaml_text("a: !text_import {url: file://ok.sh}\n", "posted", inside,
                            import_root=inside)
    assert loaded.plain == {"a": "ok\n"}
    for url in ("file://../secret.txt", f"file://{tmp_path / 'secret.txt'}"):
        with pytest.raises(DescriptionError, match="is outside"):
            load_yaml_text(f"a: !text_import {{url: '{url}'}}\n", "posted", inside,
                           import_root=inside)


def test_alias_bomb_is_refused() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 8)]
    with pytest.raises(DescriptionError, match="values once its YAML aliases are expanded"):
        load_yaml_text("\n".join(lines) + "\n", "bomb.yaml")
