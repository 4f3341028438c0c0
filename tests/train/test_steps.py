"""The train step's training accuracy equals the accuracy of the model's own predictions on the
batch it trains on (train mode, before the update), for softmax and sigmoid models."""

import jax
import numpy as np
import pytest
from flax import nnx

from artjax.config import load_config
from artjax.train import setup, steps


@pytest.mark.parametrize("kind", ["softmax", "sigmoid"])
def test_train_accuracy_is_the_share_of_the_batch_predicted_right(kind):
    config = load_config("experiments/quickstart.py:smoke")
    config.loss.kind = kind
    num_classes = 2 if kind == "sigmoid" else 6
    built = setup.build(config, num_classes=num_classes, steps_per_epoch=1)
    train_graphdef, _, state = setup.split_modes(built, config)
    rng = np.random.default_rng(0)
    batch = {"image": rng.integers(0, 256, (16, 32, 32, 3), dtype=np.uint8),
             "label": rng.integers(0, num_classes, 16).astype(np.int32)}

    model, _ = nnx.merge(train_graphdef, jax.tree.map(lambda x: x.copy(), state))
    logits = np.asarray(model(built.model.preprocessing.normalize(batch["image"])))
    predicted = (logits[:, 0] > 0).astype(int) if kind == "sigmoid" else logits.argmax(-1)
    expected = np.mean(predicted == batch["label"])

    step = steps.make_train_step(train_graphdef, config, trainable=built.trainable,
                                 preprocessing=built.model.preprocessing, num_classes=num_classes,
                                 class_weights=None, state_sharding=None)
    _, out = step(state, batch)
    assert float(out["accuracy"]) == pytest.approx(expected)
    assert 0 < expected < 1  # the check could tell a wrong count from a right one
