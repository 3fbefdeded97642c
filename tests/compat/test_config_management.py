"""Issue 9, item 3: config management as Occopus does it.

Occopus's puppet_solo config manager adds nothing to cloud-init: it gives the
node's template ``puppet.modules``, ``puppet.manifests`` and
``puppet.attributes`` (space-separated strings of the rendered section) and
the template installs and runs puppet itself.
"""

from __future__ import annotations

from ruamel.yaml import YAML

from occo.cli.build import main as build
from occo.cli.import_cmd import main as import_defs
from tests.compat.conftest import Session

PUPPET_TEMPLATE = """\
write_files:
- path: /etc/puppet/modules.txt
  content: "{{ puppet.modules }}"
- path: /etc/puppet/manifests.txt
  content: "{{ puppet.manifests }}"
- path: /etc/puppet/hiera.txt
  content: "{{ puppet.attributes }}"
runcmd:
- sh /etc/puppet/run.sh
"""

DEFS = """
'node_def:db':
  - resource: {type: dummy}
'node_def:blog':
  - resource: {type: dummy}
    contextualisation:
      type: cloudinit
      context_template: !yaml_import {url: file://puppet.yaml}
    config_management:
      type: puppet_solo
      manifests:
        - https://example.org/manifests/blog.pp
        - https://example.org/manifests/extra.pp
      modules: [vendor-apache, vendor-php]
      attributes:
        - dbname: "{{ variables.db_name }}"
        - dbhost: "{{ getip('db') }}"
"""


def test_puppet_solo_names_reach_the_template_and_nothing_is_added(session: Session) -> None:
    session.write("nodes/defs.yaml", DEFS)
    session.write("nodes/puppet.yaml", PUPPET_TEMPLATE)
    session.write("infra.yaml", "infra_name: blog\nvariables: {db_name: wp}\nnodes:\n"
                                "  - {name: db, type: db}\n  - {name: blog, type: blog}\n")
    session.ok(import_defs, "nodes/defs.yaml")
    out = session.ok(build, "--dry-run", "infra.yaml").stdout
    # the attributes' getip makes db an implicit dependency of blog
    assert "  blog waits for db: its template calls getip('db')" in out
    user_data = "\n".join(line[len("    | "):] for line in out.splitlines()
                          if line.startswith("    | "))
    assert user_data.startswith("#cloud-config\n")
    data = YAML(typ="safe", pure=True).load(user_data)
    assert data == {   # the template's own keys only: no puppet install, no facts file
        "write_files": [
            {"path": "/etc/puppet/modules.txt", "content": "vendor-apache vendor-php"},
            {"path": "/etc/puppet/manifests.txt",
             "content": "https://example.org/manifests/blog.pp "
                        "https://example.org/manifests/extra.pp"},
            {"path": "/etc/puppet/hiera.txt",
             "content": "{'dbname': 'wp'} {'dbhost': '<ip of db>'}"}],
        "runcmd": ["sh /etc/puppet/run.sh"]}
