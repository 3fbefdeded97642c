"""REST service throughput and latency, the service in its own process.

Starts ``occopus-rest-service --port 0`` on a throwaway home, builds a
100-instance dummy infrastructure through it, then for a few seconds each:

- ``GET /infrastructures/<id>`` (the 100-instance report), 1 client, then N clients;
- ``POST /infrastructures/<id>/scaleup/worker`` (records a scaling request), 1 and N.

Prints requests per second and p50/p99 latency. Clients keep their
connection alive (http.client), so the figures are the service's, not TCP
set-up. About 30 s in all.

    python bench/rest.py [--seconds 5] [--clients 4] [--instances 100]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _common import dummy_definition, fresh_occo


def start_service(home: Path) -> tuple[subprocess.Popen[str], str, int]:
    config = home / "occopus_config.yaml"
    config.write_text(f"home: {home}\nmaintain_interval: 3600\n")
    env = {k: v for k, v in os.environ.items() if k not in ("OCCO_REST_TOKENS",
                                                            "OCCOPUS_STORE_URL")}
    proc = subprocess.Popen(["occopus-rest-service", "--cfg", str(config), "--port", "0",
                             "--parallelize"], stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stderr is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if select.select([proc.stderr], [], [], 0.2)[0]:
            match = re.search(r"serving on http://([\d.]+):(\d+)", proc.stderr.readline())
            if match:   # keep reading its log, or a full pipe would stall the service
                threading.Thread(target=proc.stderr.read, daemon=True).start()
                return proc, match.group(1), int(match.group(2))
    proc.kill()
    raise SystemExit("the service did not start")


def request(conn: http.client.HTTPConnection, method: str, path: str,
            body: str | None = None) -> tuple[int, bytes]:
    conn.request(method, path, body=body)
    answer = conn.getresponse()
    return answer.status, answer.read()


def load(host: str, port: int, method: str, path: str, seconds: float,
         clients: int) -> tuple[float, list[float]]:
    """Requests per second and every latency, from ``clients`` keep-alive connections."""
    latencies: list[float] = []
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def client() -> None:
        conn = http.client.HTTPConnection(host, port, timeout=30)
        mine = []
        while time.perf_counter() < stop_at:
            t0 = time.perf_counter()
            status, _ = request(conn, method, path)
            mine.append(time.perf_counter() - t0)
            if status >= 400:
                raise SystemExit(f"{method} {path} answered {status}")
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    t0 = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(latencies) / (time.perf_counter() - t0), latencies


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def report(label: str, rps: float, latencies: list[float]) -> None:
    print(f"{label:<44} {rps:8.0f} req/s   p50 {percentile(latencies, 0.5) * 1000:6.2f} ms"
          f"   p99 {percentile(latencies, 0.99) * 1000:6.2f} ms   ({len(latencies)} requests)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="per measurement")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--instances", type=int, default=100)
    args = parser.parse_args()

    occo, home = fresh_occo()
    occo.import_node_definitions(dummy_definition(home, 0, 0, node_type="bench"))
    occo.close()
    proc, host, port = start_service(home)
    try:
        conn = http.client.HTTPConnection(host, port, timeout=60)
        description = (f"infra_name: bench\nnodes:\n  - name: worker\n    type: bench\n"
                       f"    scaling: {{min: {args.instances}, max: 100000}}\n")
        t0 = time.perf_counter()
        status, body = request(conn, "POST", "/infrastructures/", description)
        assert status == 201, body
        infra_id = json.loads(body)["infraid"]
        path = f"/infrastructures/{infra_id}"
        while True:
            _, body = request(conn, "GET", path)
            states = [i["state"] for i in json.loads(body)["worker"]["instances"].values()]
            if len(states) == args.instances and set(states) == {"ready"}:
                break
            time.sleep(0.05)
        print(f"built {args.instances} dummy instances through the service in "
              f"{time.perf_counter() - t0:.2f} s")

        for clients in (1, args.clients):
            rps, lat = load(host, port, "GET", path, args.seconds, clients)
            report(f"GET {args.instances}-instance report, {clients} client(s)", rps, lat)
        for clients in (1, args.clients):
            rps, lat = load(host, port, "POST", f"{path}/scaleup/worker", args.seconds,
                            clients)
            report(f"POST scaleup/worker, {clients} client(s)", rps, lat)
        status, _ = request(conn, "DELETE", path)
        assert status == 200
        conn.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
        print(f"service stopped with exit status {code}")


if __name__ == "__main__":
    main()
