"""Node definition files: implementations, sections, filters, and errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from occo.errors import DescriptionError
from occo.model.nodedef import (
    BasicContext,
    ChefConfig,
    CloudInitContext,
    DockerContext,
    HealthCheck,
    Implementation,
    JobsConfig,
    PuppetSoloConfig,
    load_node_definitions,
    matches_filter,
    parse_node_definitions,
    select_implementations,
)
from occo.model.resource_types import (
    DockerResource,
    DummyResource,
    Ec2Resource,
    GenericResource,
    NovaResource,
)

DATA = Path(__file__).parent / "data"


def parse(text: str, base_dir: Path = DATA) -> dict[str, list[Implementation]]:
    return parse_node_definitions(textwrap.dedent(text).lstrip("\n"), "nodes.yaml", base_dir)


def error_of(text: str) -> str:
    with pytest.raises(DescriptionError) as caught:
        parse(text)
    return str(caught.value)


@pytest.fixture(scope="module")
def cluster_defs() -> dict[str, list[Implementation]]:
    return load_node_definitions(DATA / "nodes" / "node_definitions.yaml")


# --------------------------------------------------------------------------- accepted forms


def test_tutorial_style_file(cluster_defs: dict[str, list[Implementation]]) -> None:
    assert sorted(cluster_defs) == ["cluster_gateway", "cluster_head", "cluster_monitor",
                                    "cluster_worker"]
    assert len(cluster_defs["cluster_head"]) == 2


def test_cloudinit_with_text_import(cluster_defs: dict[str, list[Implementation]]) -> None:
    head = cluster_defs["cluster_head"][0]
    assert isinstance(head.resource, NovaResource)
    context = head.contextualisation
    assert isinstance(context, CloudInitContext)
    expected = (DATA / "nodes" / "cloud_init_head.yaml").read_text()
    assert context.context_template == expected
    assert context.context_template.startswith("#cloud-config\n")
    assert head.health_check == HealthCheck(ping=True, ports=[22])


def test_cloudinit_attributes_and_chef(cluster_defs: dict[str, list[Implementation]]) -> None:
    worker = cluster_defs["cluster_worker"][0]
    assert isinstance(worker.resource, Ec2Resource)
    assert worker.resource.tags == {"project": "cluster", "owner": "operator"}
    assert isinstance(worker.contextualisation, CloudInitContext)
    assert worker.contextualisation.attributes == {"slots": 4}
    assert worker.config_management == ChefConfig(
        type="chef", endpoint="https://chef.example.org/organizations/cluster",
        run_list=["recipe[cluster::worker]"], environment="production")
    assert worker.health_check is None


def test_docker_contextualisation(cluster_defs: dict[str, list[Implementation]]) -> None:
    monitor = cluster_defs["cluster_monitor"][0]
    assert isinstance(monitor.resource, DockerResource)
    assert monitor.resource.tag == "2.1"
    assert monitor.contextualisation == DockerContext(
        type="docker", env=["HEAD={{ getip('head') }}", "PORT=9100"],
        command="sh -c /opt/monitor/start.sh")
    assert monitor.health_check is not None and monitor.health_check.ping is False


def test_health_check_from_yaml_import(cluster_defs: dict[str, list[Implementation]]) -> None:
    gateway = cluster_defs["cluster_gateway"][0]
    assert gateway.resource == DummyResource(type="dummy", create_delay=0.5, boot_delay=1)
    assert gateway.health_check == HealthCheck(
        ping=False, ports=[22, 80], urls=["http://{{ip}}:80/status"], timeout=300)


def test_basic_context_and_puppet_solo() -> None:
    defs = parse("""
        'node_def:puppet':
          - resource: {type: dummy}
            contextualisation:
              type: basic
              attributes: {motd: hello}
            config_management:
              type: puppet_solo
              manifests: [https://example.org/site.pp]
              modules: [puppetlabs-apache]
              attributes: [apache_port=80]
    """)
    impl = defs["puppet"][0]
    assert impl.contextualisation == BasicContext(type="basic", attributes={"motd": "hello"})
    assert impl.config_management == PuppetSoloConfig(
        type="puppet_solo", manifests=["https://example.org/site.pp"],
        modules=["puppetlabs-apache"], attributes=["apache_port=80"])


def test_inline_cloud_config_mapping_and_yaml_import(tmp_path: Path) -> None:
    (tmp_path / "cc.yaml").write_text("runcmd: [echo one]\n")
    defs = parse("""
        'node_def:a':
          - resource: {type: dummy}
            contextualisation:
              type: cloudinit
              context_template: !yaml_import {url: file://cc.yaml}
    """, base_dir=tmp_path)
    context = defs["a"][0].contextualisation
    assert isinstance(context, CloudInitContext)
    assert context.context_template == {"runcmd": ["echo one"]}


def test_every_health_check_key() -> None:
    defs = parse("""
        'node_def:db':
          - resource: {type: dummy}
            health_check:
              type: basic
              ping: false
              ports: [3306, "33060"]
              urls: ["http://{{ip}}:8080/health"]
              mysqldbs:
                - {name: wp, user: wpuser, pass: wppass}
                - {name: other, user: root, pass: ''}
              timeout: 120.5
              command: [mysqladmin, ping]
    """)
    check = defs["db"][0].health_check
    assert check is not None
    assert (check.ping, check.ports, check.timeout) == (False, [3306, 33060], 120.5)
    assert check.urls == ["http://{{ip}}:8080/health"]
    assert [(db.name, db.user, db.password) for db in check.mysqldbs] == [
        ("wp", "wpuser", "wppass"), ("other", "root", "")]
    assert check.command == ["mysqladmin", "ping"]
    dumped = defs["db"][0].model_dump(by_alias=True)
    assert dumped["health_check"]["mysqldbs"][0] == {"name": "wp", "user": "wpuser",
                                                     "pass": "wppass"}


def test_health_check_defaults() -> None:
    check = HealthCheck()
    assert (check.ping, check.ports, check.urls, check.mysqldbs, check.timeout) == \
        (True, [], [], [], None)


def test_jobs_config_management() -> None:
    defs = load_node_definitions(DATA / "all_resources.yaml")
    jobs = defs["on_local"][0].config_management
    assert isinstance(jobs, JobsConfig)
    assert jobs.jobs[0] == {"WORKDIR": "/srv/web"}
    assert jobs.jobs[2] == {"targets": ["here"], "jobs": [{"RUN": "date"}]}


def test_implementation_variables() -> None:
    defs = parse("""
        'node_def:a':
          - resource: {type: dummy}
            variables: {port: 80}
    """)
    assert defs["a"][0].variables == {"port": 80}


def test_round_trip_through_model_dump(cluster_defs: dict[str, list[Implementation]]) -> None:
    for impls in cluster_defs.values():
        for impl in impls:
            dumped = impl.model_dump(mode="json", by_alias=True)
            assert Implementation.model_validate(dumped) == impl


# --------------------------------------------------------------------------- filters


def test_select_implementations_by_sub_dict() -> None:
    defs = load_node_definitions(DATA / "nodes" / "node_definitions.yaml")
    head = defs["cluster_head"]
    assert select_implementations(head, {}) == head
    assert select_implementations(head, None) == head
    large = select_implementations(head, {"type": "nova", "flavor_name": "m1.large"})
    assert large == [head[0]]
    assert select_implementations(head, {"name": "my_openstack"}) == head
    assert select_implementations(head, {"type": "ec2"}) == []
    assert select_implementations(head, {"flavor_name": "m1.tiny"}) == []


def test_filter_matches_nested_dicts() -> None:
    defs = load_node_definitions(DATA / "all_resources.yaml")
    sigma = defs["on_cloudsigma"]
    assert select_implementations(sigma, {"description": {"cpu": 2000}}) == sigma
    assert select_implementations(sigma, {"description": {"cpu": 1000}}) == []
    assert select_implementations(sigma, {"description": "x"}) == []
    plugin = defs["on_plugin"]
    assert select_implementations(plugin, {"type": "my_cloud", "nested": {"deep": [1, 2]}}) \
        == plugin


def test_filter_uses_the_section_as_written() -> None:
    defs = parse("""
        'node_def:a':
          - resource: {type: docker, endpoint: e, image: i}
    """)
    # ``tag`` was not written (its default is "latest"), so it does not match
    assert select_implementations(defs["a"], {"tag": "latest"}) == []
    assert defs["a"][0].resource_section() == {"type": "docker", "endpoint": "e", "image": "i"}


def test_matches_filter() -> None:
    section = {"type": "ec2", "tags": {"a": "1", "b": "2"}, "ids": [1, 2]}
    assert matches_filter(section, {})
    assert matches_filter(section, {"tags": {"a": "1"}})
    assert not matches_filter(section, {"tags": {"a": "2"}})
    assert not matches_filter(section, {"missing": None})
    assert matches_filter(section, {"ids": [1, 2]})
    assert not matches_filter(section, {"ids": [1]})


# --------------------------------------------------------------------------- errors


def test_key_without_node_def_prefix() -> None:
    assert error_of("""
        'node_def:a':
          - resource: {type: dummy}
        'nodedef:b':
          - resource: {type: dummy}
    """) == ("nodes.yaml:3:1: nodedef:b: a node definition must be named "
             "'node_def:<type>', not 'nodedef:b'")


def test_empty_type_name() -> None:
    assert "must be named 'node_def:<type>'" in error_of("'node_def:': []\n")


def test_implementations_must_be_a_non_empty_list() -> None:
    assert error_of("'node_def:a': []\n") == "nodes.yaml:1:15: node_def:a: must not be empty"
    assert error_of("'node_def:a': {resource: {type: dummy}}\n") == \
        "nodes.yaml:1:15: node_def:a: Input should be a valid list"


def test_document_must_be_a_mapping() -> None:
    assert "this document is empty" in error_of("\n")
    assert "not a mapping" in error_of("- a\n")


def test_unknown_section() -> None:
    assert error_of("""
        'node_def:a':
          - resource: {type: dummy}
            helth_check: {ping: false}
    """) == "nodes.yaml:3:5: node_def:a[0]: unknown key 'helth_check' (did you mean 'health_check'?)"


def test_missing_resource() -> None:
    assert error_of("""
        'node_def:a':
          - health_check: {ping: false}
    """) == "nodes.yaml:2:5: node_def:a[0]: missing required key 'resource'"


def test_resource_without_type() -> None:
    assert error_of("""
        'node_def:a':
          - resource:
              endpoint: https://x
    """) == "nodes.yaml:3:7: node_def:a[0].resource: missing required key 'type'"


def test_unknown_resource_key_suggests_spelling() -> None:
    assert error_of("""
        'node_def:a':
          - resource:
              type: nova
              endpoint: https://keystone
              project_id: p
              image_id: i
              flavour_name: m1.small
    """).startswith("nodes.yaml:7:7: node_def:a[0].resource: "
                    "unknown key 'flavour_name' (did you mean 'flavor_name'?)")


def test_missing_required_resource_key() -> None:
    assert error_of("""
        'node_def:a':
          - resource:
              type: ec2
              endpoint: https://ec2
              regionname: r
              image_id: ami
    """) == "nodes.yaml:3:7: node_def:a[0].resource: missing required key 'instance_type'"


def test_wrong_resource_value_points_at_the_field() -> None:
    assert error_of("""
        'node_def:a':
          - resource:
              type: dummy
              fail_rate: 1.5
    """) == "nodes.yaml:4:18: node_def:a[0].resource.fail_rate: " \
            "Input should be less than or equal to 1 (got 1.5)"


def test_unknown_contextualisation_type() -> None:
    assert error_of("""
        'node_def:a':
          - resource: {type: dummy}
            contextualisation:
              type: cloud-init
              context_template: x
    """) == ("nodes.yaml:4:13: node_def:a[0].contextualisation.type: "
             "unknown type 'cloud-init' (did you mean 'cloudinit'?)")


def test_unknown_config_management_type_lists_the_known_ones() -> None:
    assert error_of("""
        'node_def:a':
          - resource: {type: dummy}
            config_management: {type: ansible}
    """) == ("nodes.yaml:3:31: node_def:a[0].config_management.type: "
             "unknown type 'ansible' (known: chef, puppet_solo, jobs)")


def test_cloudinit_needs_a_template() -> None:
    assert error_of("""
        'node_def:a':
          - resource: {type: dummy}
            contextualisation: {type: cloudinit}
    """) == ("nodes.yaml:3:24: node_def:a[0].contextualisation: "
             "missing required key 'context_template'")


def test_unknown_key_in_a_tagged_section() -> None:
    assert error_of("""
        'node_def:a':
          - resource: {type: dummy}
            config_management:
              type: chef
              endpoint: https://chef
              run_list: []
              runlist: []
    """) == ("nodes.yaml:7:7: node_def:a[0].config_management: "
             "unknown key 'runlist' (did you mean 'run_list'?)")


def test_health_check_errors() -> None:
    assert error_of("""
        'node_def:a':
          - resource: {type: dummy}
            health_check:
              ports: [22, ssh]
    """) == ("nodes.yaml:4:19: node_def:a[0].health_check.ports[1]: "
             "a port must be a number or a template, not 'ssh'")
    assert error_of("""
        'node_def:a':
          - resource: {type: dummy}
            health_check:
              mysqldbs: [{name: a, user: b, passwd: c}]
    """) == ("nodes.yaml:4:37: node_def:a[0].health_check.mysqldbs[0]: "
             "unknown key 'passwd' (did you mean 'pass'?) (and 1 more error)")


def test_context_and_health_models_reject_unknown_keys_directly() -> None:
    with pytest.raises(ValueError):
        CloudInitContext.model_validate({"type": "cloudinit", "context_template": "",
                                         "extra": 1})
    with pytest.raises(ValueError):
        JobsConfig.model_validate({"type": "jobs"})


def test_generic_resource_keeps_plugin_keys() -> None:
    defs = load_node_definitions(DATA / "all_resources.yaml")
    plugin = defs["on_plugin"][0].resource
    assert isinstance(plugin, GenericResource)
    assert plugin.type == "my_cloud"
    assert plugin.model_dump() == {"type": "my_cloud", "name": None, "region": "north",
                                   "size": "large", "nested": {"deep": [1, 2]}}
