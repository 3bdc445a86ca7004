"""Re-create src/ferkit/assets/detectors/mtcnn_{pnet,rnet,onet}.onnx from the MTCNN weights (Zhang et al. 2016) in
the MIT-licensed facenet-pytorch wheel (``facenet_pytorch/data/*.pt``; ferkit never installs or imports it).

Run once by a maintainer, never at install or run time (the ONNX files are committed, licence in LICENSE.md there):

    .venv/bin/pip download --no-deps -d /tmp/whl facenet-pytorch==2.6.0
    .venv/bin/python benchmarks/convert_mtcnn.py /tmp/whl/facenet_pytorch-2.6.0-py3-none-any.whl

The three networks are written here as in facenet-pytorch (the state dicts' names and shapes), loaded with
``torch.load(weights_only=True)`` (tensors only, no code unpickled), and exported with the input scaling inside the
graph: each takes uint8 RGB N x H x W x 3 and computes (x - 127.5) / 128 itself, as BlazeFace's graph does.
P-Net takes any H, W (>= 12); R-Net 24 x 24 and O-Net 48 x 48 crops, any batch.
"""

from __future__ import annotations

import sys
import tempfile
import zipfile
from pathlib import Path

import torch
from torch import nn

OUT = Path(__file__).resolve().parents[1] / "src" / "ferkit" / "assets" / "detectors"


class _Scaled(nn.Module):
    """uint8 N x H x W x 3 -> the float N x 3 x H x W in [-1, 1) the networks were trained on."""

    def forward(self, x):
        return (x.permute(0, 3, 1, 2).float() - 127.5) * 0.0078125


class PNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = _Scaled()
        self.conv1, self.prelu1, self.pool1 = nn.Conv2d(3, 10, 3), nn.PReLU(10), nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(10, 16, 3), nn.PReLU(16)
        self.conv3, self.prelu3 = nn.Conv2d(16, 32, 3), nn.PReLU(32)
        self.conv4_1, self.conv4_2 = nn.Conv2d(32, 2, 1), nn.Conv2d(32, 4, 1)

    def forward(self, x):
        x = self.pool1(self.prelu1(self.conv1(self.scale(x))))
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
        return self.conv4_2(x), torch.softmax(self.conv4_1(x), 1)[:, 1]  # box offsets N x 4 x h x w, face prob


class RNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = _Scaled()
        self.conv1, self.prelu1, self.pool1 = nn.Conv2d(3, 28, 3), nn.PReLU(28), nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2, self.prelu2, self.pool2 = nn.Conv2d(28, 48, 3), nn.PReLU(48), nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3, self.prelu3 = nn.Conv2d(48, 64, 2), nn.PReLU(64)
        self.dense4, self.prelu4 = nn.Linear(576, 128), nn.PReLU(128)
        self.dense5_1, self.dense5_2 = nn.Linear(128, 2), nn.Linear(128, 4)

    def forward(self, x):
        x = self.pool1(self.prelu1(self.conv1(self.scale(x))))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.prelu3(self.conv3(x)).permute(0, 3, 2, 1).flatten(1)  # the Caffe original's (W, H, C) order
        x = self.prelu4(self.dense4(x))
        return self.dense5_2(x), torch.softmax(self.dense5_1(x), 1)[:, 1]


class ONet(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = _Scaled()
        self.conv1, self.prelu1, self.pool1 = nn.Conv2d(3, 32, 3), nn.PReLU(32), nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2, self.prelu2, self.pool2 = nn.Conv2d(32, 64, 3), nn.PReLU(64), nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3, self.prelu3, self.pool3 = nn.Conv2d(64, 64, 3), nn.PReLU(64), nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv4, self.prelu4 = nn.Conv2d(64, 128, 2), nn.PReLU(128)
        self.dense5, self.prelu5 = nn.Linear(1152, 256), nn.PReLU(256)
        self.dense6_1, self.dense6_2, self.dense6_3 = nn.Linear(256, 2), nn.Linear(256, 4), nn.Linear(256, 10)

    def forward(self, x):
        x = self.pool1(self.prelu1(self.conv1(self.scale(x))))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.pool3(self.prelu3(self.conv3(x)))
        x = self.prelu4(self.conv4(x)).permute(0, 3, 2, 1).flatten(1)
        x = self.prelu5(self.dense5(x))
        # box offsets N x 4, landmarks N x 10 (5 x then 5 y, as fractions of the box), face probability
        return self.dense6_2(x), self.dense6_3(x), torch.softmax(self.dense6_1(x), 1)[:, 1]


NETS = {  # name: (module, example input side, output names, dynamic axes of the input)
    "pnet": (PNet, 48, ["offsets", "prob"], {0: "B", 1: "H", 2: "W"}),
    "rnet": (RNet, 24, ["offsets", "prob"], {0: "B"}),
    "onet": (ONet, 48, ["offsets", "landmarks", "prob"], {0: "B"}),
}


def convert(wheel: Path, out: Path = OUT) -> None:
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(wheel) as whl:
        for name, (cls, side, outputs, axes) in NETS.items():
            pt = Path(whl.extract(f"facenet_pytorch/data/{name}.pt", tmp))
            net = cls().eval()
            state = torch.load(pt, map_location="cpu", weights_only=True)
            missing, unexpected = net.load_state_dict(state, strict=False)
            assert not unexpected and not missing, (missing, unexpected)
            x = torch.zeros(2, side, side, 3, dtype=torch.uint8)
            path = out / f"mtcnn_{name}.onnx"
            torch.onnx.export(
                net, (x,), str(path), input_names=["image"], output_names=outputs,
                dynamic_axes={"image": axes}, opset_version=17, dynamo=False,
            )  # fmt: skip
            print(f"wrote {path} ({path.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    convert(Path(sys.argv[1]))
