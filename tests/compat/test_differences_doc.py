"""Issue 9, item 7: docs/differences.rst names each difference this work left, with its
reason, so nobody takes one for an accident."""

from __future__ import annotations

from pathlib import Path

import pytest

PAGE = (Path(__file__).parents[2] / "docs" / "differences.rst").read_text()


@pytest.mark.parametrize("must_say", [
    "implicit dependency",                   # templates asking for non-dependencies
    "getip(master)",                         # the cqueue tutorial's unquoted name
    "getip('master')",                       # ... and the fix
    "occo.scaling_token",                    # autoscaling callbacks with auth on
    "recipe[connect]",                       # chef registration as Occopus does it
    "string by string",                      # YAML templates rendered in place
    "are folded, as in Occopus",             # ... with inserted line breaks folded
    "Chef credentials are noted by --dry-run",
    "!python_import",                        # Occopus's config file read, not executed
    "standard error",                        # logging moved off stdout
])
def test_differences_page_names_it(must_say: str) -> None:
    assert must_say in PAGE
