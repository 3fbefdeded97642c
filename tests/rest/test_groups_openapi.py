"""schemathesis over the group, label and execution endpoints, with real ids in play."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from occo.api import Occo
from tests.rest.test_groups import infra_group, tenant_type, tenants

PATHS = ["/infrastructure-groups", "/infrastructure-groups/{group_id}",
         "/infrastructure-groups/{group_id}/members", "/infrastructures/{infra_id}/labels",
         "/execution-groups", "/execution-groups/{group_id}",
         "/execution-groups/{group_id}/report", "/executions", "/executions/{execution_id}"]
EXCLUDED = [schemathesis.checks.positive_data_acceptance]  # random bodies are rightly refused
# Requests drawn from an OpenAPI schema are big and slow to generate, and many
# drawn values are filtered out: the health checks for that do not apply here.
SCHEMA_DRAWN = [HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large]
QUICK = settings(max_examples=15, deadline=None, database=None, phases=[Phase.generate],
                 suppress_health_check=SCHEMA_DRAWN)


def test_group_endpoints_are_in_the_spec_and_answer_no_server_error(
        occo: Occo, start_service: Callable[..., Any]) -> None:
    # Drawn requests start real executions that queue for one lease: stopping the
    # service cancels them at once rather than letting each run out its grace.
    rest = start_service(occo, grace=0.2)
    spec = rest("GET", "/openapi.json").json()
    for path in PATHS:
        assert path in spec["paths"], path
    assert "ExecutionGroupReport" in spec["components"]["schemas"]

    tenant_type(rest)
    (infra_id,) = tenants(rest, 1)
    infra_group(rest, "g", [infra_id])
    group = rest("POST", "/execution-groups", json={
        "infra_group_id": "g", "workflow_id": "maintain", "concurrency": 0}).json()
    real = {"infra_id": infra_id, "execution_id": group["execution_ids"][0]}

    schema = schemathesis.openapi.from_url(rest.url + "/openapi.json").include(
        path_regex="^/(infrastructure-groups|execution-groups|executions|"
                   "infrastructures/{infra_id}/labels)")

    @schema.hook
    def flatmap_path_parameters(ctx: Any, params: Any) -> Any:
        if not params or ctx.operation.method.upper() == "DELETE":   # keep "g" for the rest
            return st.just(params)
        group_id = group["id"] if ctx.operation.path.startswith("/execution-") else "g"
        known = {k: v for k, v in {**real, "group_id": group_id}.items() if k in params}
        return st.sampled_from([params, {**params, **known}])

    @schema.hook
    def map_body(ctx: Any, body: Any) -> Any:
        label = ctx.operation.label if ctx.operation is not None else ""
        if label == "POST /execution-groups" and isinstance(body, dict):
            return {**body, "infra_group_id": "g"}    # starts that may really run
        return body

    calls: Counter[tuple[str, int]] = Counter()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 14
    for operation in operations:
        @given(case=operation.as_strategy())
        @QUICK
        def check(case: Any) -> None:
            response = case.call_and_validate(excluded_checks=EXCLUDED)
            calls[(case.operation.label, response.status_code)] += 1

        check()
    assert not [call for call in calls if call[1] >= 500]
    # the real ids were used: some calls on existing groups and infrastructures succeeded
    assert calls[("GET /infrastructure-groups/{group_id}", 200)] > 0
    assert calls[("GET /execution-groups/{group_id}", 200)] > 0
    assert calls[("GET /infrastructures/{infra_id}/labels", 200)] > 0
