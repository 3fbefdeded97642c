"""The docker handler on a real Docker Engine the tests start (root only).

What every handler does (create, recover, destroy, refusals, builds that fail)
is checked by tests/resources/test_contract.py; these are docker's own: the
docker contextualisation reaching the container, image origins, networks,
and a hello-world infrastructure built, scaled and destroyed for real.
"""

from __future__ import annotations

import ipaddress
import json
import signal
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from occo.api import Occo
from occo.errors import ConfigError, ResourceError
from occo.model.resource_types import DockerResource
from occo.model.states import ResourceState
from occo.resources.base import CreateRequest, HandlerEnv, ResourceRef
from occo.resources.docker import (
    LABEL_INFRA,
    LABEL_INSTANCE,
    LABEL_NODE,
    DockerHandler,
    container_name,
    container_spec,
    docker_state,
    engine_host,
)
from occo.store.store import Store
from tests.clouds.docker_engine import IMAGE, TAG, DockerEngine, TarballServer
from tests.support.cli import Cli
from tests.support.wait import wait_until

MakeOcco = Callable[[dict[str, Any] | None], Occo]
RUNS = json.dumps({"env": {}, "command": "sh -c 'trap \"exit 0\" TERM; sleep 600 & wait'"})


@pytest.fixture
def tarball(tmp_path: Path) -> Iterator[TarballServer]:
    server = TarballServer(tmp_path / "www")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def handler(tmp_path: Path, docker_engine: DockerEngine) -> Iterator[DockerHandler]:
    store = Store(f"sqlite:///{tmp_path / 'occopus.db'}")
    made = DockerHandler(HandlerEnv(home=tmp_path, store=store))
    before = {c["Id"] for c in docker_engine.containers()}
    try:
        yield made
    finally:
        for container in docker_engine.containers():      # whatever a failing test left
            if container["Id"] not in before and LABEL_INSTANCE in (container["Labels"] or {}):
                docker_engine.client().api.remove_container(container["Id"], force=True)
        store.close()


def config(engine: DockerEngine, **fields: Any) -> DockerResource:
    return DockerResource(**{"endpoint": engine.url, "image": IMAGE, "tag": TAG,
                             "origin": "local", "stop_timeout": 5, **fields})


def create(handler: DockerHandler, resource: DockerResource, user_data: str | None = RUNS,
           node: str = "web") -> ResourceRef:
    instance_id = str(uuid.uuid4())
    result = handler.create(CreateRequest("infra-1", instance_id, node, resource, user_data))
    return ResourceRef(instance_id, result.resource_id, resource, result.data)


def ours(engine: DockerEngine, **labels: str) -> list[dict[str, Any]]:
    """The containers carrying occo's labels (and these values)."""
    return [c for c in engine.containers() if LABEL_INSTANCE in (c["Labels"] or {})
            and all(c["Labels"].get(k) == v for k, v in labels.items())]


# --------------------------------------------------------------------------- pure parts


def test_the_docker_contextualisation_becomes_env_and_argv() -> None:
    spec = container_spec(json.dumps({"env": ["message=Hello, World", "EMPTY=", "N=1=2"],
                                      "command": "sh -c '/root/start.sh --now'"}), "n")
    assert spec.env == {"message": "Hello, World", "EMPTY": "", "N": "1=2"}
    assert spec.command == ["sh", "-c", "/root/start.sh --now"]      # split, not run by a shell
    assert container_spec(json.dumps({"env": {"A": 1}, "command": ["x", "y z"]}), "n") == \
        type(spec)({"A": "1"}, ["x", "y z"])
    assert container_spec(None, "n") == type(spec)({}, None)           # the image's defaults
    with pytest.raises(ResourceError, match="node 'n': a docker resource takes its env and "
                                            "command from a 'docker' contextualisation"):
        container_spec("#cloud-config\nruncmd: [ls]\n", "n")


def test_names_states_and_hosts() -> None:
    assert container_name("web server", "1234") == "web_server-1234"
    assert docker_state("running") == ResourceState.RUNNING
    assert docker_state("created") == ResourceState.PENDING
    assert docker_state("exited") == ResourceState.FAILED
    assert docker_state("removing") == ResourceState.GONE
    assert docker_state("paused") == ResourceState.FAILED
    assert docker_state("someday") == ResourceState.UNKNOWN
    assert engine_host("tcp://10.1.2.3:2376") == "10.1.2.3"
    assert engine_host("unix:///var/run/docker.sock") == "127.0.0.1"


# --------------------------------------------------------------------------- handler


def test_the_container_runs_the_command_with_env_and_labels(
        handler: DockerHandler, docker_engine: DockerEngine) -> None:
    user_data = json.dumps({"env": {"message": "hi there"}, "command": "sh -c /root/start.sh"})
    ref = create(handler, config(docker_engine), user_data, node="hello")
    wait_until(lambda: handler.state(ref).state == ResourceState.RUNNING, what="running")
    container = docker_engine.client().containers.get(ref.resource_id)
    assert container.labels == {LABEL_INSTANCE: ref.instance_id, LABEL_INFRA: "infra-1",
                                LABEL_NODE: "hello"}
    assert container.name == f"hello-{ref.instance_id}"
    assert "message=hi there" in container.attrs["Config"]["Env"]
    assert container.attrs["Config"]["Cmd"] == ["sh", "-c", "/root/start.sh"]
    assert wait_until(lambda: container.exec_run(["cat", "/root/message.txt"]).output
                      == b"hi there\n", what="the message file")
    address = handler.address(ref)
    assert docker_engine.subnet is not None
    assert address.ip is not None and ipaddress.ip_address(address.ip) in docker_engine.subnet
    handler.destroy(ref)
    assert ours(docker_engine, **{LABEL_INSTANCE: ref.instance_id}) == []


def test_an_exited_container_is_failed_with_its_code_and_output(
        handler: DockerHandler, docker_engine: DockerEngine) -> None:
    ref = create(handler, config(docker_engine),
                 json.dumps({"command": ["sh", "-c", "echo no database >&2; exit 7"]}))
    report = wait_until(lambda: (r := handler.state(ref)).state == ResourceState.FAILED and r,
                        what="the container to exit")
    assert report.reason == "container exited with code 7; output tail:\nno database"
    assert handler.states([ref]) == [report]


def test_the_output_tail_in_a_failure_reason_is_bounded(
        handler: DockerHandler, docker_engine: DockerEngine) -> None:
    ref = create(handler, config(docker_engine),
                 json.dumps({"command": ["sh", "-c", "printf '%0100000d' 7; exit 1"]}))
    report = wait_until(lambda: (r := handler.state(ref)).state == ResourceState.FAILED and r,
                        what="the container to exit")
    assert report.reason is not None and report.reason.endswith("0007")
    assert 2000 < len(report.reason) < 2100


def test_a_command_that_cannot_start_is_one_message_and_no_container(
        handler: DockerHandler, docker_engine: DockerEngine) -> None:
    with pytest.raises(ResourceError) as caught:
        create(handler, config(docker_engine), json.dumps({"command": ["/no/such/program"]}))
    message = str(caught.value)
    assert message.startswith(f"the Docker Engine at {docker_engine.url}: starting the container "
                              "of node 'web' failed: ")
    assert "/no/such/program" in message and "(HTTP 400)" in message
    assert ours(docker_engine) == []


def test_a_host_network_container_is_reached_at_the_engines_host(
        handler: DockerHandler, docker_engine: DockerEngine) -> None:
    ref = create(handler, config(docker_engine, network_mode="host"))
    assert handler.address(ref).ip == "127.0.0.1"


def test_occopus_style_unix_endpoint_without_the_third_slash(
        handler: DockerHandler, docker_engine: DockerEngine) -> None:
    endpoint = "unix://" + docker_engine.url.removeprefix("unix:///")    # unix://tmp/...
    ref = create(handler, config(docker_engine, endpoint=endpoint))
    assert wait_until(lambda: handler.state(ref).state == ResourceState.RUNNING, what="running")


def test_an_origin_url_is_imported_once_and_relabelled_when_it_changes(
        handler: DockerHandler, docker_engine: DockerEngine, tarball: TarballServer,
        tmp_path: Path) -> None:
    image = f"occo-test/imported-{uuid.uuid4().hex[:8]}"
    first = create(handler, config(docker_engine, image=image, tag="v1", origin=tarball.url))
    create(handler, config(docker_engine, image=image, tag="v1", origin=tarball.url))
    assert tarball.downloads == 1
    other = TarballServer(tmp_path / "other")
    try:
        fresh = DockerHandler(HandlerEnv(home=tmp_path, store=handler.env.store))
        create(fresh, config(docker_engine, image=image, tag="v1", origin=other.url))
        assert other.downloads == 1                                   # another origin: imported
    finally:
        other.stop()
    labels = docker_engine.client().images.get(f"{image}:v1").labels
    assert labels == {"occo.origin": other.url}
    assert handler.state(first).state == ResourceState.RUNNING       # old image still in use


def test_an_origin_url_that_cannot_be_fetched_is_one_message(
        handler: DockerHandler, docker_engine: DockerEngine, tarball: TarballServer) -> None:
    missing = tarball.url.replace("busybox_helloworld.tar", "nothing-here.tar")
    with pytest.raises(ResourceError) as caught:
        create(handler, config(docker_engine, image="occo-test/never", origin=missing))
    message = str(caught.value)
    assert message.startswith(f"the Docker Engine at {docker_engine.url}: ")
    assert "occo-test/never" in message and "404" in message and "\n" not in message
    assert ours(docker_engine) == []


# --------------------------------------------------------------------------- through occo

HELLO_NODES = """\
'node_def:hello_node':
  - resource:
      type: docker
      endpoint: {endpoint}
      origin: {origin}
      image: {image}
      tag: latest
      network_mode: bridge
      stop_timeout: 5
    contextualisation:
      type: docker
      env: ["message={{{{variables.message}}}} (node {{{{node_id}}}})"]
      command: "sh -c /root/start.sh"
    health_check:
      urls: ["http://{{{{ip}}}}:8080/message.txt"]
      timeout: 60
"""

HELLO_INFRA = """\
infra_name: docker-hello
variables:
  message: "Hello from a container occo built."
nodes:
  - name: hello
    type: hello_node
    scaling: {min: 1, max: 3}
"""


def write_hello(tmp_path: Path, engine: DockerEngine, origin: str) -> tuple[Path, Path]:
    image = f"occo-test/hello-{uuid.uuid4().hex[:8]}"
    defs = tmp_path / "nodes.yaml"
    defs.write_text(HELLO_NODES.format(endpoint=engine.url, origin=origin, image=image))
    infra = tmp_path / "infra.yaml"
    infra.write_text(HELLO_INFRA)
    return defs, infra


def messages(engine: DockerEngine, infra_id: str) -> dict[str, bytes]:
    """Instance id -> what each running container of the infrastructure wrote."""
    client = engine.client()
    return {c["Labels"][LABEL_INSTANCE]:
            client.containers.get(c["Id"]).exec_run(["cat", "/root/message.txt"]).output
            for c in ours(engine, **{LABEL_INFRA: infra_id})}


def test_hello_world_builds_scales_to_three_and_back_and_leaves_no_container(
        docker_engine: DockerEngine, tarball: TarballServer, tmp_path: Path,
        make_occo: MakeOcco) -> None:
    occo = make_occo(None)                       # docker needs no auth_data entry
    defs, infra = write_hello(tmp_path, docker_engine, tarball.url)
    occo.import_node_definitions(defs)

    result = occo.build(infra)

    [instance] = occo.report(result.infra_id)["hello"]["instances"].values()
    assert instance["state"] == "ready"          # the urls check reached it on its address
    [container] = ours(docker_engine, **{LABEL_INFRA: result.infra_id})
    ip = container["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
    assert instance["resource_address"] == ip
    [(instance_id, text)] = messages(docker_engine, result.infra_id).items()
    assert text == f"Hello from a container occo built. (node {instance_id})\n".encode()

    occo.scale(result.infra_id, "hello", set_to=3)
    [grown] = occo.maintain([result.infra_id])
    assert grown.created == 2
    report = occo.report(result.infra_id)["hello"]["instances"]
    assert [i["state"] for i in report.values()] == ["ready"] * 3
    assert sorted(messages(docker_engine, result.infra_id)) == sorted(report)
    assert tarball.downloads == 1                # imported once, then reused

    occo.scale(result.infra_id, "hello", set_to=1)
    [shrunk] = occo.maintain([result.infra_id])
    assert shrunk.dropped == 2 and len(ours(docker_engine, **{LABEL_INFRA: result.infra_id})) == 1

    occo.destroy(result.infra_id)
    assert ours(docker_engine, **{LABEL_INFRA: result.infra_id}) == []
    assert occo.list_infrastructures() == []


# The docker-helloworld tutorial as an Occopus user runs it, with files of our own: an
# image already on the Engine (origin: local), the message in env, start.sh as command.
TUTORIAL_NODES = """\
'node_def:helloworld_node':
  - resource:
      type: docker
      endpoint: {endpoint}
      origin: local
      image: {image}
      tag: "{tag}"
      network_mode: bridge
    contextualisation:
      type: docker
      env: ["message={{{{variables.message}}}}"]
      command: "sh -c /root/start.sh"
    health_check:
      ports: [8080]
"""

TUTORIAL_INFRA = """\
infra_name: docker-helloworld
nodes:
  - name: helloworld
    type: helloworld_node
    scaling: {min: 1, max: 3}
    variables:
      message: "Hello World! A container made by occo."
"""


def test_the_helloworld_tutorial_through_the_console_scripts(
        docker_engine: DockerEngine, tmp_path: Path, cli: Cli) -> None:
    defs = tmp_path / "nodes.yaml"
    defs.write_text(TUTORIAL_NODES.format(endpoint=docker_engine.url, image=IMAGE, tag=TAG))
    infra = tmp_path / "infra.yaml"
    infra.write_text(TUTORIAL_INFRA)
    cli.run("occopus-import", defs)

    infra_id = cli.run("occopus-build", infra).stdout.strip()

    [container] = ours(docker_engine, **{LABEL_INFRA: infra_id})
    ip = container["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
    instance_id = container["Labels"][LABEL_INSTANCE]
    report = cli.run("occopus-maintain", "-r", "-i", infra_id).stdout.splitlines()
    assert f"    {instance_id}  ready      {ip}" in report     # the ports check reached it there
    assert messages(docker_engine, infra_id) == {
        instance_id: b"Hello World! A container made by occo.\n"}

    cli.run("occopus-scale", "-i", infra_id, "-n", "helloworld", "-s", "3")
    assert len(ours(docker_engine, **{LABEL_INFRA: infra_id})) == 1     # only recorded
    cli.run("occopus-maintain", "-i", infra_id)
    assert set(messages(docker_engine, infra_id).values()) == {
        b"Hello World! A container made by occo.\n"}
    assert len(ours(docker_engine, **{LABEL_INFRA: infra_id})) == 3

    cli.run("occopus-scale", "-i", infra_id, "-n", "helloworld", "-s", "1")
    cli.run("occopus-maintain", "-i", infra_id)
    assert len(ours(docker_engine, **{LABEL_INFRA: infra_id})) == 1

    cli.run("occopus-destroy", "-i", infra_id)
    assert ours(docker_engine, **{LABEL_INFRA: infra_id}) == []
    assert cli.run("occopus-maintain", "-l").stdout.strip() == ""


GETIP_NODES = """\
'node_def:server':
  - resource: &engine
      type: docker
      endpoint: {endpoint}
      origin: local
      image: {image}
      tag: "{tag}"
      stop_timeout: 5
    contextualisation:
      type: docker
      env: ["message=served by {{{{node_id}}}}"]
      command: "sh -c /root/start.sh"
    health_check:
      ports: [8080]
'node_def:reader':
  - resource: *engine
    contextualisation:
      type: docker
      env: ["SERVER={{{{getip('server')}}}}", "message=reader"]
      command: "sh -c 'wget -q -O /root/fetched.txt http://$SERVER:8080/message.txt && exec /root/start.sh'"
    health_check:
      urls: ["http://{{{{ip}}}}:8080/fetched.txt"]
"""

GETIP_INFRA = """\
infra_name: docker-getip
nodes:
  - &S {name: server, type: server}
  - &R {name: reader, type: reader}
dependencies:
  - [*R, *S]
"""


def test_getip_of_a_docker_node_is_its_address_on_the_engines_bridge(
        docker_engine: DockerEngine, tmp_path: Path, make_occo: MakeOcco) -> None:
    occo = make_occo(None)
    defs = tmp_path / "nodes.yaml"
    defs.write_text(GETIP_NODES.format(endpoint=docker_engine.url, image=IMAGE, tag=TAG))
    infra = tmp_path / "infra.yaml"
    infra.write_text(GETIP_INFRA)
    occo.import_node_definitions(defs)

    infra_id = occo.build(infra).infra_id

    report = occo.report(infra_id)
    [(server_id, server)] = report["server"]["instances"].items()
    [reader] = report["reader"]["instances"].values()
    assert server["state"] == reader["state"] == "ready"
    assert docker_engine.subnet is not None
    assert ipaddress.ip_address(server["resource_address"]) in docker_engine.subnet
    [container] = ours(docker_engine, **{LABEL_NODE: "reader", LABEL_INFRA: infra_id})
    assert f"SERVER={server['resource_address']}" in \
        docker_engine.client().containers.get(container["Id"]).attrs["Config"]["Env"]
    fetched = docker_engine.client().containers.get(container["Id"]).exec_run(
        ["cat", "/root/fetched.txt"]).output
    assert fetched == f"served by {server_id}\n".encode()    # reached over the bridge
    occo.destroy(infra_id)
    assert ours(docker_engine, **{LABEL_INFRA: infra_id}) == []


def test_a_killed_build_leaves_records_from_which_destroy_removes_the_container(
        docker_engine: DockerEngine, tarball: TarballServer, tmp_path: Path, cli: Cli) -> None:
    defs, infra = write_hello(tmp_path, docker_engine, tarball.url)
    cli.run("occopus-import", str(defs))
    build = cli.popen("occopus-build", str(infra))
    try:
        [container] = wait_until(lambda: ours(docker_engine, **{LABEL_NODE: "hello"}),
                                 what="the build to create its container")
    finally:
        build.send_signal(signal.SIGKILL)
        build.communicate()
    infra_id = container["Labels"][LABEL_INFRA]
    assert ours(docker_engine, **{LABEL_INFRA: infra_id}) != []        # left behind

    destroyed = cli.run("occopus-destroy", "-i", infra_id)

    assert destroyed.returncode == 0
    assert ours(docker_engine, **{LABEL_INFRA: infra_id}) == []


def test_docker_needs_no_auth_data_but_uses_a_matching_entry(
        docker_engine: DockerEngine, tmp_path: Path) -> None:
    auth = {"resource": [{"type": "docker", "endpoint": "tcp://elsewhere:2376",
                          "auth_data": {"tls_ca_cert": "/nonexistent/ca.pem"}}]}
    handler = DockerHandler(HandlerEnv(home=tmp_path, store=None,  # type: ignore[arg-type]  # no store needed
                                       auth_data=auth))
    ref = create(handler, config(docker_engine))                      # no entry matches: none
    handler.destroy(ref)
    doubled = {"resource": [{"type": "docker", "auth_data": {"tls_verify": False}},
                            {"type": "docker", "image": IMAGE, "auth_data": {}}]}
    ambiguous = DockerHandler(HandlerEnv(home=tmp_path, store=None,  # type: ignore[arg-type]  # no store needed
                                         auth_data=doubled))
    with pytest.raises(ConfigError, match="matches more than one entry"):
        create(ambiguous, config(docker_engine))


# --------------------------------------------------------------------------- TLS


def tls_auth(engine: DockerEngine, **values: str) -> dict[str, Any]:
    assert engine.tls is not None
    base = {"tls_ca_cert": engine.tls.path("ca"), "tls_client_cert": engine.tls.path("client-cert"),
            "tls_client_key": engine.tls.path("client-key")}
    return {"resource": [{"type": "docker", "endpoint": engine.tls_url,
                          "auth_data": {**base, **values}}]}


def tls_handler(tmp_path: Path, auth: dict[str, Any]) -> DockerHandler:
    return DockerHandler(HandlerEnv(home=tmp_path, store=None,  # type: ignore[arg-type]  # unused
                                    auth_data=auth))


def test_tls_ignores_ca_bundles_and_proxies_from_the_environment(
        docker_engine: DockerEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    handler = tls_handler(tmp_path, tls_auth(docker_engine))
    ref = create(handler, config(docker_engine, endpoint=docker_engine.tls_url))
    assert wait_until(lambda: handler.state(ref).state == ResourceState.RUNNING, what="running")
    handler.destroy(ref)


def test_an_engine_certificate_the_ca_does_not_verify_is_named(
        docker_engine: DockerEngine, tmp_path: Path) -> None:
    assert docker_engine.tls is not None
    handler = tls_handler(tmp_path, tls_auth(docker_engine,
                                             tls_ca_cert=docker_engine.tls.path("rogue-cert")))
    with pytest.raises(ResourceError) as caught:
        create(handler, config(docker_engine, endpoint=docker_engine.tls_url))
    assert str(caught.value) == (
        f"the Docker Engine at {docker_engine.tls_url} has a TLS certificate that the "
        f"tls_ca_cert of resource entry #1 {{type: docker, endpoint: {docker_engine.tls_url}}} "
        "of auth_data.yaml does not verify: certificate verify failed: unable to get local "
        "issuer certificate")


def test_tls_material_that_is_missing_is_a_config_error(docker_engine: DockerEngine,
                                                         tmp_path: Path) -> None:
    entry = f"auth_data.yaml: resource entry #1 {{type: docker, endpoint: {docker_engine.tls_url}}}"
    resource = config(docker_engine, endpoint=docker_engine.tls_url)
    for values, message in [
            ({"tls_ca_cert": "/nonexistent/ca.pem"},
             "tls_ca_cert /nonexistent/ca.pem is neither a file nor PEM text"),
            ({"tls_client_key": "/secret/place/key.pem"},
             "tls_client_key is neither a file nor PEM text"),          # its path is not shown
            ({"tls_client_key": ""}, "tls_client_cert and tls_client_key go together")]:
        with pytest.raises(ConfigError) as caught:
            create(tls_handler(tmp_path, tls_auth(docker_engine, **values)), resource)
        assert str(caught.value) == f"{entry}: {message}"


def test_a_key_given_as_pem_text_is_kept_in_a_private_file(docker_engine: DockerEngine,
                                                            tmp_path: Path) -> None:
    assert docker_engine.tls is not None
    key = docker_engine.tls.text("client-key")
    handler = tls_handler(tmp_path, tls_auth(docker_engine, tls_client_key=key))
    handler.destroy(create(handler, config(docker_engine, endpoint=docker_engine.tls_url)))
    [written] = (tmp_path / "docker-tls").iterdir()
    assert written.read_text() == key
    assert written.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "docker-tls").stat().st_mode & 0o777 == 0o700
