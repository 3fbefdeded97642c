"""User data: cloudinit/basic/docker contextualisation, config management merged in,
and what ``occopus-build --dry-run`` shows."""

from __future__ import annotations

import email
import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from occo.context.templating import NodeAddresses, TemplateContext, TemplateRenderer
from occo.context.userdata import render_user_data
from occo.errors import DescriptionError
from tests.e2e.helpers import Occopus


def ctx(**variables: Any) -> TemplateContext:
    return TemplateContext(infra_id="infra-1", infra_name="demo", node_name="worker",
                           instance_id="0123456789abcdef", variables=variables,
                           addresses={"head": NodeAddresses((("192.0.2.10", "10.0.0.10"),))})


def render(context: dict[str, Any] | None, config: dict[str, Any] | None = None,
           **kwargs: Any) -> str | None:
    return render_user_data(TemplateRenderer(), context, ctx(size="large"), config, **kwargs)


def cloud_config(text: str | None) -> dict[str, Any]:
    assert text is not None and text.startswith("#cloud-config\n")
    return dict(YAML(typ="safe", pure=True).load(text))


def test_attributes_are_rendered_and_reach_the_template() -> None:
    text = render({"type": "cloudinit",
                   "context_template": "#cloud-config\nruncmd:\n"
                                       "  - [join, '{{ attributes.head }}', "
                                       "'{{ attributes.slots }}']\n",
                   "attributes": {"head": "{{ getprivip('head') }}", "slots": 4}})
    assert text == "#cloud-config\nruncmd:\n  - [join, '10.0.0.10', '4']\n"


def test_a_yaml_imported_template_keeps_its_order() -> None:
    text = render({"type": "cloudinit", "context_template": {
        "write_files": [{"path": "/etc/size", "content": "{{ variables.size }}"}],
        "bootcmd": ["echo {{ name }}"]}})
    assert text == ("#cloud-config\nwrite_files:\n- path: /etc/size\n  content: large\n"
                    "bootcmd:\n- echo worker\n")


def test_basic_has_no_user_data_until_jobs_add_some() -> None:
    assert render({"type": "basic", "attributes": {"role": "db"}}) is None
    text = render({"type": "basic", "attributes": {"role": "db"}},
                  {"type": "jobs", "jobs": [{"RUN": "echo {{ variables.size }}"}]})
    assert cloud_config(text)["runcmd"] == [["/bin/sh", "-c", "echo large"]]


def test_docker_context_is_a_rendered_json_document() -> None:
    text = render({"type": "docker", "env": ["HEAD={{ getip('head') }}", "PORT=9100"],
                   "command": "monitor --size {{ variables.size }}"})
    assert json.loads(text or "") == {"env": {"HEAD": "192.0.2.10", "PORT": "9100"},
                                      "command": "monitor --size large"}
    with pytest.raises(DescriptionError, match="docker contextualisation does not have"):
        render({"type": "docker", "env": {}}, {"type": "jobs", "jobs": [{"RUN": "x"}]})


def test_jobs_are_merged_into_the_cloud_config() -> None:
    text = render({"type": "cloudinit",
                   "context_template": "#cloud-config\npackages: [nginx]\nruncmd:\n"
                                       "  - [systemctl, start, nginx]\n"},
                  {"type": "jobs", "jobs": [{"RUN": "echo {{ getip('head') }} > /etc/head"}]})
    data = cloud_config(text)
    assert data["packages"] == ["nginx"]
    assert data["runcmd"] == [["systemctl", "start", "nginx"],
                              ["/bin/sh", "-c", "echo 192.0.2.10 > /etc/head"]]


def test_jobs_are_left_out_for_handlers_that_run_them() -> None:
    template = {"type": "cloudinit", "context_template": "#cloud-config\nruncmd: [[a]]\n"}
    jobs = {"type": "jobs", "jobs": [{"RUN": "b"}]}
    assert render(template, jobs, include_jobs=False) == "#cloud-config\nruncmd: [[a]]\n"


def test_a_shell_script_and_jobs_travel_as_mime_parts() -> None:
    text = render({"type": "cloudinit", "context_template": "#!/bin/sh\necho {{ name }}\n"},
                  {"type": "jobs", "jobs": [{"RUN": "echo {{ getip('head') }}"}]})
    message = email.message_from_string(text or "")
    assert message.is_multipart()
    script, config = message.get_payload()
    assert script.get_content_type() == "text/x-shellscript"
    assert script.get_payload(decode=True).decode() == "#!/bin/sh\necho worker\n"
    assert config.get_content_type() == "text/cloud-config"
    data = cloud_config(config.get_payload(decode=True).decode())
    assert data["runcmd"] == [["/bin/sh", "-c", "echo 192.0.2.10"]]


def test_a_conflicting_key_and_broken_yaml_are_explained() -> None:
    with pytest.raises(DescriptionError, match="already sets 'runcmd'"):
        render({"type": "cloudinit", "context_template": "#cloud-config\nruncmd: yes\n"},
               {"type": "jobs", "jobs": [{"RUN": "b"}]})
    with pytest.raises(DescriptionError, match="rendered cloud-config is not valid YAML"):
        render({"type": "cloudinit", "context_template": "#cloud-config\nruncmd: [a\n"},
               {"type": "jobs", "jobs": [{"RUN": "b"}]})


def test_dry_run_prints_the_user_data_with_placeholder_addresses(tmp_path: Path) -> None:
    occopus = Occopus(tmp_path)
    (tmp_path / "worker.yaml").write_text(
        "#cloud-config\nruncmd:\n  - [join, '{{ getip(\"head\") }}', '{{ cut(node_id, 0, 4) }}']\n")
    defs = tmp_path / "nodes.yaml"
    defs.write_text(textwrap.dedent("""\
        'node_def:head':
          - resource: {type: nova, endpoint: "https://keystone.invalid/v3", project_id: p,
                       image_id: img, flavor_name: m1.small}
            contextualisation: {type: cloudinit, context_template: "#cloud-config\\n"}
        'node_def:worker':
          - resource: {type: ec2, endpoint: "https://ec2.invalid", regionname: eu-west-1,
                       image_id: ami-1, instance_type: t3.micro}
            contextualisation:
              type: cloudinit
              context_template: !text_import {url: file://worker.yaml}
          - resource: {type: local, command: [sleep, "60"]}
            config_management:
              type: jobs
              jobs: [{RUN: "echo {{ getip('head') }}"}]
        """))
    infra = tmp_path / "infra.yaml"
    infra.write_text(textwrap.dedent("""\
        infra_name: preview
        nodes:
          - &H {name: head, type: head}
          - &W {name: worker, type: worker}
          - &L {name: laptop, type: worker, filter: {type: local}}
        dependencies: [[*W, *H], [*L, *H]]
        """))
    auth = tmp_path / "auth_data.yaml"
    auth.write_text("resource:\n  - {type: nova, auth_data: {username: u, password: p}}\n"
                    "  - {type: ec2, auth_data: {accesskey: a, secretkey: s}}\n")
    auth.chmod(0o600)
    try:
        occopus.import_defs(defs)
        result = occopus.run("occopus-build", "--auth_data_path", auth, "--dry-run", infra)
    finally:
        occopus.close()
    out = result.stdout
    assert "contextualisation (addresses and node_id are placeholders in a dry run):" in out
    assert ("  worker: user data\n    | #cloud-config\n    | runcmd:\n"
            "    |   - [join, '<ip of head>', '<nod']\n") in out
    assert "  laptop: jobs run on the instance once it is running\n" \
           "    | RUN echo <ip of head>\n" in out
    assert occopus.listed() == {}                       # nothing was created
