"""moto's EC2 over real HTTP, with authentication on and the one thing it lacks: a quota.

:class:`QuotaMotoServer` is ``moto.server.ThreadedMotoServer`` on port 0,
quiet, with a small WSGI guard in front of moto that answers ``RunInstances``
with EC2's own ``InstanceLimitExceeded`` error once ``instance_quota``
instances are pending or running in the region (moto does not enforce EC2
limits), and that makes instances of a type in ``failing_instance_types``
die right after launch (terminated, ``Server.InternalError``), as EC2
instances do on an internal error. :class:`MotoCloud` resets moto for one test, creates an IAM user
with an access key, and turns authentication on, so wrong keys get EC2's
``AuthFailure``.
"""

from __future__ import annotations

import io
import json
import re
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import WSGIRequestHandler, make_server

REGION = "eu-west-1"
_CREDENTIAL_REGION = re.compile(r"Credential=[^/]+/\d+/([^/]+)/")


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


class QuotaMotoServer(ThreadedMotoServer):
    """ThreadedMotoServer(port=0) that can refuse launches over a quota."""

    def __init__(self) -> None:
        super().__init__(ip_address="127.0.0.1", port=0, verbose=False)
        self.instance_quota: int | None = None
        self.image_id = ""
        self.failing_instance_types: set[str] = set()

    def _server_entry(self) -> None:
        app = DomainDispatcherApplication(create_backend_app)
        self._server = make_server(self._ip_address, self._port, self._guard(app), threaded=True,
                                   request_handler=_Quiet)
        self._server_ready_event.set()
        self._server.serve_forever()

    @property
    def url(self) -> str:
        host, port = self.get_host_and_port()
        return f"http://{host}:{port}"

    def _guard(self, app: Any) -> Any:
        def guarded(environ: dict[str, Any], start_response: Any) -> Any:
            if self.instance_quota is not None and environ.get("REQUEST_METHOD") == "POST":
                size = int(environ.get("CONTENT_LENGTH") or 0)
                body = environ["wsgi.input"].read(size) if size else b""
                environ["wsgi.input"] = io.BytesIO(body)
                action = parse_qs(body.decode(errors="replace")).get("Action", [""])[0]
                if action == "RunInstances":
                    found = _CREDENTIAL_REGION.search(environ.get("HTTP_AUTHORIZATION", ""))
                    live = _live_instances(found.group(1) if found else REGION)
                    if live >= self.instance_quota:
                        return _limit_exceeded(live, self.instance_quota, start_response)
            return app(environ, start_response)

        def launch_fails(environ: dict[str, Any], start_response: Any) -> Any:
            """Instances of a failing type die right after launch, as EC2's do on an
            internal error: terminated, with the reason Server.InternalError."""
            if environ.get("REQUEST_METHOD") != "POST" or not self.failing_instance_types:
                return guarded(environ, start_response)
            size = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(size) if size else b""
            environ["wsgi.input"] = io.BytesIO(body)
            params = parse_qs(body.decode(errors="replace"))
            if params.get("Action", [""])[0] != "RunInstances" or \
                    params.get("InstanceType", [""])[0] not in self.failing_instance_types:
                return guarded(environ, start_response)
            reply = b"".join(guarded(environ, start_response))
            found = _CREDENTIAL_REGION.search(environ.get("HTTP_AUTHORIZATION", ""))
            for instance_id in re.findall(rb"<instanceId>(i-[0-9a-f]+)</instanceId>", reply):
                _fail_instance(found.group(1) if found else REGION, instance_id.decode())
            return [reply]

        return launch_fails


def _live_instances(region: str) -> int:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ec2.models import ec2_backends

    backend = ec2_backends[DEFAULT_ACCOUNT_ID][region]
    return sum(1 for inst in backend.all_instances() if inst.state in ("pending", "running"))


def _fail_instance(region: str, instance_id: str) -> None:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ec2.models import ec2_backends
    from moto.ec2.models.instances import StateReason

    backend = ec2_backends[DEFAULT_ACCOUNT_ID][region]
    backend.terminate_instances([instance_id])
    backend.get_instance(instance_id).state_reason = StateReason(
        "Server.InternalError: Internal error on launch", "Server.InternalError")


def _limit_exceeded(live: int, quota: int, start_response: Any) -> list[bytes]:
    message = (f"You have requested more instances ({live + 1}) than your current instance "
               f"limit of {quota} allows for the specified instance type.")
    body = ('<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error>'
            f"<Code>InstanceLimitExceeded</Code><Message>{message}</Message></Error></Errors>"
            f"<RequestID>{uuid.uuid4()}</RequestID></Response>").encode()
    start_response("400 Bad Request", [("Content-Type", "text/xml"),
                                       ("Content-Length", str(len(body)))])
    return [body]


def _moto_api(url: str, path: str, data: bytes = b"") -> None:
    request = urllib.request.Request(url + path, data=data, method="POST",
                                     headers={"Content-Type": "text/plain"})
    with urllib.request.urlopen(request, timeout=30) as reply:
        reply.read()


@dataclass
class MotoCloud:
    """One test's view of the moto server: fresh state, an IAM user, auth on."""

    server: QuotaMotoServer
    access_key: str = ""
    secret_key: str = ""
    image_id: str = ""

    @property
    def url(self) -> str:
        return self.server.url

    def reset(self) -> MotoCloud:
        self.server.instance_quota = None
        self.server.failing_instance_types = set()
        _moto_api(self.url, "/moto-api/reset-auth", b"inf")
        _moto_api(self.url, "/moto-api/reset")
        import boto3

        iam = boto3.client("iam", endpoint_url=self.url, region_name="us-east-1",
                           aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap")
        iam.create_user(UserName="occo")
        iam.put_user_policy(UserName="occo", PolicyName="everything", PolicyDocument=json.dumps(
            {"Version": "2012-10-17",
             "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
        key = iam.create_access_key(UserName="occo")["AccessKey"]
        self.access_key, self.secret_key = key["AccessKeyId"], key["SecretAccessKey"]
        _moto_api(self.url, "/moto-api/reset-auth", b"0")
        if not self.server.image_id:       # AMIs survive a reset; listing them is slow
            images = self.ec2().describe_images(Owners=["amazon"])["Images"]
            self.server.image_id = sorted(i["ImageId"] for i in images)[0]
        self.image_id = self.server.image_id
        return self

    def ec2(self) -> Any:
        import boto3

        return boto3.client("ec2", endpoint_url=self.url, region_name=REGION,
                            aws_access_key_id=self.access_key,
                            aws_secret_access_key=self.secret_key)

    def instances(self, *, live_only: bool = True) -> list[dict[str, Any]]:
        states = ["pending", "running", "stopping", "stopped"] if live_only else \
            ["pending", "running", "stopping", "stopped", "shutting-down", "terminated"]
        reply = self.ec2().describe_instances(
            Filters=[{"Name": "instance-state-name", "Values": states}])
        return [i for r in reply["Reservations"] for i in r["Instances"]]

    def user_data(self, instance_id: str) -> str | None:
        """The user data EC2 (moto) stored for an instance, base64-decoded."""
        import base64

        reply = self.ec2().describe_instance_attribute(InstanceId=instance_id,
                                                        Attribute="userData")
        value = (reply.get("UserData") or {}).get("Value")
        return base64.b64decode(value).decode() if value else None
