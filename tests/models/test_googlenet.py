"""GoogLeNet: parity with torchvision (transform_input, auxiliary heads), stage layout."""

import math

import pytest
from flax import nnx

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

from artjax import models  # noqa: E402
from artjax.weights import keymaps, store  # noqa: E402
from artjax.weights.convert import map_state_dict  # noqa: E402
from artjax.weights.keymaps.googlenet import RULES  # noqa: E402
from jit_parity import (assert_parity, assert_same_structure,  # noqa: E402
                        calibrate_with_floor, load_converted, zeros_like)
from parity import (abstract_param_count, assert_close, nhwc,  # noqa: E402
                    torch_param_count)


def _torch_googlenet(**kwargs):
    """torchvision's ImageNet configuration (aux heads, transform_input) with random weights;
    fc rescaled so the logits are O(1) instead of torchvision's N(0, 0.01)-initialised ~0.05."""
    torch.manual_seed(0)
    tmodel = torchvision.models.GoogLeNet(num_classes=7, aux_logits=True, transform_input=True,
                                          init_weights=True, **kwargs)
    torch.nn.init.normal_(tmodel.fc.weight, std=1 / math.sqrt(1024))
    calibrate_with_floor(tmodel, torch.randn(4, 3, 64, 64))
    return tmodel


@pytest.mark.parametrize("aux_logits", [False, True])
def test_parameter_count_equals_torchvision(aux_logits):
    with torch.device("meta"):
        tmodel = torchvision.models.GoogLeNet(num_classes=10, aux_logits=aux_logits,
                                              init_weights=False)
    assert abstract_param_count("googlenet", num_classes=10,
                                aux_logits=aux_logits) == torch_param_count(tmodel)
    if not aux_logits:
        assert_same_structure(tmodel, "googlenet", num_classes=10)


def test_converted_torchvision_model_matches_torch(tmp_path):
    tmodel = _torch_googlenet()
    # The converter drops the aux heads (torchvision ships them untrained).
    model = load_converted(tmodel, "googlenet", tmp_path, num_classes=7, transform_input=True)
    assert assert_parity(tmodel, model, "googlenet", torch.randn(2, 3, 64, 64),
                         classifier="fc") > 0


def test_aux_heads_match_torchvision_and_follow_reset_head(tmp_path):
    tmodel = _torch_googlenet().eval()
    x = torch.randn(2, 3, 64, 64)
    seen = {}
    for name in ("inception4a", "inception4d"):
        getattr(tmodel, name).register_forward_hook(
            lambda _, __, out, name=name: seen.__setitem__(name, out))
    with torch.no_grad():
        ref = [tmodel(x), tmodel.aux1(seen["inception4a"]), tmodel.aux2(seen["inception4d"])]

    model = zeros_like(nnx.eval_shape(lambda: models.create(
        "googlenet", num_classes=7, aux_logits=True, transform_input=True)))
    aux_rules = [(r"(aux[12])\.conv\.(conv|bn)", r"stage2/\1/conv/\2"),
                 (r"(aux[12])\.(fc[12])", r"stage2/\1/\2")]
    target = store.model_arrays(model)
    arrays = map_state_dict({k: v.numpy() for k, v in tmodel.state_dict().items()},
                            keymaps.KeyMap(aux_rules + RULES, classifier="fc.weight"),
                            {k: tuple(v.shape) for k, v in target.items()}, what="googlenet")
    assert {k.split("/")[1] for k in arrays if k.startswith("stage2/aux")} == {"aux1", "aux2"}
    store.save(arrays, str(tmp_path / "aux"), arch="googlenet", source="torchvision",
               num_classes=7, head=model.head_spec, preprocessing=model.preprocessing)
    store.load_into(model, str(tmp_path / "aux"), arch="googlenet")
    model.eval()
    logits, aux = nnx.jit(lambda m, x: m.forward_aux(x))(model, nhwc(x))
    for got, expected, what in zip([logits, *aux], ref, ["logits", "aux1", "aux2"]):
        assert_close(got, expected.numpy(), what)

    model.reset_head(5, rngs=nnx.Rngs(1))
    logits, aux = nnx.jit(lambda m, x: m.forward_aux(x))(model, nhwc(x))
    assert [a.shape for a in (logits, *aux)] == [(2, 5)] * 3


def test_stage_layout():
    model = nnx.eval_shape(lambda: models.create("googlenet", aux_logits=True))
    assert model.stage_names == ("stem", "stage1", "stage2", "stage3", "head")
    assert model.stage1.names == ("inception3a", "inception3b")
    assert model.stage2.names[-1] == "inception4e" and model.stage3.names[-1] == "inception5b"
    paths = {"/".join(map(str, p[:2])) for p, _ in nnx.to_flat_state(nnx.state(model, nnx.Param))}
    assert {"stage2/aux1", "stage2/aux2"} <= paths  # frozen with the stage they read from
    assert {p.split("/")[0] for p in paths} == set(model.stage_names)
    assert model.num_features == 1024 and model.head.dropout.rate == 0.2
