"""What the cloud handlers (nova, ec2) share: credentials, redaction, and the
memory of creates the cloud refused."""

from __future__ import annotations

import threading

from occo.context.auth import AuthData
from occo.resources.base import HandlerEnv, ResourceHandler


class CloudHandler(ResourceHandler):
    """A handler that talks to a cloud API with credentials from auth_data."""

    def __init__(self, env: HandlerEnv) -> None:
        super().__init__(env)
        self._auth = AuthData.parse(env.auth_data, env.auth_source)
        self._redact = self._auth.redactor   # for messages occo composes (errors, logs)
        self._lock = threading.Lock()
        # Creates the cloud refused before anything existed (bad credentials,
        # quota...): their rollback needs no cloud call, which might be refused
        # in turn and leave the record behind.
        self._not_created: set[str] = set()
