"""Reading a user's text file (or request body) with a size bound, as UTF-8.

Every file occo reads on a user's behalf goes through here: descriptions,
node definitions, config and auth_data files, and the files they pull in
with ``!yaml_import`` / ``!text_import``. A file larger than the bound, a
directory, a device or a FIFO (where only regular files make sense), and
bytes that are not UTF-8 are each one clear error; undecodable bytes are
reported at their line and column.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from occo.errors import DescriptionError, SourceLocation

__all__ = ["MAX_FILE_BYTES", "decode_text", "position_in", "read_text_file"]

MAX_FILE_BYTES = 16 * 1024 * 1024
"""The largest file read for a user, and the most one load reads through imports."""

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a device"),
          (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket"))


def position_in(text: str, index: int, source: str) -> SourceLocation:
    """The line and column (1-based) of character ``index`` of ``text``."""
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return SourceLocation(source, line, column)


def decode_text(raw: bytes, source: str) -> str:
    """``raw`` as UTF-8 text; the first undecodable byte is an error at its line:col."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = raw[:exc.start].decode("utf-8", errors="replace")
        raise DescriptionError(
            f"not UTF-8 text: byte 0x{raw[exc.start]:02x} cannot be decoded",
            location=position_in(before, len(before), source)) from None


def _kind(mode: int) -> str | None:
    for test, name in _KINDS:
        if test(mode):
            return name
    return None


def read_text_file(path: Path, *, limit: int = MAX_FILE_BYTES, regular_only: bool = False,
                   where: SourceLocation | None = None, what: str = "") -> str:
    """The text of ``path``, at most ``limit`` bytes.

    ``regular_only`` refuses anything but a regular file without blocking on
    it (a FIFO with no writer, a device); otherwise a pipe is read as given
    (``occopus-build <(envsubst < infra.yaml)``). Errors carry ``where``
    (e.g. the import tag that named the file) and start with ``what``.
    """
    shown = repr(str(path))
    flags = os.O_RDONLY | (os.O_NONBLOCK if regular_only else 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise DescriptionError(f"{what}no such file {shown}", location=where) from None
    except OSError as exc:
        raise DescriptionError(f"{what}cannot read {shown}: {exc.strerror or exc}",
                               location=where) from None
    try:
        kind = _kind(os.fstat(fd).st_mode)
        if kind == "a directory" or (regular_only and kind is not None):
            raise DescriptionError(f"{what}{shown} is {kind}, not a regular file",
                                   location=where)
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise DescriptionError(f"{what}cannot read {shown}: {exc.strerror or exc}",
                               location=where) from None
    finally:
        os.close(fd)
    if size > limit:
        raise DescriptionError(f"{what}{shown} is larger than {limit} bytes", location=where)
    return decode_text(b"".join(chunks), str(path))
