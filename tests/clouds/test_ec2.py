"""The ec2 handler through real boto3 against moto's server (AMI validation and auth on)."""

from __future__ import annotations

import textwrap
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from occo.api import Occo
from occo.errors import ConfigError, ResourceError
from occo.model.resource_types import Ec2Resource
from occo.model.states import ResourceState
from occo.resources.base import CreateRequest, HandlerEnv, ResourceRef
from occo.resources.ec2 import Ec2Handler, ec2_state
from tests.clouds.conftest import ec2_auth
from tests.clouds.moto_server import REGION, MotoCloud

MakeOcco = Callable[[dict[str, Any] | None], Occo]


def ec2_config(cloud: MotoCloud, **fields: Any) -> Ec2Resource:
    base = {"endpoint": cloud.url, "regionname": REGION, "image_id": cloud.image_id,
            "instance_type": "t3.micro"}
    return Ec2Resource(**{**base, **fields})


def handler_for(tmp_path: Path, auth: dict[str, Any] | None) -> Ec2Handler:
    env = HandlerEnv(home=tmp_path, store=None, auth_data=auth)
    return Ec2Handler(env)


def create(handler: Ec2Handler, config: Ec2Resource, user_data: str | None = None,
           instance_id: str | None = None, node: str = "head") -> ResourceRef:
    instance_id = instance_id or str(uuid.uuid4())
    result = handler.create(CreateRequest("infra-1", instance_id, node, config, user_data))
    return ResourceRef(instance_id, result.resource_id, config, result.data)


# --------------------------------------------------------------------------- handler


def test_launch_tags_user_data_and_fields_reach_ec2(moto: MotoCloud, tmp_path: Path) -> None:
    ec2 = moto.ec2()
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="web", Description="web",
                                      VpcId=vpc)["GroupId"]
    ec2.create_key_pair(KeyName="operator")
    handler = handler_for(tmp_path, ec2_auth(moto))
    config = ec2_config(moto, key_name="operator", security_group_ids=[group],
                        subnet_id=subnet, tags={"project": "cluster"})
    ref = create(handler, config, "#cloud-config\nruncmd: [[touch, /tmp/ok]]\n")

    [inst] = moto.instances()
    assert inst["InstanceId"] == ref.resource_id
    assert moto.user_data(ref.resource_id) == "#cloud-config\nruncmd: [[touch, /tmp/ok]]\n"
    tags = {t["Key"]: t["Value"] for t in inst["Tags"]}
    assert tags == {"Name": f"head-{ref.instance_id}", "project": "cluster",
                    "occo:instance_id": ref.instance_id, "occo:infra_id": "infra-1",
                    "occo:node": "head"}
    assert inst["KeyName"] == "operator" and inst["SubnetId"] == subnet
    assert [g["GroupId"] for g in inst["SecurityGroups"]] == [group]
    assert inst["InstanceType"] == "t3.micro" and inst["ImageId"] == moto.image_id

    assert handler.state(ref).state == ResourceState.RUNNING
    address = handler.address(ref)
    assert address.private == inst["PrivateIpAddress"] and address.private.startswith("10.9.1.")
    assert address.public == (inst.get("PublicIpAddress") or address.private)

    handler.destroy(ref)
    assert handler.state(ref).state == ResourceState.GONE
    assert moto.instances() == []


def test_instance_dying_at_launch_is_gone_with_ec2s_reason(moto: MotoCloud,
                                                          tmp_path: Path) -> None:
    moto.server.failing_instance_types = {"t3.doomed"}
    handler = handler_for(tmp_path, ec2_auth(moto))
    ref = create(handler, ec2_config(moto, instance_type="t3.doomed"))
    report = handler.state(ref)
    assert report.state == ResourceState.GONE
    assert report.reason == "instance is terminated: Server.InternalError: Internal error on launch"


def test_unknown_ami_is_refused_with_its_id(moto: MotoCloud, tmp_path: Path) -> None:
    handler = handler_for(tmp_path, ec2_auth(moto))
    with pytest.raises(ResourceError) as caught:
        create(handler, ec2_config(moto, image_id="ami-00000000deadbeef0"))
    assert "has no usable image 'ami-00000000deadbeef0'" in str(caught.value)
    assert "InvalidAMIID.NotFound" in str(caught.value)
    assert moto.instances() == []


def test_missing_keys_in_auth_data_are_named(moto: MotoCloud, tmp_path: Path) -> None:
    handler = handler_for(tmp_path, ec2_auth(moto, accesskey=moto.access_key))
    with pytest.raises(ConfigError, match="ec2 needs 'accesskey' and 'secretkey'"):
        create(handler, ec2_config(moto))


def test_ec2_states_map_onto_occo_states() -> None:
    assert ec2_state("pending") == ResourceState.PENDING
    assert ec2_state("running") == ResourceState.RUNNING
    assert ec2_state("stopped") == ResourceState.FAILED
    assert ec2_state("shutting-down") == ResourceState.GONE
    assert ec2_state("terminated") == ResourceState.GONE
    assert ec2_state("hibernating") == ResourceState.UNKNOWN


# --------------------------------------------------------------------------- through Occo

WORKER_TEMPLATE = """\
#cloud-config
runcmd:
  - [join-cluster, "{{ getip('head') }}", "{{ infra_name }}"]
"""


def write_cluster(tmp_path: Path, cloud: MotoCloud,
                  worker_type: str = "t3.micro") -> tuple[Path, Path]:
    (tmp_path / "worker.yaml").write_text(WORKER_TEMPLATE)
    defs = tmp_path / "nodes.yaml"
    resource = textwrap.dedent(f"""\
              type: ec2
              endpoint: {cloud.url}
              regionname: {REGION}
              image_id: {cloud.image_id}
              instance_type: t3.micro
              tags: {{project: cluster}}""")
    indent = lambda text: textwrap.indent(text, "      ")  # noqa: E731
    worker = resource.replace("instance_type: t3.micro", f"instance_type: {worker_type}")
    defs.write_text(
        "'node_def:ec2_head':\n  - resource:\n" + indent(resource) + "\n"
        "    contextualisation:\n      type: cloudinit\n"
        "      context_template: {write_files: [{path: /etc/role, content: head}]}\n"
        "    health_check: {ping: false}\n"
        "'node_def:ec2_worker':\n  - resource:\n" + indent(worker) + "\n"
        "    contextualisation:\n      type: cloudinit\n"
        "      context_template: !text_import {url: file://worker.yaml}\n"
        "    health_check: {ping: false}\n")
    infra = tmp_path / "infra.yaml"
    infra.write_text(textwrap.dedent("""\
        infra_name: aws-cluster
        nodes:
          - &H {name: head, type: ec2_head}
          - &W {name: worker, type: ec2_worker, scaling: {min: 1, max: 3}}
        dependencies:
          - [*W, *H]
        """))
    return defs, infra


def by_node(cloud: MotoCloud) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for inst in cloud.instances():
        tags = {t["Key"]: t["Value"] for t in inst.get("Tags", [])}
        out.setdefault(tags.get("occo:node", "?"), []).append(inst)
    return out


def test_cluster_user_data_carries_the_heads_address(moto: MotoCloud, tmp_path: Path,
                                                     make_occo: MakeOcco) -> None:
    """Building, scaling and destroying in general: tests/resources/test_contract.py."""
    occo = make_occo(ec2_auth(moto))
    defs, infra = write_cluster(tmp_path, moto)
    occo.import_node_definitions(defs)

    result = occo.build(infra, parallelize=True)

    report = occo.report(result.infra_id)
    assert [i["state"] for n in ("head", "worker") for i in report[n]["instances"].values()] \
        == ["ready", "ready"]
    [head] = by_node(moto)["head"]
    head_ip = head.get("PublicIpAddress") or head["PrivateIpAddress"]
    [head_report] = report["head"]["instances"].values()
    assert head_report["resource_address"] == head_ip
    assert moto.user_data(head["InstanceId"]) == (
        "#cloud-config\nwrite_files:\n- path: /etc/role\n  content: head\n")
    [worker] = by_node(moto)["worker"]
    assert moto.user_data(worker["InstanceId"]) == (
        f'#cloud-config\nruncmd:\n  - [join-cluster, "{head_ip}", "aws-cluster"]\n')

    occo.scale(result.infra_id, "worker", change=1)
    [scaled] = occo.maintain([result.infra_id])
    assert scaled.created == 1
    workers = by_node(moto)["worker"]
    assert len(workers) == 2
    assert all(f'"{head_ip}"' in (moto.user_data(w["InstanceId"]) or "") for w in workers)

    occo.destroy(result.infra_id)
    assert moto.instances() == []
    assert occo.list_infrastructures() == []


