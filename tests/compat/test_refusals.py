"""Issue 9, item 4: build-time refusals say where and how to fix it.

Each case is a folder of this test's own, imported and checked with
``occopus-build --dry-run`` as a user would: exit 2, nothing on stdout, one
``error:`` line naming the node definition's (or template's) file, line and
column and the fix.
"""

from __future__ import annotations

import re
import sys

import pytest

from occo.cli.build import main as build
from occo.cli.import_cmd import main as import_defs
from tests.compat.conftest import Session

INFRA = "infra_name: t\nnodes:\n  - {name: web, type: web}\n"


def _refusal(session: Session, definitions: str) -> str:
    session.write("nodes/defs.yaml", definitions)
    session.write("infra.yaml", INFRA)
    session.ok(import_defs, "nodes/defs.yaml")
    ran = session.run(build, "--dry-run", "infra.yaml")
    assert (ran.exit_code, ran.stdout) == (2, ""), ran.stderr
    lines = ran.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), ran.stderr
    return lines[0][len("error: "):]


def test_a_type_occopus_retired_is_refused_at_import_with_what_to_use(session: Session) -> None:
    session.write("nodes/defs.yaml", """
        'node_def:web':
          - resource:
              type: occi
              endpoint: https://occi.example.org
        """)
    ran = session.run(import_defs, "nodes/defs.yaml")
    assert (ran.exit_code, ran.stdout) == (2, "")
    assert ran.stderr.strip() == (
        "error: nodes/defs.yaml:3:13: node_def:web[0].resource.type: unknown resource type "
        "'occi': OCCI clouds are not supported (Occopus dropped OCCI in release 1.8); "
        "describe the node for the cloud's nova or ec2 interface instead")


def test_a_missing_cloud_extra_names_the_pip_command(session: Session,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "openstack", None)    # as if openstacksdk were absent
    message = _refusal(session, """
        'node_def:web':
          - resource:
              type: nova
              endpoint: https://keystone.example.org:5000/v3
              project_id: p
              image_id: img
              flavor_name: m1.small
        """)
    assert message == ("nodes/defs.yaml:3:13: node 'web' (type 'web'): resource type 'nova' "
                       "needs the Python package 'openstack', which is not installed: "
                       "pip install 'occo[openstack]'")


def test_a_template_error_names_the_template_line(session: Session) -> None:
    session.write("nodes/web.sh", "#!/bin/sh\n\necho {{ variables.port }}\n")
    message = _refusal(session, """
        'node_def:web':
          - resource: {type: dummy}
            contextualisation:
              type: cloudinit
              context_template: !text_import {url: file://web.sh}
        """)
    assert message == ("nodes/web.sh:3:1: contextualisation.context_template: context_template "
                       "of node 'web': 'dict object' has no attribute 'port'")


def test_an_inline_template_error_names_its_line_in_the_definition(session: Session) -> None:
    message = _refusal(session, """
        'node_def:web':
          - resource: {type: dummy}
            contextualisation:
              type: cloudinit
              context_template: |
                #!/bin/sh
                echo {{ nope }}
        """)
    assert message == ("nodes/defs.yaml:7:1: contextualisation.context_template: "
                       "context_template of node 'web': 'nope' is undefined")


def test_dry_run_reports_a_missing_auth_data_entry(session: Session) -> None:
    definitions = """
        'node_def:web':
          - resource:
              type: ec2
              endpoint: https://ec2.example.org
              regionname: eu-1
              image_id: ami-1
              instance_type: t3.micro
        """
    message = _refusal(session, definitions)      # no auth_data.yaml found at all
    assert message.startswith(
        "nodes/defs.yaml:2:5: node 'web' (type 'web'): resource {type: ec2, endpoint: "
        "https://ec2.example.org} needs credentials, but no auth_data.yaml was found (looked at "
        "--auth_data_path, $OCCOPUS_CONFIG_PATH, ~/.occopus/, ./ and /etc/occopus/)"), message
    session.write("keys/auth.yaml", "resource:\n  - {type: nova, auth_data: {username: u, "
                                    "password: p}}\n").chmod(0o600)
    ran = session.run(build, "--auth_data_path", "keys/auth.yaml", "--dry-run", "infra.yaml")
    assert ran.exit_code == 2 and ran.stderr.strip() == (
        "error: nodes/defs.yaml:2:5: node 'web' (type 'web'): keys/auth.yaml: no resource entry "
        "matches resource {type: ec2, endpoint: https://ec2.example.org} (entries: resource "
        "entry #1 {type: nova})")


def test_a_rollback_says_what_was_never_created(session: Session) -> None:
    session.write("nodes/defs.yaml", """
        'node_def:db':
          - resource: {type: dummy, fail_rate: 1}
        'node_def:web':
          - resource: {type: dummy}
        """)
    session.write("infra.yaml", "infra_name: t\nnodes:\n  - &db {name: db, type: db}\n"
                                "  - &web {name: web, type: web}\ndependencies: [[*web, *db]]\n")
    session.ok(import_defs, "nodes/defs.yaml")
    ran = session.run(build, "infra.yaml")
    assert ran.exit_code == 1 and ran.stdout == ""
    # db's resource was destroyed; web's was never created, and is not called destroyed
    assert re.search(r"^rolled back: dropped 1 instance of 2 nodes in \d+\.\d s; 1 never "
                     r"created$", ran.stderr, re.M), ran.stderr
    assert "not confirmed gone" not in ran.stderr


def test_a_readable_auth_data_file_is_one_warning_line(session: Session) -> None:
    auth = session.write("auth_data.yaml", "resource:\n  - type: dummy\n    auth_data: {}\n")
    auth.chmod(0o644)
    session.write("infra.yaml", "infra_name: w\nnodes: []\n")
    ran = session.run(build, "--auth_data_path", str(auth), "--dry-run", "infra.yaml")
    assert ran.stderr.splitlines()[0] == (f"warning: {auth} is readable by group or others; "
                                          "it holds secrets (chmod 600)")
    assert "UserWarning" not in ran.stderr and "load_config(" not in ran.stderr


def test_a_placeholder_where_a_number_belongs_is_refused_at_import(session: Session) -> None:
    # as in Occopus's azure_aci tutorials, which ask for the placeholders to be replaced
    session.write("nodes/defs.yaml", """
        'node_def:web':
          - resource:
              type: azure_aci
              endpoint: https://management.azure.com
              resource_group: rg
              location: westeurope
              memory: replace_with_memory
              cpu_cores: 1
              image: nginx:alpine
        """)
    ran = session.run(import_defs, "nodes/defs.yaml")
    assert (ran.exit_code, ran.stdout) == (2, "")
    assert ran.stderr.startswith(
        "error: nodes/defs.yaml:7:15: node_def:web[0].resource.memory: Input should be a valid "
        "number"), ran.stderr
    assert "(got 'replace_with_memory')" in ran.stderr and len(ran.stderr.splitlines()) == 1
