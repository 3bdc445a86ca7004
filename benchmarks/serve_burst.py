"""Burst and stalled-upload checks for `bench_serve.py`, over raw sockets on 127.0.0.1 (bounded counts and times).

- ``run_burst``: N clients open a connection at once and each sends one large multipart upload slowly (``chunk``
  bytes every ``interval`` s). Per request: status, JSON error code, time from connection start to the response's
  first byte, and how many body bytes the client had not yet written when the response arrived.
- ``run_stalled``: K connections declare a Content-Length, send half the body and stop; per connection: what the
  server answered and when it closed the connection, counted from the stall.
- ``Sampler``: the server's VmRSS and its temp-file bytes (files under its TMPDIR plus open, already-unlinked temp
  files, which is how Python's TemporaryFile works on Linux) every 50 ms.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np

BOUNDARY = b"ferkit-burst-boundary"


def multipart_upload(photo: bytes, total: int) -> tuple[bytes, bytes]:
    """(content type, body): a multipart ``file`` field of ``total`` bytes in all, the JPEG padded after its end."""
    head = (
        b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="file"; filename="big.jpg"\r\n'
        b"Content-Type: image/jpeg\r\n\r\n"
    )
    tail = b"\r\n--" + BOUNDARY + b"--\r\n"
    pad = max(0, total - len(head) - len(tail) - len(photo))
    return b"multipart/form-data; boundary=" + BOUNDARY, head + photo + bytes(pad) + tail


def request_head(port: int, ctype: bytes, length: int) -> bytes:
    return (
        (
            f"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {length}\r\n"
            "Connection: close\r\nContent-Type: "
        ).encode()
        + ctype
        + b"\r\n\r\n"
    )


def parse_response(raw: bytes) -> dict:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    try:
        status = int(lines[0].split()[1])
    except (IndexError, ValueError):
        return {"status": "unparseable"}
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    code = None
    if headers.get("content-type", "").startswith("application/json"):
        try:
            code = json.loads(body).get("error", {}).get("code")
        except ValueError:
            code = "bad_json"
    return {"status": status, "code": code or headers.get("content-type", "?").split(";")[0]}


class Sampler(threading.Thread):
    """Peak VmRSS (MiB) and peak temp-file bytes of process ``pid`` whose TMPDIR is ``tmpdir``, every ``period`` s."""

    def __init__(self, pid: int, tmpdir: Path, period: float = 0.05):
        super().__init__(daemon=True)
        self.pid, self.tmpdir, self.period = pid, str(tmpdir), period
        self.peak_rss_mib = 0.0
        self.peak_tmp_bytes = 0
        self.stop = threading.Event()

    def tmp_bytes(self) -> int:
        seen, total = set(), 0
        paths = [os.path.join(d, f) for d, _, files in os.walk(self.tmpdir) for f in files]
        fd_dir = f"/proc/{self.pid}/fd"
        for fd in os.listdir(fd_dir):
            try:
                if os.readlink(os.path.join(fd_dir, fd)).startswith(self.tmpdir):
                    paths.append(os.path.join(fd_dir, fd))
            except OSError:
                pass
        for p in paths:
            try:
                st = os.stat(p)
            except OSError:
                continue
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
        return total

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        self.peak_rss_mib = max(self.peak_rss_mib, int(line.split()[1]) / 1024)
                self.peak_tmp_bytes = max(self.peak_tmp_bytes, self.tmp_bytes())
            except OSError:  # the server is gone
                return
            time.sleep(self.period)


def _read_reply(sock: socket.socket, rec: dict, body_len: int) -> None:
    """Reader half of a client: record the first byte's time and the unsent body bytes, then read to the close."""
    raw = b""
    try:
        while chunk := sock.recv(65536):
            if not raw:
                rec["first_byte"] = time.perf_counter()
                rec["unsent"] = body_len - rec["sent"]
            raw += chunk
    except TimeoutError:
        rec["error"] = "timeout"
    except OSError as err:
        rec["error"] = err.__class__.__name__
    rec["closed"] = time.perf_counter()
    if raw:
        rec.update(parse_response(raw))
    elif "error" not in rec:
        rec["error"] = "closed_without_response"


def _upload(port, head, body, chunk, interval, stop_after, rec, start, timeout) -> None:
    """One client: connect, send the head and then ``body[:stop_after]`` in chunks; a reader thread takes the reply."""
    start.wait()
    rec["t0"] = time.perf_counter()
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    except OSError as err:
        rec.update(error=f"connect:{err.__class__.__name__}", closed=time.perf_counter())
        return
    reader = threading.Thread(target=_read_reply, args=(sock, rec, len(body)), daemon=True)
    reader.start()
    view = memoryview(body)
    try:
        sock.sendall(head)
        while rec["sent"] < stop_after and "first_byte" not in rec:  # answered early: stop sending
            piece = view[rec["sent"] : min(rec["sent"] + chunk, stop_after)]
            sock.sendall(piece)
            rec["sent"] += len(piece)
            time.sleep(interval)
    except OSError as err:
        rec["send_error"] = err.__class__.__name__
    rec["send_end"] = time.perf_counter()
    reader.join(timeout + 5)
    sock.close()


def _run_clients(n, port, ctype, body, chunk, interval, stop_after, timeout) -> list[dict]:
    start = threading.Event()
    head = request_head(port, ctype, len(body))
    recs = [{"sent": 0} for _ in range(n)]
    threads = [
        threading.Thread(
            target=_upload, args=(port, head, body, chunk, interval, stop_after, rec, start, timeout), daemon=True
        )
        for rec in recs
    ]
    for t in threads:
        t.start()
    start.set()
    deadline = time.monotonic() + timeout + 30
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    return recs


def _outcome(rec: dict) -> str:
    if "status" in rec:
        return f"{rec['status']} {rec['code']}"
    return rec.get("error", "open")


def _pct(values, q) -> float | None:
    return round(float(np.percentile(values, q)), 3) if len(values) else None


def run_burst(port, n, photo, upload_bytes, chunk=65536, interval=0.01, timeout=120.0) -> dict:
    ctype, body = multipart_upload(photo, upload_bytes)
    recs = _run_clients(n, port, ctype, body, chunk, interval, len(body), timeout)
    t_start = min(r["t0"] for r in recs if "t0" in r)
    lat = [r["first_byte"] - r["t0"] for r in recs if "first_byte" in r]
    refused = [r for r in recs if r.get("status") == 503]
    return {
        "clients": n,
        "body_bytes": len(body),
        "send_rate": f"{chunk // 1024} KiB every {interval * 1e3:g} ms",
        "outcomes": dict(Counter(_outcome(r) for r in recs)),
        "first_503_s": round(min(r["first_byte"] for r in refused) - t_start, 3) if refused else None,
        "last_503_s": round(max(r["first_byte"] for r in refused) - t_start, 3) if refused else None,
        "503_before_body_sent": sum(r["unsent"] > 0 for r in refused),
        "503_unsent_mib_median": round(float(np.median([r["unsent"] for r in refused])) / 2**20, 2)
        if refused
        else None,
        "send_errors": dict(Counter(r["send_error"] for r in recs if "send_error" in r)),
        "first_byte_s": {"p50": _pct(lat, 50), "p99": _pct(lat, 99), "max": _pct(lat, 100)},
        "first_byte_s_200": {
            q: _pct([r["first_byte"] - r["t0"] for r in recs if r.get("status") == 200], int(q[1:]))
            for q in ("p50", "p99")
        },
        "burst_wall_s": round(max(r.get("closed", r["t0"]) for r in recs if "t0" in r) - t_start, 2),
    }


def run_stalled(port, k, photo, upload_bytes, read_timeout, timeout=None) -> dict:
    ctype, body = multipart_upload(photo, upload_bytes)
    timeout = timeout or read_timeout + 10
    recs = _run_clients(k, port, ctype, body, 65536, 0.0, len(body) // 2, timeout)
    after_stall = [r["closed"] - r["send_end"] for r in recs if "closed" in r and "send_end" in r]
    within = [r for r in recs if "closed" in r and "send_end" in r and r["closed"] - r["send_end"] <= read_timeout + 2]
    return {
        "connections": k,
        "declared_bytes": len(body),
        "sent_bytes": len(body) // 2,
        "outcomes": dict(Counter(_outcome(r) for r in recs)),
        "closed_within_T_plus_2s": len(within),
        "closed_within_by_status": dict(Counter(_outcome(r) for r in within)),
        "still_open_after_wait": sum("closed" not in r or r.get("error") == "timeout" for r in recs),
        "close_after_stall_s": {
            "min": _pct(after_stall, 0),
            "p50": _pct(after_stall, 50),
            "max": _pct(after_stall, 100),
        },
    }
