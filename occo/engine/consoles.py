"""Console links for reports: asked of the handlers that offer them, within a budget.

A report is written at the first failure and at the end of every execution, so
gathering links must never hold it up: calls run on a few daemon threads, and
whatever has not answered when the budget runs out (or failed) is left out.
Handlers that do not implement :class:`ConsoleLinks` cost nothing.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterable
from typing import Any, cast

from occo.model.states import InstanceState
from occo.registry import PluginRegistry
from occo.resources.base import ConsoleLinks, ResourceRef
from occo.store.records import InstanceRecord

log = logging.getLogger(__name__)

CONSOLE_BUDGET = 5.0
"""Seconds a report waits, in all, for console URLs."""
CONSOLE_WORKERS = 8


def _console_jobs(registry: PluginRegistry, instances: Iterable[InstanceRecord]
                  ) -> list[tuple[ConsoleLinks, ResourceRef]]:
    """(handler, ref) for each live instance whose handler can name a console."""
    jobs: list[tuple[ConsoleLinks, ResourceRef]] = []
    configs: dict[tuple[str, str], Any] = {}     # instances of a node share one config
    offers: dict[str, bool] = {}                 # a protocol check is slow: once per type
    for inst in instances:
        if not inst.resource_id or inst.state == InstanceState.DESTROYED:
            continue
        try:
            handler = registry.handler(inst.resource_type)
            if inst.resource_type not in offers:
                offers[inst.resource_type] = isinstance(handler, ConsoleLinks)
            if not offers[inst.resource_type]:
                continue
            key = (inst.resource_type, json.dumps(inst.resource_config, sort_keys=True))
            if key not in configs:
                configs[key] = handler.config_model.model_validate(inst.resource_config)
        except Exception as exc:  # noqa: BLE001 - a link is never worth failing a report
            log.debug("no console for instance %s: %s", inst.id, exc)
            continue
        ref = ResourceRef(inst.id, inst.resource_id, configs[key], inst.resource_data)
        jobs.append((cast(ConsoleLinks, handler), ref))
    return jobs


def gather_consoles(registry: PluginRegistry, instances: Iterable[InstanceRecord], *,
                    budget: float = CONSOLE_BUDGET,
                    workers: int = CONSOLE_WORKERS) -> dict[str, str]:
    """Instance id -> console URL, for those that answered within ``budget`` seconds."""
    jobs = _console_jobs(registry, instances)
    if not jobs:
        return {}
    found: dict[str, str] = {}
    lock = threading.Lock()
    pending = iter(jobs)
    stop = threading.Event()

    def work() -> None:
        while True:
            with lock:
                job = None if stop.is_set() else next(pending, None)
            if job is None:
                return
            handler, ref = job
            try:
                url = handler.console_url(ref)
            except Exception as exc:  # noqa: BLE001 - the protocol says never; be sure
                log.debug("console URL of instance %s failed: %s", ref.instance_id, exc)
                continue
            if url:
                with lock:
                    found[ref.instance_id] = url

    # Daemon threads: a cloud that hangs past the budget keeps neither the report
    # nor the process waiting.
    threads = [threading.Thread(target=work, daemon=True, name="occo-console")
               for _ in range(max(1, min(workers, len(jobs))))]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + budget
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    stop.set()                                      # late ones start nothing new
    with lock:
        return dict(found)
