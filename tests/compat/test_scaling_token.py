"""Issue 9, item 6: autoscaling callbacks keep working with the REST service's auth on.

Occopus's autoscaling tutorials have a node call ``scaleup``/``scaledown`` on
the REST service. occo gives each instance's templates a scaling token
(``{{ occo.scaling_token }}``) that the service accepts for scaling requests on
that infrastructure only, stores as a SHA-256 digest, and forgets when the
instance or infrastructure is destroyed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from occo.api import Occo
from occo.model.tokens import token_digest
from occo.store.tables import instances
from tests.compat.conftest import occo_with
from tests.rest.conftest import Running, start

SERVICE_TOKEN = "service-token-0123456789"
DEFS = """
'node_def:monitor':
  - resource:
      type: local
      command: [sleep, "300"]
      stop_timeout: 1
    contextualisation:
      type: cloudinit
      context_template: |
        #!/bin/sh
        curl -X POST -H 'Authorization: Bearer {{ occo.scaling_token }}' http://rest/
"""
INFRA = "infra_name: watched\nnodes:\n  - {name: monitor, type: monitor, scaling: {min: 1, max: 3}}\n"


@pytest.fixture
def occo(tmp_path: Path) -> Iterator[Occo]:
    with occo_with(tmp_path, {"defs.yaml": DEFS, "infra.yaml": INFRA}) as api:
        yield api


@pytest.fixture
def rest(occo: Occo) -> Iterator[Running]:
    running = start(occo, token_digests=(token_digest(SERVICE_TOKEN),))
    try:
        yield running
    finally:
        running.stop()


def _token(occo: Occo, infra_id: str) -> str:
    (instance,) = occo.store.instances.for_infra(infra_id)
    user_data = (occo.config.home / "instances" / instance.id / "user_data").read_text()
    return user_data.split("Bearer ")[1].split("'")[0]


def test_a_scaling_token_scales_its_own_infrastructure_and_nothing_else(
        occo: Occo, rest: Running, tmp_path: Path) -> None:
    mine = occo.build(tmp_path / "infra.yaml").infra_id
    other = occo.build(tmp_path / "infra.yaml").infra_id
    token = _token(occo, mine)
    bearer = {"Authorization": f"Bearer {token}"}

    assert rest("POST", f"/infrastructures/{mine}/scaleup/monitor", headers=bearer).json() == \
        {"infraid": mine, "method": "scaleup", "nodename": "monitor", "count": 1}
    assert rest("POST", f"/infrastructures/{mine}/scaleto/monitor/2",
                headers=bearer).status_code == 200
    # not another infrastructure, not any other endpoint, not without the token
    assert rest("POST", f"/infrastructures/{other}/scaleup/monitor",
                headers=bearer).status_code == 401
    assert rest("GET", f"/infrastructures/{mine}", headers=bearer).status_code == 401
    assert rest("DELETE", f"/infrastructures/{mine}", headers=bearer).status_code == 401
    assert rest("POST", f"/infrastructures/{mine}/scaleup/monitor").status_code == 401
    service = {"Authorization": f"Bearer {SERVICE_TOKEN}"}
    assert rest("GET", f"/infrastructures/{mine}", headers=service).status_code == 200

    # stored as a digest only
    with occo.store.read() as conn:
        stored = conn.execute(select(instances.c.scaling_token_hash)
                              .where(instances.c.infra_id == mine)).scalars().all()
    assert stored == [hashlib.sha256(token.encode()).hexdigest()]
    assert token.encode() not in (occo.config.home / "occopus.db").read_bytes()

    occo.destroy(mine)                       # revoked with the infrastructure
    assert rest("POST", f"/infrastructures/{mine}/scaleup/monitor",
                headers=bearer).status_code == 401


def test_dry_run_shows_a_placeholder_not_a_token(occo: Occo, tmp_path: Path) -> None:
    result = occo.build(tmp_path / "infra.yaml", dry_run=True)
    preview = occo.preview_contexts(result, tmp_path / "infra.yaml")["monitor"]
    assert "Bearer <scaling token>" in (preview.user_data or "")
