"""The ``cloudbroker`` handler: virtual machines through the CloudBroker platform's
REST API (XML over HTTPS).

Create is one ``POST /instances.xml`` whose ``<instance>`` document holds the
node's ``description`` as given (``deployment_id``, ``instance_type_id``,
``key_pair_id``, ``opened_port`` and any other key the platform knows), the
settings Occopus sends by default (``disable_autostop``, ``isolated``: true
unless the description says otherwise), the cloud-init user data
(``cloud-init``, base64, with ``cloud-init-b64``) and ``start-in-vpc`` when the
resource sets ``start_in_vpc``. The platform answers with the instance id;
``GET /instances/{id}.xml`` gives its ``status`` and addresses, and
``PUT /instances/{id}/stop`` ends it (an instance ``stopping`` or ``halted``
is gone). Each instance is named ``occo-<instance id>`` (unless the
description names it), so one whose id occo never recorded (occo killed
during the create call) is found again in the instance list. Credentials:
the ``auth_data.yaml`` entry matching the resource, ``{email, password}``
(HTTP basic authentication). Example::

    'node_def:worker':
      - resource:
          type: cloudbroker
          endpoint: https://cola-prototype.cloudbroker.com
          description:
            deployment_id: bcbdca8e-2841-45ae-884e-d3707829f548
            instance_type_id: c556cb53-7e79-48fd-ae71-3248133503ba
            key_pair_id: d865f75f-d32b-4444-9fbb-3332bcedeb75
            opened_port: 22,80
        contextualisation:
          type: cloudinit
          context_template: !text_import {url: file://worker.yaml}
"""

from __future__ import annotations

import base64
import logging
import re
import xml.etree.ElementTree as ET
from typing import Any, ClassVar

from pydantic import BaseModel

from occo.context.auth import AuthEntry
from occo.errors import ConfigError, ResourceError
from occo.model.resource_types import CloudBrokerResource
from occo.model.states import ResourceState
from occo.resources.base import (
    Address,
    CreateRequest,
    CreateResult,
    ResourceRef,
    StateReport,
    config_as,
)
from occo.resources.rest import ApiError, RestCloudHandler

log = logging.getLogger(__name__)

DEFAULTS = {"disable_autostop": "true", "isolated": "true"}
NAME_PREFIX = "occo-"
MAX_USER_DATA = 65_536
_XML_NAME = re.compile(r"^[A-Za-z_][\w.-]*$")
_QUOTA = re.compile(r"quota|limit|insufficient|not enough|exceed", re.I)

_S = ResourceState
CLOUDBROKER_STATE_MAP: dict[str, ResourceState] = {
    "starting": _S.PENDING, "initializing": _S.PENDING, "preparing": _S.PENDING,
    "running": _S.RUNNING,
    "stopping": _S.GONE, "halted": _S.GONE,
}
"""CloudBroker instance statuses -> occo's (stopping cannot be undone: it counts as gone)."""


def cloudbroker_state(status: str | None) -> ResourceState:
    return CLOUDBROKER_STATE_MAP.get((status or "").lower(), ResourceState.UNKNOWN)


def instance_name(instance_id: str) -> str:
    """The platform-side name of an occo instance, by which a lost create is found."""
    return NAME_PREFIX + instance_id


def _append(parent: ET.Element, key: str, value: Any) -> None:
    if not _XML_NAME.match(key):
        raise ResourceError(f"cloudbroker description key {key!r} cannot be an XML element "
                            "name", handler="cloudbroker")
    child = ET.SubElement(parent, key)
    if isinstance(value, dict):
        for k, v in value.items():
            _append(child, str(k), v)
    elif isinstance(value, list):
        for item in value:
            _append(child, "item", item)
    elif isinstance(value, bool):
        child.text = "true" if value else "false"
    elif value is not None:
        child.text = str(value)


def instance_document(config: CloudBrokerResource, user_data: str | None,
                      instance_id: str) -> bytes:
    """The ``<instance>`` XML a create sends."""
    fields: dict[str, Any] = {**DEFAULTS, "name": instance_name(instance_id),
                              **config.description.model_dump(mode="json", exclude_none=True)}
    if user_data:
        fields["cloud-init"] = base64.b64encode(user_data.encode()).decode()
        fields["cloud-init-b64"] = "true"
    if config.start_in_vpc is not None:
        fields["start-in-vpc"] = config.start_in_vpc
    root = ET.Element("instance")
    for key, value in fields.items():
        _append(root, key, value)
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


def error_message(body: str) -> str:
    """The platform's error text: the ``<error>`` elements of an XML body, or the body."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return body.strip()[:300] or "(no message)"
    errors = [e.text.strip() for e in root.iter("error") if e.text and e.text.strip()]
    return "; ".join(errors) if errors else (root.text or "").strip()[:300] or "(no message)"


def _text(root: ET.Element, tag: str) -> str | None:
    found = root.find(tag)
    value = (found.text or "").strip() if found is not None else ""
    return value or None


class CloudBrokerHandler(RestCloudHandler):
    """Virtual machines started through the CloudBroker platform."""

    name: ClassVar[str] = "cloudbroker"
    config_model: ClassVar[type[BaseModel]] = CloudBrokerResource
    cloud: ClassVar[str] = "CloudBroker"
    accept: ClassVar[str] = "application/xml"

    def _message(self, error: ApiError) -> str:
        return error_message(error.body)

    def _is_quota(self, error: ApiError, message: str) -> bool:
        return error.status in (402, 403, 409, 422) and bool(_QUOTA.search(message))

    # -- create ---------------------------------------------------------------------
    def create(self, request: CreateRequest) -> CreateResult:
        config = config_as(CloudBrokerResource, request.config)
        doing = f"creating an instance for node '{request.node_name}'"
        entry: AuthEntry | None = None
        posted = False
        try:
            api, entry = self._api(config)
            if request.user_data and len(request.user_data.encode()) > MAX_USER_DATA:
                raise ResourceError(f"the user data of node '{request.node_name}' is over "
                                    f"{MAX_USER_DATA} bytes", handler=self.name)
            body = instance_document(config, request.user_data, request.instance_id)
            posted = True
            reply = api.call("POST", "/instances.xml", data=body, ok=(200, 201),
                             headers={"Content-Type": "application/xml"})
            instance_id = _text(ET.fromstring(reply.text), "id")
            if not instance_id:
                raise ResourceError(f"CloudBroker at {config.endpoint} answered the create "
                                    "without an instance id", handler=self.name)
        except Exception as exc:
            if not posted or (isinstance(exc, ApiError) and 400 <= exc.status < 500):
                self._not_created.add(request.instance_id)   # refused: nothing to clean up
            if isinstance(exc, ConfigError):
                raise
            raise self._error(exc, doing, config, entry) from None
        log.debug("cloudbroker instance %s created for instance %s", instance_id,
                  request.instance_id)
        return CreateResult(resource_id=instance_id)

    # -- inspect --------------------------------------------------------------------
    def _instance(self, ref: ResourceRef) -> tuple[ET.Element | None, CloudBrokerResource]:
        config = config_as(CloudBrokerResource, ref.config)
        api, entry = self._api(config)
        try:
            reply = api.call("GET", f"/instances/{ref.resource_id}.xml")
            return ET.fromstring(reply.text), config
        except ApiError as exc:
            if exc.status == 404:
                return None, config
            raise self._error(exc, f"reading instance {ref.resource_id}", config,
                              entry) from None
        except Exception as exc:  # noqa: BLE001
            raise self._error(exc, f"reading instance {ref.resource_id}", config,
                              entry) from None

    def state(self, ref: ResourceRef) -> StateReport:
        instance, _ = self._instance(ref)
        if instance is None:
            return StateReport(ResourceState.GONE, reason="instance no longer exists")
        status = _text(instance, "status") or ""
        state = cloudbroker_state(status)
        if state == ResourceState.RUNNING:
            return StateReport(state)
        return StateReport(state, reason=f"instance is {status or 'in an unknown state'}")

    def address(self, ref: ResourceRef) -> Address:
        instance, _ = self._instance(ref)
        if instance is None:
            return Address(public=None)
        internal = _text(instance, "internal-ip-address")
        external = _text(instance, "external-ip-address")
        return Address(public=external or internal, private=internal)

    def recover(self, instance_id: str, config: BaseModel) -> CreateResult | None:
        """The live instance named after ``instance_id``, if any (a description that sets
        its own ``name`` cannot be found this way)."""
        if instance_id in self._not_created:
            return None
        broker = config_as(CloudBrokerResource, config)
        api, entry = self._api(broker)
        try:
            listing = ET.fromstring(api.call("GET", "/instances.xml").text)
        except Exception as exc:  # noqa: BLE001
            raise self._error(exc, "looking for a lost instance", broker, entry) from None
        for instance in listing.iter("instance"):
            found = _text(instance, "id")
            if found and _text(instance, "name") == instance_name(instance_id) and \
                    cloudbroker_state(_text(instance, "status")) != ResourceState.GONE:
                return CreateResult(resource_id=found)
        return None

    # -- destroy --------------------------------------------------------------------
    def destroy(self, ref: ResourceRef) -> None:
        config = config_as(CloudBrokerResource, ref.config)
        api, entry = self._api(config)
        try:
            api.call("PUT", f"/instances/{ref.resource_id}/stop", ok=(200, 202, 204, 404))
        except Exception as exc:  # noqa: BLE001
            raise self._error(exc, f"stopping instance {ref.resource_id}", config,
                              entry) from None
        log.debug("cloudbroker instance %s stopped (instance %s)", ref.resource_id,
                  ref.instance_id)
