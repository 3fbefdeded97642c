"""Webhooks: every state change reaches the registered URL, retried until it lands."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from occo.api import Occo
from occo.model.description import parse_infra_description
from occo.rest.notify import Notifier
from occo.rest.webhooks import SIGNATURE_HEADER, TargetPolicy, signature
from tests.support.wait import wait_until


class Receiver:
    """A webhook endpoint that refuses the first ``fail_first`` deliveries, and holds
    each answer until ``gate`` is set (a slow receiver) when given one."""

    def __init__(self, fail_first: int = 0, gate: threading.Event | None = None) -> None:
        self.events: list[dict[str, Any]] = []
        self.signed: list[tuple[bytes, str | None]] = []     # (body, signature header)
        self.attempts = 0
        self.fail_first = fail_first
        lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with lock:
                    receiver.attempts += 1
                    refuse = receiver.attempts <= receiver.fail_first
                if gate is not None:
                    gate.wait(30)
                with lock:
                    if not refuse:
                        receiver.events.append(json.loads(body))
                        receiver.signed.append((body, self.headers.get(SIGNATURE_HEADER)))
                self.send_response(503 if refuse else 204)
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def states(self, infra_id: str) -> list[str]:
        return [e["state"] for e in sorted(self.events, key=lambda e: e["sequence"])
                if e["infraid"] == infra_id]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hook = Receiver(fail_first=1)
    yield hook
    hook.close()


@pytest.fixture
def hooked(occo: Occo, start_service: Callable[..., Any]) -> Any:
    """A service that may deliver to loopback, where the tests' receivers listen."""
    return start_service(occo, webhook_local_targets=True)


def test_state_changes_are_posted_with_retries(hooked: Any, occo: Occo, cluster: str,
                                               receiver: Receiver) -> None:
    rest = hooked
    infra_id = rest.build(cluster)
    answer = rest("POST", f"/infrastructures/{infra_id}/notify", json={"url": receiver.url})
    assert answer.status_code == 200
    assert answer.json()["infraid"] == infra_id and len(answer.json()["secret"]) >= 32
    assert occo.store.infras.get(infra_id).notify_url == receiver.url

    assert rest("DELETE", f"/infrastructures/{infra_id}").status_code == 200
    # the first delivery is refused (503) and retried: nothing is lost
    wait_until(lambda: receiver.states(infra_id) == ["destroying", "destroyed"])
    assert receiver.attempts == 3
    # the retried first change still arrives first: nothing newer overtakes a retry
    assert [e["state"] for e in receiver.events] == ["destroying", "destroyed"]
    first = sorted(receiver.events, key=lambda e: e["sequence"])[0]
    assert first["event"] == "state_changed" and first["previous"] == "ready"


def test_a_build_reports_ready_to_its_hook(hooked: Any, occo: Occo, cluster: str,
                                           receiver: Receiver) -> None:
    rest = hooked
    slow = cluster.replace("type: fast\n  - &W", "type: slow\n  - &W")
    infra_id = rest("POST", "/infrastructures/", data=slow).json()["infraid"]
    rest("POST", f"/infrastructures/{infra_id}/notify", json={"url": receiver.url})
    wait_until(lambda: receiver.states(infra_id) == ["ready"], timeout=20)


def test_deliveries_are_signed_with_the_webhooks_secret(hooked: Any, cluster: str) -> None:
    rest = hooked
    mine, other = Receiver(), Receiver()
    try:
        first, second = rest.build(cluster), rest.build(cluster)
        made = rest("POST", f"/infrastructures/{first}/notify",
                    json={"url": mine.url}).json()["secret"]
        chosen = "a-secret-of-our-own-choosing"
        given = rest("POST", f"/infrastructures/{second}/notify",
                     json={"url": other.url, "secret": chosen}).json()["secret"]
        assert given == chosen
        assert rest("POST", f"/infrastructures/{second}/notify",
                    json={"url": other.url, "secret": "short"}).status_code == 400
        for infra_id in (first, second):
            assert rest("DELETE", f"/infrastructures/{infra_id}").status_code == 200
        wait_until(lambda: len(mine.signed) == 2 and len(other.signed) == 2)
        for hook, secret in ((mine, made), (other, chosen)):
            for body, header in hook.signed:
                expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
                assert header == f"sha256={expected}"
        assert made not in rest("GET", f"/infrastructures/{first}").text
    finally:
        mine.close()
        other.close()


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:9/hook", "http://localhost:9/hook", "http://[::1]:9/hook",
    "http://169.254.169.254/latest/meta-data/", "http://0.0.0.0:9/", "http://[::ffff:127.0.0.1]/",
    "https://127.7.7.7/"])
def test_local_targets_are_refused_unless_allowed(rest: Any, occo: Occo, cluster: str,
                                                  url: str) -> None:
    infra_id = rest.build(cluster)
    answer = rest("POST", f"/infrastructures/{infra_id}/notify", json={"url": url})
    assert answer.status_code == 400, url
    assert "rest.webhook_local_targets" in answer.json()["message"]
    assert occo.store.infras.get(infra_id).notify_url is None


def test_a_local_target_recorded_elsewhere_is_never_delivered_to(
        rest: Any, occo: Occo, cluster: str, receiver: Receiver) -> None:
    """A URL written by another process is checked again when delivering."""
    infra_id = rest.build(cluster)
    occo.set_notify_url(infra_id, receiver.url)
    notifier = rest.service.context.notifier
    occo.build(parse_infra_description(cluster, "cluster.yaml", Path(".")),
               infra_id=infra_id)                     # building, then ready: two changes
    wait_until(lambda: notifier.dropped >= 2)
    assert receiver.attempts == 0


def test_a_slow_receiver_does_not_delay_the_others(occo: Occo, cluster: str,
                                                   start_service: Callable[..., Any]) -> None:
    rest = start_service(occo, webhook_local_targets=True, notify_timeout=60.0)
    gate = threading.Event()
    slow, fast = Receiver(gate=gate), Receiver()
    try:
        stuck, quick = rest.build(cluster), rest.build(cluster)
        for infra_id, hook in ((stuck, slow), (quick, fast)):
            rest("POST", f"/infrastructures/{infra_id}/notify", json={"url": hook.url})
        assert rest("DELETE", f"/infrastructures/{stuck}").status_code == 200
        wait_until(lambda: slow.attempts >= 1)                  # its answer is held back
        assert rest("DELETE", f"/infrastructures/{quick}").status_code == 200
        wait_until(lambda: fast.states(quick) == ["destroying", "destroyed"], timeout=15)
        assert slow.events == [] and not gate.is_set()
        gate.set()                                          # the slow one catches up, in order
        wait_until(lambda: slow.states(stuck) == ["destroying", "destroyed"])
    finally:
        gate.set()
        slow.close()
        fast.close()


def test_notify_validates_the_url(rest: Any, cluster: str) -> None:
    infra_id = rest.build(cluster)
    for body in ({"url": "file:///etc/passwd"}, {"url": "ftp://example.org/x"},
                 {"url": "not a url"}, {}, {"url": "http://x", "extra": 1}):
        answer = rest("POST", f"/infrastructures/{infra_id}/notify", json=body)
        assert answer.status_code == 400, body
        assert answer.json()["error"] in ("bad_request", "unprocessable_entity")
    cleared = rest("POST", f"/infrastructures/{infra_id}/notify", json={"url": None})
    assert cleared.status_code == 200
    missing = rest("POST", "/infrastructures/nope/notify", json={"url": "http://x"})
    assert missing.status_code == 404


def test_the_target_policy() -> None:
    own = ipaddress.ip_address("192.0.2.10")
    policy = TargetPolicy(allow_local=False, own=frozenset({own}))
    for address in ("127.0.0.1", "127.8.0.1", "::1", "169.254.169.254", "fe80::1", "0.0.0.0",
                    "::ffff:127.0.0.1", "192.0.2.10", "::ffff:192.0.2.10"):
        assert policy.refusal(ipaddress.ip_address(address)) is not None, address
    for address in ("192.0.2.11", "198.51.100.7", "2001:db8::1"):
        assert policy.refusal(ipaddress.ip_address(address)) is None, address
    assert TargetPolicy(allow_local=True, own=frozenset({own})).refusal(own) is None
    assert signature("k", b"body") == \
        "sha256=" + hmac.new(b"k", b"body", hashlib.sha256).hexdigest()


def test_changes_made_before_a_webhook_was_set_are_not_its_own(occo: Occo, cluster: str,
                                                               receiver: Receiver) -> None:
    """The watcher may read changes late; those older than the webhook stay undelivered."""
    notifier = Notifier(occo, poll=3600, policy=TargetPolicy(allow_local=True))
    notifier.start()
    try:
        infra_id = occo.build(parse_infra_description(cluster, "cluster.yaml", Path("."))
                              ).infra_id                 # changes the watcher has not read
        notifier.remember(infra_id, receiver.url, "a-secret-long-enough-for-occo")
        occo.destroy(infra_id)
    finally:
        notifier.stop()                                  # reads what is left, delivers it
    assert receiver.states(infra_id) == ["destroying", "destroyed"]
