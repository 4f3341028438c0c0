import logging
import os
import pickle

import jax.numpy as jnp
import numpy as np
import pytest

from artjax import models
from artjax.weights import read_metadata
from artjax.weights.__main__ import main

torch = pytest.importorskip("torch")  # converts torch files; the 3.12 job runs without torch
torchvision = pytest.importorskip("torchvision")
import safetensors.torch  # noqa: E402  (its torch half needs torch)


def _torch_resnet18(num_classes: int = 10) -> torch.nn.Module:
    torch.manual_seed(0)
    return torchvision.models.resnet18(num_classes=num_classes).eval()


@pytest.fixture(scope="module")
def resnet18_pth(tmp_path_factory):
    path = tmp_path_factory.mktemp("w") / "resnet18.pth"
    torch.save(_torch_resnet18().state_dict(), path)
    return path


def convert(capsys, *args):
    code = main(["convert", *map(str, args)])
    return code, capsys.readouterr().err.strip()


def test_safetensors_input_converts_and_matches_torch(tmp_path, capsys):
    tmodel = _torch_resnet18()
    safetensors.torch.save_file(tmodel.state_dict(), tmp_path / "r.safetensors")
    code, err = convert(capsys, "--arch", "resnet18", "--source", "torchvision", "--input",
                        tmp_path / "r.safetensors", "--output", tmp_path / "out")
    assert (code, err) == (0, "")
    meta = read_metadata(tmp_path / "out")
    assert (meta["arch"], meta["source"], meta["num_classes"]) == ("resnet18", "torchvision", 10)
    assert meta["preprocessing"]["mean"] == [0.485, 0.456, 0.406]
    model = models.create("resnet18", num_classes=10, weights=str(tmp_path / "out"))
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        ref = tmodel(x).numpy()
    np.testing.assert_allclose(model(jnp.asarray(x.permute(0, 2, 3, 1).numpy())), ref,
                               atol=1e-4, rtol=1e-4)


def test_bfloat16_safetensors_are_widened_to_float32(tmp_path, capsys):
    sd = {k: v.to(torch.bfloat16) if v.is_floating_point() else v
          for k, v in _torch_resnet18().state_dict().items()}
    safetensors.torch.save_file(sd, tmp_path / "bf16.safetensors")
    code, err = convert(capsys, "--arch", "resnet18", "--source", "torchvision", "--input",
                        tmp_path / "bf16.safetensors", "--output", tmp_path / "out")
    assert (code, err) == (0, "")
    model = models.create("resnet18", num_classes=10, weights=str(tmp_path / "out"))
    np.testing.assert_array_equal(model.head.fc.bias[...], sd["fc.bias"].float().numpy())


def test_wrapped_and_dataparallel_state_dicts_are_unwrapped(tmp_path, capsys):
    sd = {f"module.{k}": v for k, v in _torch_resnet18().state_dict().items()}
    torch.save({"state_dict": sd, "epoch": 3}, tmp_path / "ckpt.pth")
    code, err = convert(capsys, "--arch", "resnet18", "--source", "timm", "--input",
                        tmp_path / "ckpt.pth", "--output", tmp_path / "out")
    assert (code, err) == (0, "")


def test_wrong_architecture_lists_the_keys_in_one_line(resnet18_pth, tmp_path, capsys):
    code, err = convert(capsys, "--arch", "resnet34", "--source", "torchvision", "--input",
                        resnet18_pth, "--output", tmp_path / "out")
    assert code == 2
    assert len(err.splitlines()) == 1
    assert "not a torchvision resnet34 state dict" in err
    assert "missing parameters (" in err and "stage1/2/bn1/bias" in err  # resnet34's 3rd block
    assert not (tmp_path / "out").exists()

    code, err = convert(capsys, "--arch", "vgg11", "--source", "torchvision", "--input",
                        resnet18_pth, "--output", tmp_path / "out")
    assert code == 2 and "classifier.6.weight" in err


def test_class_count_mismatch_reports_misshaped_head(resnet18_pth, tmp_path, capsys):
    code, err = convert(capsys, "--arch", "resnet18", "--source", "torchvision", "--input",
                        resnet18_pth, "--output", tmp_path / "out", "--num-classes", "5")
    assert code == 2
    assert "mis-shaped" in err and "fc.weight (10, 512) -> head/fc/kernel (512, 5)" in err


def test_truncated_file_fails_cleanly(resnet18_pth, tmp_path, capsys):
    data = resnet18_pth.read_bytes()
    (tmp_path / "cut.pth").write_bytes(data[: len(data) // 2])
    code, err = convert(capsys, "--arch", "resnet18", "--source", "torchvision", "--input",
                        tmp_path / "cut.pth", "--output", tmp_path / "out")
    assert code == 2 and "truncated or corrupt" in err and len(err.splitlines()) == 1


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # torch notes protocol 4
@pytest.mark.parametrize("writer", ["torch.save", "pickle.dump"])
def test_pickle_holding_code_is_refused_and_never_runs(writer, tmp_path, capsys):
    marker = tmp_path / "pwned"
    payload = {"conv1.weight": _Exploit(marker)}
    path = tmp_path / "evil.pth"
    if writer == "torch.save":
        torch.save(payload, path)
    else:
        with open(path, "wb") as f:
            pickle.dump(payload, f)
    code, err = convert(capsys, "--arch", "resnet18", "--source", "torchvision", "--input",
                        path, "--output", tmp_path / "out")
    assert code == 2 and "refusing" in err and "never unpickles" in err
    assert not marker.exists()


def test_missing_input_unknown_source_and_existing_output(resnet18_pth, tmp_path, capsys):
    code, err = convert(capsys, "--arch", "resnet18", "--source", "torchvision", "--input",
                        tmp_path / "nope.pth", "--output", tmp_path / "out")
    assert code == 2 and "not found" in err
    code, err = convert(capsys, "--arch", "resnet18", "--source", "lukemelas", "--input",
                        resnet18_pth, "--output", tmp_path / "out")
    assert code == 2 and "unsupported weight source 'lukemelas'" in err
    code, err = convert(capsys, "--arch", "resnet18x", "--source", "torchvision", "--input",
                        resnet18_pth, "--output", tmp_path / "out")
    assert code == 2 and "unknown model" in err
    assert convert(capsys, "--arch", "resnet18", "--source", "torchvision", "--input",
                   resnet18_pth, "--output", tmp_path / "out")[0] == 0
    code, err = convert(capsys, "--arch", "resnet18", "--source", "torchvision", "--input",
                        resnet18_pth, "--output", tmp_path / "out")
    assert code == 2 and "already holds artjax weights" in err


def test_non_tensor_entries_are_rejected(tmp_path, capsys):
    torch.save({"conv1.weight": "not a tensor"}, tmp_path / "odd.pth")
    code, err = convert(capsys, "--arch", "resnet18", "--source", "torchvision", "--input",
                        tmp_path / "odd.pth", "--output", tmp_path / "out")
    assert code == 2 and "'conv1.weight' is a str, not a tensor" in err


@pytest.fixture(scope="module")
def resnet18_dir(resnet18_pth, tmp_path_factory):
    out = tmp_path_factory.mktemp("c") / "resnet18"
    assert main(["convert", "--arch", "resnet18", "--source", "torchvision", "--input",
                 str(resnet18_pth), "--output", str(out)]) == 0
    return out


def test_new_class_count_keeps_a_fresh_head_and_logs_it(resnet18_dir, caplog):
    with caplog.at_level(logging.WARNING):
        model = models.create("resnet18", num_classes=3, weights=str(resnet18_dir))
    assert "Head re-initialised" in caplog.text and "10-class" in caplog.text
    assert model.head.fc.kernel.shape == (512, 3)
    fresh = models.create("resnet18", num_classes=3)  # same seed: the same fresh head
    np.testing.assert_array_equal(model.head.fc.kernel[...], fresh.head.fc.kernel[...])
    expected = _torch_resnet18().conv1.weight.detach().numpy().transpose(2, 3, 1, 0)
    np.testing.assert_array_equal(model.stem.conv.kernel[...], expected)


def test_logits_head_receives_the_stored_classifier(resnet18_dir):
    model = models.create("resnet18", num_classes=3, weights=str(resnet18_dir),
                          head={"kind": "logits", "imagenet_classes": 10, "dropout": 0.3})
    expected = _torch_resnet18().fc.weight.detach().numpy().T
    np.testing.assert_array_equal(model.head.imagenet.fc.kernel[...], expected)
    assert model.head.fc.kernel.shape == (10, 3)


def test_weights_of_another_architecture_are_refused(resnet18_dir):
    with pytest.raises(ValueError, match="holds weights for 'resnet18', not 'resnet34'"):
        models.create("resnet34", weights=str(resnet18_dir))
