"""Latency and throughput of `python -m artjax.serve` over loopback HTTP, for N concurrent clients.

    python -m benchmarks.serve [--workdir DIR] [--clients 1,4,8] [--requests 16] [--image PATH]

Starts the server as its own process (`python -m artjax.serve --workdir DIR` on a free loopback
port) and waits for /health; without --workdir it first trains `experiments/quickstart.py:smoke`
(32 px resnet_mini) in a temporary directory. The upload is --image, by default scikit-learn's
sample photograph china.jpg (640x427) as a quality-90 JPEG. Per client count N: two untimed
requests, then N threads, each with its own HTTP connection, send --requests POST /predict one
after another. Prints one markdown row per N: the median and 95th-percentile latency of a request
(upload to parsed JSON), requests/s (all requests / wall time of the N threads) and the machine.
Every response must be 200.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _sample_jpeg() -> bytes:
    from PIL import Image
    from sklearn.datasets import load_sample_image

    buffer = io.BytesIO()
    Image.fromarray(load_sample_image("china.jpg")).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def _train_smoke(workdir: str) -> None:
    subprocess.run([sys.executable, "-m", "artjax.main", "--config", "experiments/quickstart.py:smoke",
                    "--workdir", workdir], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _start(workdir: str, port: int) -> subprocess.Popen:
    server = subprocess.Popen([sys.executable, "-m", "artjax.serve", "--workdir", workdir, "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"benchmarks.serve: the server exited with status {server.returncode}: "
                             f"{server.stderr.read()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    server.kill()
    raise SystemExit("benchmarks.serve: the server did not answer /health within 300 s")


def measure(base: str, image: bytes, clients: int, requests: int) -> dict[str, float]:
    """p50 / p95 latency (ms) and requests/s of `clients` threads x `requests` sequential uploads."""
    files = {"image": ("painting.jpg", image, "image/jpeg")}

    def session(_: int) -> list[float]:
        latencies = []
        with httpx.Client(base_url=base, timeout=120) as http:
            for _ in range(requests):
                start = time.perf_counter()
                response = http.post("/predict", files=files)
                response.json()
                latencies.append(time.perf_counter() - start)
                if response.status_code != 200:
                    raise SystemExit(f"benchmarks.serve: status {response.status_code}: {response.text[:300]}")
        return latencies

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        latencies = [t for batch in pool.map(session, range(clients)) for t in batch]
    wall = time.perf_counter() - start
    return {"p50_ms": 1000 * float(np.percentile(latencies, 50)), "p95_ms": 1000 * float(np.percentile(latencies, 95)),
            "requests_per_s": len(latencies) / wall, "requests": len(latencies)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.serve", description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", default="", help="the run to serve (default: a fresh quickstart smoke run)")
    parser.add_argument("--clients", default="1,4,8", help="comma-separated concurrent client counts")
    parser.add_argument("--requests", type=int, default=16, help="requests per client (default 16)")
    parser.add_argument("--image", default="", help="the image to upload (default: china.jpg)")
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.clients.split(",")]
    if args.image:
        with open(args.image, "rb") as f:
            image = f.read()
    else:
        image = _sample_jpeg()
    with tempfile.TemporaryDirectory() as scratch:
        workdir = args.workdir
        if not workdir:
            workdir = os.path.join(scratch, "run")
            _train_smoke(workdir)
        port = _free_port()
        server = _start(workdir, port)
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(2):  # untimed: compilation and first-request costs
                httpx.post(f"{base}/predict", files={"image": ("painting.jpg", image, "image/jpeg")}, timeout=300)
            run = os.path.basename(os.path.abspath(workdir))
            for clients in counts:
                m = measure(base, image, clients, args.requests)
                print(f"| {time.strftime('%Y-%m-%d')} | {run} | {len(image) // 1024} kB JPEG | {clients} | "
                      f"{m['requests']} | {m['p50_ms']:.1f} | {m['p95_ms']:.1f} | **{m['requests_per_s']:.1f}** | "
                      f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores |", flush=True)
        finally:
            server.terminate()
            server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
