"""Sphinx configuration for occo's documentation.

Build with ``python -m sphinx -W -b html docs docs/_build`` (warnings are
errors; the test suite runs the same build).
"""

from __future__ import annotations

import logging

project = "occo"
author = "the occo authors"
copyright = "the occo authors"  # noqa: A001 - Sphinx reads this name
release = "0.1.0"

extensions: list[str] = []
root_doc = "index"
source_suffix = {".rst": "restructuredtext"}
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
templates_path: list[str] = []
html_static_path: list[str] = []
html_theme = "alabaster"
html_title = "occo documentation"
highlight_language = "none"
nitpicky = True

# Pages that other parts of the project add (the REST service, the clouds)
# are pulled into the table of contents by glob patterns. Until such a page
# exists its pattern matches nothing; that is expected, not a warning.
OPTIONAL_PAGE_PATTERNS = ("rest*", "clouds/*")


class _OptionalPagesFilter(logging.Filter):
    """Drop Sphinx's "glob pattern didn't match" warning for the optional pages only."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "subtype", None) != "empty_glob":
            return True
        return not any(repr(p) in record.getMessage() for p in OPTIONAL_PAGE_PATTERNS)


def setup(app: object) -> None:
    """Sphinx calls this after reading the configuration."""
    # Sphinx names its loggers "sphinx." + module; the toctree directive lives here.
    logging.getLogger("sphinx.sphinx.directives.other").addFilter(_OptionalPagesFilter())
