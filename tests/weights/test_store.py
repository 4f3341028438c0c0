import json
import logging

import numpy as np
import pytest

from artjax import models
from artjax.config import defaults
from artjax.train import setup
from artjax.weights import read_metadata, save, store

MINI_PREPROCESSING = models.Preprocessing(mean=(0.5,) * 3, std=(0.5,) * 3, input_size=96)


def _save(model, directory, arch="resnet_mini"):
    save(store.model_arrays(model), str(directory), arch=arch, source="artjax",
         num_classes=model.num_classes, head=model.head_spec,
         preprocessing=MINI_PREPROCESSING.to_dict())


def test_round_trip_restores_every_param_and_batch_stat(tmp_path):
    src = models.create("resnet_mini", num_classes=4, seed=1)
    src.stage1[0].bn1.mean[...] = np.full(16, 0.25, np.float32)
    _save(src, tmp_path / "w")
    dst = models.create("resnet_mini", num_classes=4, seed=2, weights=str(tmp_path / "w"))
    a, b = store.model_arrays(src), store.model_arrays(dst)
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert dst.preprocessing == MINI_PREPROCESSING  # the stored one, not the registered one


def test_body_mismatch_is_one_error_listing_paths(tmp_path):
    _save(models.create("resnet_mini", num_classes=4), tmp_path / "w")
    with pytest.raises(ValueError) as e:
        models.create("resnet_mini", num_classes=4, depths=(1, 2, 1, 1), width=8,
                      weights=str(tmp_path / "w"))
    msg = str(e.value)
    assert "missing (10): stage2/1/bn1/bias" in msg  # the extra block of stage2
    assert "mis-shaped (" in msg and "stage1/0/bn1/bias (16,) != (8,)" in msg


def test_metadata_errors_name_the_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="not an artjax weight directory"):
        read_metadata(str(tmp_path))
    (tmp_path / store.METADATA).write_text("{oops")
    with pytest.raises(ValueError, match="not valid JSON"):
        read_metadata(str(tmp_path))
    (tmp_path / store.METADATA).write_text(json.dumps({"format": 99}))
    with pytest.raises(ValueError, match="unsupported weight format 99"):
        read_metadata(str(tmp_path))


def test_nnx_list_indices_survive_the_string_keys_of_the_checkpoint(tmp_path):
    src = models.create("resnet_mini", num_classes=2, depths=(2, 1, 1, 1))
    _save(src, tmp_path / "w")
    dst = models.create("resnet_mini", num_classes=2, depths=(2, 1, 1, 1), seed=5,
                        weights=str(tmp_path / "w"))
    np.testing.assert_array_equal(dst.stage1[1].conv2.kernel[...], src.stage1[1].conv2.kernel[...])


def test_a_new_class_count_keeps_the_head_layers_it_leaves_unchanged(tmp_path, caplog):
    mlp = {"kind": "mlp", "layers": 2}
    src = models.create("resnet_mini", num_classes=4, head=mlp, seed=1)
    _save(src, tmp_path / "w")
    with caplog.at_level(logging.WARNING, logger="artjax.weights.store"):
        dst = models.create("resnet_mini", num_classes=3, head=mlp, weights=str(tmp_path / "w"))
    np.testing.assert_array_equal(dst.head.layers[0].kernel[...], src.head.layers[0].kernel[...])
    assert dst.head.layers[1].kernel.shape == (64, 3)
    assert "new head/layers/1; loaded head/layers/0" in caplog.text

    config = defaults()  # the config switch: the whole head fresh
    config.model.update(name="resnet_mini", weights=str(tmp_path / "w"), reinit_head=True)
    config.model.head.update(kind="mlp", layers=2)
    fresh = setup.build(config, num_classes=3, steps_per_epoch=1).model
    assert not np.array_equal(fresh.head.layers[0].kernel[...], src.head.layers[0].kernel[...])
    np.testing.assert_array_equal(fresh.stem.conv.kernel[...], src.stem.conv.kernel[...])


def test_another_head_kind_is_not_partly_loaded(tmp_path, caplog):
    src = models.create("resnet_mini", num_classes=4, head={"kind": "dense", "units": 8, "input_size": 32})
    _save(src, tmp_path / "w")  # a dense head's fc (8 -> 4) must not land in a linear head's fc
    with caplog.at_level(logging.WARNING, logger="artjax.weights.store"):
        dst = models.create("resnet_mini", num_classes=4, weights=str(tmp_path / "w"))
    assert "Head re-initialised" in caplog.text and "4-class 'dense' head" in caplog.text
    assert dst.head.fc.kernel.shape == (128, 4)
