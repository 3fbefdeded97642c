"""What the cloud handlers share: credentials, redaction, timing settings, and the
memory of creates the cloud refused."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from occo.context.auth import AuthData, Redactor
from occo.errors import ConfigError, ResourceError
from occo.resources.base import HandlerEnv, ResourceHandler

T = TypeVar("T")


class CloudSettings(BaseModel):
    """How a cloud handler waits for its cloud (the config's ``handlers.<type>``).

    Example (``occopus_config.yaml``)::

        handlers:
          azure_vm: {poll_interval: 5, operation_timeout: 900}
    """

    model_config = ConfigDict(extra="forbid")

    poll_interval: float = Field(default=2.0, gt=0, le=300)
    operation_timeout: float = Field(default=600.0, gt=0, le=86_400)
    request_timeout: float = Field(default=60.0, gt=0, le=3_600)
    retries: int = Field(default=3, ge=0, le=20)


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
        self.settings = self._settings(env)

    def _settings(self, env: HandlerEnv) -> CloudSettings:
        try:
            return CloudSettings.model_validate(dict(env.settings.get(self.name) or {}))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ConfigError(f"occopus_config.yaml: handlers.{self.name}.{where}: "
                              f"{first['msg']}") from None

    def _scrub(self, text: str, *secrets: str | None) -> str:
        """``text`` without the auth_data secrets nor these (passwords from a resource
        section, such as a VM's admin password)."""
        return Redactor(s for s in secrets if s)(self._redact(text))

    def _wait(self, what: str, check: Callable[[], T | None]) -> T:
        """Poll ``check`` every ``poll_interval`` until it returns a value, within
        ``operation_timeout``; ``what`` names the operation in the timeout error."""
        deadline = time.monotonic() + self.settings.operation_timeout
        while True:
            value = check()
            if value is not None:
                return value
            if time.monotonic() > deadline:
                raise ResourceError(f"{what}: not done after "
                                    f"{self.settings.operation_timeout:g} s", handler=self.name)
            time.sleep(self.settings.poll_interval)

    def check_credentials(self, config: BaseModel) -> None:
        """The one auth_data entry this resource would use exists (see Credentialed)."""
        self._auth.for_resource(config.model_dump(mode="json", exclude_none=True))
