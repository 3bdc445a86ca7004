"""ONNX export of a ferkit model with its metadata (labels, preprocessing) in the file's ``metadata_props``,
optional int8 static quantisation (ONNX Runtime QDQ), and a check against the torch outputs."""

from __future__ import annotations

import io
import json
import logging
import warnings
from pathlib import Path

import numpy as np

from ferkit.metadata import check_metadata

logger = logging.getLogger(__name__)

METADATA_KEY = "ferkit"
INPUT_NAME, OUTPUT_NAME = "input", "logits"
OPSET = 17


def model_bytes(model, meta: dict, opset: int = OPSET) -> bytes:
    """Serialised ONNX graph of torch ``model`` (input N x C x S x S float32 -> logits N x K, dynamic batch) with
    ``meta`` stored as JSON under metadata key ``"ferkit"``."""
    import onnx
    import torch  # here, not at the top: read_onnx_metadata serves torch-free prediction

    size, chans = int(meta["image_size"]), int(meta["in_chans"])
    dummy = torch.zeros(2, chans, size, size)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        # Tracing warns about the Python-side input-size check in FERNet.forward; it is constant for export.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model.eval().cpu(),
            (dummy,),
            buf,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
            opset_version=opset,
            dynamo=False,
        )
    proto = onnx.load_from_string(buf.getvalue())
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(meta, default=list)
    return proto.SerializeToString()


def open_onnx(path_or_bytes, threads: int | None = 0):
    """``(session, metadata)``: an ONNX Runtime CPU session over an exported model (``ferkit.onnxrt.cpu_session``)
    and the ferkit metadata stored in it, validated; the file is loaded once for both. ValueError for an
    unreadable file or one without ferkit metadata. Read through ONNX Runtime, so prediction needs no ``onnx``
    package (it is in the ``train`` extra, for export)."""
    from ferkit.onnxrt import cpu_session

    name = path_or_bytes if not isinstance(path_or_bytes, bytes) else "ONNX model"
    try:
        session = cpu_session(path_or_bytes, threads)
    except Exception as err:  # noqa: BLE001 - ORT raises its own types for unreadable files
        raise ValueError(f"{name} is not a readable ONNX model ({type(err).__name__}: {err}).") from err
    props = session.get_modelmeta().custom_metadata_map
    if METADATA_KEY not in props:
        raise ValueError(f"{name} has no ferkit metadata (labels, preprocessing); export it with `ferkit export`.")
    try:
        meta = json.loads(props[METADATA_KEY])
    except json.JSONDecodeError as err:
        raise ValueError(f"{name}: the ferkit metadata is not valid JSON ({err}); re-export it.") from err
    return session, check_metadata(meta, name)


def read_onnx_metadata(path_or_bytes) -> dict:
    """The ferkit metadata stored in an exported ONNX file (``open_onnx``); ValueError when it has none."""
    return open_onnx(path_or_bytes)[1]


class _Calibration:
    """onnxruntime CalibrationDataReader over a few batches of preprocessed inputs."""

    def __init__(self, batches: list[np.ndarray]) -> None:
        self._it = iter([{INPUT_NAME: b} for b in batches])

    def get_next(self):
        return next(self._it, None)


def probability_tail(path) -> list[str]:
    """Names of the nodes from the first Softmax on (an ensemble's mean of member probabilities and its log): kept
    in fp32, since 8-bit probabilities put every value under ~0.002 at 0 and its log at -inf. Graphs that output
    logits (every single model) have none."""
    import onnx

    graph = onnx.load(str(path)).graph
    tail, tensors = [], set()
    for node in graph.node:  # ONNX nodes are stored in topological order
        if node.op_type == "Softmax" or any(i in tensors for i in node.input):
            tail.append(node.name)
            tensors.update(node.output)
    return tail


def quantize_int8(fp32: bytes, calib: np.ndarray, out_path: Path) -> None:
    """Static int8 quantisation (QDQ, per-channel weights) of the fp32 graph, calibrated on ``calib``
    (N x C x S x S, already normalised). Static, not dynamic: ORT's dynamic ConvInteger path is slower than fp32.
    Activation ranges: the 0.01-99.99th percentiles, not min/max, so a few outliers do not coarsen every step
    (the shipped default on FER2013 PublicTest: fp32 66.45%, min/max int8 66.06%, percentile int8 66.31%)."""
    import tempfile

    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory() as tmp:
        raw, prep = Path(tmp) / "fp32.onnx", Path(tmp) / "prep.onnx"
        raw.write_bytes(fp32)
        quant_pre_process(str(raw), str(prep), skip_symbolic_shape=True)
        batches = [calib[i : i + 16] for i in range(0, len(calib), 16)]
        quantize_static(
            model_input=str(prep),
            model_output=str(out_path),
            calibration_data_reader=_Calibration(batches),
            nodes_to_exclude=probability_tail(prep),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.Percentile,
            extra_options={"CalibPercentile": 99.99},
        )
    import onnx

    proto = onnx.load(str(out_path))
    meta = read_onnx_metadata(fp32)
    meta["quantization"] = "int8-static-qdq"
    del proto.metadata_props[:]
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(meta, default=list)
    onnx.save(proto, str(out_path))
