"""A simulated cloud for tests, demos and benchmarks.

Resources live in the store (table ``dummy_resources``), so they survive
process restarts and a test can count exactly what is left. Delays are real
sleeps in ``create``/``destroy``; boot time elapses in the background and
``state`` tells the engine when to ask again (``retry_after``), as a cloud
with good estimates would.

Example resource section::

    resource:
      type: dummy
      create_delay: 0.5
      boot_delay: 1
      jitter: 0.1
      fail_rate: 0.05
      seed: 42
"""

from __future__ import annotations

import hashlib
import ipaddress
import random
import threading
import time
import uuid

from pydantic import BaseModel

from occo.errors import ResourceError
from occo.model.resource_types import DummyResource
from occo.model.states import ResourceState
from occo.resources.base import (
    Address,
    CreateRequest,
    CreateResult,
    HandlerEnv,
    ResourceHandler,
    ResourceRef,
    StateReport,
)

_NETWORK = ipaddress.ip_network("10.250.0.0/16")


def _address_for(resource_id: str) -> str:
    """A stable fake address derived from the id (never contacted)."""
    digest = int(hashlib.sha1(resource_id.encode()).hexdigest()[:8], 16)
    offset = digest % (_NETWORK.num_addresses - 2)
    return str(_NETWORK.network_address + 1 + offset)


class DummyHandler(ResourceHandler):
    name = "dummy"
    config_model = DummyResource

    def __init__(self, env: HandlerEnv) -> None:
        super().__init__(env)
        self._lock = threading.Lock()
        self._rngs: dict[int | None, random.Random] = {}

    def _rng(self, seed: int | None) -> random.Random:
        with self._lock:
            if seed not in self._rngs:
                self._rngs[seed] = random.Random(seed)
            return self._rngs[seed]

    def _draw(self, config: DummyResource) -> tuple[float, float, bool]:
        rng = self._rng(config.seed)
        with self._lock:
            create = config.create_delay + rng.uniform(0, config.jitter)
            boot = config.boot_delay + rng.uniform(0, config.jitter)
            fails = rng.random() < config.fail_rate
        return create, boot, fails

    def create(self, request: CreateRequest) -> CreateResult:
        config = request.config
        assert isinstance(config, DummyResource)
        create_delay, boot_delay, fails = self._draw(config)
        if create_delay:
            time.sleep(create_delay)
        resource_id = f"dummy-{uuid.uuid4()}"
        now = time.time()
        address = config.address or _address_for(resource_id)
        self.env.store.dummy.add(resource_id, request.instance_id, now, now + boot_delay,
                                 fails, address)
        return CreateResult(resource_id, {"address": address})

    def state(self, ref: ResourceRef) -> StateReport:
        return self.states([ref])[0]

    def states(self, refs: list[ResourceRef]) -> list[StateReport]:
        rows = self.env.store.dummy.get_many([r.resource_id for r in refs])
        now = time.time()
        out = []
        for ref in refs:
            row = rows.get(ref.resource_id)
            if row is None:
                out.append(StateReport(ResourceState.GONE))
                continue
            ready_at, failed, _address = row
            if now < ready_at:
                out.append(StateReport(ResourceState.PENDING, retry_after=ready_at - now))
            elif failed:
                out.append(StateReport(ResourceState.FAILED,
                                       reason="simulated failure (fail_rate)"))
            else:
                out.append(StateReport(ResourceState.RUNNING))
        return out

    def address(self, ref: ResourceRef) -> Address:
        address = ref.data.get("address")
        if address is None:
            raise ResourceError(f"dummy resource {ref.resource_id} has no address", handler="dummy")
        return Address(public=address, private=address)

    def recover(self, instance_id: str, config: BaseModel) -> CreateResult | None:
        """A resource created just before a crash, before occo recorded its id."""
        found = self.env.store.dummy.find_by_instance(instance_id)
        return CreateResult(found[0], {"address": found[1]}) if found else None

    def destroy(self, ref: ResourceRef) -> None:
        config = ref.config
        assert isinstance(config, DummyResource)
        if config.drop_delay:
            time.sleep(config.drop_delay)
        self.env.store.dummy.remove(ref.resource_id)
