"""Hostile input: documents that once crashed, hung or exhausted occo, or leaked a secret.

Each case is a document (bytes, as it would sit in a file or a request body)
that occo must refuse with one line naming a position, changing nothing.
The descriptions use node type ``fast`` (a dummy); the auth_data files hold
:data:`SECRET`, which no output may ever contain.
"""

from __future__ import annotations

import re

SECRET = "S3cret-marker-5d1e"

POSITION = re.compile(r":\d+:\d+: ")
"""What a message names: ``file:line:col: ``."""


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def _description(node_extra: str = "", top_extra: str = "", name: str = "a") -> bytes:
    return (f"infra_name: hostile\n{top_extra}nodes:\n  - name: {name}\n    type: fast\n"
            f"{node_extra}").encode()


def _alias_bomb(levels: int = 9, width: int = 9) -> str:
    lines = ["  l0: &l0 [x, x, x, x, x, x, x, x, x]"]
    for level in range(1, levels):
        refs = ", ".join([f"*l{level - 1}"] * width)
        lines.append(f"  l{level}: &l{level} [{refs}]")
    return "variables:\n" + "\n".join(lines) + "\n"


def _deep_aliases(levels: int = 4, depth: int = 30) -> str:
    """Each anchor nests the previous one ``depth`` levels deeper: shallow as written,
    deep once expanded."""
    lines = [f"  d0: &d0 {nested(depth)}"]
    for level in range(1, levels):
        lines.append(f"  d{level}: &d{level} " + "[" * depth + f"*d{level - 1}" + "]" * depth)
    return "variables:\n" + "\n".join(lines) + "\n"


DESCRIPTIONS: dict[str, bytes] = {
    "deep_flow": _description(f"    variables: {{v: {nested(300)}}}\n"),
    "deep_block": _description("    variables:\n" + "".join(
        f"{'  ' * (i + 3)}k{i}:\n" for i in range(300)) + f"{'  ' * 303}leaf: 1\n"),
    "deep_aliases": _description(top_extra=_deep_aliases()),
    "alias_bomb": _description(top_extra=_alias_bomb()),
    "alias_as_key": _description("    variables:\n      ? *m\n      : 1\n",
                                 "x-anchor: &m {a: 1}\n"),
    "sequence_as_key": _description("    filter: {? [a, b] : c}\n"),
    "recursive_alias_key": _description("    variables: &r {*r : 1}\n"),
    "bad_bytes": b"infra_name: caf\xe9\nnodes:\n  - {name: a, type: fast}\n",
    "bad_bytes_late": _description("    variables: {v: 'XX'}\n").replace(b"XX", b"\xff\xfe"),
    "control_character": _description("    variables: {v: a\x07b}\n"),
    "nul_character": _description("    variables: {v: a\x00b}\n"),
    "huge_integer": _description("    scaling: {min: " + "9" * 5000 + "}\n"),
    "huge_hex": _description("    variables: {v: 0x" + "f" * 5000 + "}\n"),
    "escape_out_of_range": _description('    variables: {v: "\\U0011ffff"}\n'),
    "min_true": _description("    scaling: {min: true}\n"),
    "max_float": _description("    scaling: {min: 1, max: 2.5}\n"),
    "min_hundred_million": _description("    scaling: {min: 100000000}\n"),
    "max_beyond_bound": _description("    scaling: {min: 1, max: 100000001}\n"),
    "name_control_character": _description(name='"a\\tb"'),
    "name_slash": _description(name="../etc"),
    "name_dotdot": _description(name="'..'"),
    "unknown_tag": _description("    variables: {v: !!python/object/apply:os.system [id]}\n"),
    "local_tag": _description("    variables: {v: !secret x}\n"),
    "set_tag": _description("    variables: {v: !!set {a, b}}\n"),
    "binary_tag": _description("    variables: {v: !!binary aGk=}\n"),
    "bad_timestamp": _description("    variables: {v: 2001-13-45}\n"),
    "bad_int_tag": _description("    variables: {v: !!int abc}\n"),
    "yaml_version": b"%YAML 1.3\n---\n" + _description(),
    "duplicate_key": _description("    type: fast\n"),
    "two_documents": _description() + b"---\ninfra_name: other\n",
    "tab_indent": _description("\tscaling: {min: 1}\n"),
    "filter_matching_nothing": _description("    filter: {type: ec2}\n"),
}
"""Infrastructure descriptions; every one must be refused with a position."""


def _node_def(resource: str, rest: str = "") -> bytes:
    return f"'node_def:hostile':\n  - resource: {resource}\n{rest}".encode()


NODE_DEFINITIONS: dict[str, bytes] = {
    "create_delay_inf": _node_def("{type: dummy, create_delay: .inf}"),
    "create_delay_1e308": _node_def("{type: dummy, create_delay: 1e308}"),
    "boot_delay_nan": _node_def("{type: dummy, boot_delay: .nan}"),
    "timeout_inf": _node_def("{type: dummy}", "    health_check: {timeout: .inf}\n"),
    "command_number": _node_def("{type: local, command: 5}"),
    "command_items_numbers": _node_def("{type: local, command: [sleep, 5]}"),
    "deep": _node_def("{type: dummy}", f"    variables: {{v: {nested(300)}}}\n"),
    "alias_as_key": _node_def("{type: dummy}", "    variables: {*m : 1}\n").replace(
        b"resource: {", b"resource: &m {"),
    "bad_bytes": _node_def("{type: dummy}", "    variables: {v: x}\n").replace(b"x}", b"\xff}"),
    "unknown_tag": _node_def("!!python/name:os.system {type: dummy}"),
    "huge_number": _node_def("{type: dummy, seed: " + "7" * 4400 + "}"),
    "alias_bomb": _node_def("{type: dummy}", "    variables:\n" + "".join(
        f"    {line}\n" for line in _alias_bomb().splitlines()[1:])),
}
"""Node definition files; every one must be refused with a position."""


def _auth(body: str) -> bytes:
    return body.replace("SECRET", SECRET).encode()


AUTH_DATA: dict[str, bytes] = {
    "duplicate_password": _auth("resource:\n  - type: dummy\n    auth_data:\n"
                                "      password: SECRET\n      password: other\n"),
    "duplicate_auth_data": _auth("resource:\n  - type: dummy\n    auth_data: {password: SECRET}\n"
                                 "    auth_data: {password: other}\n"),
    "duplicate_after_secret": _auth("resource:\n  - type: dummy\n    auth_data:\n"
                                    "      password: other\n      password: SECRET\n"),
    "syntax_on_secret_line": _auth("resource:\n  - type: dummy\n    auth_data:\n"
                                   "      password: SECRET: x\n"),
    "unclosed_quote": _auth("resource:\n  - type: dummy\n    auth_data: {password: 'SECRET}\n"),
    "int_tag_on_secret": _auth("resource:\n  - type: dummy\n    auth_data:\n"
                               "      password: !!int SECRET\n"),
    "timestamp_tag_on_secret": _auth("resource:\n  - type: dummy\n    auth_data:\n"
                                     "      password: !!timestamp SECRET\n"),
    "float_tag_on_secret": _auth("resource:\n  - type: dummy\n    auth_data:\n"
                                 "      password: !!float SECRET\n"),
    "bad_bytes_after_secret": _auth("resource:\n  - type: dummy\n    auth_data:\n"
                                    "      password: SECRET\n").replace(b"\n      pass",
                                                                        b"\n      \xffpass"),
    "control_character": _auth("resource:\n  - type: dummy\n    auth_data:\n"
                               "      password: SECRET\x07\n"),
    "deep_around_secret": _auth("resource:\n  - type: dummy\n    auth_data: {password: SECRET, "
                                f"x: {nested(300)}}}\n"),
    "alias_as_key": _auth("resource:\n  - &e {type: dummy, auth_data: {password: SECRET}}\n"
                          "  - {*e : 1}\n"),
    "tab_after_secret": _auth("resource:\n  - type: dummy\n    auth_data:\n"
                              "      password: SECRET\n\t  other: x\n"),
}
"""auth_data.yaml files, each malformed, each holding :data:`SECRET`."""
