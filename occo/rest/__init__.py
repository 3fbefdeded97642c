"""The REST service: Occopus's HTTP API (and more) over the Occo object.

    from occo.rest import create_app, RestService, ServiceSettings
"""

from occo.rest.app import create_app
from occo.rest.server import RestService
from occo.rest.settings import ServiceSettings

__all__ = ["RestService", "ServiceSettings", "create_app"]
