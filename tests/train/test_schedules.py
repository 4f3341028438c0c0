"""Schedules against PyTorch's schedulers, stepped once per epoch as S0/S1/S2 do."""

import json
import math

import numpy as np
import pytest

from artjax.config import defaults
from artjax.train import schedules

torch = pytest.importorskip("torch")  # parity with PyTorch; the 3.12 job runs without it

STEPS_PER_EPOCH = 7


def _schedule(keys):
    """The schema's `schedule` section with `keys` set."""
    section = defaults().schedule
    section.update(keys)
    return section


def _torch_lrs(make_scheduler, epochs, base_lr, metrics=None):
    """torch's lr for each epoch (read before the epoch's scheduler.step)."""
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=base_lr)
    scheduler = make_scheduler(optimizer)
    lrs = []
    for epoch in range(epochs):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step(*([] if metrics is None else [metrics[epoch]]))
    return np.array(lrs)


def _ours_per_epoch(schedule, epochs):
    """Our lr at the first and the last step of each epoch (must be equal: constant in an epoch)."""
    first = np.array([float(schedule(e * STEPS_PER_EPOCH)) for e in range(epochs)])
    last = np.array([float(schedule(e * STEPS_PER_EPOCH + STEPS_PER_EPOCH - 1)) for e in range(epochs)])
    np.testing.assert_array_equal(first, last)
    return first


def test_step_matches_torch_steplr():
    cfg = {"name": "step", "step_size": 10, "gamma": 0.5}
    schedule = schedules.make_schedule(_schedule(cfg), base_lr=1e-3, steps_per_epoch=STEPS_PER_EPOCH)
    ours = _ours_per_epoch(schedule, 60)
    theirs = _torch_lrs(lambda o: torch.optim.lr_scheduler.StepLR(o, 10, 0.5), 60, 1e-3)
    np.testing.assert_allclose(ours, theirs, rtol=1e-7, atol=0)
    assert ours[9] == ours[0] and ours[10] < ours[9]  # decays at the epoch boundary, not before


def test_multistep_matches_torch_multisteplr():
    cfg = {"name": "multistep", "milestones": (100, 150), "gamma": 0.1}
    schedule = schedules.make_schedule(_schedule(cfg), base_lr=0.01, steps_per_epoch=STEPS_PER_EPOCH)
    ours = _ours_per_epoch(schedule, 200)
    theirs = _torch_lrs(lambda o: torch.optim.lr_scheduler.MultiStepLR(o, [100, 150], 0.1), 200, 0.01)
    np.testing.assert_allclose(ours, theirs, rtol=1e-7, atol=0)
    assert len(set(ours.tolist())) == 3


def test_multistep_repeated_milestone_decays_twice_like_torch():
    cfg = {"name": "multistep", "milestones": (3, 3, 5), "gamma": 0.5}
    schedule = schedules.make_schedule(_schedule(cfg), base_lr=0.1, steps_per_epoch=STEPS_PER_EPOCH)
    ours = _ours_per_epoch(schedule, 8)
    theirs = _torch_lrs(lambda o: torch.optim.lr_scheduler.MultiStepLR(o, [3, 3, 5], 0.5), 8, 0.1)
    np.testing.assert_allclose(ours, theirs, rtol=1e-7, atol=0)


# Accuracy-like sequence: improvements, ties, improvements smaller than threshold (1e-4 rel).
METRICS = [0.50, 0.60, 0.60, 0.59, 0.70, 0.70, 0.700001, 0.71, 0.72, 0.72, 0.72, 0.72, 0.80, 0.79, 0.79, 0.79]


@pytest.mark.parametrize("kwargs", [
    dict(mode="max", factor=0.1, patience=1),  # S1's setting
    dict(mode="max", factor=0.5, patience=0, cooldown=2, min_lr=3e-6),
    dict(mode="min", factor=0.3, patience=2, threshold=0.01, threshold_mode="abs"),
])
def test_plateau_matches_torch_reducelronplateau(kwargs):
    base_lr = 1e-4
    plateau = schedules.Plateau(base_lr, **kwargs)
    ours = [base_lr] + [base_lr * plateau.step(m) for m in METRICS[:-1]]
    theirs = _torch_lrs(lambda o: torch.optim.lr_scheduler.ReduceLROnPlateau(o, **kwargs), len(METRICS), base_lr,
                        metrics=METRICS)
    np.testing.assert_allclose(ours, theirs, rtol=1e-7, atol=0)
    assert min(ours) < base_lr  # the sequence does trigger reductions


def test_plateau_state_round_trips_through_json():
    kwargs = dict(mode="max", factor=0.1, patience=1)
    straight = schedules.Plateau(1e-3, **kwargs)
    expected = [straight.step(m) for m in METRICS]
    first = schedules.Plateau(1e-3, **kwargs)
    got = [first.step(m) for m in METRICS[:5]]
    resumed = schedules.Plateau(1e-3, **kwargs)
    resumed.load_state_dict(json.loads(json.dumps(first.state_dict())))
    got += [resumed.step(m) for m in METRICS[5:]]
    assert got == expected
    # A fresh state has no best value yet and still serialises as strict JSON.
    json.dumps(schedules.Plateau(1e-3).state_dict(), allow_nan=False)


def test_make_plateau_reads_config_and_schedule_is_constant():
    cfg = {"name": "plateau", "mode": "max", "factor": 0.1, "patience": 1}
    plateau = schedules.make_plateau(_schedule(cfg), base_lr=0.01)
    assert (plateau.mode, plateau.factor, plateau.patience) == ("max", 0.1, 1)
    schedule = schedules.make_schedule(_schedule(cfg), base_lr=0.01, steps_per_epoch=5)
    assert float(schedule(0)) == float(schedule(1000)) == np.float32(0.01)


def test_cosine_warmup_matches_hand_formula():
    base, end, spe = 0.1, 0.001, 10
    cfg = {"name": "cosine", "warmup_epochs": 2, "min_lr": end}
    schedule = schedules.make_schedule(_schedule(cfg), base_lr=base, steps_per_epoch=spe, total_epochs=12)
    warm, total = 2 * spe, 12 * spe

    def hand(s):
        if s < warm:
            return base * (s + 1) / warm
        t = min((s - warm) / (total - warm), 1.0)
        return end + (base - end) * 0.5 * (1 + math.cos(math.pi * t))

    steps = range(total + 5)
    np.testing.assert_allclose([float(schedule(s)) for s in steps], [hand(s) for s in steps], rtol=2e-6)
    assert float(schedule(warm - 1)) == pytest.approx(base) and float(schedule(total + 3)) == pytest.approx(end)


def test_cosine_final_lr_fraction():
    cfg = {"name": "cosine", "final_lr_fraction": 0.1}
    schedule = schedules.make_schedule(_schedule(cfg), base_lr=0.5, steps_per_epoch=4, total_epochs=3)
    assert float(schedule(0)) == pytest.approx(0.5) and float(schedule(12)) == pytest.approx(0.05)


def test_schedules_jit_and_bad_configs_fail_clearly():
    import jax
    schedule = schedules.make_schedule(_schedule({"name": "step", "step_size": 2, "gamma": 0.1}), base_lr=1.0,
                                       steps_per_epoch=3)
    assert float(jax.jit(schedule)(6)) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="schedule.name"):
        schedules.make_schedule(_schedule({"name": "poly"}), base_lr=1.0, steps_per_epoch=3)
    with pytest.raises(ValueError, match="total_epochs"):
        schedules.make_schedule(_schedule({"name": "cosine"}), base_lr=1.0, steps_per_epoch=3)
    with pytest.raises(ValueError, match="milestones"):
        schedules.make_schedule(_schedule({"name": "multistep"}), base_lr=1.0, steps_per_epoch=3)
    with pytest.raises(ValueError, match="step_size"):
        schedules.make_schedule(_schedule({"name": "step", "step_size": 0}), base_lr=1.0, steps_per_epoch=3)
    with pytest.raises(ValueError, match="mode"):
        schedules.Plateau(1.0, mode="maximum")
