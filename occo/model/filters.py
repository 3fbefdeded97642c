"""Occopus's sub-dict rule, shared by a node's ``filter`` and ``auth_data.yaml`` entries.

Kept apart from the node-definition models so that matching credentials does
not load them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["matches_filter"]


def matches_filter(section: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    """True when ``wanted`` is a sub-dict of ``section`` (nested dicts recursively)."""
    for key, value in wanted.items():
        if key not in section:
            return False
        have = section[key]
        if isinstance(value, Mapping):
            if not isinstance(have, Mapping) or not matches_filter(have, value):
                return False
        elif have != value:
            return False
    return True
