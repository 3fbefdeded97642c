"""Validate a plain section against a model when no source location is known
(e.g. a resource section after templates were rendered)."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from occo.errors import DescriptionError

M = TypeVar("M", bound=BaseModel)


def describe_validation_error(exc: ValidationError) -> str:
    """The first problem as ``path: message`` (one clear message)."""
    first = exc.errors()[0]
    path = ".".join(str(p) for p in first["loc"]) or "(root)"
    return f"{path}: {first['msg']}"


def validate_section(model: type[M], data: Any, what: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise DescriptionError(f"{what}: {describe_validation_error(exc)}") from None
