"""Request bodies that are descriptions: YAML or JSON text, parsed with locations.

A body can never pull in files of the machine the service runs on:
``!yaml_import`` and ``!text_import`` are refused. Errors name
``<request>:line:col`` so the sender can find the spot in what they sent.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from flask import request

from occo.errors import DescriptionError, SourceLocation, UserInputError
from occo.model.textfiles import decode_text

if TYPE_CHECKING:
    from occo.model.description import InfraDescription
    from occo.model.nodedef import Implementation

SOURCE = "<request>"

DESCRIPTION_BODY = {
    "required": True,
    "description": "An infrastructure description, as YAML or JSON",
    "content": {
        "application/x-yaml": {"schema": {"type": "object"}},
        "application/json": {"schema": {"type": "object"}},
        "text/plain": {"schema": {"type": "string"}},
    },
}

IMPLEMENTATIONS_BODY = {
    "required": True,
    "description": "The node type's implementations, a YAML or JSON list",
    "content": {
        "application/x-yaml": {"schema": {"type": "array", "items": {"type": "object"}}},
        "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
        "text/plain": {"schema": {"type": "string"}},
    },
}


def body_text() -> str:
    """The body as text; oversized bodies were already refused with 413."""
    text = decode_text(request.get_data(cache=True), SOURCE)
    if not text.strip():
        raise UserInputError("the body is empty: send a YAML or JSON document")
    if request.mimetype == "application/json":
        try:
            json.loads(text)
        except json.JSONDecodeError as exc:
            raise DescriptionError(exc.msg, location=SourceLocation(
                SOURCE, exc.lineno, exc.colno)) from None
        except RecursionError:
            raise DescriptionError("JSON nested too deeply",
                                   location=SourceLocation(SOURCE, 1, 1)) from None
    return text


def parse_description(text: str, base_dir: Path) -> InfraDescription:
    from occo.model.description import parse_infra_description

    return parse_infra_description(text, source=SOURCE, base_dir=base_dir, allow_imports=False)


def parse_implementations(text: str, node_type: str, base_dir: Path,
                          resource_types: Collection[str]) -> list[Implementation]:
    """A list of implementations, or a one-type node definition file naming ``node_type``;
    each of a resource type in ``resource_types``."""
    from pydantic import Field, TypeAdapter, ValidationError

    from occo.model.nodedef import NODE_DEF_PREFIX, Implementation, check_resource_types
    from occo.model.yamlio import describe_validation_error, load_yaml_text

    loaded = load_yaml_text(text, SOURCE, base_dir, allow_imports=False)
    data: Any = loaded.plain
    key = f"{NODE_DEF_PREFIX}{node_type}"
    prefix: tuple[str, ...] = ()
    if isinstance(data, dict) and set(data) == {key}:
        data, prefix = data[key], (key,)
    if not isinstance(data, list):
        raise DescriptionError(
            f"expected a list of implementations (or a mapping with the single key {key!r})",
            location=loaded.locations.value(()))
    wanted = Annotated[list[Implementation], Field(min_length=1)]
    try:
        impls = TypeAdapter(wanted).validate_python(data)
    except ValidationError as exc:
        raise describe_validation_error(exc, loaded, wanted, prefix=prefix) from None
    check_resource_types(impls, resource_types, loaded, prefix)
    return impls
