"""Bearer tokens kept only as SHA-256 digests, and compared in constant time.

A token is turned into its digest as soon as it is read (from the config
file, the environment or a token file), so no plain token stays in memory
for longer than it takes to hash it. A config may also hold the digest
itself, written ``sha256:<64 hex digits>``, so the file need not contain
the token at all::

    rest:
      tokens: ["sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"]

``python -c 'import hashlib,sys; print(hashlib.sha256(sys.argv[1].encode()).hexdigest())' TOKEN``
prints the digest of a token.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable

__all__ = ["DIGEST_PREFIX", "new_scaling_token", "new_token", "presented_digest",
           "token_digest", "token_matches"]

DIGEST_PREFIX = "sha256:"
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")


def token_digest(token_or_digest: str) -> str:
    """The hex SHA-256 digest of a token; a ``sha256:<hex>`` entry is its own digest."""
    entry = token_or_digest.strip()
    if entry.startswith(DIGEST_PREFIX):
        given = entry[len(DIGEST_PREFIX):].lower()
        if _HEX_DIGEST.fullmatch(given):
            return given
    return hashlib.sha256(entry.encode()).hexdigest()


def token_matches(presented: str, digests: Iterable[str]) -> bool:
    """Whether ``presented`` hashes to one of ``digests``.

    Every digest is compared, always, so the time taken says nothing about
    which one matched or how much of it did.
    """
    wanted = hashlib.sha256(presented.encode()).hexdigest().encode()
    return sum(hmac.compare_digest(wanted, d.encode()) for d in digests) > 0


def new_token() -> str:
    """A fresh random token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def presented_digest(presented: str) -> str:
    """The digest of a token as presented (never read as ``sha256:<hex>``: knowing a
    stored digest must not be enough to pass)."""
    return hashlib.sha256(presented.encode()).hexdigest()


def new_scaling_token() -> tuple[str, str]:
    """A fresh scaling token for an instance's templates, and the digest stored of it.

    The REST service accepts it, instead of a service token, for scaling
    requests on that instance's infrastructure while the instance exists.
    """
    token = new_token()
    return token, presented_digest(token)
