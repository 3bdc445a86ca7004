"""Bad and odd image files, generated here, through the REST API and `ferkit predict`: always a JSON 4xx (or 200
when the file is a valid photo), never a 5xx or a traceback, and the next good request still works."""

from __future__ import annotations

import io
import json
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from _serving_support import compose_photo, make_checkpoint

pytestmark = pytest.mark.needs_data("rafdb/DATASET/test")


def _save(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_1bit(width: int, height: int, rows: int | None = None) -> bytes:
    """A 1-bit black PNG written by hand (a 20000x20000 one is ~50 KB, made in well under a second); ``rows`` < height
    gives a file whose header claims more than its data holds."""
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    z = zlib.compressobj(9)
    data = b"".join(z.compress(row) for _ in range(height if rows is None else rows)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", data) + _png_chunk(b"IEND", b"")


def _jpeg_claiming(width: int, height: int) -> bytes:
    """A small JPEG whose SOF header is patched to claim ``width`` x ``height``."""
    data = bytearray(_save(Image.new("RGB", (64, 64), (120, 90, 60)), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def _gif_animated() -> bytes:
    frames = [Image.new("RGB", (64, 64), c) for c in ((255, 0, 0), (0, 255, 0))]
    return _save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """name -> (bytes, content type, expected status, expected error code or None for a 200 with faces)."""
    root = tmp_path_factory.mktemp("fuzz")
    photo = Image.open(compose_photo(root / "photo.jpg", n_faces=2)).convert("RGB")
    gray16 = Image.fromarray(np.asarray(photo.convert("L"), dtype=np.uint16) * 257)  # full 16-bit range
    assert gray16.mode == "I;16"
    mpo = _save(photo, "MPO", save_all=True, append_images=[photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT)])
    jpeg = _save(photo, "JPEG", quality=90)
    return {
        "tall_1px.png": (_save(Image.new("RGB", (700, 1)), "PNG"), "image/png", 422, "image_too_small"),
        "one_pixel.png": (_save(Image.new("RGB", (1, 1)), "PNG"), "image/png", 422, "image_too_small"),
        "strip.png": (_save(Image.new("L", (4000, 8)), "PNG"), "image/png", 422, "image_too_small"),
        "bomb_20000.png": (_png_1bit(20000, 20000), "image/png", 413, "too_many_pixels"),
        "header_65000.jpg": (_jpeg_claiming(65000, 65000), "image/jpeg", 413, "too_many_pixels"),
        "header_8000.png": (_png_1bit(8000, 8000, rows=10), "image/png", 413, "too_many_pixels"),
        "truncated.jpg": (jpeg[: len(jpeg) // 3], "image/jpeg", 400, "corrupt_image"),
        "zero_bytes.jpg": (b"", "image/jpeg", 400, "empty_upload"),
        "text.jpg": (b"hello, I am not a photo\n" * 20, "image/jpeg", 400, "not_an_image"),
        "animated.gif": (_gif_animated(), "image/gif", 415, "unsupported_media_type"),
        "gif_as_png.png": (_gif_animated(), "image/png", 415, "unsupported_media_type"),
        "gray16.png": (_save(gray16, "PNG"), "image/png", 200, None),
        "phone.mpo.jpg": (mpo, "image/jpeg", 200, None),
        "cmyk.jpg": (_save(photo.convert("CMYK"), "JPEG", quality=90), "image/jpeg", 200, None),
        "rgba.png": (_save(photo.convert("RGBA"), "PNG"), "image/png", 200, None),
    }


@pytest.fixture(scope="module")
def setup(tmp_path_factory, corpus):
    from fastapi.testclient import TestClient

    from ferkit.serving import ServerConfig, create_app, load_recognizers

    root = tmp_path_factory.mktemp("fuzz_model")
    ckpt = make_checkpoint(root / "plain_cnn", "fercnet_s", seed=0)
    good = compose_photo(root / "good.jpg", n_faces=2)
    app = create_app(load_recognizers([str(ckpt)], detector="haar"), ServerConfig(max_pixels=40_000_000))
    # raise_server_exceptions=False: a 5xx must show up as a failed assertion on the response, like a real client.
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, ckpt, good


def test_corpus_files_are_what_they_claim(corpus):
    assert len(corpus["bomb_20000.png"][0]) < 200_000
    assert Image.open(io.BytesIO(corpus["phone.mpo.jpg"][0])).format == "MPO"
    assert Image.open(io.BytesIO(corpus["animated.gif"][0])).n_frames == 2


@pytest.mark.parametrize("path", ["/v1/predict", "/v1/explain"])
def test_every_bad_input_is_a_json_4xx_and_the_server_keeps_serving(setup, corpus, path):
    client, _, good = setup
    for name, (data, ctype, status, code) in corpus.items():
        resp = client.post(path, files={"file": (name, data, ctype)})
        assert resp.status_code == status, f"{name}: {resp.status_code} {resp.text[:300]}"
        assert resp.headers["content-type"].startswith("application/json"), name
        body = resp.json()
        if code is None:
            assert len(body["faces"]) == 2, f"{name}: {body}"  # decoded as the photo it is (16-bit not white)
        else:
            assert body["error"]["code"] == code and "Traceback" not in resp.text, f"{name}: {body}"
        ok = client.post(path, files={"file": ("good.jpg", good.read_bytes(), "image/jpeg")})
        assert ok.status_code == 200, f"after {name}: {ok.text[:300]}"


def test_predict_cli_on_a_folder_of_bad_files_writes_the_good_one_and_exits_3(setup, corpus, tmp_path, capsys):
    from ferkit.cli import main

    _, ckpt, good = setup
    folder = tmp_path / "in"
    folder.mkdir()
    for name, (data, *_rest) in corpus.items():
        (folder / name).write_bytes(data)
    (folder / "a_good.jpg").write_bytes(good.read_bytes())
    out = tmp_path / "out" / "r.json"
    rc = main(["predict", str(folder), "--model", str(ckpt), "--detector", "haar", "--json", str(out)])
    err = capsys.readouterr().err
    assert rc == 3 and "Traceback" not in err
    frames = {f["source"].rsplit("/", 1)[-1]: f for f in json.loads(out.read_text())["frames"]}
    assert set(frames) == set(corpus) | {"a_good.jpg"}
    assert len(frames["a_good.jpg"]["faces"]) == 2 and frames["a_good.jpg"]["error"] is None
    # The CLI reads GIFs too, and has no pixel limit of its own under Pillow's (Pillow pads the short PNG's rows).
    for name in (
        "gray16.png",
        "phone.mpo.jpg",
        "cmyk.jpg",
        "rgba.png",
        "animated.gif",
        "gif_as_png.png",
        "header_8000.png",
    ):
        assert frames[name]["error"] is None, (name, frames[name]["error"])
    assert "image too small (700x1)" in frames["tall_1px.png"]["error"]
    failed = [n for n, f in frames.items() if f["error"]]
    assert sorted(failed) == sorted(
        [
            "tall_1px.png",
            "one_pixel.png",
            "strip.png",
            "bomb_20000.png",
            "header_65000.jpg",
            "truncated.jpg",
            "zero_bytes.jpg",
            "text.jpg",
        ]
    )
    assert f"{len(failed)} of {len(frames)} input(s) could not be read" in err
