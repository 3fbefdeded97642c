"""The shape of ``auth_data.yaml``: filter entries with credentials, checked where written.

Parsing lives in the model layer so that the config loader can refuse a
malformed file at start-up with ``file:line:col: path: message``, long before
a handler asks for credentials; :mod:`occo.context.auth` matches and redacts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from occo.errors import ConfigError
from occo.model.yamlio import LocationIndex, format_path

__all__ = ["SECTIONS", "AuthEntry", "parse_auth_entries"]

SECTIONS = ("resource", "config_management", "ssh")   # ssh: orchestration over SSH


@dataclass(frozen=True)
class AuthEntry:
    """One entry of ``auth_data.yaml``: a filter and the credentials it selects."""

    section: str
    position: int                       # 1-based, as a user counts
    selector: dict[str, Any]
    auth_data: dict[str, Any] = field(repr=False)

    def describe(self) -> str:
        """Names the entry without its credentials: ``resource entry #2 {type: nova}``."""
        shown = ", ".join(f"{k}: {v}" for k, v in self.selector.items())
        return f"{self.section} entry #{self.position} {{{shown}}}"


def parse_auth_entries(raw: Any, source: str,
                       locations: LocationIndex | None = None) -> list[AuthEntry]:
    """The entries of the file's mapping, of a bare list (resource entries), or of nothing.

    ``locations`` (from :func:`occo.model.yamlio.load_yaml_file`) lets an
    error name the line and column of the offending entry.
    """

    def refuse(path: tuple[str | int, ...], message: str) -> ConfigError:
        where = locations.value(path) if locations is not None else None
        shown = format_path(path) or None
        if where is None:
            return ConfigError(": ".join(p for p in (source, shown, message) if p))
        return ConfigError(message, location=where, path=shown)

    if raw is None:
        return []
    prefix: tuple[str | int, ...] = ()
    if isinstance(raw, list):
        raw, prefix = {"resource": raw}, ("resource",)
    elif isinstance(raw, Mapping) and "entries" in raw and not set(raw) & set(SECTIONS):
        raw = {"resource": raw["entries"]}
    if not isinstance(raw, Mapping):
        raise refuse((), "must be a mapping with 'resource' and/or 'config_management' "
                         f"lists, not a {type(raw).__name__}")
    entries: list[AuthEntry] = []
    for section in SECTIONS:
        items = raw.get(section) or []
        at: tuple[str | int, ...] = prefix or (section,)
        if not isinstance(items, list):
            raise refuse(at, "must be a list of entries")
        for index, item in enumerate(items):
            if not isinstance(item, Mapping):
                raise refuse((*at, index), f"{section} entry #{index + 1} must be a mapping")
            auth = item.get("auth_data")
            if not isinstance(auth, Mapping):
                raise refuse((*at, index),
                             f"{section} entry #{index + 1} needs an 'auth_data' mapping")
            selector = {str(k): v for k, v in item.items() if k != "auth_data"}
            entries.append(AuthEntry(section, index + 1, selector, dict(auth)))
    return entries
