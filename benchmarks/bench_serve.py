"""Load check for `ferkit serve`: N concurrent clients POST a photo to /v1/predict for D seconds.

Starts the server as a subprocess (the real CLI, uvicorn, one process), waits for /healthz, then runs the clients
as threads with keep-alive connections. Reports requests, status codes, dropped connections (transport errors),
p50/p90/p99 latency, throughput, and the server's RSS before and after (plus its peak, VmHWM).

    .venv/bin/python benchmarks/bench_serve.py --clients 20 --duration 60

Without --model it serves a randomly initialised fercnet_s checkpoint (speed does not depend on the weights).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from _serving_support import compose_photo, free_port, make_checkpoint  # noqa: E402


def rss_mib(pid: int) -> dict:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return fields


def client_loop(url: str, payload: bytes, deadline: float, results: list, lock: threading.Lock) -> None:
    with httpx.Client(timeout=120) as client:
        while time.monotonic() < deadline:
            t0 = time.perf_counter()
            try:
                resp = client.post(url, files={"file": ("photo.jpg", payload, "image/jpeg")})
                outcome = resp.status_code
            except httpx.TransportError as err:  # refused, reset or timed out: a dropped connection
                outcome = f"dropped:{err.__class__.__name__}"
            with lock:
                results.append((outcome, time.perf_counter() - t0))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", default=None, help="checkpoint(s) to serve (default: random fercnet_s)")
    ap.add_argument("--arch", default="fercnet_s", help="architecture of the random checkpoint when --model is absent")
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--detector", default="haar")
    ap.add_argument("--json", default=None, help="write the results here too")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench_serve_"))
    models = args.model or [str(make_checkpoint(tmp / args.arch, args.arch))]
    payload = compose_photo(tmp / "two_faces.jpg", n_faces=2).read_bytes()
    port = free_port()
    cmd = [sys.executable, "-m", "ferkit", "serve", "--port", str(port), "--detector", args.detector]
    for m in models:
        cmd += ["--model", m]
    server = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise RuntimeError(f"server did not start: {server.stderr.read() if server.poll() is not None else ''}")
        warm = httpx.post(base + "/v1/predict", files={"file": ("p.jpg", payload, "image/jpeg")}, timeout=60)
        assert warm.status_code == 200, warm.text
        mem_before = rss_mib(server.pid)
        served = httpx.get(base + "/v1/models", timeout=5).json()["models"]

        results: list = []
        lock = threading.Lock()
        deadline = time.monotonic() + args.duration
        threads = [
            threading.Thread(target=client_loop, args=(base + "/v1/predict", payload, deadline, results, lock))
            for _ in range(args.clients)
        ]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - t0
        mem_after = rss_mib(server.pid)
        alive = server.poll() is None and httpx.get(base + "/healthz", timeout=5).status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=30)

    outcomes = Counter(str(o) for o, _ in results)
    lat = np.array([s for o, s in results if o == 200]) * 1e3
    report = {
        "clients": args.clients,
        "duration_s": round(elapsed, 1),
        "models": [(m["name"], m["arch"], m["backend"]) for m in served],
        "requests": len(results),
        "outcomes": dict(outcomes),
        "http_5xx": sum(n for o, n in outcomes.items() if o.startswith("5")),
        "dropped": sum(n for o, n in outcomes.items() if o.startswith("dropped")),
        "throughput_rps": round(len(lat) / elapsed, 2),
        "latency_ms": {q: round(float(np.percentile(lat, int(q[1:]))), 1) for q in ("p50", "p90", "p99")}
        if len(lat)
        else {},
        "server_rss_mib": {
            "before": round(mem_before["VmRSS"], 1),
            "after": round(mem_after["VmRSS"], 1),
            "peak": round(mem_after["VmHWM"], 1),
        },
        "server_alive_after": alive,
        "cpu_count": os.cpu_count(),
    }
    print(json.dumps(report, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    return 0 if report["http_5xx"] == 0 and report["dropped"] == 0 and alive else 1


if __name__ == "__main__":
    sys.exit(main())
