"""A stateful fake of the CloudBroker platform's REST API (XML), for the cloudbroker handler.

It answers as the platform does where occo depends on it:

* HTTP basic authentication with :data:`EMAIL` / :data:`PASSWORD`; anything
  else gets 401.
* ``POST /instances.xml`` takes an ``<instance>`` document (element names
  with ``_`` or ``-``, as the platform's XML binding accepts both), needs a
  known ``deployment_id`` and ``instance_type_id`` (else 422 with the
  ``<errors>`` list), and answers 201 with the new instance. More than
  ``quota_instances`` live instances: 422, "quota exceeded".
* An instance is ``starting``, then ``running`` after ``boot_polls`` looks at
  it, with an internal and an external IP (one of :data:`BROKEN_DEPLOYMENT_ID`
  halts instead); ``PUT /instances/{id}/stop`` makes
  it ``stopping``, then ``halted`` (the platform keeps halted instances
  listed, as history).

Kept for the tests: every instance with the fields it was created with
(``cloud-init`` decoded), and the request log.
"""

from __future__ import annotations

import base64
import itertools
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from werkzeug.wrappers import Request, Response

from tests.clouds.fakehttp import FakeHttpServer

EMAIL = "bob@example.org"
PASSWORD = "broker-secret-password"
DEPLOYMENT_ID = "bcbdca8e-2841-45ae-884e-d3707829f548"
INSTANCE_TYPE_ID = "c556cb53-7e79-48fd-ae71-3248133503ba"
BROKEN_DEPLOYMENT_ID = "0badc0de-2841-45ae-884e-d3707829f548"
KEY_PAIR_ID = "d865f75f-d32b-4444-9fbb-3332bcedeb75"
ID = r"(?P<iid>[0-9a-f-]{36})"


def xml(root: ET.Element, status: int = 200) -> Response:
    return Response(ET.tostring(root, encoding="utf-8", xml_declaration=True), status=status,
                    content_type="application/xml")


def errors(status: int, *messages: str) -> Response:
    root = ET.Element("errors")
    for message in messages:
        ET.SubElement(root, "error").text = message
    return xml(root, status)


@dataclass
class FakeInstance:
    id: str
    fields: dict[str, str]
    internal_ip: str
    external_ip: str
    status: str = "starting"
    polls_left: int = 0
    history: list[str] = field(default_factory=list)

    @property
    def user_data(self) -> str | None:
        encoded = self.fields.get("cloud_init")
        if not encoded:
            return None
        return base64.b64decode(encoded).decode() if self.fields.get("cloud_init_b64") == \
            "true" else encoded

    def element(self) -> ET.Element:
        root = ET.Element("instance")
        ET.SubElement(root, "id").text = self.id
        ET.SubElement(root, "name").text = self.fields.get("name")
        ET.SubElement(root, "status").text = self.status
        ET.SubElement(root, "deployment-id").text = self.fields.get("deployment_id")
        ET.SubElement(root, "instance-type-id").text = self.fields.get("instance_type_id")
        running = self.status == "running"
        ET.SubElement(root, "internal-ip-address").text = self.internal_ip if running else None
        ET.SubElement(root, "external-ip-address").text = self.external_ip if running else None
        ET.SubElement(root, "internal-hostname").text = None
        ET.SubElement(root, "external-hostname").text = None
        return root


class FakeCloudBroker(FakeHttpServer):
    """The fake platform; ``start()`` it and point the handler at :attr:`endpoint`."""

    name = "fake-cloudbroker"

    def __init__(self, *, boot_polls: int = 2, stop_polls: int = 1,
                 quota_instances: int = 10) -> None:
        super().__init__()
        self.boot_polls = boot_polls
        self.stop_polls = stop_polls
        self.quota_instances = quota_instances
        self.deployments = {DEPLOYMENT_ID, BROKEN_DEPLOYMENT_ID}
        self.instance_types = {INSTANCE_TYPE_ID}
        self.instances: dict[str, FakeInstance] = {}
        self._ips = itertools.count(10)
        self.route("POST", "/instances.xml", self._create)
        self.route("GET", "/instances.xml", self._list)
        self.route("GET", rf"/instances/{ID}\.xml", self._get)
        self.route("PUT", rf"/instances/{ID}/stop(\.xml)?", self._stop)

    @property
    def endpoint(self) -> str:
        return self.base

    # -- what tests look at -------------------------------------------------------------
    def live(self) -> list[str]:
        """Instances that are not halted (halted ones are history, as on the platform)."""
        with self.lock:
            return [f"instance {i.id} ({i.status})" for i in self.instances.values()
                    if i.status != "halted" and i.status != "stopping"]

    def user_data_received(self) -> list[str | None]:
        with self.lock:
            return [i.user_data for i in self.instances.values()]

    # -- auth ---------------------------------------------------------------------------
    def authorize(self, request: Request) -> Response | None:
        if self.basic_auth_is(request, EMAIL, PASSWORD):
            return None
        return Response("HTTP Basic: Access denied.\n", status=401,
                        headers={"WWW-Authenticate": 'Basic realm="Application"'})

    # -- instances ----------------------------------------------------------------------
    def _tick(self, instance: FakeInstance) -> None:
        if instance.status in ("starting", "stopping"):
            instance.polls_left -= 1
            if instance.polls_left <= 0:
                broken = instance.fields.get("deployment_id") == BROKEN_DEPLOYMENT_ID
                instance.status = "running" if instance.status == "starting" and not broken \
                    else "halted"
                instance.history.append(instance.status)

    def _create(self, request: Request) -> Response:
        try:
            root = ET.fromstring(request.get_data())
        except ET.ParseError as exc:
            return errors(400, f"Malformed XML: {exc}")
        if root.tag != "instance":
            return errors(400, f"Expected an <instance> document, got <{root.tag}>")
        fields = {child.tag.replace("-", "_"): (child.text or "") for child in root}
        problems = []
        if fields.get("deployment_id") not in self.deployments:
            problems.append(f"Deployment '{fields.get('deployment_id')}' not found")
        if fields.get("instance_type_id") not in self.instance_types:
            problems.append(f"Instance type '{fields.get('instance_type_id')}' not found")
        if problems:
            return errors(422, *problems)
        live = [i for i in self.instances.values() if i.status not in ("stopping", "halted")]
        if len(live) >= self.quota_instances:
            return errors(422, f"Instance quota exceeded: at most {self.quota_instances} "
                          "instances may run at once")
        n = next(self._ips)
        instance = FakeInstance(str(uuid.uuid4()), fields, f"10.20.0.{n}", f"193.224.1.{n}",
                                polls_left=self.boot_polls, history=["starting"])
        self.instances[instance.id] = instance
        return xml(instance.element(), 201)

    def _get(self, request: Request, iid: str) -> Response:
        instance = self.instances.get(iid)
        if instance is None:
            return errors(404, "Instance not found")
        self._tick(instance)
        return xml(instance.element())

    def _list(self, request: Request) -> Response:
        root = ET.Element("instances")
        for instance in self.instances.values():
            self._tick(instance)
            root.append(instance.element())
        return xml(root)

    def _stop(self, request: Request, iid: str) -> Response:
        instance = self.instances.get(iid)
        if instance is None:
            return errors(404, "Instance not found")
        if instance.status in ("starting", "running"):
            instance.status, instance.polls_left = "stopping", self.stop_polls
            instance.history.append("stopping")
        return xml(instance.element())
