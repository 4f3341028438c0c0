"""A run's gallery: the embeddings of its training works and the nearest of them to a query.

Embeddings are L2-normalised, so cosine similarity is an inner product. `exact_search` is the
brute-force search (one matrix product per block of queries), and answers every gallery below
`INDEX_FROM` works: at 100,000 x 2048 one query takes about 30 ms, a batch 4 ms per query, exactly.
From `INDEX_FROM` works a faiss HNSW graph (M 32, efSearch 64) answers instead, in about 1 ms at
recall@20 0.92; it is built once at the run end and kept beside the gallery (.faiss). faiss
built and queried faster than usearch at every size measured (benchmarks/retrieval.py,
BENCHMARKS.md "Retrieval"). Ties in similarity go to the lower gallery index, so the exact
search is deterministic.

The kNN classifier votes the labels of the k nearest works, each neighbour one vote, ties to the
lower class index: scikit-learn's `KNeighborsClassifier(weights="uniform")` on the same vectors.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

INDEX_FROM = 100_000  # gallery size from which the HNSW index answers queries (see the module doc)
HNSW_M, HNSW_EF_SEARCH = 32, 64
KNN_K = (1, 5, 20)
_BLOCK = 256  # queries per matrix product: bounds the (queries x gallery) similarity block


def normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32); a zero row stays zero."""
    x = np.asarray(x, np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def exact_search(gallery: np.ndarray, queries: np.ndarray, k: int,
                 exclude: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(indices, similarities), each (queries, min(k, gallery)), best first, by brute force.
    exclude: per query a gallery index to leave out (-1: none), e.g. the query itself."""
    k = min(k, len(gallery))
    indices = np.empty((len(queries), k), np.int64)
    sims = np.empty((len(queries), k), np.float32)
    for start in range(0, len(queries), _BLOCK):
        block = queries[start:start + _BLOCK] @ gallery.T
        if exclude is not None:
            rows = np.flatnonzero(exclude[start:start + _BLOCK] >= 0)
            block[rows, exclude[start:start + _BLOCK][rows]] = -np.inf
        top = np.argpartition(-block, k - 1, axis=1)[:, :k] if k < block.shape[1] else \
            np.broadcast_to(np.arange(block.shape[1]), block.shape)
        top_sims = np.take_along_axis(block, top, axis=1)
        order = np.lexsort((top, -top_sims), axis=1)  # similarity descending, then index ascending
        indices[start:start + len(block)] = np.take_along_axis(top, order, axis=1)
        sims[start:start + len(block)] = np.take_along_axis(top_sims, order, axis=1)
    return indices, sims


def knn_predict(neighbour_labels: np.ndarray, num_classes: int) -> np.ndarray:
    """The majority label of each row of neighbours' labels; ties to the lower class index."""
    votes = np.zeros((len(neighbour_labels), num_classes), np.int64)
    np.add.at(votes, (np.arange(len(neighbour_labels))[:, None], neighbour_labels), 1)
    return votes.argmax(axis=1)


@dataclasses.dataclass
class Gallery:
    embeddings: np.ndarray  # (works, width) float32, unit rows
    labels: np.ndarray  # (works,) class indices into class_names
    paths: list[str]  # each work's image, as the data source names it (its record id)
    indices: np.ndarray  # (works,) each work's record index in the training source
    class_names: list[str]
    checkpoint_step: int
    view: str

    def __post_init__(self) -> None:
        self._index = None

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def indexed(self) -> bool:
        """Whether queries go to the HNSW index (large galleries) rather than the exact search."""
        return len(self) >= INDEX_FROM

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(indices, cosine similarities) of the k nearest works per query, best first."""
        queries = normalize(np.atleast_2d(queries))
        if not self.indexed:
            return exact_search(self.embeddings, queries, k)
        sims, indices = self._hnsw().search(queries, min(k, len(self)))
        return indices.astype(np.int64), sims

    def neighbours(self, queries: np.ndarray, k: int) -> list[list[dict]]:
        """Per query, its k nearest works as {class, similarity, path, index}."""
        indices, sims = self.search(queries, k)
        return [[{"class": self.class_names[self.labels[i]], "similarity": float(s), "path": self.paths[i],
                  "index": int(i)} for i, s in zip(row, row_sims)] for row, row_sims in zip(indices, sims)]

    def knn_accuracy(self, queries: np.ndarray, labels: np.ndarray, ks: Sequence[int] = KNN_K) -> dict[str, float]:
        """Accuracy of the k-nearest-neighbour vote for each k, by the exact search."""
        indices, _ = exact_search(self.embeddings, normalize(queries), max(ks))
        return {f"knn_{k}": float(np.mean(knn_predict(self.labels[indices[:, :k]], len(self.class_names))
                                          == np.asarray(labels))) for k in ks}

    def _hnsw(self) -> Any:
        if self._index is None:
            import faiss  # only large galleries need it
            self._index = faiss.IndexHNSWFlat(self.embeddings.shape[1], HNSW_M, faiss.METRIC_INNER_PRODUCT)
            self._index.add(self.embeddings)
            self._index.hnsw.efSearch = HNSW_EF_SEARCH
        return self._index

    def save(self, path: str) -> None:
        """One .npz, and for an indexed gallery its HNSW graph beside it (PATH minus .npz + .faiss);
        each is written to a temporary name, then renamed: a reader never sees half a file."""
        if self.indexed:
            import faiss
            faiss.write_index(self._hnsw(), f"{_index_path(path)}.tmp")
            os.replace(f"{_index_path(path)}.tmp", _index_path(path))
        tmp = f"{path}.tmp.npz"
        np.savez(tmp, embeddings=self.embeddings, labels=self.labels, paths=np.asarray(self.paths, dtype=str),
                 indices=self.indices, class_names=np.asarray(self.class_names, dtype=str), checkpoint_step=self.checkpoint_step,
                 view=self.view)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str) -> Gallery:
        """The gallery saved at `path`, with its HNSW graph when it has one of its size."""
        with np.load(path, allow_pickle=False) as f:
            gallery = cls(f["embeddings"], f["labels"], [str(p) for p in f["paths"]], f["indices"],
                          [str(c) for c in f["class_names"]], int(f["checkpoint_step"]), str(f["view"]))
        if gallery.indexed and os.path.exists(_index_path(path)):
            import faiss
            index = faiss.read_index(_index_path(path))
            if index.ntotal == len(gallery):  # else another gallery's: _hnsw rebuilds it
                index.hnsw.efSearch = HNSW_EF_SEARCH
                gallery._index = index
        return gallery


def _index_path(gallery_path: str) -> str:
    return gallery_path.removesuffix(".npz") + ".faiss"
