"""The ``ec2`` handler: Amazon EC2 (or an EC2-compatible cloud) through boto3.

boto3 is imported inside the methods that talk to the cloud, so console
scripts that never touch an ec2 node start fast. Credentials come from the
one ``auth_data.yaml`` entry matching the resource section:
``{accesskey, secretkey}`` as Occopus spells them (``aws_access_key_id`` /
``aws_secret_access_key`` are accepted too). occo never falls back to
credentials from the environment or ``~/.aws``: what builds is what
``auth_data.yaml`` says.

Each instance is tagged ``occo:instance_id`` (plus ``occo:infra_id`` and
``occo:node``) at launch, atomically with its creation, so an instance whose
id was never recorded is found again by :meth:`Ec2Handler.recover`. ``tags``
are added as given; ``Name`` defaults to ``<node>-<instance id>``. Example::

    'node_def:worker':
      - resource:
          type: ec2
          endpoint: https://ec2.eu-west-1.amazonaws.com
          regionname: eu-west-1
          image_id: ami-0123456789abcdef0
          instance_type: t3.small
          key_name: operator
          security_group_ids: [sg-0123456789abcdef0]
          subnet_id: subnet-0123456789abcdef0
          tags: {project: cluster}
        contextualisation:
          type: cloudinit
          context_template: !text_import {url: file://worker.yaml}
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel

from occo.context.auth import AuthEntry
from occo.errors import ConfigError, ResourceError
from occo.model.resource_types import Ec2Resource
from occo.model.states import ResourceState
from occo.resources.base import (
    Address,
    CreateRequest,
    CreateResult,
    HandlerEnv,
    ResourceRef,
    StateReport,
)
from occo.resources.cloud import CloudHandler

log = logging.getLogger(__name__)

TAG_INSTANCE = "occo:instance_id"
TAG_INFRA = "occo:infra_id"
TAG_NODE = "occo:node"
REQUEST_TIMEOUT = 60
_DESCRIBE_BATCH = 500

_S = ResourceState
EC2_STATE_MAP: dict[str, ResourceState] = {
    "pending": _S.PENDING,
    "running": _S.RUNNING,
    "stopping": _S.FAILED, "stopped": _S.FAILED,
    "shutting-down": _S.GONE, "terminated": _S.GONE,
}
"""EC2 instance states -> occo's (shutting-down cannot be undone: it counts as gone)."""

_NOT_FOUND = frozenset({"InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed"})
_BAD_CREDENTIALS = frozenset({"AuthFailure", "InvalidClientTokenId", "SignatureDoesNotMatch",
                              "UnrecognizedClientException", "IncompleteSignature",
                              "InvalidAccessKeyId"})
_NOT_ALLOWED = frozenset({"UnauthorizedOperation", "OptInRequired", "Blocked"})
_QUOTA = frozenset({"InstanceLimitExceeded", "VcpuLimitExceeded", "InsufficientInstanceCapacity",
                    "MaxSpotInstanceCountExceeded", "InsufficientFreeAddressesInSubnet"})
_THROTTLED = frozenset({"RequestLimitExceeded", "Throttling", "ThrottlingException"})


def ec2_state(name: str | None) -> ResourceState:
    return EC2_STATE_MAP.get((name or "").lower(), ResourceState.UNKNOWN)


def to_ec2_config(config: BaseModel) -> Ec2Resource:
    if isinstance(config, Ec2Resource):
        return config
    return Ec2Resource.model_validate(config.model_dump())


def launch_tags(config: Ec2Resource, request: CreateRequest) -> list[dict[str, str]]:
    """The instance's tags: the configured ones, a default Name, and occo's own."""
    tags = {"Name": f"{request.node_name}-{request.instance_id}"}
    tags.update(config.tags or {})
    tags.update({TAG_INSTANCE: request.instance_id, TAG_INFRA: request.infra_id,
                 TAG_NODE: request.node_name})
    return [{"Key": k, "Value": str(v)} for k, v in tags.items()]


class Ec2Handler(CloudHandler):
    """EC2 instances, one per occo instance."""

    name: ClassVar[str] = "ec2"
    config_model: ClassVar[type[BaseModel]] = Ec2Resource
    requires: ClassVar[Mapping[str, str]] = {"boto3": "aws"}

    def __init__(self, env: HandlerEnv) -> None:
        super().__init__(env)
        self._clients: dict[str, Any] = {}

    # -- clients --------------------------------------------------------------------
    def _client(self, config: Ec2Resource) -> tuple[Any, AuthEntry]:
        entry, auth = self._auth.for_resource(config.model_dump(mode="json", exclude_none=True))
        access = auth.get("accesskey") or auth.get("aws_access_key_id")
        secret = auth.get("secretkey") or auth.get("aws_secret_access_key")
        if not access or not secret:
            raise ConfigError(f"{self._auth.source}: {entry.describe()}: ec2 needs 'accesskey' "
                              "and 'secretkey'")
        token = auth.get("session_token") or auth.get("aws_session_token")
        key = hashlib.sha256(json.dumps([config.endpoint, config.regionname, access, secret,
                                         token]).encode()).hexdigest()
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                import boto3
                from botocore.config import Config as BotoConfig

                session = boto3.session.Session(
                    aws_access_key_id=str(access), aws_secret_access_key=str(secret),
                    aws_session_token=str(token) if token else None,
                    region_name=config.regionname)
                client = session.client(
                    "ec2", endpoint_url=config.endpoint,
                    config=BotoConfig(connect_timeout=REQUEST_TIMEOUT,
                                      read_timeout=REQUEST_TIMEOUT,
                                      retries={"max_attempts": 3, "mode": "standard"},
                                      user_agent_extra="occo"))
                self._clients[key] = client
        return client, entry

    # -- errors ---------------------------------------------------------------------
    def _error(self, exc: BaseException, doing: str, config: Ec2Resource,
               entry: AuthEntry | None = None) -> ResourceError:
        """One clear, secret-free message for what EC2 (or the way to it) said."""
        if isinstance(exc, ResourceError):
            return exc
        response = getattr(exc, "response", None) or {}
        code = str((response.get("Error") or {}).get("Code") or "")
        detail = str((response.get("Error") or {}).get("Message") or exc)
        where = f"EC2 at {config.endpoint} ({config.regionname})"
        retry = None
        if code in _BAD_CREDENTIALS:
            who = f" for {entry.describe()} of {self._auth.source}" if entry else ""
            text = f"{where} rejected the credentials{who}: {detail} ({code})"
        elif code in _NOT_ALLOWED:
            who = f" of {entry.describe()}" if entry else ""
            text = f"{where}: the credentials{who} may not do this ({doing}): {detail} ({code})"
        elif code in _QUOTA:
            text = f"{where}: quota exceeded while {doing}: {detail} ({code})"
        elif code in _THROTTLED:
            text, retry = f"{where}: throttled while {doing}: {detail} ({code})", 10.0
        elif code.startswith("InvalidAMIID"):
            text = f"{where} has no usable image '{config.image_id}': {detail} ({code})"
        elif code:
            text = f"{where}: {doing} failed: {detail} ({code})"
        else:
            text = f"cannot talk to {where} while {doing}: {type(exc).__name__}: {detail}"
        return ResourceError(self._redact(text), handler=self.name, retry_after=retry)

    @staticmethod
    def _code(exc: BaseException) -> str:
        return str(((getattr(exc, "response", None) or {}).get("Error") or {}).get("Code") or "")

    # -- create ---------------------------------------------------------------------
    def create(self, request: CreateRequest) -> CreateResult:
        config = to_ec2_config(request.config)
        try:
            client, entry = self._client(config)
        except Exception:
            self._not_created.add(request.instance_id)
            raise
        args: dict[str, Any] = {
            "ImageId": config.image_id, "InstanceType": config.instance_type,
            "MinCount": 1, "MaxCount": 1,
            "TagSpecifications": [{"ResourceType": "instance",
                                   "Tags": launch_tags(config, request)}],
        }
        if request.user_data:
            args["UserData"] = request.user_data          # boto3 base64-encodes it
        if config.key_name:
            args["KeyName"] = config.key_name
        if config.security_group_ids:
            args["SecurityGroupIds"] = list(config.security_group_ids)
        if config.subnet_id:
            args["SubnetId"] = config.subnet_id
        try:
            reply = client.run_instances(**args)
        except Exception as exc:  # noqa: BLE001 - translated into one message
            status = ((getattr(exc, "response", None) or {}).get("ResponseMetadata") or {}) \
                .get("HTTPStatusCode")
            if isinstance(status, int) and 400 <= status < 500:
                self._not_created.add(request.instance_id)   # refused: nothing to clean up
            raise self._error(exc, f"launching an instance for node '{request.node_name}'",
                              config, entry) from None
        instance_id = str(reply["Instances"][0]["InstanceId"])
        log.debug("ec2 instance %s launched for occo instance %s", instance_id,
                  request.instance_id)
        return CreateResult(resource_id=instance_id, data={"region": config.regionname})

    # -- inspect --------------------------------------------------------------------
    def _describe(self, client: Any, ids: list[str]) -> dict[str, dict[str, Any]]:
        """Instances by id; unknown ids are simply absent."""
        ids = list(dict.fromkeys(ids))          # EC2 (and moto) may refuse a repeated id
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), _DESCRIBE_BATCH):
            batch = ids[start:start + _DESCRIBE_BATCH]
            try:
                reply = client.describe_instances(InstanceIds=batch)
            except Exception as exc:
                if self._code(exc) not in _NOT_FOUND:
                    raise
                if len(batch) == 1:
                    continue
                # One bad id spoils a batch: ask one by one.
                for one in batch:
                    found.update(self._describe(client, [one]))
                continue
            for reservation in reply.get("Reservations", []):
                for inst in reservation.get("Instances", []):
                    found[str(inst["InstanceId"])] = inst
        return found

    @staticmethod
    def _interpret(inst: dict[str, Any] | None) -> StateReport:
        if inst is None:
            return StateReport(ResourceState.GONE, reason="instance no longer exists")
        name = str((inst.get("State") or {}).get("Name") or "")
        state = ec2_state(name)
        if state == ResourceState.RUNNING:
            return StateReport(state)
        reason = (inst.get("StateReason") or {}).get("Message") or \
            inst.get("StateTransitionReason") or ""
        return StateReport(state, reason=f"instance is {name or 'unknown'}"
                           + (f": {reason}" if reason else ""))

    def state(self, ref: ResourceRef) -> StateReport:
        config = to_ec2_config(ref.config)
        client, entry = self._client(config)
        try:
            found = self._describe(client, [ref.resource_id])
        except Exception as exc:  # noqa: BLE001 - any SDK error becomes one ResourceError
            raise self._error(exc, f"reading instance {ref.resource_id}", config, entry) from None
        return self._interpret(found.get(ref.resource_id))

    def states(self, refs: list[ResourceRef]) -> list[StateReport]:
        """All states with one DescribeInstances per cloud and 500 ids (maintenance)."""
        groups: dict[int, tuple[Any, AuthEntry, Ec2Resource, list[str]]] = {}
        for ref in refs:
            config = to_ec2_config(ref.config)
            client, entry = self._client(config)
            groups.setdefault(id(client), (client, entry, config, []))[3].append(ref.resource_id)
        found: dict[str, dict[str, Any]] = {}
        for client, entry, config, ids in groups.values():
            try:
                found.update(self._describe(client, ids))
            except Exception as exc:  # noqa: BLE001 - any SDK error becomes one ResourceError
                raise self._error(exc, "reading instances", config, entry) from None
        return [self._interpret(found.get(ref.resource_id)) for ref in refs]

    def address(self, ref: ResourceRef) -> Address:
        config = to_ec2_config(ref.config)
        client, entry = self._client(config)
        try:
            inst = self._describe(client, [ref.resource_id]).get(ref.resource_id)
        except Exception as exc:  # noqa: BLE001 - any SDK error becomes one ResourceError
            raise self._error(exc, f"reading instance {ref.resource_id}", config, entry) from None
        if inst is None:
            return Address(public=None)
        private = inst.get("PrivateIpAddress")
        return Address(public=inst.get("PublicIpAddress") or private, private=private)

    def recover(self, instance_id: str, config: BaseModel) -> CreateResult | None:
        """The live instance tagged with ``instance_id``, if any."""
        if instance_id in self._not_created:
            return None
        ec2 = to_ec2_config(config)
        client, entry = self._client(ec2)
        try:
            reply = client.describe_instances(Filters=[
                {"Name": f"tag:{TAG_INSTANCE}", "Values": [instance_id]},
                {"Name": "instance-state-name",
                 "Values": ["pending", "running", "stopping", "stopped"]}])
        except Exception as exc:  # noqa: BLE001 - any SDK error becomes one ResourceError
            raise self._error(exc, "looking for a lost instance", ec2, entry) from None
        for reservation in reply.get("Reservations", []):
            for inst in reservation.get("Instances", []):
                return CreateResult(resource_id=str(inst["InstanceId"]),
                                    data={"region": ec2.regionname})
        return None

    # -- destroy --------------------------------------------------------------------
    def destroy(self, ref: ResourceRef) -> None:
        config = to_ec2_config(ref.config)
        client, entry = self._client(config)
        try:
            client.terminate_instances(InstanceIds=[ref.resource_id])
        except Exception as exc:  # noqa: BLE001 - any SDK error becomes one ResourceError
            if self._code(exc) in _NOT_FOUND:
                return
            raise self._error(exc, f"terminating instance {ref.resource_id}", config,
                              entry) from None
        log.debug("ec2 instance %s terminated (occo instance %s)", ref.resource_id,
                  ref.instance_id)
