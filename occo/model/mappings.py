"""Dependency ``mappings``: attribute connections between two nodes, as Occopus reads them.

A dependency may carry mappings::

    dependencies:
      - connection: [*app, *db]
        mappings:
          - [db_port, port]                        # db's attribute -> app's attribute
          - {attributes: [db_host, host], synch: true}

Occopus passes them to chef only: the dependent node gets a ``connections``
attribute (``source_role`` ``<infra_id>_<dependee>``, ``source_attribute``,
``destination_attribute``) that its ``connect`` recipe reads, and a mapping
with ``synch: true`` makes the dependee count as ready only once it has
exported that attribute. Elsewhere they have no effect, which occo says once
per mapping (:func:`mapping_notes`) instead of ignoring them silently.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from occo.errors import DescriptionError

if TYPE_CHECKING:
    from occo.model.description import InfraDescription

__all__ = ["AttributeMapping", "all_mappings", "connections", "mapping_notes",
           "synch_attributes"]


@dataclass(frozen=True)
class AttributeMapping:
    dependent: str
    dependee: str
    source_attribute: str         # on the dependee
    destination_attribute: str    # on the dependent
    synch: bool = False

    def describe(self) -> str:
        return (f"{self.dependee}.{self.source_attribute} -> "
                f"{self.dependent}.{self.destination_attribute}")


def _parse(raw: Any, dependent: str, dependee: str) -> AttributeMapping:
    """One mapping: ``[source, destination]`` or ``{attributes: [...], synch: bool}``."""
    synch = False
    pair = raw
    if isinstance(raw, dict):
        pair, synch = raw.get("attributes"), bool(raw.get("synch", False))
    if not isinstance(pair, list) or len(pair) != 2:
        raise DescriptionError(f"a mapping of dependency {dependent} -> {dependee} must name "
                               f"two attributes, [source, destination], not {raw!r}")
    return AttributeMapping(dependent, dependee, str(pair[0]), str(pair[1]), synch)


def all_mappings(desc: InfraDescription) -> Iterator[AttributeMapping]:
    for dep in desc.dependencies:
        raw = dep.mappings
        for item in raw if isinstance(raw, list) else ([raw] if raw else []):
            yield _parse(item, dep.dependent, dep.dependee)


def connections(mappings: list[AttributeMapping], infra_id: str,
                node: str) -> list[dict[str, str]]:
    """The ``connections`` attribute of a node: its inbound mappings."""
    return [{"source_role": f"{infra_id}_{m.dependee}", "source_attribute": m.source_attribute,
             "destination_attribute": m.destination_attribute}
            for m in mappings if m.dependent == node]


def synch_attributes(mappings: list[AttributeMapping], node: str) -> tuple[str, ...]:
    """Attributes ``node`` must export before it is ready (outbound ``synch`` mappings)."""
    return tuple(dict.fromkeys(m.source_attribute for m in mappings
                               if m.dependee == node and m.synch))


def mapping_notes(desc: InfraDescription, uses_chef: Callable[[str], bool]) -> list[str]:
    """One line per mapping that has no effect: its dependent node does not use chef."""
    notes = []
    for m in all_mappings(desc):
        if not uses_chef(m.dependent):
            notes.append(f"mapping {m.describe()} of dependency {m.dependent} -> {m.dependee} "
                         f"has no effect: only chef config management reads mappings, and "
                         f"'{m.dependent}' does not use it")
        elif m.synch and not uses_chef(m.dependee):
            notes.append(f"synch of mapping {m.describe()} has no effect: '{m.dependee}' does "
                         "not use chef, so nothing tells when it exports the attribute")
    return notes
