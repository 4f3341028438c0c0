"""The web app: a page and a JSON API over one `Predictor` (artjax/serving/predictor.py).

    GET  /          the page (page.html: one self-contained file, no CDN, no build step)
    GET  /health    {"status": "ok", "checkpoint", "classes", "temperature", "calibration"}
    GET  /classes   {"classes": [names]}
    GET  /thumbnails/{id}.jpg   gallery work `id`'s thumbnail (an integer: the answer's neighbours name them)
    POST /predict   multipart/form-data with the file field `image` ->
                    {"top": [{"class", "prob"}] (5 at most), "votes": [{"quadrant", "class", "prob"}]
                     or null, "gradcam_png": base64 PNG or null, "gradcam_class", "gradcam_uniform",
                     "neighbours": [{"class", "similarity", "id", "thumbnail"}] or null,
                     "temperature", "calibration", "checkpoint", "width", "height"}

Every refusal is a JSON {"detail": message}: 413 for a body over the upload limit (a declared
Content-Length is refused before the body is read; without one the bytes are counted as they
arrive), 415 for a request that is not multipart/form-data, 400 for a missing field or a file
that does not decode (artjax.data.decode: empty, truncated, not an image), 413 for an image over
the decompression-bomb limit. No route reads a file named by the request: a thumbnail is asked
for by its gallery row number. Decoding and the model
run in Starlette's thread pool, the model under one lock, so the event loop keeps answering.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import threading
from typing import Any

import numpy as np
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from PIL import Image
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from artjax.data.decode import DecodeError, ImageTooLarge, decode_image
from artjax.eval import plots
from artjax.serving.predictor import QUADRANTS, Predictor

TOP_K = 5
NEIGHBOURS = 6  # nearest training works shown when the predictor has a gallery
FIELD = "image"
ACCEPTED_TYPES = ("image/", "application/octet-stream")  # what browsers and curl -F send for images
PAGE = os.path.join(os.path.dirname(__file__), "page.html")


def _too_large(limit: int) -> str:
    return f"artjax: the upload is larger than the {limit / 2**20:g} MB limit (--max-upload-mb)"


class UploadLimit:
    """Refuses request bodies over `limit` bytes with 413: at once when Content-Length says so,
    else when the counted bytes pass it (chunked or lying uploads), before the app sees them."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")  # the server refuses malformed ones
        if declared.isdigit() and int(declared) > self.limit:
            await JSONResponse({"detail": _too_large(self.limit)}, 413)(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise HTTPException(413, _too_large(self.limit))  # the app's handlers answer it
            return message

        await self.app(scope, counted, send)


def _csp(page: str) -> str:
    """A Content-Security-Policy allowing exactly the page's own inline script and style."""
    def digest(tag: str) -> str:
        body = re.search(rf"<{tag}>(.*?)</{tag}>", page, re.S)[1]
        return "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"

    return (f"default-src 'none'; script-src {digest('script')}; style-src {digest('style')}; "
            "img-src 'self' data: blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
            "frame-ancestors 'none'")


def _png(image: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def create_app(predictor: Predictor, *, max_upload_bytes: int = 20 * 2**20) -> FastAPI:
    """The app serving `predictor`; request bodies over `max_upload_bytes` are refused (413)."""
    app = FastAPI(title="artjax", docs_url=None, redoc_url=None, openapi_url=None)  # the docs pages load a CDN
    app.add_middleware(UploadLimit, limit=max_upload_bytes)
    with open(PAGE, encoding="utf-8") as f:
        page = f.read()
    page_headers = {"Content-Security-Policy": _csp(page), "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "no-referrer"}
    names = list(predictor.class_names)
    model_lock = threading.Lock()  # one model call at a time: the CPU is the bottleneck anyway

    def answer(data: bytes, filename: str) -> dict[str, Any]:
        try:
            rgb = decode_image(data, max_pixels=predictor.max_pixels, name=filename,
                               draft_size=predictor.draft_size)
        except ImageTooLarge as error:
            raise HTTPException(413, f"artjax: {error}") from None
        except DecodeError as error:
            raise HTTPException(400, f"artjax: {error}") from None
        with model_lock:
            result = predictor.predict(rgb, NEIGHBOURS)
        order = np.argsort(-result.probs, kind="stable")[:TOP_K]
        top = int(order[0])
        overlay = None if result.heatmap is None else _png(plots.heatmap_overlay(result.seen, result.heatmap))
        votes = None if result.votes is None else [
            {"quadrant": q, "class": names[c], "prob": p} for q, (c, p) in zip(QUADRANTS, result.votes)]
        return {"top": [{"class": names[c], "prob": float(result.probs[c])} for c in order], "votes": votes,
                "gradcam_png": overlay, "gradcam_class": names[top],
                # Small inputs can leave a 1x1 feature map: a heatmap with nothing spatial to show.
                "gradcam_uniform": None if result.heatmap is None else bool(np.ptp(result.heatmap) < 1e-6),
                "neighbours": result.neighbours,
                "temperature": predictor.temperature, "calibration": predictor.calibration,
                "checkpoint": predictor.checkpoint, "width": int(rgb.shape[1]), "height": int(rgb.shape[0])}

    @app.get("/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        return HTMLResponse(page, headers=page_headers)

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "checkpoint": predictor.checkpoint, "classes": len(names),
                "temperature": predictor.temperature, "calibration": predictor.calibration}

    @app.get("/classes")
    def classes() -> dict[str, list[str]]:
        return {"classes": names}

    @app.get("/thumbnails/{work_id:int}.jpg")
    def thumbnail(work_id: int) -> Response:
        jpeg = predictor.thumbnail(work_id)
        if jpeg is None:
            raise HTTPException(404, f"artjax: no thumbnail for gallery work {work_id}")
        return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "max-age=3600",
                                                                  "X-Content-Type-Options": "nosniff"})

    @app.post("/predict")
    async def predict(request: Request) -> dict[str, Any]:
        content_type = request.headers.get("content-type", "")
        if not content_type.startswith("multipart/form-data"):
            raise HTTPException(415, f"artjax: send multipart/form-data with the file field '{FIELD}', "
                                     f"not {content_type or 'no content type'}")
        async with request.form(max_files=1, max_fields=8) as form:
            upload = form.get(FIELD)
            if not isinstance(upload, UploadFile):
                raise HTTPException(400, f"artjax: no file field '{FIELD}' in the form")
            if upload.content_type and not upload.content_type.startswith(ACCEPTED_TYPES):
                raise HTTPException(400, f"artjax: {upload.content_type} is not an image type")
            data = await upload.read()
            filename = os.path.basename(upload.filename or "")[:100] or "upload"
        return await run_in_threadpool(answer, data, filename)

    return app
