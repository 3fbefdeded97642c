"""Webhooks: every state change reaches the registered URL, retried until it lands."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from occo.api import Occo


class Receiver:
    """A webhook endpoint that refuses the first ``fail_first`` deliveries."""

    def __init__(self, fail_first: int = 0) -> None:
        self.events: list[dict[str, Any]] = []
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
                    if not refuse:
                        receiver.events.append(json.loads(body))
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


def test_state_changes_are_posted_with_retries(rest: Any, occo: Occo, cluster: str,
                                               receiver: Receiver,
                                               waiter: Callable[..., Any]) -> None:
    infra_id = rest.build(cluster)
    answer = rest("POST", f"/infrastructures/{infra_id}/notify", json={"url": receiver.url})
    assert answer.status_code == 200 and answer.json() == {"infraid": infra_id}
    assert occo.store.infras.get(infra_id).notify_url == receiver.url

    assert rest("DELETE", f"/infrastructures/{infra_id}").status_code == 200
    # the first delivery is refused (503) and retried: nothing is lost
    waiter(lambda: receiver.states(infra_id) == ["destroying", "destroyed"])
    assert receiver.attempts == 3
    first = sorted(receiver.events, key=lambda e: e["sequence"])[0]
    assert first["event"] == "state_changed" and first["previous"] == "ready"


def test_a_build_reports_ready_to_its_hook(rest: Any, occo: Occo, cluster: str,
                                           receiver: Receiver,
                                           waiter: Callable[..., Any]) -> None:
    slow = cluster.replace("type: fast\n  - &W", "type: slow\n  - &W")
    infra_id = rest("POST", "/infrastructures/", data=slow).json()["infraid"]
    rest("POST", f"/infrastructures/{infra_id}/notify", json={"url": receiver.url})
    waiter(lambda: receiver.states(infra_id) == ["ready"], timeout=20)


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
