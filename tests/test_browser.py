"""The web page in Debian's Chromium (Playwright): upload, labels and bars, model switch, attention view,
a readable error for a non-image, drag-and-drop, and webcam mode fed by Chromium's fake camera.

Screenshots go to test-artifacts/browser/ (git-ignored). Needs `apt-get install chromium` (see the Makefile).
"""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from _serving_support import LiveServer, compose_photo, make_checkpoint
from ferkit.labels import EMOTIONS

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "browser"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="/usr/bin/chromium is absent; run `make chromium` (apt-get install chromium) to run the browser tests",
    ),
    pytest.mark.needs_data("rafdb/DATASET/test"),
]


def write_y4m(image_path: Path, out: Path, frames: int = 10) -> Path:
    """A still photo as a Y4M (YUV 4:2:0) clip: the format Chromium's fake camera plays from a file."""
    img = Image.open(image_path).convert("YCbCr")
    w, h = img.size
    y, cb, cr = (np.asarray(c) for c in img.split())
    cb = np.asarray(Image.fromarray(cb).resize((w // 2, h // 2), Image.BILINEAR))
    cr = np.asarray(Image.fromarray(cr).resize((w // 2, h // 2), Image.BILINEAR))
    frame = b"FRAME\n" + y.tobytes() + cb.tobytes() + cr.tobytes()
    out.write_bytes(f"YUV4MPEG2 W{w} H{h} F10:1 Ip A1:1 C420jpeg\n".encode() + frame * frames)
    return out


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from ferkit.serving import ServerConfig, create_app, load_recognizers

    root = tmp_path_factory.mktemp("browser")
    photo = compose_photo(root / "two_faces.jpg", n_faces=2)
    from ferkit.export import export_model

    models = [
        str(make_checkpoint(root / "plain_cnn", "fercnet_s", seed=0)),
        str(make_checkpoint(root / "cbam_net", "resnet18_cbam_small", seed=1)),
    ]
    # An exported model serves predictions but no attention maps: the page hides the attention view for it.
    models.append(str(export_model(models[0], "onnx", root / "exported" / "model.onnx", num_check=4).path))
    app = create_app(load_recognizers(models, detector="haar"), ServerConfig())
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with LiveServer(app) as server:
        yield {"url": server.url, "photo": photo, "root": root}


@pytest.fixture(scope="module")
def playwright():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright):
    b = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield b
    b.close()


@pytest.fixture
def page(browser, setup):
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    pg.goto(setup["url"] + "/")
    pg.wait_for_selector("#model option", state="attached")
    yield pg
    context.close()


def test_upload_shows_boxes_labels_bars_and_top3(page, setup):
    page.set_input_files("#file", str(setup["photo"]))
    page.wait_for_selector("#faces .face >> nth=1")
    cards = page.locator("#faces .face")
    assert cards.count() == 2
    for i in range(2):
        card = cards.nth(i)
        assert card.locator(".bar-row").count() == len(EMOTIONS)
        assert card.locator(".top3 li").count() == 3
        assert card.get_attribute("data-label") in EMOTIONS
        widths = [float(w.strip("%")) for w in card.locator(".bar").evaluate_all("els => els.map(e => e.style.width)")]
        assert sum(widths) == pytest.approx(100, abs=0.5)
    assert "2 face(s)" in page.inner_text("#status") and page.locator("#error").is_hidden()
    # The photo is drawn at its own size with the boxes on it.
    assert page.eval_on_selector("#canvas", "c => [c.width, c.height]") == [640, 480]
    page.screenshot(path=str(ARTIFACTS / "upload.png"))


def test_switch_model_and_attention_view(page, setup):
    page.set_input_files("#file", str(setup["photo"]))
    page.wait_for_selector("#faces .face >> nth=1")
    assert "model plain_cnn" in page.inner_text("#status")
    page.select_option("#model", "cbam_net")
    page.wait_for_function("document.querySelector('#status').textContent.includes('model cbam_net')")
    page.check("#attention")
    page.wait_for_selector("#faces .attention-overlay >> nth=1")
    assert page.locator("#faces .attention-heatmap").count() == 2
    assert "attention: cbam" in page.inner_text("#status")  # auto picks CBAM for a CBAM model
    page.select_option("#method", "gradcam")
    page.wait_for_function("document.querySelector('#status').textContent.includes('attention: gradcam')")
    page.screenshot(path=str(ARTIFACTS / "attention.png"))
    # CBAM maps only exist in CBAM models: the plain model gives a readable error.
    page.select_option("#method", "cbam")
    page.select_option("#model", "plain_cnn")
    page.wait_for_selector("#error:not([hidden])")
    assert "CBAM" in page.inner_text("#error") or "cbam" in page.inner_text("#error")


def test_photo_without_a_face_clears_old_results(page, setup):
    page.set_input_files("#file", str(setup["photo"]))
    page.wait_for_selector("#faces .face >> nth=1")
    blank = setup["root"] / "blank.png"
    Image.fromarray(np.full((240, 320, 3), 128, np.uint8)).save(blank)
    page.set_input_files("#file", str(blank))
    page.wait_for_selector("#faces .no-face")
    assert page.locator("#faces .face").count() == 0 and "No face found" in page.inner_text("#faces")
    assert "no face found" in page.inner_text("#status") and page.locator("#error").is_hidden()
    assert page.eval_on_selector("#canvas", "c => [c.width, c.height]") == [320, 240]  # the new photo is shown


def test_attention_view_hidden_for_a_model_that_cannot_explain(page, setup):
    assert page.locator("#attention").is_visible()
    page.select_option("#model", "exported")
    assert page.locator("#attention").is_hidden() and page.locator("#method").is_hidden()
    page.set_input_files("#file", str(setup["photo"]))
    page.wait_for_function("document.querySelector('#status').textContent.includes('model exported')")
    assert page.locator("#faces .attention-overlay").count() == 0 and page.locator("#error").is_hidden()
    page.select_option("#model", "cbam_net")
    assert page.locator("#attention").is_visible()


def test_annotated_video_plays_in_chromium(browser, setup, tmp_path):
    """`ferkit predict VIDEO --save` writes a video Chromium decodes and plays (H.264; mp4v would not play)."""
    from tests._inference_support import make_video

    from ferkit.cli import main

    make_video(tmp_path / "clip.mp4", n_frames=24, fps=12.0)
    out = tmp_path / "annotated"
    model = str(setup["root"] / "plain_cnn")
    args = ["predict", str(tmp_path / "clip.mp4"), "--model", model, "--detector", "haar", "--save", str(out)]
    assert main(args) == 0
    (out / "play.html").write_text('<video id="v" src="clip.mp4" muted playsinline></video>')
    page = browser.new_page()
    try:
        page.goto((out / "play.html").as_uri())
        state = page.evaluate("""() => new Promise((resolve) => {
            const v = document.getElementById("v");
            v.onerror = () => resolve({error: v.error ? v.error.code : -1});
            v.ontimeupdate = () => { if (v.currentTime > 0.5) resolve({time: v.currentTime, w: v.videoWidth,
                                                                       h: v.videoHeight}); };
            v.play().catch((e) => resolve({error: String(e)}));
            setTimeout(() => resolve({timeout: v.currentTime, ready: v.readyState}), 15000);
        })""")
    finally:
        page.close()
    assert state.get("time", 0) > 0.5 and (state["w"], state["h"]) == (320, 240), state


def test_non_image_gives_readable_error(page):
    page.set_input_files("#file", files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hello"}])
    page.wait_for_selector("#error:not([hidden])")
    assert "not supported" in page.inner_text("#error")
    page.set_input_files("#file", files=[{"name": "fake.jpg", "mimeType": "image/jpeg", "buffer": b"no jpeg" * 50}])
    page.wait_for_function("document.querySelector('#error').textContent.includes('not a readable image')")
    assert page.locator("#faces .face").count() == 0
    page.screenshot(path=str(ARTIFACTS / "error.png"))


def test_drag_and_drop(page, setup):
    data = base64.b64encode(setup["photo"].read_bytes()).decode()
    page.evaluate(
        """(b64) => {
        const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], "dropped.jpg", {type: "image/jpeg"}));
        document.querySelector("#drop").dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true}));
    }""",
        data,
    )
    page.wait_for_selector("#faces .face >> nth=1")
    assert page.locator("#faces .face").count() == 2


def test_webcam_mode_with_fake_camera(playwright, setup):
    # The fake camera plays our two-face photo, so the page sees faces, not Chromium's default test pattern.
    clip = write_y4m(setup["photo"], setup["root"] / "camera.y4m")
    args = CHROMIUM_ARGS + [
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={clip}",
    ]
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=args)
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        page.set_default_timeout(30_000)
        page.goto(setup["url"] + "/")
        page.wait_for_selector("#model option", state="attached")
        page.click("#tab-webcam")
        page.click("#cam-start")
        page.wait_for_function("document.querySelector('#cam-status').textContent.includes('face(s)')")
        page.wait_for_selector("#cam-faces .face >> nth=1")
        assert page.locator("#cam-faces .face").count() == 2
        assert page.locator("#cam-faces .face").first.locator(".bar-row").count() == len(EMOTIONS)
        # Several frames go out while the camera runs; the smoothed labels stay on screen.
        page.wait_for_timeout(1500)
        assert page.locator("#cam-faces .face").count() == 2
        page.screenshot(path=str(ARTIFACTS / "webcam.png"))
        page.click("#cam-stop")
        assert "camera off" in page.inner_text("#cam-status")
    finally:
        browser.close()
