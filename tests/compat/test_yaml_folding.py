"""Issue 9, item 2: a YAML context template means what it meant to Occopus.

Occopus wrote a ``!yaml_import`` context template out with PyYAML, rendered
the text and read it back, so line breaks a template inserts into a quoted
string were folded. Occopus's kubernetes tutorial relies on it: its private
key variable has a blank line between the key's lines, and the node gets the
key with one line break between them. The reference below is that pipeline,
run with PyYAML and Jinja as Occopus ran them.
"""

from __future__ import annotations

import jinja2
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from occo.cli.build import main as build
from occo.cli.import_cmd import main as import_defs
from occo.context.templating import TemplateContext, TemplateRenderer
from occo.context.yamlfold import pyyaml_quote
from tests.compat.conftest import Session


def occopus_round_trip(source: str, value: str) -> str:
    """What Occopus made of the string ``source`` of a YAML template, ``{{v}}`` = value."""
    text = yaml.dump({"write_files": [{"content": source}]})
    rendered = jinja2.Template(text, keep_trailing_newline=True).render(v=value)
    return str(yaml.safe_load(rendered)["write_files"][0]["content"])


def occo_renders(source: str, value: str) -> str:
    ctx = TemplateContext(infra_id="i", infra_name="n", node_name="a", instance_id="x",
                          variables={"v": value})
    return TemplateRenderer().render(source.replace("{{v}}", "{{ variables.v }}"), ctx,
                                     in_yaml=True)


LITERAL = st.text(alphabet="ab -\n\t\u00e9{", max_size=6)
INSERTED = st.text(alphabet="AB \n\t", max_size=8)


@settings(max_examples=300, deadline=None)
@given(st.lists(LITERAL, min_size=2, max_size=4), INSERTED)
def test_inserted_line_breaks_fold_as_in_occopus(literals: list[str], value: str) -> None:
    source = "{{v}}".join(literals)
    if "{{" in "".join(literals) or "{{{" in source or pyyaml_quote(source) is None:
        return          # not one insert, or a plain string (Occopus could not read back
                        # a line break inserted there)
    try:
        expected = occopus_round_trip(source, value)
    except yaml.YAMLError:
        return          # Occopus refused the document
    assert occo_renders(source, value) == expected


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab :#-?{}'\"\n\t\u00e9.", min_size=1, max_size=8))
def test_quoting_is_the_one_pyyaml_chooses(text: str) -> None:
    written = yaml.dump(text, width=10**6)
    if written[0] in "|>":
        return
    assert pyyaml_quote(text) == (written[0] if written[0] in "'\"" else None)


KEY = "-----BEGIN KEY-----\n\nAAAA\n\nBBBB\n\n-----END KEY-----\n"

DEFS = """
'node_def:master':
  - resource: {type: dummy}
    contextualisation:
      type: cloudinit
      context_template: !yaml_import {url: file://cloud_init.yaml}
"""

CLOUD_INIT = """
#cloud-config
write_files:
- path: /root/.ssh/id_rsa
  content: |
    {{variables.private_key}}
- path: /etc/motd
  content: "welcome {{variables.who}}"
- path: /etc/consul/hosts.ctmpl
  content: |
    {% raw %}{{range service "web"}}
    {{.Address}} {{.Node}}{{end}}{% endraw %}
runcmd:
- echo {{variables.who}} > /tmp/who
"""


def test_a_key_written_with_blank_lines_reaches_the_node_as_one_key(session: Session) -> None:
    session.write("nodes/node_definitions.yaml", DEFS)
    session.write("nodes/cloud_init.yaml", CLOUD_INIT)
    session.write("infra.yaml", "infra_name: k\nnodes:\n  - {name: master, type: master}\n"
                                "variables:\n  who: ops\n  private_key: |\n"
                  + "".join(f"    {line}\n" if line else "\n" for line in KEY.splitlines()))
    session.ok(import_defs, "nodes/node_definitions.yaml")
    out = session.ok(build, "--dry-run", "infra.yaml").stdout
    user_data = yaml.safe_load("\n".join(line.split("| ", 1)[1] for line in out.splitlines()
                                         if line.startswith("    | ")))
    (key, motd, consul) = (f["content"] for f in user_data["write_files"])
    assert key == "-----BEGIN KEY-----\nAAAA\nBBBB\n-----END KEY-----\n\n"
    assert key == occopus_round_trip("{{v}}\n", KEY)
    assert motd == "welcome ops" and user_data["runcmd"] == ["echo ops > /tmp/who"]
    # Go templates for consul-template (Occopus's hadoop tutorial) pass through raw blocks
    assert consul == '{{range service "web"}}\n{{.Address}} {{.Node}}{{end}}\n'
