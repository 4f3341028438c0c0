import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from artjax.models import layers

torch = pytest.importorskip("torch")  # parity with PyTorch; the 3.12 job runs without it


def nhwc(x: torch.Tensor):
    return jnp.asarray(x.permute(0, 2, 3, 1).numpy())


def as_nchw(y) -> np.ndarray:
    return np.asarray(y).transpose(0, 3, 1, 2)


@pytest.mark.parametrize("size,out", [(1, 7), (2, 7), (5, 7), (10, 7), (13, 6), (7, 7)])
def test_adaptive_avg_pool_matches_torch_bins(size, out):
    x = torch.randn(2, 3, size, size + 1)
    ref = torch.nn.functional.adaptive_avg_pool2d(x, out).numpy()
    np.testing.assert_allclose(as_nchw(layers.adaptive_avg_pool(nhwc(x), out)), ref,
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("size,k,s,p,ceil", [(7, 3, 2, 0, False), (8, 3, 2, 1, False),
                                             (14, 3, 2, 0, True), (15, 3, 2, 0, True),
                                             (9, 2, 2, 0, True), (6, 3, 2, 1, True),
                                             (75, 2, 2, 0, False)])
def test_max_pool_matches_torch_including_ceil_mode(size, k, s, p, ceil):
    x = torch.randn(1, 2, size, size)
    ref = torch.nn.functional.max_pool2d(x, k, s, p, ceil_mode=ceil).numpy()
    np.testing.assert_array_equal(as_nchw(layers.max_pool(nhwc(x), k, s, p, ceil)), ref)


def test_batchnorm_training_update_matches_torch_unbiased_running_variance():
    torch.manual_seed(0)
    x = torch.randn(2, 4, 3, 3) * 3 + 1
    tbn = torch.nn.BatchNorm2d(4).train()
    bn = layers.BatchNorm(4)  # Flax convention momentum 0.9 == torch momentum 0.1
    ref = tbn(x).detach().numpy()
    np.testing.assert_allclose(as_nchw(bn(nhwc(x))), ref, atol=1e-5)
    np.testing.assert_allclose(bn.mean[...], tbn.running_mean.numpy(), atol=1e-6)
    np.testing.assert_allclose(bn.var[...], tbn.running_var.numpy(), atol=1e-6)
    bn.use_running_average = True
    tbn.eval()
    np.testing.assert_allclose(as_nchw(bn(nhwc(x))), tbn(x).detach().numpy(), atol=1e-5)


def test_conv_uses_torch_padding():
    torch.manual_seed(0)
    tconv = torch.nn.Conv2d(3, 5, 5, stride=2, padding=2, bias=False)
    conv = layers.conv(3, 5, 5, 2, 2, rngs=nnx.Rngs(0))
    conv.kernel[...] = jnp.asarray(tconv.weight.detach().numpy().transpose(2, 3, 1, 0))
    x = torch.randn(1, 3, 11, 11)
    np.testing.assert_allclose(as_nchw(conv(nhwc(x))), tconv(x).detach().numpy(), atol=1e-5)
