"""REST API over real EmotionRecognizers (random-weight checkpoints): every endpoint and every bad input."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from _serving_support import blank_photo, compose_photo, make_checkpoint, rafdb_faces
from ferkit.labels import EMOTIONS

pytestmark = pytest.mark.needs_data("rafdb/DATASET/test")

MAX_UPLOAD = 2**20
MAX_PIXELS = 4_000_000


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("serving")
    photo = compose_photo(root / "two_faces.jpg", n_faces=2)
    return {
        "jpg": photo,
        "png": compose_photo(root / "two_faces.png", n_faces=2),
        "webp": compose_photo(root / "two_faces.webp", n_faces=2),
        "blank": blank_photo(root / "blank.png"),
        "plain": make_checkpoint(root / "plain_cnn", "fercnet_s", seed=0),
        "cbam": make_checkpoint(root / "cbam_net", "resnet18_cbam_small", seed=1),
    }


@pytest.fixture(scope="module")
def recognizers(files):
    from ferkit.serving import load_recognizers

    return load_recognizers([str(files["plain"]), str(files["cbam"])], detector="haar")


@pytest.fixture(scope="module")
def client(recognizers):
    from fastapi.testclient import TestClient

    from ferkit.serving import ServerConfig, create_app

    app = create_app(recognizers, ServerConfig(max_upload_bytes=MAX_UPLOAD, max_pixels=MAX_PIXELS))
    with TestClient(app) as c:
        yield c


def post(client, path, data: bytes, ctype="image/jpeg", name="photo.jpg", **form):
    return client.post(path, files={"file": (name, data, ctype)}, data=form)


def assert_error(resp, status, code):
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    err = resp.json()["error"]
    assert err["status"] == status and err["code"] == code and len(err["message"]) > 20
    return err["message"]


def test_healthz_and_models(client):
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["models"] == ["plain_cnn", "cbam_net"] and health["pending"] == 0
    body = client.get("/v1/models").json()
    assert body["default"] == "plain_cnn"
    assert [m["name"] for m in body["models"]] == ["plain_cnn", "cbam_net"]
    assert [m["arch"] for m in body["models"]] == ["fercnet_s", "resnet18_cbam_small"]
    assert [m["explain"] for m in body["models"]] == [True, True]  # torch checkpoints, torch installed
    assert all(m["labels"] == list(EMOTIONS) for m in body["models"])
    from ferkit.inference.explain import METHODS

    assert body["explain_methods"] == list(METHODS)  # the page builds its method list from this
    from ferkit.inference import tracking

    # The page's webcam tracking reads these; they must be the Python tracker's own, not a copy.
    assert body["smoothing"] == {
        "ema_weight": tracking.DEFAULT_ALPHA,
        "iou_match": tracking.DEFAULT_IOU_MATCH,
        "max_missed": tracking.DEFAULT_MAX_MISSED,
    }


def test_predict_matches_the_recognizer(client, recognizers, files):
    resp = post(client, "/v1/predict", files["jpg"].read_bytes())
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["model"] == "plain_cnn" and body["frame_size"] == [640, 480]
    assert body["image_size"] == body["frame_size"]  # deprecated alias, kept for one release
    assert set(body["timings_ms"]) == {"queue", "decode", "inference", "total"}
    faces = sorted(body["faces"], key=lambda f: f["box"][0])
    assert len(faces) == 2
    for face, pasted_x in zip(faces, (20, 230)):  # compose_photo pastes 160 px faces at x=20+210*i, y=160
        x1, y1, x2, y2 = face["box"]
        assert abs((x1 + x2) / 2 - (pasted_x + 80)) < 40 and abs((y1 + y2) / 2 - 240) < 40
        assert set(face["probs"]) == set(EMOTIONS) and sum(face["probs"].values()) == pytest.approx(1, abs=1e-4)
        assert face["label"] == max(face["probs"], key=face["probs"].get)
        assert [t["label"] for t in face["top_k"]] == sorted(face["probs"], key=face["probs"].get, reverse=True)[:3]
    # The API adds nothing of its own: same numbers as the Python API on the decoded image.
    direct = recognizers["plain_cnn"].predict(np.asarray(Image.open(files["jpg"]).convert("RGB")))[0]
    direct_faces = sorted(direct.faces, key=lambda f: f.box[0])
    for face, ref in zip(faces, direct_faces):
        assert face["box"] == list(ref.box)
        assert face["probs"] == pytest.approx(ref.probs, abs=1e-5)


def test_a_large_jpeg_upload_is_decoded_smaller_like_predict(files, tmp_path):
    """A 2000 x 1500 JPEG upload with BlazeFace: decoded at 1/2 as ``ferkit predict`` decodes the file
    (``EmotionRecognizer.draft_factor``), so the API's faces equal ``predict``'s, in the upload's pixels."""
    from fastapi.testclient import TestClient

    from ferkit.serving import ServerConfig, create_app, load_recognizers

    canvas = Image.new("RGB", (2000, 1500), (182, 188, 196))
    for face_path, (x, y) in zip(rafdb_faces(2), [(300, 400), (1300, 600)]):
        canvas.paste(Image.open(face_path).convert("RGB").resize((250, 250), Image.BICUBIC), (x, y))
    path = tmp_path / "big.jpg"
    canvas.save(path, quality=95)
    recs = load_recognizers([str(files["plain"])], detector="blazeface")
    rec = recs["plain_cnn"]
    assert rec.draft_factor(2000, 1500) == 2
    (ref,) = rec.predict(path)
    with TestClient(create_app(recs, ServerConfig(max_upload_bytes=8 * MAX_UPLOAD))) as c:
        body = post(c, "/v1/predict", path.read_bytes()).json()
    assert body["frame_size"] == [2000, 1500]
    faces = sorted(body["faces"], key=lambda f: f["box"][0])
    assert len(faces) == 2 and [f["box"] for f in faces] == [
        list(f.box) for f in sorted(ref.faces, key=lambda f: f.box[0])
    ]
    assert faces[1]["box"][0] > 1250  # the file's pixels, not the decoded half-size image's


@pytest.mark.parametrize("kind,ctype", [("png", "image/png"), ("webp", "image/webp")])
def test_predict_png_and_webp(client, files, kind, ctype):
    resp = post(client, "/v1/predict", files[kind].read_bytes(), ctype=ctype, name=f"photo.{kind}")
    assert resp.status_code == 200, resp.text
    assert len(resp.json()["faces"]) == 2


def test_predict_switches_model_and_top_k(client, files):
    data = files["jpg"].read_bytes()
    a = post(client, "/v1/predict", data, model="plain_cnn").json()
    b = post(client, "/v1/predict", data, model="cbam_net", top_k="5").json()
    assert a["model"] == "plain_cnn" and b["model"] == "cbam_net"
    assert len(b["faces"][0]["top_k"]) == 5
    assert a["faces"][0]["probs"] != pytest.approx(b["faces"][0]["probs"], abs=1e-6)


def _bomb() -> bytes:
    buf = io.BytesIO()
    Image.new("L", (4000, 4000)).save(buf, "PNG")  # 16 MP of zeros: a few KB on the wire
    return buf.getvalue()


def _gif() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 64)).save(buf, "GIF")
    return buf.getvalue()


BAD_UPLOADS = {
    "not_an_image": (lambda f: b"this is plain text, not a photo" * 10, "image/jpeg", 400, "not_an_image"),
    "wrong_content_type": (lambda f: f["jpg"].read_bytes(), "text/plain", 415, "unsupported_media_type"),
    "gif_content_type": (lambda f: _gif(), "image/gif", 415, "unsupported_media_type"),
    "gif_sent_as_png": (lambda f: _gif(), "image/png", 415, "unsupported_media_type"),
    "truncated_jpeg": (lambda f: f["jpg"].read_bytes()[:6000], "image/jpeg", 400, "corrupt_image"),
    "empty_file": (lambda f: b"", "image/png", 400, "empty_upload"),
    "decompression_bomb": (lambda f: _bomb(), "image/png", 413, "too_many_pixels"),
}


@pytest.mark.parametrize("case", sorted(BAD_UPLOADS))
def test_bad_uploads_are_clear_4xx_and_the_server_keeps_serving(client, files, case):
    make, ctype, status, code = BAD_UPLOADS[case]
    for path in ("/v1/predict", "/v1/explain"):
        assert_error(post(client, path, make(files), ctype=ctype), status, code)
    assert post(client, "/v1/predict", files["jpg"].read_bytes()).status_code == 200


@pytest.mark.parametrize("path", ["/v1/predict", "/v1/explain"])
def test_photo_without_a_face_is_200_with_no_faces(client, files, path):
    resp = post(client, path, files["blank"].read_bytes(), ctype="image/png", name="blank.png")
    assert resp.status_code == 200, resp.text
    assert resp.json()["faces"] == [] and resp.json()["frame_size"] == [320, 240]
    assert resp.json()["image_size"] == [320, 240]  # deprecated alias of frame_size


def test_model_names_are_unique_and_readable(tmp_path):
    from ferkit.serving import model_names

    a, b = tmp_path / "runA" / "best", tmp_path / "runB" / "best"
    for folder in (a, b):
        folder.mkdir(parents=True)
    (a / "model.onnx").write_bytes(b"")
    assert model_names([str(a), str(b)], [{}, {}]) == ["runA/best", "runB/best"]
    assert model_names([str(a / "model.onnx"), None], [{}, {"name": "fercnet_s"}]) == ["best", "fercnet_s"]
    assert model_names([str(a), str(a)], [{}, {}]) == ["best", "best-2"]  # the same model twice


def test_exported_model_serves_without_explain(files, tmp_path):
    from fastapi.testclient import TestClient

    from ferkit.export import export_model
    from ferkit.serving import create_app, load_recognizers

    onnx = export_model(files["plain"], "onnx", tmp_path / "exported" / "model.onnx", num_check=4).path
    with TestClient(create_app(load_recognizers([str(onnx)], detector="haar"))) as c:
        (entry,) = c.get("/v1/models").json()["models"]
        assert entry["name"] == "exported" and entry["backend"] == "onnx" and entry["explain"] is False
        assert post(c, "/v1/predict", files["jpg"].read_bytes()).status_code == 200
        assert "checkpoint" in assert_error(
            post(c, "/v1/explain", files["jpg"].read_bytes()), 400, "explain_unavailable"
        )


def test_bad_requests(client, files):
    assert "plain_cnn" in assert_error(
        post(client, "/v1/predict", files["jpg"].read_bytes(), model="nope"), 400, "unknown_model"
    )
    assert_error(client.post("/v1/predict", json={"file": "x"}), 415, "unsupported_media_type")
    assert_error(client.post("/v1/predict", files={"image": ("a.jpg", b"x", "image/jpeg")}), 422, "invalid_request")
    assert_error(post(client, "/v1/predict", files["jpg"].read_bytes(), top_k="0"), 422, "invalid_request")
    assert_error(client.get("/v1/nothing"), 404, "http_error")
    assert_error(client.get("/v1/predict"), 405, "http_error")


def test_upload_size_limits(client, files):
    big = b"\xff" * (MAX_UPLOAD + 1)
    # Within the body limit (limit + multipart slack) but over the file limit: checked on the file.
    assert_error(post(client, "/v1/predict", big), 413, "upload_too_large")
    huge = b"\xff" * (MAX_UPLOAD + 200_000)
    assert_error(post(client, "/v1/predict", huge), 413, "upload_too_large")  # refused on Content-Length

    def stream():  # chunked: no Content-Length, counted as it arrives
        for _ in range(30):
            yield b"\xff" * 50_000

    resp = client.post("/v1/predict", content=stream(), headers={"content-type": "multipart/form-data; boundary=b"})
    assert_error(resp, 413, "upload_too_large")
    assert client.get("/healthz").json()["status"] == "ok"


def _png_size(data_url: str) -> tuple[int, int]:
    assert data_url.startswith("data:image/png;base64,")
    return Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))).size


@pytest.mark.parametrize("model,method", [("plain_cnn", "gradcam"), ("cbam_net", "cbam"), ("cbam_net", "auto")])
def test_explain(client, files, model, method):
    resp = post(client, "/v1/explain", files["jpg"].read_bytes(), model=model, method=method)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["model"] == model and len(body["faces"]) == 2
    for face in body["faces"]:
        assert face["label"] in EMOTIONS
        assert face["method"] == ("cbam" if method == "auto" else method)
        assert _png_size(face["heatmap"]) == _png_size(face["overlay"])


def test_explain_errors(client, files):
    data = files["jpg"].read_bytes()
    assert_error(post(client, "/v1/explain", data, model="plain_cnn", method="cbam"), 400, "explain_unavailable")
    assert_error(post(client, "/v1/explain", data, method="lime"), 400, "unknown_method")


def test_page_docs_and_offline_assets(client):
    page = client.get("/")
    assert page.status_code == 200 and 'id="drop"' in page.text and 'id="cam-start"' in page.text
    for asset in ("/static/app.js", "/static/style.css"):
        text = client.get(asset).text
        assert len(text) > 500 and "http://" not in text and "https://" not in text  # nothing fetched from a CDN
    docs = client.get("/docs").text
    assert "/static-docs/swagger-ui-bundle.js" in docs and "cdn" not in docs.lower()
    assert client.get("/static-docs/swagger-ui-bundle.js").status_code == 200
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    assert {"/v1/predict", "/v1/explain", "/v1/models", "/healthz"} <= set(paths)
    # The documented error body is the one sent: {"error": {"status", "code", "message"}}.
    for path in ("/v1/predict", "/v1/explain"):
        responses = paths[path]["post"]["responses"]
        assert {"400", "413", "415", "422", "503"} <= set(responses)
        ref = responses["400"]["content"]["application/json"]["schema"]["$ref"]
        assert ref.endswith("/ErrorBody")
    detail = schema["components"]["schemas"]["ErrorDetail"]
    assert set(detail["properties"]) == {"status", "code", "message"}
    assert schema["components"]["schemas"]["ErrorBody"]["properties"]["error"]["$ref"].endswith("/ErrorDetail")


def test_pool_queues_then_refuses_with_503():
    import asyncio
    import threading

    from ferkit.serving.errors import ServingError
    from ferkit.serving.pool import InferencePool

    pool = InferencePool(workers=1, max_pending=3)
    gate = threading.Event()

    async def burst():
        tasks = [asyncio.ensure_future(pool.run(gate.wait, 5)) for _ in range(5)]
        await asyncio.sleep(0.05)
        assert pool.pending == 3  # 1 running + 2 queued; the other two were refused at once
        gate.set()
        return await asyncio.gather(*tasks, return_exceptions=True)

    results = asyncio.run(burst())
    refused = [r for r in results if isinstance(r, ServingError)]
    assert len(refused) == 2 and all(r.status == 503 for r in refused)
    assert [r[0] for r in results if not isinstance(r, ServingError)] == [True] * 3
    assert pool.pending == 0
    pool.shutdown()


def test_cli_serve_defaults_to_localhost():
    from ferkit.cli import build_parser

    args = build_parser().parse_args(["serve"])
    assert args.host == "127.0.0.1" and args.port == 8000 and args.model is None
    args = build_parser().parse_args(["serve", "--model", "a", "--model", "b"])
    assert args.model == ["a", "b"]


def test_cli_explain_writes_maps(files, tmp_path, capsys):
    from ferkit.cli import main

    out = tmp_path / "explain"
    rc = main(["explain", str(files["jpg"]), "--save", str(out), "--model", str(files["cbam"]), "--detector", "haar"])
    assert rc == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["explain.json", "face1_heatmap.png", "face1_overlay.png", "face2_heatmap.png", "face2_overlay.png"]
    assert "face 1:" in capsys.readouterr().out
    heat = np.asarray(Image.open(out / "face1_heatmap.png"))
    assert heat.ndim == 2 and heat.max() > heat.min()  # a real map, not a constant


def test_models_do_not_reveal_server_paths(client, files):
    entries = client.get("/v1/models").json()["models"]
    assert [m["path"] for m in entries] == ["plain_cnn", "cbam_net"]
    assert str(files["plain"].parent) not in client.get("/v1/models").text


def test_loopback_host_allow_list_and_same_origin_posts(recognizers, files):
    from fastapi.testclient import TestClient

    from ferkit.serving import ServerConfig, create_app
    from ferkit.serving.middleware import LOOPBACK_HOSTS

    app = create_app(recognizers, ServerConfig(allowed_hosts=LOOPBACK_HOSTS))
    data = files["jpg"].read_bytes()
    with TestClient(app, base_url="http://127.0.0.1:8000") as c:
        for host in ("localhost", "localhost:8000", "127.0.0.1:1234", "[::1]:8000"):
            assert c.get("/healthz", headers={"host": host}).status_code == 200, host
        for host in ("evil.example", "evil.example:8000", "127.0.0.1.nip.io", "[::1"):
            assert host in assert_error(c.get("/healthz", headers={"host": host}), 400, "bad_host")
        same = {"origin": "http://127.0.0.1:8000"}
        assert c.post("/v1/predict", files={"file": ("a.jpg", data, "image/jpeg")}, headers=same).status_code == 200
        for origin in ("http://evil.example", "null", "http://127.0.0.1:9999"):
            resp = c.post("/v1/predict", files={"file": ("a.jpg", data, "image/jpeg")}, headers={"origin": origin})
            assert origin in assert_error(resp, 403, "cross_origin")
        assert c.get("/v1/models", headers={"origin": "http://evil.example"}).status_code == 200  # reads are fine


def test_admission_refuses_before_reading_the_body():
    import asyncio

    from ferkit.serving.middleware import AdmissionMiddleware

    gate = asyncio.Event()

    async def slow_app(scope, receive, send):
        await gate.wait()

    async def scenario():
        mw = AdmissionMiddleware(slow_app, max_pending=2)
        scope = {"type": "http", "method": "POST", "headers": []}
        running = [asyncio.ensure_future(mw(scope, None, None)) for _ in range(2)]
        await asyncio.sleep(0.01)
        sent = []

        async def receive():  # must never be called for the refused request
            raise AssertionError("the body of a refused request was read")

        async def send(message):
            sent.append(message)

        await mw(scope, receive, send)
        gate.set()
        await asyncio.gather(*running)
        return sent, mw.in_flight

    sent, in_flight = asyncio.run(scenario())
    assert sent[0]["status"] == 503 and (b"retry-after", b"1") in sent[0]["headers"] and in_flight == 0
    assert b'"overloaded"' in sent[1]["body"]


def test_stalled_upload_gets_408_json_within_the_read_timeout(recognizers):
    import json
    import socket
    import time

    from _serving_support import LiveServer
    from ferkit.serving import ServerConfig, create_app

    with LiveServer(create_app(recognizers, ServerConfig(read_timeout=0.5))) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            t0 = time.monotonic()
            sock.sendall(
                b"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n"
                b"Content-Type: multipart/form-data; boundary=b\r\n\r\n--b\r\n"
            )  # then nothing more
            reply = b""
            while chunk := sock.recv(65536):  # the server closes the connection after answering
                reply += chunk
            elapsed = time.monotonic() - t0
    head, body = reply.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 408") and elapsed < 5
    assert json.loads(body)["error"]["code"] == "read_timeout"


def test_unexpected_errors_are_json_500_without_internals(files):
    from fastapi.testclient import TestClient

    from ferkit.serving import create_app

    class Broken:
        labels, model_info = ("happy",), {"arch": "x"}

        def predict(self, image):
            raise RuntimeError("secret /srv/models/path")

    with TestClient(create_app({"broken": Broken()}), raise_server_exceptions=False) as c:
        resp = c.post("/v1/predict", files={"file": ("a.jpg", files["jpg"].read_bytes(), "image/jpeg")})
        message = assert_error(resp, 500, "internal_error")
        assert "RuntimeError" in message and "secret" not in resp.text and "Traceback" not in resp.text
        assert c.get("/healthz").status_code == 200


@pytest.mark.parametrize(
    "flags,field",
    [
        (["--max-upload-mb", "-1"], "max_upload_bytes"),
        (["--max-upload-mb", "0"], "max_upload_bytes"),
        (["--read-timeout", "0"], "read_timeout"),
        (["--max-pixels", "-5"], "max_pixels"),
    ],
)
def test_cli_serve_refuses_bad_limits_before_loading(flags, field, capsys):
    from ferkit.cli import main

    assert main(["serve", "--model", "/nonexistent/model", *flags]) == 2
    err = capsys.readouterr().err
    assert field in err and flags[0] in err and "must be" in err


@pytest.mark.parametrize("host,guarded", [("127.0.0.1", True), ("localhost", True), ("0.0.0.0", False)])
def test_serve_guards_loopback_binds_and_caps_connections(recognizers, monkeypatch, host, guarded):
    import uvicorn

    import ferkit.serving as serving

    seen = {}
    monkeypatch.setattr(serving, "load_recognizers", lambda *a, **k: recognizers)
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    serving.serve(host=host, config=serving.ServerConfig(max_pending=4))
    assert seen["limit_concurrency"] > 4 and seen["app"].state.config.max_pending == 4
    assert (seen["app"].state.config.allowed_hosts is not None) == guarded
