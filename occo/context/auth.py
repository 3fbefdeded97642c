"""``auth_data.yaml``: which credentials a resource uses, and keeping them out of sight.

The file has a ``resource:``, a ``config_management:`` and an ``ssh:`` list
(credentials for orchestration jobs over SSH, matched like ``resource:``). Each entry is
a filter plus an ``auth_data`` block; it applies to a resource when its keys
other than ``auth_data`` are a sub-dict of the node's ``resource`` section
(the same rule as a node's ``filter``). Exactly one entry must match: two
matches are ambiguous and refused, naming both. Example::

    resource:
      - type: nova
        endpoint: https://keystone.example.org:5000/v3
        auth_data: {username: alice, password: s3cret}
      - type: ec2
        auth_data: {accesskey: AKIA..., secretkey: ...}

Every secret value found in the file is known to a :class:`Redactor`, which
handlers use on every message they raise or log, so a password echoed back by
a cloud never reaches a log, report or API response.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from occo.errors import ConfigError
from occo.model.authfile import AuthEntry, parse_auth_entries
from occo.model.filters import matches_filter

__all__ = ["NOT_SECRET", "REDACTED", "AuthData", "AuthEntry", "Redactor", "describe_section"]

REDACTED = "***"
#: auth_data keys whose values name someone rather than prove who they are
NOT_SECRET = frozenset({"type", "username", "user", "user_name", "email", "client_name",
                        "user_domain_name", "project_domain_name", "domain", "auth_type",
                        "tls_ca_cert", "tls_client_cert",
                        # Azure: identifiers and an identity host, not credentials
                        "tenant_id", "client_id", "subscription_id", "authority"})
_MIN_SECRET_LEN = 4
_SHOWN_KEYS = ("type", "name", "endpoint")


def describe_section(section: Mapping[str, Any]) -> str:
    """A short, secret-free name for a resource section: ``{type: nova, endpoint: ...}``."""
    shown = [f"{k}: {section[k]}" for k in _SHOWN_KEYS if section.get(k) is not None]
    return "{" + ", ".join(shown) + "}"


class Redactor:
    """Replaces every known secret in a text with ``***``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        unique = sorted({s for s in secrets if len(s) >= _MIN_SECRET_LEN}, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, unique))) if unique else None

    def __call__(self, text: str) -> str:
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(REDACTED, text)

    def redact_tree(self, value: Any) -> Any:
        """Redact every string inside nested dicts and lists (reports, responses)."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, list):
            return [self.redact_tree(v) for v in value]
        if isinstance(value, dict):
            return {k: self.redact_tree(v) for k, v in value.items()}
        return value


def _what(section: str) -> str:
    return {"resource": "resource", "ssh": "SSH access to"}.get(section, "config manager")


def _secret_values(data: Any, key: str | None = None) -> Iterable[str]:
    if isinstance(data, Mapping):
        for k, v in data.items():
            yield from _secret_values(v, str(k))
    elif isinstance(data, list):
        for v in data:
            yield from _secret_values(v, key)
    elif isinstance(data, (str, int)) and not isinstance(data, bool) and key not in NOT_SECRET:
        yield str(data)


class AuthData:
    """The parsed ``auth_data.yaml``: entries per section and the secrets they hold."""

    def __init__(self, entries: list[AuthEntry], source: str | None = None) -> None:
        self.entries = entries
        self.found = source is not None or bool(entries)   # False: no auth_data.yaml at all
        self.source = source or "auth_data.yaml"
        self.redactor = Redactor(s for e in entries for s in _secret_values(e.auth_data))

    @classmethod
    def parse(cls, raw: Any, source: str | None = None) -> AuthData:
        """Accept the file's mapping, a bare list (resource entries) or nothing."""
        return cls(parse_auth_entries(raw, source or "auth_data.yaml"), source)

    def match(self, section: str, wanted: Mapping[str, Any]) -> AuthEntry:
        """The one entry of ``section`` whose filter is a sub-dict of ``wanted``."""
        found = self.find(section, wanted)
        if found is None:
            raise ConfigError(self._no_match(section, _what(section), wanted))
        return found

    def find(self, section: str, wanted: Mapping[str, Any]) -> AuthEntry | None:
        """Like :meth:`match`, for credentials that are optional (docker): None when no
        entry matches; two matches are still refused."""
        found = [e for e in self.entries
                 if e.section == section and matches_filter(wanted, e.selector)]
        if len(found) > 1:
            raise ConfigError(
                f"{self.source}: {_what(section)} {describe_section(wanted)} matches more than one "
                f"entry: {' and '.join(e.describe() for e in found)}; make them distinct "
                "(add 'endpoint' or 'name' to the entries)")
        return found[0] if found else None

    def _no_match(self, section: str, what: str, wanted: Mapping[str, Any]) -> str:
        """Why no entry applies, and what to add."""
        needs = f"{what} {describe_section(wanted)} needs credentials"
        add = (f"add a '{section}:' entry with type: {wanted.get('type')} (and the keys that "
               "tell it apart) and its auth_data")
        if not self.found:
            return (f"{needs}, but no auth_data.yaml was found (looked at --auth_data_path, "
                    f"$OCCOPUS_CONFIG_PATH, ~/.occopus/, ./ and /etc/occopus/); {add}")
        known = [e.describe() for e in self.entries if e.section == section]
        if not known:
            return f"{self.source}: {needs}, but the file has no '{section}:' entries; {add}"
        return (f"{self.source}: no {section} entry matches {what} "
                f"{describe_section(wanted)} (entries: {'; '.join(known)})")

    def for_resource(self, resource: Mapping[str, Any]) -> tuple[AuthEntry, dict[str, Any]]:
        """The matching entry of ``resource:`` and its credentials."""
        entry = self.match("resource", resource)
        return entry, dict(entry.auth_data)
