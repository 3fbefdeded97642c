"""What the views share: the Occo object and the service's background parts.

Kept in ``app.extensions`` (no module globals), reached with :func:`service`.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from occo.api import Occo
from occo.rest.builds import BackgroundBuilds
from occo.rest.notify import Notifier
from occo.rest.runs import BackgroundRuns
from occo.rest.scheduler import MaintenanceScheduler
from occo.rest.settings import ServiceSettings

EXTENSION = "occo"


@dataclass
class ServiceContext:
    occo: Occo
    settings: ServiceSettings
    builds: BackgroundBuilds
    notifier: Notifier
    scheduler: MaintenanceScheduler
    runs: BackgroundRuns


def service() -> ServiceContext:
    ctx: ServiceContext = current_app.extensions[EXTENSION]
    return ctx
