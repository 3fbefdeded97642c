"""Issue 9, item 2: templates see what Occopus templates see.

Occopus builds level by level, so its templates may ask for the address of
any node built earlier, declared as a dependency or not. These tests use a
tutorial-like folder of their own: node definitions whose cloud-init
templates live in separate files, as Occopus tutorials keep them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from occo.api import Occo
from occo.cli.build import main as build
from occo.cli.import_cmd import main as import_defs
from occo.context.templating import TemplateContext, TemplateRenderer, render_health_check
from occo.errors import DescriptionError
from occo.model.templates import merge_variables
from tests.compat.conftest import Session, occo_with

DUMMY_DEFS = """
'node_def:db':
  - resource: {type: dummy}
'node_def:cache':
  - resource: {type: dummy}
'node_def:queue':
  - resource: {type: dummy}
    contextualisation:
      type: cloudinit
      context_template: !text_import {url: file://queue.sh}
'node_def:app':
  - resource: {type: dummy}
    contextualisation:
      type: cloudinit
      context_template: !text_import {url: file://app.sh}
"""

APP_TEMPLATE = """\
#!/bin/sh
echo "db at {{ getip('db') }}"
echo "queue at {{ getip(variables.queue_node) }}"
echo "db {{ variables.db.host }}:{{ variables.db.port }}"
"""

# app depends on cache, cache on db: db is a transitive dependency of app. queue is
# not declared at all; app's template asking for it makes it one.
INFRA = """
infra_name: shop
variables:
  queue_node: queue
  db: {host: db.internal, port: 5432}
nodes:
  - &db {name: db, type: db}
  - &cache {name: cache, type: cache}
  - &queue {name: queue, type: queue}
  - &app
    name: app
    type: app
    variables:
      db: {port: 6543}
dependencies:
  - [*cache, *db]
  - [*app, *cache]
"""


def _tutorial(session: Session, queue_template: str = "#!/bin/sh\necho queue\n") -> None:
    session.write("nodes/node_definitions.yaml", DUMMY_DEFS)
    session.write("nodes/app.sh", APP_TEMPLATE)
    session.write("nodes/queue.sh", queue_template)
    session.write("infra.yaml", INFRA)
    session.ok(import_defs, "nodes/node_definitions.yaml")


def test_dry_run_adds_and_names_implicit_dependencies_and_sees_transitive_ones(
        session: Session) -> None:
    _tutorial(session)
    out = session.ok(build, "--dry-run", "infra.yaml").stdout
    # the edge a template implies is printed, once; the transitive one needs none
    assert "  app waits for queue: its template calls getip(variables.queue_node)" in out
    assert "waits for db" not in out and "waits for cache" not in out
    assert re.search(r"  app: create 1 x app on dummy, target 1 \(after cache, queue\)", out)
    # the template sees db (two levels up) and queue; node variables merged recursively
    assert "| echo \"db at <ip of db>\"" in out
    assert "| echo \"queue at <ip of queue>\"" in out
    assert "| echo \"db db.internal:6543\"" in out


def test_a_cycle_through_a_template_names_the_template_and_the_nodes(session: Session) -> None:
    _tutorial(session, queue_template="#!/bin/sh\n\necho {{ getip('app') }}\n")
    ran = session.run(build, "--dry-run", "infra.yaml")
    assert ran.exit_code == 2 and ran.stdout == ""
    # queue's edge comes first (file order); app's closes the loop, so it is the one shown
    assert ran.stderr.strip() == (
        "error: nodes/app.sh:3:1: dependency cycle: app -> queue -> app ('app' waits for "
        "'queue' because its template calls getip(variables.queue_node); 'queue' waits for "
        "'app' because its template calls getip('app') at nodes/queue.sh:3:1)")


@pytest.mark.parametrize(("call", "message"), [
    ("getip('dbx')", "nodes/queue.sh:2:1: contextualisation.context_template: template of "
                     "node 'queue' calls getip('dbx'), but the infrastructure has no node "
                     "'dbx' (did you mean 'db'?)"),
    ("getip(db)", "nodes/queue.sh:2:1: contextualisation.context_template: template of node "
                  "'queue' calls getip(db), but 'db' is not defined; to name the node, quote "
                  "it: getip('db')"),
    ("getip('db'", "nodes/queue.sh:2:1: contextualisation.context_template: template of node "
                   "'queue' is not valid Jinja2: unexpected '}', expected ')'"),
])
def test_a_call_that_names_no_node_is_refused_at_its_line(session: Session, call: str,
                                                          message: str) -> None:
    _tutorial(session, queue_template="#!/bin/sh\necho {{ " + call + " }}\n")
    ran = session.run(build, "--dry-run", "infra.yaml")
    assert (ran.exit_code, ran.stderr.strip()) == (2, f"error: {message}")


def test_variables_merge_recursively_node_over_implementation_over_infrastructure() -> None:
    merged = merge_variables({"db": {"host": "h", "port": 1}, "keep": [1]},
                             {"db": {"user": "u"}}, {"db": {"port": 2}, "keep": [2]})
    assert merged == {"db": {"host": "h", "port": 2, "user": "u"}, "keep": [2]}


def test_health_check_values_are_templates_of_the_node() -> None:
    ctx = TemplateContext(infra_id="i-1", infra_name="shop", node_name="db", instance_id="n-1",
                          variables={"db": {"name": "wp", "user": "wpuser", "pw": "s3cret"},
                                     "port": 3306})
    spec = {"ping": False, "timeout": 30, "ports": ["{{ variables.port }}"],
            "urls": ["http://{{ ip }}:8080/{{ infra_id }}"],
            "mysqldbs": [{"name": "{{ variables.db.name }}", "user": "{{ variables.db.user }}",
                          "pass": "{{ variables.db.pw }}"}],
            "command": ["check", "{{ip}}", "{{ name }}"]}
    assert render_health_check(TemplateRenderer(), spec, ctx) == {
        "ping": False, "timeout": 30, "ports": ["3306"],
        "urls": ["http://{{ip}}:8080/i-1"],
        "mysqldbs": [{"name": "wp", "user": "wpuser", "pass": "s3cret"}],
        "command": ["check", "{{ip}}", "db"]}
    with pytest.raises(DescriptionError, match="health_check urls of node 'db'"):
        render_health_check(TemplateRenderer(), {"urls": ["{{ variables.nope }}"]}, ctx)


# --------------------------------------------------------------------------- a real build

WEB = """\
      command:
        - python3
        - -c
        - |
          import http.server, os, socketserver
          class Ok(http.server.BaseHTTPRequestHandler):
              def do_GET(self):
                  ok = self.path == "/healthz"
                  self.send_response(200 if ok else 404)
                  self.send_header("Content-Length", "0")
                  self.end_headers()
              def log_message(self, *args):
                  pass
          socketserver.TCPServer(("127.0.0.1", int(os.environ["OCCO_PORT_8080"])),
                                 Ok).serve_forever()
      ports: [8080]
      stop_timeout: 2
"""

LOCAL_DEFS = f"""
'node_def:db':
  - resource:
      type: local
      command: [sleep, "300"]
      stop_timeout: 1
'node_def:cache':
  - resource:
      type: local
      command: [sleep, "300"]
      stop_timeout: 1
'node_def:queue':
  - resource:
      type: local
{WEB}    health_check:
      ping: false
      urls: ['http://{{{{ip}}}}:{{{{ variables.web.port }}}}/{{{{ variables.web.path }}}}']
      timeout: 20
'node_def:app':
  - resource:
      type: local
      command: [sleep, "300"]
      stop_timeout: 1
    contextualisation:
      type: cloudinit
      context_template: !text_import {{url: file://app.sh}}
"""


@pytest.fixture
def occo(tmp_path: Path) -> Iterator[Occo]:
    infra = INFRA.replace("variables:\n  queue_node",
                          "variables:\n  web: {port: 8080, path: healthz}\n  queue_node")
    files = {"app.sh": APP_TEMPLATE, "defs.yaml": LOCAL_DEFS, "infra.yaml": infra}
    with occo_with(tmp_path, files) as api:
        yield api


def test_a_build_renders_real_addresses_and_waits_for_the_implied_node(
        occo: Occo, tmp_path: Path) -> None:
    result = occo.build(tmp_path / "infra.yaml", parallelize=True)
    assert result.report is not None
    nodes = result.report["nodes"]
    (app_id, app), = nodes["app"]["instances"].items()
    (_, queue), = nodes["queue"]["instances"].items()
    # queue's health URL was rendered (/healthz, else 404 and a timeout) and app
    # was created only once queue was ready
    app_times, queue_times = app["timings"], queue["timings"]
    app_started = app_times["ready_after"] - app_times["boot"] - app_times["create_call"]
    assert app_started >= queue_times["ready_after"]
    user_data = (occo.config.home / "instances" / app_id / "user_data").read_text()
    assert user_data == ('#!/bin/sh\necho "db at 127.0.0.1"\necho "queue at 127.0.0.1"\n'
                         'echo "db db.internal:6543"\n')
