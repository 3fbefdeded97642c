"""The one error hierarchy of occo, mapped once to exit codes and HTTP codes.

Every interface (CLI, REST, Python API) raises and catches these; nothing
else decides what an error means to a user.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SourceLocation:
    """Where in a user's file a problem was found (1-based line and column)."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class OccoError(Exception):
    """Base of every error occo reports to a user."""

    exit_code: int = 1
    http_status: int = 500
    kind: str = "error"

    def __init__(
        self,
        message: str,
        *,
        location: SourceLocation | None = None,
        path: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.location = location
        self.path = path

    def __str__(self) -> str:
        parts = []
        if self.location is not None:
            parts.append(str(self.location))
        if self.path:
            parts.append(self.path)
        parts.append(self.message)
        return ": ".join(parts)


class UserInputError(OccoError):
    """The user asked for something invalid; nothing was changed."""

    exit_code = 2
    http_status = 400
    kind = "bad_request"


class DescriptionError(UserInputError):
    """An infrastructure description or node definition is invalid."""

    kind = "invalid_description"


class ConfigError(UserInputError):
    """occopus_config.yaml or auth_data.yaml is invalid or missing a match."""

    kind = "invalid_config"


class NotFound(UserInputError):
    """An id or name that the store does not know."""

    http_status = 404
    kind = "not_found"


class Forbidden(UserInputError):
    """The caller may not ask for this (e.g. a web page, or host commands from afar)."""

    http_status = 403
    kind = "forbidden"


class Conflict(UserInputError):
    """The request contradicts the current state (e.g. a lease is held)."""

    http_status = 409
    kind = "conflict"


class LeaseHeld(Conflict):
    """Someone else is acting on the infrastructure right now: try again later.

    Not bad input, so not exit 2: a scheduler retries on 75 (EX_TEMPFAIL).
    """

    exit_code = 75


class LeaseLost(LeaseHeld):
    """The lease on an infrastructure was lost while working on it; the work
    stopped and left everything for whoever holds the lease now."""

    kind = "lease_lost"


class IllegalTransition(OccoError):
    """A state change that the state machine does not allow (a bug, not input)."""

    kind = "illegal_transition"


class ResourceError(OccoError):
    """A resource handler failed talking to its cloud or process."""

    http_status = 502
    kind = "resource_error"

    def __init__(self, message: str, *, handler: str | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.handler = handler
        self.retry_after = retry_after


class BuildFailed(OccoError):
    """A build or update failed and was rolled back."""

    kind = "build_failed"


class DestroyIncomplete(OccoError):
    """Some resources could not be confirmed gone; the record is kept."""

    kind = "destroy_incomplete"

    def __init__(self, message: str, *, left: list[str] | None = None) -> None:
        super().__init__(message)
        self.left = left or []


class Interrupted(OccoError):
    """The user interrupted the command (SIGINT); work was rolled back."""

    exit_code = 130
    http_status = 503
    kind = "interrupted"


class Terminated(Interrupted):
    """Stopped by SIGTERM (systemd, a CI runner, ``timeout``): rolled back like Ctrl+C."""

    exit_code = 143
    kind = "terminated"


class JobsFailed(OccoError):
    """Orchestration jobs failed on some instances (the others ran to their end)."""

    kind = "jobs_failed"


def make_directory(path: Path, what: str) -> None:
    """Create ``path`` (and its parents) if missing; a :class:`ConfigError` naming
    ``what`` it is for when that cannot be done (a file in the way, no permission)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        problem = "it is not a directory" if path.exists() else exc.strerror or str(exc)
        raise ConfigError(f"cannot use {path} as {what}: {problem}") from None
