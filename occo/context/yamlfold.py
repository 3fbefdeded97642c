"""What text a template inserts into a YAML document meant to Occopus.

Occopus wrote a YAML ``context_template`` (and the ``config_management``
section) out with PyYAML, rendered that text with Jinja and handed it on to
be read back as YAML. A string with a line break is written out quoted, and
a quoted YAML string folds the raw line breaks in it: one break becomes a
space, a run of n + 1 breaks becomes n, and the blanks around them go. The
breaks of the string itself survive (PyYAML writes them so that they do), but
the breaks a template inserts are raw, so they are folded. Occopus's
tutorials rely on it: a private key written with a blank line between its
lines reaches the node with one line break between them.

occo renders each string of such a document in place. Jinja marks every
value an expression inserts (:func:`mark_inserted`, the environment's
``finalize``), and :func:`fold_inserted` applies the folding Occopus's round
trip applied, in the quoting PyYAML would have chosen for the string.
Inserted quotes, backslashes and ``#`` (which broke Occopus's YAML) are kept
as they are, and so is a string PyYAML wrote unquoted (Occopus could not read
a line break inserted there back).
"""

from __future__ import annotations

import re
from typing import Any

INSERT_OPEN, INSERT_CLOSE = "\ue000", "\ue001"   # private-use characters around an insert
_KEPT_BREAK, _KEPT_TAB = "\ue002", "\ue003"      # escaped in double quotes: never folded
_MARKS = (INSERT_OPEN, INSERT_CLOSE, _KEPT_BREAK, _KEPT_TAB)
_INSERTED = re.compile(f"{INSERT_OPEN}(.*?){INSERT_CLOSE}", re.S)
_LINE_BREAKS = re.compile(r"\n+")
# breaks, blank lines and the blanks around them; a match starts where its blanks
# start (the look-behind), which keeps a long run of blanks linear, not quadratic
_FOLDED = re.compile(r"(?<![ \t])[ \t]*\n(?:[ \t]*\n)*[ \t]*")


def mark_inserted(value: Any) -> str:
    """Jinja ``finalize``: the text of an inserted value, between marks."""
    return f"{INSERT_OPEN}{value}{INSERT_CLOSE}"


def pyyaml_quote(text: str) -> str | None:
    """The quote PyYAML's ``yaml.dump`` (Occopus's writer) puts around a string in
    a block: ``"'"``, ``'"'``, or None when it writes the string plain."""
    if any(not (c == "\n" or " " <= c <= "~") for c in text) or " \n" in text \
            or "\n " in text:
        return '"'
    if "\n" in text or not text or text[0] in " #,[]{}&*!|>'\"%@`" or text[-1] in " :" \
            or (text[0] in "?:-" and text[1:2] in ("", " ")) or ": " in text \
            or " #" in text or text.startswith(("---", "...")):
        return "'"
    return None


def fold_inserted(source: str, rendered: str) -> str:
    """``rendered`` (the template ``source`` rendered with :func:`mark_inserted`)
    as Occopus's YAML round trip left it."""
    inserted = _INSERTED.findall(rendered)
    quote = pyyaml_quote(source)
    if not inserted or quote is None or any(
            mark in text for text in (source, *inserted) for mark in _MARKS):
        return _INSERTED.sub(r"\1", rendered)
    pieces = []
    for index, piece in enumerate(_INSERTED.split(rendered)):
        if index % 2:               # inserted: raw in the text Occopus read back
            pieces.append(piece)
        elif quote == "'":          # PyYAML writes n line breaks as n + 1 raw ones
            pieces.append(_LINE_BREAKS.sub(lambda run: run.group() + "\n", piece))
        else:                       # and, in double quotes, as escapes
            pieces.append(piece.replace("\n", _KEPT_BREAK).replace("\t", _KEPT_TAB))
    folded = _FOLDED.sub(_fold, "".join(pieces))
    return folded.replace(_KEPT_BREAK, "\n").replace(_KEPT_TAB, "\t")


def _fold(run: re.Match[str]) -> str:
    breaks = run.group().count("\n")
    return " " if breaks == 1 else "\n" * (breaks - 1)
