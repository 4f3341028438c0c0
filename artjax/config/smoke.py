"""The `smoke` variant every experiment offers: the same recipe (model, head, optimiser,
schedule, loss, augmentation, mixing, freezing) on a few synthetic painters, for CI and for a
first look on a laptop. Only the data, the sizes and the length change."""

from __future__ import annotations

import ml_collections


def apply_smoke(config: ml_collections.ConfigDict, *, image_size: int = 32, num_classes: int = 0) -> None:
    config.data.source = "painters"
    config.data.painters.num_artists = num_classes or 4
    config.data.painters.num_train = 32
    config.data.painters.num_val = 16
    config.data.painters.min_size = 40
    config.data.painters.max_size = 64
    config.data.image_size = image_size
    config.data.workers = 0
    config.data.test_root = config.data.test_csv = ""  # the recipe's test set is not the painters'
    config.model.weights = ""  # smoke runs start from random weights: nothing to download
    config.model.num_classes = 0
    config.train.epochs = 2
    config.train.batch_size = 8
    config.train.log_every_steps = 2
