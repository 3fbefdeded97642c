"""Console scripts that do not touch a cloud node never import a cloud SDK.

``python -X importtime`` (here via ``PYTHONPROFILEIMPORTTIME``) lists every
module a process imports; openstacksdk, boto3 and the Azure SDK take most of a
second each to import, so they (and the Docker SDK) must appear only when a node of
their cloud is acted on. ``requests`` (the cloudsigma and cloudbroker handlers' HTTP
client) is held to the same rule.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e.helpers import Occopus

SDK_PREFIXES = ("openstack", "keystoneauth1", "boto3", "botocore", "moto", "docker", "azure",
                "msal", "requests")
IMPORTED = re.compile(r"^import time:\s+\d+ \|\s+\d+ \|\s+(?P<module>\S+)\s*$", re.MULTILINE)


def imported_modules(stderr: str) -> set[str]:
    return {m.group("module") for m in IMPORTED.finditer(stderr)}


@pytest.mark.parametrize("argv", [("occopus-maintain", "-l"), ("occopus-scale", "--help")])
def test_console_script_imports_no_cloud_sdk(tmp_path: Path, argv: tuple[str, ...]) -> None:
    occopus = Occopus(tmp_path)
    occopus.env["PYTHONPROFILEIMPORTTIME"] = "1"
    try:
        result = occopus.run_process(*argv)
    finally:
        occopus.close()
    modules = imported_modules(result.stderr)
    assert "occo.cli.common" in modules                    # the profile did record imports
    assert sorted(m for m in modules if m.split(".")[0] in SDK_PREFIXES) == []
