"""Nearest-neighbour search for a run's gallery: NumPy's exact search against faiss-cpu and usearch.

    python -m benchmarks.retrieval [--sizes 10000,100000] [--dims 2048,1280] [--queries 1000]
        [--k 20] [--embed] [--append BENCHMARKS.md]

Vectors are generated like a gallery's embeddings: 50 class centres, each vector its centre plus
Gaussian noise (--noise times the centres' scale: 0.7 puts two works of one class at cosine about
0.67, two of different classes near 0), L2-normalised (cosine = inner product). Per size x width and per backend: the
index build time, the amortised time per query of one batch of --queries queries, the latency of
a single query (median of 30), the recall@k against the exact search and the resident memory the
index added. Backends:

- numpy: `artjax.eval.gallery.exact_search` (one matrix product, argpartition, sort);
- faiss_flat: faiss `IndexFlatIP` (exact, BLAS);
- faiss_hnsw: faiss `IndexHNSWFlat` (M 32, efSearch 64);
- usearch_hnsw: usearch `Index(metric="ip")` (its defaults: connectivity 16, expansion 64).

--embed also times the embedding itself: images/s of ResNet50 (2048 wide) and EfficientNet-Lite0
(1280) at 224 px through the restored-model path (`Classifier(embed=True)`), random weights.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np

from artjax.eval.gallery import exact_search

Search = Callable[[np.ndarray, int], np.ndarray]  # (queries, k) -> (queries, k) gallery indices


@dataclasses.dataclass
class Measured:
    backend: str
    size: int
    dim: int
    build_s: float
    batch_ms_per_query: float
    single_ms: float
    recall: float
    memory_mb: float


def generate(size: int, dim: int, *, noise: float = 0.7, classes: int = 50, seed: int = 0) -> np.ndarray:
    """`size` unit vectors around `classes` random centres (float32); the centres depend on the
    width only, so galleries and queries of one width share them."""
    centres = np.random.default_rng(dim).standard_normal((classes, dim), dtype=np.float32)
    rng = np.random.default_rng(seed)
    x = centres[rng.integers(0, classes, size)] + noise * rng.standard_normal((size, dim), dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def _numpy(gallery: np.ndarray) -> Search:
    return lambda q, k: exact_search(gallery, q, k)[0]


def _faiss_flat(gallery: np.ndarray) -> Search:
    import faiss
    index = faiss.IndexFlatIP(gallery.shape[1])
    index.add(gallery)
    return lambda q, k: index.search(q, k)[1]


def _faiss_hnsw(gallery: np.ndarray) -> Search:
    import faiss
    index = faiss.IndexHNSWFlat(gallery.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efSearch = 64
    index.add(gallery)
    return lambda q, k: index.search(q, k)[1]


def _usearch_hnsw(gallery: np.ndarray) -> Search:
    from usearch.index import Index
    index = Index(ndim=gallery.shape[1], metric="ip", dtype="f32")
    index.add(np.arange(len(gallery)), gallery)

    def search(q: np.ndarray, k: int) -> np.ndarray:
        return np.atleast_2d(index.search(q, k).keys)

    return search


BACKENDS: dict[str, Callable[[np.ndarray], Search]] = {
    "numpy": _numpy, "faiss_flat": _faiss_flat, "faiss_hnsw": _faiss_hnsw, "usearch_hnsw": _usearch_hnsw}


def measure(backend: str, gallery: np.ndarray, queries: np.ndarray, truth: np.ndarray, k: int) -> Measured:
    before = _rss_mb()
    start = time.perf_counter()
    search = BACKENDS[backend](gallery)
    build = time.perf_counter() - start
    memory = _rss_mb() - before
    start = time.perf_counter()
    found = search(queries, k)
    batch = (time.perf_counter() - start) / len(queries)
    singles = []
    for q in queries[:30]:
        start = time.perf_counter()
        search(q[None], k)
        singles.append(time.perf_counter() - start)
    recall = float(np.mean([len(set(f) & set(t)) / k for f, t in zip(found, truth)]))
    return Measured(backend, len(gallery), gallery.shape[1], build, 1e3 * batch, 1e3 * statistics.median(singles),
                    recall, memory)


def embedding_rates(num_images: int = 16, image_size: int = 224) -> dict[str, float]:
    """images/s of the restored-model embedding path for ResNet50 and Lite0 (random weights)."""
    import functools

    import jax.numpy as jnp

    from artjax import models
    from artjax.eval.inference import Classifier

    images = np.random.default_rng(0).integers(0, 256, (num_images, image_size, image_size, 3), np.uint8)
    rates = {}
    for name in ("resnet50", "efficientnet_lite0"):
        model = models.create(name, num_classes=50)
        classifier = Classifier(model, prepare=functools.partial(model.preprocessing.normalize, dtype=jnp.float32),
                                sigmoid=False, batch_size=num_images, embed=True)
        pairs = [(i, image) for i, image in enumerate(images)]
        for _ in classifier.predict(pairs, view="full", transform=lambda x, _: x, image_size=image_size):
            pass  # compiles
        start = time.perf_counter()
        for _ in classifier.predict(pairs, view="full", transform=lambda x, _: x, image_size=image_size):
            pass
        rates[name] = num_images / (time.perf_counter() - start)
    return rates


def table(results: list[Measured]) -> str:
    lines = ["| vectors | width | backend | build s | ms/query (batch) | ms (one query) | recall@k | memory MB |",
             "|---:|---:|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {r.size:,} | {r.dim} | {r.backend} | {r.build_s:.2f} | {r.batch_ms_per_query:.3f} | "
              f"{r.single_ms:.2f} | {r.recall:.3f} | {r.memory_mb:.0f} |" for r in results]
    return "\n".join(lines)


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.retrieval", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=_ints, default=[10_000, 100_000])
    parser.add_argument("--dims", type=_ints, default=[2048, 1280])
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--noise", type=float, default=0.7, help="spread of a class around its centre")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--embed", action="store_true", help="also time the embedding of images")
    parser.add_argument("--append", default="", help="append the table to this markdown file")
    args = parser.parse_args(argv)
    results = []
    for dim in args.dims:
        for size in args.sizes:
            gallery = generate(size, dim, noise=args.noise)
            queries = generate(args.queries, dim, noise=args.noise, seed=1)
            truth = exact_search(gallery, queries, args.k)[0]
            for backend in args.backends.split(","):
                results.append(measure(backend, gallery, queries, truth, args.k))
                print(table(results[-1:]).splitlines()[-1], flush=True)
    text = table(results)
    if args.embed:
        text += "\n\nEmbedding, 224 px, batch 16: " + ", ".join(
            f"{name} {rate:.1f} images/s" for name, rate in embedding_rates().items())
    print(text)
    if args.append:
        with open(args.append, "a") as f:
            f.write(f"\n{text}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
