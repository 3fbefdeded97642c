"""Value types with bounds, shared by the description and node definition models.

YAML happily reads ``.inf``, ``1e308``, ``true`` where a count is meant, and
names with control characters; these types refuse them where they are
written, so the error names the file, line and column.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StrictInt

__all__ = ["MAX_SECONDS", "Count", "Seconds", "StrictText", "check_name", "check_text"]

MAX_SECONDS = 7 * 24 * 3600.0
"""The longest delay or timeout a description may ask for: a week."""

MAX_NAME_LENGTH = 255

Seconds = Annotated[float, Field(ge=0, le=MAX_SECONDS, allow_inf_nan=False)]
"""A delay or timeout: finite, from zero to a week."""

Count = Annotated[StrictInt, Field(ge=0)]
"""A number of instances: a whole number (``true`` and ``2.5`` are not counts)."""


def check_text(value: str) -> str:
    """Printable text only: control characters garble terminals and logs."""
    bad = next((c for c in value if not c.isprintable()), None)
    if bad is not None:
        raise ValueError(f"must not contain the control character {bad!r}")
    return value


def check_name(value: str) -> str:
    """A name that is safe wherever occo uses it: file paths, URLs, logs."""
    check_text(value)
    if len(value) > MAX_NAME_LENGTH:
        raise ValueError(f"must have at most {MAX_NAME_LENGTH} characters")
    if "/" in value or "\\" in value:
        raise ValueError("must not contain '/' or '\\'")
    if value.strip(".") == "":
        raise ValueError(f"{value!r} is not a name")
    return value


StrictText = Annotated[str, Field(strict=True)]
"""A string that must be written as one (``command: 5`` is not a command)."""
