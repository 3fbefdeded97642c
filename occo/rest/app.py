"""The Flask application factory of the REST service.

``create_app`` builds the app and the service's background parts but starts
no thread: :class:`occo.rest.server.RestService` starts the scheduler and the
webhook notifier, and stops everything cleanly.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask_smorest import Api
from werkzeug.exceptions import HTTPException

from occo import __version__
from occo.api import Occo
from occo.rest import errors, security
from occo.rest.builds import BackgroundBuilds
from occo.rest.context import EXTENSION, ServiceContext
from occo.rest.notify import Notifier
from occo.rest.runs import BackgroundRuns
from occo.rest.scheduler import MaintenanceScheduler
from occo.rest.schemas import ErrorSchema, GroupReportSchema, NodeReportSchema
from occo.rest.settings import ServiceSettings
from occo.rest.webhooks import TargetPolicy, local_addresses


class OccoApi(Api):  # type: ignore[misc]  # flask-smorest ships no type hints
    """flask-smorest's Api with occo's error shape, in the answers and in the spec."""

    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error: HTTPException) -> Any:
        return errors.handle_http_exception(error)


def _spec_options(settings: ServiceSettings) -> dict[str, Any]:
    options: dict[str, Any] = {
        "info": {"description": "Build, maintain, scale and destroy infrastructures. "
                                "Occopus-compatible endpoints live under /infrastructures/."}}
    if settings.token_digests:
        options["components"] = {"securitySchemes": {
            "bearerAuth": {"type": "http", "scheme": "bearer"}}}
        options["security"] = [{"bearerAuth": []}]
    return options


def create_app(occo: Occo, settings: ServiceSettings | None = None) -> Flask:
    """A Flask app serving ``occo``; see the module docstring for what it starts."""
    from occo.rest import (
        docs,
        execution_groups,
        executions,
        infra_groups,
        infrastructures,
        labels,
        node_definitions,
        orchestrations,
        triggers,
        validate,
    )

    settings = settings or ServiceSettings.from_config(occo.config)
    app = Flask("occo.rest")
    app.config.update(
        API_TITLE="occo", API_VERSION=__version__, OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/", OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS=_spec_options(settings))
    api = OccoApi(app)
    api.spec.components.schema("NodeReport", schema=NodeReportSchema)
    api.spec.components.schema("ExecutionGroupReport", schema=GroupReportSchema)
    for module in (infrastructures, labels, node_definitions, validate, executions,
                   infra_groups, execution_groups, orchestrations, triggers):
        api.register_blueprint(module.blp)
    app.register_blueprint(docs.make_blueprint(api.spec.to_dict))
    errors.register_error_handlers(app)
    security.install(app, settings, security.redactors(occo.config.auth_data),
                     scaling_ok=occo.scaling_token_valid)

    app.extensions[EXTENSION] = ServiceContext(
        occo=occo, settings=settings,
        builds=BackgroundBuilds(occo, parallelize=settings.parallelize),
        notifier=Notifier(occo, poll=settings.notify_poll, retries=settings.notify_retries,
                          timeout=settings.notify_timeout,
                          policy=TargetPolicy(settings.webhook_local_targets,
                                              local_addresses(settings.host))),
        scheduler=MaintenanceScheduler(occo, interval=settings.maintain_interval,
                                       parallelize=settings.parallelize),
        runs=BackgroundRuns(occo))
    return app
