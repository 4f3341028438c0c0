"""The web app over a trained smoke run: the API through FastAPI's TestClient (the same top-5 as
`python -m artjax.predict`, every refusal a 4xx with a message and the server still serving),
then a real uvicorn server on a loopback port for what needs one (the page in headless Chromium,
raw HTTP requests, concurrent clients) and the CLI's one-line errors."""

import base64
import csv
import io
import json
import logging
import os
import shutil
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
import uvicorn
from fastapi.testclient import TestClient
from PIL import Image
from sklearn.datasets import load_sample_image

from artjax import export, predict, serve
from artjax.data import catalog
from artjax.eval.gallery import Gallery
from artjax.runs import gallery as run_gallery
from artjax.runs.restore import load_run
from artjax.serving.app import NEIGHBOURS, create_app
from artjax.serving.predictor import QUADRANTS, ExportedPredictor, LivePredictor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIMIT = 1 << 20  # 1 MB: the photo (~60 kB) fits, 2 MB does not
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    """A real photograph (scikit-learn's sample image, 640x427), saved as a JPEG."""
    path = tmp_path_factory.mktemp("photo") / "china.jpg"
    Image.fromarray(load_sample_image("china.jpg")).save(path, quality=90)
    return path


@pytest.fixture(scope="module")
def predictor(smoke_run):
    return LivePredictor(str(smoke_run))


@pytest.fixture(scope="module")
def client(predictor):
    with TestClient(create_app(predictor, max_upload_bytes=LIMIT)) as client:
        yield client


@pytest.fixture(scope="module")
def server(predictor):
    """A uvicorn server in a thread of this process, on a free loopback port: (base URL, port)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    instance = uvicorn.Server(uvicorn.Config(create_app(predictor, max_upload_bytes=LIMIT), log_level="warning"))
    thread = threading.Thread(target=instance.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not instance.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", port
    instance.should_exit = True
    thread.join(timeout=30)
    sock.close()
    assert not thread.is_alive()


def _post(client, body, name="painting.jpg", content_type="image/jpeg"):
    return client.post("/predict", files={"image": (name, body, content_type)})


def _still_serving(client, photo):
    response = _post(client, photo.read_bytes())
    assert response.status_code == 200 and len(response.json()["top"]) == 5


def _predict_cli_csv(smoke_run, photo, out, view="full", neighbours=0):
    assert predict.main(["--workdir", str(smoke_run), str(photo), "--view", view, "--out", str(out),
                         "--neighbours", str(neighbours)]) == 0
    with open(out, newline="") as f:
        return next(csv.DictReader(f))


def test_top5_equals_predict_cli_and_the_answer_holds_votes_and_gradcam(smoke_run, photo, client, tmp_path):
    response = _post(client, photo.read_bytes())
    assert response.status_code == 200
    result = response.json()
    row = _predict_cli_csv(smoke_run, photo, tmp_path / "full.csv", neighbours=NEIGHBOURS)
    assert [t["class"] for t in result["top"]] == [row[f"class_{r}"] for r in range(1, 6)]
    np.testing.assert_allclose([t["prob"] for t in result["top"]], [float(row[f"prob_{r}"]) for r in range(1, 6)],
                               atol=1e-6)  # the CSV's 6 decimals
    assert result["temperature"] == json.loads((smoke_run / "calibration.json").read_text())["temperature"] != 1.0
    assert result["calibration"].startswith("calibrated") and result["checkpoint"].startswith("best checkpoint")
    assert (result["width"], result["height"]) == (640, 427)

    # The nearest training works are predict --neighbours': same classes, similarities and works.
    gallery = Gallery.load(str(smoke_run / "gallery.npz"))
    assert len(result["neighbours"]) == NEIGHBOURS
    for rank, work in enumerate(result["neighbours"], 1):
        assert work["class"] == row[f"neighbour_{rank}_class"]
        assert gallery.paths[work["id"]] == row[f"neighbour_{rank}_path"]
        assert work["similarity"] == pytest.approx(float(row[f"neighbour_{rank}_similarity"]), abs=1e-6)
        assert work["thumbnail"] == f"/thumbnails/{work['id']}.jpg"

    # The votes are the quadrants view's: the CLI's crop votes count the same classes.
    quadrants = _predict_cli_csv(smoke_run, photo, tmp_path / "quadrants.csv", view="quadrants")
    assert [v["quadrant"] for v in result["votes"]] == list(QUADRANTS)
    counted = {}
    for vote in result["votes"]:
        counted[vote["class"]] = counted.get(vote["class"], 0) + 1
        assert 0 < vote["prob"] <= 1
    assert counted == {name: int(n) for name, n in (v.split(":") for v in quadrants["crop_votes"].split(";"))}

    overlay = Image.open(io.BytesIO(base64.b64decode(result["gradcam_png"])))
    size = json.loads((smoke_run / "config.json").read_text())["data"]["image_size"]
    assert overlay.format == "PNG" and overlay.size == (size, size) and result["gradcam_class"] == row["class_1"]


def test_health_classes_and_page(client, smoke_run):
    names = json.loads((smoke_run / "classes.json").read_text())["class_names"]
    assert client.get("/classes").json() == {"classes": names}
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["classes"] == len(names)
    page = client.get("/")
    assert page.status_code == 200 and 'id="file"' in page.text and "<script src" not in page.text
    assert "'unsafe-inline'" not in page.headers["content-security-policy"]


def test_a_neighbours_thumbnail_is_its_training_image_and_only_gallery_rows_are_served(client, smoke_run, photo):
    work = _post(client, photo.read_bytes()).json()["neighbours"][0]
    response = client.get(work["thumbnail"])
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    gallery = Gallery.load(str(smoke_run / "gallery.npz"))
    train = catalog.open_sources(load_run(str(smoke_run)).config.data)[0]
    source = train.read(int(gallery.indices[work["id"]]))["image"]
    with Image.open(io.BytesIO(response.content)) as thumbnail:
        assert thumbnail.format == "JPEG" and max(thumbnail.size) <= run_gallery.THUMBNAIL_SIDE
        # The training image, shrunk: a JPEG of it at the same size differs only by compression.
        expected = np.asarray(Image.fromarray(source).resize(thumbnail.size, Image.Resampling.LANCZOS), float)
        assert np.abs(np.asarray(thumbnail.convert("RGB"), float) - expected).mean() < 8
    for target in [f"/thumbnails/{len(gallery)}.jpg", "/thumbnails/-1.jpg", "/thumbnails/0.png",
                   "/thumbnails/..%2fgallery.npz", "/thumbnails/gallery.npz"]:
        response = client.get(target)
        assert 400 <= response.status_code < 500 and response.headers["content-type"] != "image/jpeg", target


@pytest.mark.parametrize("case", ["oversized", "chunked-oversized", "empty", "not-an-image", "truncated-jpeg",
                                  "text-part", "json-body", "no-field"])
def test_bad_uploads_are_4xx_with_a_message_and_the_server_keeps_serving(case, client, photo):
    jpeg = photo.read_bytes()
    if case == "oversized":
        response = _post(client, jpeg + b"\0" * LIMIT)
    elif case == "chunked-oversized":  # no Content-Length: the limit counts the bytes as they arrive
        chunks = (b"--b\r\n" if i == 0 else b"x" * 65536 for i in range(40))
        response = client.post("/predict", content=chunks, headers={"content-type": "multipart/form-data; boundary=b"})
    elif case == "empty":
        response = _post(client, b"")
    elif case == "not-an-image":
        response = _post(client, b"%PDF-1.4 not a painting" * 10, name="letter.jpg")
    elif case == "truncated-jpeg":
        response = _post(client, jpeg[:len(jpeg) // 2])
    elif case == "text-part":
        response = _post(client, b"hello", name="notes.txt", content_type="text/plain")
    elif case == "json-body":
        response = client.post("/predict", json={"image": "china.jpg"})
    else:
        response = client.post("/predict", files={"picture": ("china.jpg", jpeg, "image/jpeg")})
    expected = {"oversized": 413, "chunked-oversized": 413, "json-body": 415}.get(case, 400)
    assert response.status_code == expected, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail.startswith("artjax: ")
    assert {"oversized": "1 MB limit", "chunked-oversized": "1 MB limit", "empty": "empty file",
            "not-an-image": "not a recognised image", "truncated-jpeg": "truncated", "text-part": "not an image type",
            "json-body": "multipart/form-data", "no-field": "no file field 'image'"}[case] in detail
    _still_serving(client, photo)


def _raw(port, request: bytes) -> bytes:
    """Sends `request` as is (no client-side URL normalisation) and reads until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


def test_a_declared_oversized_body_is_refused_before_it_is_sent(server):
    _, port = server
    head = (b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            b"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 104857600\r\n\r\n--b\r\n")
    answer = _raw(port, head)  # 100 MB announced, 5 bytes sent: the answer cannot have waited for the rest
    assert answer.startswith(b"HTTP/1.1 413") and b"MB limit" in answer


@pytest.mark.parametrize("target", ["/../../../../etc/passwd", "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
                                    "/..%2f..%2f..%2fetc%2fpasswd", "//etc/passwd", "/classes/../../etc/passwd",
                                    "/%2fetc%2fpasswd", "/" + "%2e%2e%2f" * 6 + "etc/passwd"])
def test_no_route_reads_a_path_from_the_request(target, server, photo):
    base, port = server
    answer = _raw(port, f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
    status = int(answer.split(b" ", 2)[1])
    assert 400 <= status < 500 and b"root:" not in answer
    assert httpx.get(f"{base}/health").json()["status"] == "ok"


def test_eight_concurrent_clients_get_the_same_answers(server, photo, client):
    base, _ = server
    jpeg = photo.read_bytes()
    expected = _post(client, jpeg).json()["top"]

    def session(_):
        with httpx.Client(base_url=base, timeout=60) as http:
            return [http.post("/predict", files={"image": ("china.jpg", jpeg, "image/jpeg")}) for _ in range(3)]

    with ThreadPoolExecutor(8) as pool:
        responses = [r for batch in pool.map(session, range(8)) for r in batch]
    assert len(responses) == 24 and all(r.status_code == 200 for r in responses)
    for r in responses:
        assert [t["class"] for t in r.json()["top"]] == [t["class"] for t in expected]
        np.testing.assert_allclose([t["prob"] for t in r.json()["top"]], [t["prob"] for t in expected], atol=1e-9)


def test_the_page_in_headless_chromium_shows_the_apis_top5(server, photo, client, tmp_path):
    if not os.path.exists(CHROMIUM):
        logging.warning("skipping the browser test: %s is not installed", CHROMIUM)
        pytest.skip(f"{CHROMIUM} is not installed")
    from playwright.sync_api import sync_playwright

    base, _ = server
    answer = _post(client, photo.read_bytes()).json()
    expected = [t["class"] for t in answer["top"]]
    problems = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 760})
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(base + "/")
            # Functions, not expressions: Playwright polls an expression with eval, which the page's CSP refuses.
            page.wait_for_function("() => document.getElementById('model').textContent.includes('checkpoint')")
            page.set_input_files("#file", str(photo))
            page.wait_for_selector("body[data-predicted]", timeout=30_000)
            names = page.locator("#top .name").all_text_contents()
            votes = page.locator("#quads .q span").all_text_contents()
            gradcam_width = page.eval_on_selector("#gradcam", "img => img.naturalWidth")
            # The nearest training works, each with its thumbnail loaded from the server.
            page.wait_for_function("() => [...document.querySelectorAll('#neighbours img')].every(i => i.complete)")
            neighbours = page.locator("#neighbours figcaption").all_text_contents()
            thumbnail_widths = page.eval_on_selector_all("#neighbours img", "imgs => imgs.map(i => i.naturalWidth)")
            screenshot = tmp_path / "serve.png"
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    assert names == expected
    assert len(votes) == 4 and all(v.strip() for v in votes)
    assert gradcam_width > 0 and not problems, problems  # CSP violations log errors
    assert neighbours == [f"{n['class']} ({n['similarity']:.3f})" for n in answer["neighbours"]]
    assert len(thumbnail_widths) == NEIGHBOURS and all(w > 0 for w in thumbnail_widths)
    if os.environ.get("ARTJAX_UPDATE_DOCS") == "1":  # refresh the README's picture on purpose only
        shutil.copy(screenshot, os.path.join(ROOT, "docs", "serve.png"))


@pytest.mark.parametrize("case", ["no-run", "bad-port", "port-taken", "bad-limit", "not-exported"])
def test_cli_refusals_are_one_line_with_status_2(case, smoke_run, tmp_path, capsys):
    taken = socket.create_server(("127.0.0.1", 0))  # the port-taken case's; bound before the model loads
    args = {"no-run": ["--workdir", str(tmp_path / "missing")],
            "bad-port": ["--workdir", str(smoke_run), "--port", "70000"],
            "port-taken": ["--workdir", str(smoke_run), "--port", str(taken.getsockname()[1])],
            "bad-limit": ["--workdir", str(smoke_run), "--max-upload-mb", "0"],
            "not-exported": ["--model", str(tmp_path)]}[case]
    with taken:
        assert serve.main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("artjax: ")
    assert {"no-run": "not an artjax run directory", "bad-port": "not a port number", "bad-limit": "must be > 0",
            "port-taken": "in use", "not-exported": "is not an exported model (no manifest.json)"}[case] in err[0]


@pytest.fixture(scope="module")
def exported(smoke_run, tmp_path_factory):
    """The smoke run's best checkpoint through python -m artjax.export, served by --model."""
    out = tmp_path_factory.mktemp("exported")
    assert export.main(["--workdir", str(smoke_run), "--out", str(out), "--force"]) == 0
    return ExportedPredictor.from_dir(str(out))


def test_an_exported_model_is_served_as_the_run_it_came_from(exported, predictor, photo):
    rgb = np.asarray(Image.open(photo).convert("RGB"))
    live, served = predictor.predict(rgb, NEIGHBOURS), exported.predict(rgb, NEIGHBOURS)
    np.testing.assert_allclose(served.probs, live.probs, atol=1e-5)
    assert [c for c, _ in served.votes] == [c for c, _ in live.votes]
    np.testing.assert_allclose([p for _, p in served.votes], [p for _, p in live.votes], atol=1e-5)
    np.testing.assert_array_equal(served.seen, live.seen)
    np.testing.assert_allclose(served.heatmap, live.heatmap, atol=1e-5)
    assert [n["id"] for n in served.neighbours] == [n["id"] for n in live.neighbours]
    np.testing.assert_allclose([n["similarity"] for n in served.neighbours],
                               [n["similarity"] for n in live.neighbours], atol=1e-5)
    assert exported.temperature == predictor.temperature and "step" in exported.checkpoint
    with TestClient(create_app(exported)) as client:
        answer = _post(client, photo.read_bytes()).json()
        thumbnail = client.get(answer["neighbours"][0]["thumbnail"])
    assert [t["class"] for t in answer["top"]] == [predictor.class_names[c] for c in np.argsort(-live.probs)[:5]]
    # The export's thumbnail file, as the live server cuts it from the same training image.
    assert thumbnail.status_code == 200 and thumbnail.content == predictor.thumbnail(answer["neighbours"][0]["id"])
