"""Load check for `ferkit serve`: N concurrent clients POST a photo to /v1/predict for D seconds.

Starts the server as a subprocess (the real CLI, uvicorn, one process), waits for /healthz, then runs the clients
as threads with keep-alive connections. Reports requests, status codes, dropped connections (transport errors),
p50/p90/p99 latency, throughput, and the server's RSS before and after (plus its peak, VmHWM).

    .venv/bin/python benchmarks/bench_serve.py --clients 20 --duration 60

Burst mode (the guarantees of docs/serving.md): --burst N sends N large uploads at once, each body sent slowly
(64 KiB every 10 ms), and reports statuses, when the first 503 came and whether it came before the body was sent,
first-byte latency, the server's peak RSS growth and peak temp-disk use (its TMPDIR is a fresh folder), and whether
a normal /v1/predict succeeds afterwards. --stalled K opens K uploads that send half their declared body and stop,
and counts how many the server closes (408 expected) within --read-timeout + 2 s.

    .venv/bin/python benchmarks/bench_serve.py --burst 100 --upload-mb 10 --max-pending 32
    .venv/bin/python benchmarks/bench_serve.py --stalled 50 --read-timeout 5

Without --model it serves a randomly initialised fercnet_s checkpoint (speed does not depend on the weights).
"""

from __future__ import annotations

import argparse
import contextlib
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

sys.path.insert(0, str(ROOT / "benchmarks"))
from serve_burst import Sampler, run_burst, run_stalled  # noqa: E402


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


@contextlib.contextmanager
def running_server(args, models: list[str], tmp: Path):
    """`ferkit serve` as a subprocess with its own empty TMPDIR (``tmp / "server_tmp"``); yields (process, base URL)."""
    port = free_port()
    cmd = [sys.executable, "-m", "ferkit", "serve", "--port", str(port), "--detector", args.detector]
    for m in models:
        cmd += ["--model", m]
    for flag in ("max_pending", "read_timeout", "max_upload_mb"):
        if getattr(args, flag) is not None:
            cmd += ["--" + flag.replace("_", "-"), str(getattr(args, flag))]
    server_tmp = tmp / "server_tmp"
    server_tmp.mkdir()
    log = (tmp / "server.log").open("w")
    env = {**os.environ, "TMPDIR": str(server_tmp)}
    server = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                if server.poll() is not None:
                    break
                time.sleep(0.1)
        else:
            raise RuntimeError("server did not answer /healthz within a minute")
        if server.poll() is not None:
            raise RuntimeError(f"server did not start: {(tmp / 'server.log').read_text()[-2000:]}")
        yield server, base
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
        log.close()


def predict_ok(base: str, payload: bytes) -> bool:
    try:
        resp = httpx.post(base + "/v1/predict", files={"file": ("p.jpg", payload, "image/jpeg")}, timeout=60)
    except httpx.TransportError:
        return False
    return resp.status_code == 200


def load_check(args, server, base: str, payload: bytes) -> tuple[dict, bool]:
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
    }
    return report, report["http_5xx"] == 0 and report["dropped"] == 0 and alive


def burst_check(args, server, base: str, payload: bytes, tmp: Path) -> tuple[dict, bool]:
    port = int(base.rsplit(":", 1)[1])
    upload_bytes = int(args.upload_mb * 2**20)
    report, ok = {}, True
    if args.burst:
        mem_before = rss_mib(server.pid)
        sampler = Sampler(server.pid, tmp / "server_tmp")
        sampler.start()
        burst = run_burst(port, args.burst, payload, upload_bytes, args.chunk_kb * 1024, args.chunk_ms / 1e3)
        time.sleep(0.2)
        sampler.stop.set()
        sampler.join(5)
        mem_after = rss_mib(server.pid)
        burst["server_rss_mib"] = {
            "before": round(mem_before["VmRSS"], 1),
            "peak_sampled": round(sampler.peak_rss_mib, 1),
            "vmhwm_before": round(mem_before["VmHWM"], 1),
            "vmhwm_after": round(mem_after["VmHWM"], 1),
            "growth": round(mem_after["VmHWM"] - mem_before["VmRSS"], 1),
            "after": round(mem_after["VmRSS"], 1),
        }
        burst["server_tmp_peak_mib"] = round(sampler.peak_tmp_bytes / 2**20, 1)
        burst["predict_after_ok"] = predict_ok(base, payload)
        burst["checks"] = {
            "first_503_within_0.5s": burst["first_503_s"] is not None and burst["first_503_s"] <= 0.5,
            "rss_growth_under_200MB": burst["server_rss_mib"]["growth"] * 2**20 < 200e6,
            "predict_after_ok": burst["predict_after_ok"],
        }
        report["burst"] = burst
        ok = ok and all(burst["checks"].values())
    if args.stalled:
        read_timeout = args.read_timeout or 15.0
        stalled = run_stalled(port, args.stalled, payload, upload_bytes, read_timeout)
        stalled["predict_after_ok"] = predict_ok(base, payload)
        stalled["checks"] = {
            "all_closed_within_T_plus_2s": stalled["closed_within_T_plus_2s"] == args.stalled,
            "predict_after_ok": stalled["predict_after_ok"],
        }
        report["stalled"] = stalled
        ok = ok and all(stalled["checks"].values())
    report["server_stderr_tail"] = (tmp / "server.log").read_text()[-1500:]
    return report, ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", default=None, help="checkpoint(s) to serve (default: random fercnet_s)")
    ap.add_argument("--arch", default="fercnet_s", help="architecture of the random checkpoint when --model is absent")
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--detector", default="haar")
    ap.add_argument("--burst", type=int, default=0, metavar="N", help="burst mode: N large uploads at once")
    ap.add_argument("--stalled", type=int, default=0, metavar="K", help="K uploads that stall after half the body")
    ap.add_argument("--upload-mb", type=float, default=1.0, help="body size of burst/stalled uploads in MiB (1)")
    ap.add_argument("--chunk-kb", type=int, default=64, help="burst uploads send this many KiB ...")
    ap.add_argument("--chunk-ms", type=float, default=10.0, help="... every this many ms")
    ap.add_argument("--max-pending", type=int, default=None, help="passed to ferkit serve (default: its own)")
    ap.add_argument("--read-timeout", type=float, default=None, help="passed to ferkit serve (default: its own)")
    ap.add_argument("--max-upload-mb", type=float, default=None, help="passed to ferkit serve (default: its own)")
    ap.add_argument("--json", default=None, help="write the results here too")
    args = ap.parse_args()
    if not 0 <= args.burst <= 500 or not 0 <= args.stalled <= 500 or not 0 < args.upload_mb <= 64:
        ap.error("--burst and --stalled take 0-500 connections, --upload-mb 0-64 MiB")
    if (args.burst or args.stalled) and args.max_upload_mb is None:
        args.max_upload_mb = max(10.0, args.upload_mb)  # the server's default, or enough for the upload

    tmp = Path(tempfile.mkdtemp(prefix="bench_serve_"))
    models = args.model or [str(make_checkpoint(tmp / args.arch, args.arch))]
    payload = compose_photo(tmp / "two_faces.jpg", n_faces=2).read_bytes()
    with running_server(args, models, tmp) as (server, base):
        assert predict_ok(base, payload), "the warm-up request failed"
        if args.burst or args.stalled:
            report, ok = burst_check(args, server, base, payload, tmp)
        else:
            report, ok = load_check(args, server, base, payload)
        report["server_alive_after"] = server.poll() is None
    report["cpu_count"] = os.cpu_count()
    report["loadavg"] = os.getloadavg()
    print(json.dumps(report, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
