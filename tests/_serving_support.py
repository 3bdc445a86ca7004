"""Shared helpers for the serving and browser tests: a photo of real faces, small random checkpoints, a live server."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
RAFDB_TEST = DATA / "rafdb" / "DATASET" / "test"
# Fixed RAF-DB test faces (100x100 aligned RGB) that OpenCV's Haar detector finds at 150-180 px.
FACE_FILES = ("4/test_0009_aligned.jpg", "1/test_0002_aligned.jpg", "7/test_2391_aligned.jpg")


def rafdb_faces(n: int = 2) -> list[Path]:
    """``n`` fixed RAF-DB test faces (happy, surprise, neutral)."""
    return [RAFDB_TEST / name for name in FACE_FILES[:n]]


def compose_photo(path: Path, n_faces: int = 2, face_size: int = 160) -> Path:
    """Paste ``n_faces`` real RAF-DB faces (upscaled to ``face_size``) on a 640x480 grey canvas; saves JPEG/PNG."""
    canvas = Image.new("RGB", (640, 480), (182, 188, 196))
    for i, face_path in enumerate(rafdb_faces(n_faces)):
        face = Image.open(face_path).convert("RGB").resize((face_size, face_size), Image.BICUBIC)
        canvas.paste(face, (20 + i * 210, 160))
    canvas.save(path, quality=92) if path.suffix.lower() in (".jpg", ".jpeg") else canvas.save(path)
    return path


def blank_photo(path: Path) -> Path:
    """A 320x240 image with no face (smooth gradient)."""
    x = np.linspace(0, 255, 320, dtype=np.uint8)
    Image.fromarray(np.stack([np.tile(x, (240, 1))] * 3, axis=-1)).save(path)
    return path


def make_checkpoint(folder: Path, arch: str, seed: int = 0) -> Path:
    """A randomly initialised ``arch`` checkpoint (tests do not depend on the shipped default weights)."""
    import torch

    from ferkit.models import create_model, save_checkpoint

    torch.manual_seed(seed)
    model = create_model(arch, num_classes=7).eval()
    return save_checkpoint(model, folder)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """uvicorn serving ``app`` on a free 127.0.0.1 port in a background thread (context manager)."""

    def __init__(self, app):
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=10)
