"""ferkit.onnxrt.cpu_session: one intra-op thread per usable core unless told otherwise, and no busy-waiting."""

from __future__ import annotations

from ferkit.faces.blazeface import ASSETS
from ferkit.onnxrt import cpu_session, usable_cores

MODEL = ASSETS / "face_detection_short_range.onnx"


def test_cpu_session_threads_and_spinning():
    opts = cpu_session(MODEL).get_session_options()
    assert opts.intra_op_num_threads == usable_cores() >= 1
    assert opts.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert cpu_session(MODEL.read_bytes(), threads=1).get_session_options().intra_op_num_threads == 1
