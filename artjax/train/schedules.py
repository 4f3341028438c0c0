"""Learning-rate schedules written in epochs, evaluated per optimiser step.

`make_schedule` turns the `schedule` config section into an optax schedule (a function of the
optimiser's update count). The epoch-wise schedules reproduce PyTorch's schedulers stepped once
per epoch: the lr is constant within an epoch and changes at epoch boundaries. `Plateau` is the
host-side reduce-on-plateau that the loop feeds a validation metric once per epoch.

Config keys (the `schedule` section of config/defaults.py, which holds their defaults):
  name: one of NAMES
  step_size, gamma: step (torch StepLR)
  milestones, gamma: multistep (torch MultiStepLR)
  warmup_epochs, min_lr, final_lr_fraction: cosine; needs `total_epochs`
  mode (MODES), factor, patience, threshold, threshold_mode (THRESHOLD_MODES), cooldown, min_lr,
  eps: plateau (torch ReduceLROnPlateau)
"""

from __future__ import annotations

import collections
import math
from typing import Any

import jax.numpy as jnp
import numpy as np
import optax

NAMES = ("constant", "step", "multistep", "cosine", "plateau")  # schedule.name
MODES = ("min", "max")  # schedule.mode of the plateau schedule
THRESHOLD_MODES = ("rel", "abs")  # schedule.threshold_mode


def make_schedule(cfg: Any, *, base_lr: float, steps_per_epoch: int,
                  total_epochs: int | None = None) -> optax.Schedule:
    """The per-step schedule for `cfg.name`.

    `steps_per_epoch` counts optimiser updates (with gradient accumulation over k micro-batches,
    micro-batches // k). 'plateau' gives the constant `base_lr`; the loop multiplies in the
    `Plateau` scale through the optimiser's `lr_scale` hyperparameter. 'cosine' needs
    `total_epochs`, the epoch at which it reaches its final lr.
    """
    name = cfg.name
    if name not in NAMES:
        raise ValueError(f"schedule.name must be one of {NAMES}, got {name!r}")
    if steps_per_epoch < 1:
        raise ValueError(f"steps_per_epoch must be >= 1, got {steps_per_epoch}")
    if name in ("constant", "plateau"):
        return optax.constant_schedule(base_lr)
    if name == "step":
        return _step(base_lr, steps_per_epoch, int(cfg.step_size), float(cfg.gamma))
    if name == "multistep":
        return _multistep(base_lr, steps_per_epoch, cfg.milestones, float(cfg.gamma))
    if not total_epochs:
        raise ValueError("schedule.name='cosine' needs total_epochs (train.epochs) to know where it ends")
    end_lr = max(float(cfg.min_lr), float(cfg.final_lr_fraction) * base_lr)
    warmup = round(float(cfg.warmup_epochs) * steps_per_epoch)
    return warmup_cosine(base_lr, warmup_steps=warmup, total_steps=total_epochs * steps_per_epoch, end_lr=end_lr)


def _check_gamma(gamma: float) -> None:
    if not 0.0 < gamma <= 1.0:
        raise ValueError(f"schedule.gamma must be in (0, 1], got {gamma}")


def _decay_table(base_lr: float, factors: list[float]) -> jnp.ndarray:
    # Multiplied one factor at a time in float64, as torch's chainable schedulers update
    # `group['lr']`, then rounded once to float32: the lr then equals torch's to float32 rounding.
    values = [base_lr]
    for factor in factors:
        values.append(values[-1] * factor)
    return jnp.asarray(np.asarray(values, np.float64), jnp.float32)


def _step(base_lr: float, steps_per_epoch: int, step_size: int, gamma: float) -> optax.Schedule:
    if step_size < 1:
        raise ValueError(f"schedule.step_size must be >= 1 epoch, got {step_size}")
    _check_gamma(gamma)
    # StepLR never stops decaying; the table ends once float32 underflows to 0 (or after
    # 10_000 decays), and later epochs stay on its last value.
    factors: list[float] = []
    lr = base_lr
    while gamma < 1.0 and np.float32(lr) != 0.0 and len(factors) < 10_000:
        factors.append(gamma)
        lr *= gamma
    table = _decay_table(base_lr, factors)

    def schedule(count: jnp.ndarray) -> jnp.ndarray:
        decays = (count // steps_per_epoch) // step_size
        return table[jnp.minimum(decays, table.shape[0] - 1)]

    return schedule


def _multistep(base_lr: float, steps_per_epoch: int, milestones: Any, gamma: float) -> optax.Schedule:
    _check_gamma(gamma)
    counts = collections.Counter(int(m) for m in milestones)
    if not counts or min(counts) < 1:
        raise ValueError(f"schedule.milestones must be a non-empty list of epochs >= 1, got {milestones!r}")
    epochs = sorted(counts)
    # A milestone listed twice decays twice at once, as in torch (gamma ** multiplicity).
    table = _decay_table(base_lr, [gamma ** counts[e] for e in epochs])
    boundaries = jnp.asarray(epochs, jnp.int32)

    def schedule(count: jnp.ndarray) -> jnp.ndarray:
        passed = jnp.sum(count // steps_per_epoch >= boundaries)
        return table[passed]

    return schedule


def warmup_cosine(base_lr: float, *, warmup_steps: int, total_steps: int, end_lr: float = 0.0) -> optax.Schedule:
    """Linear warm-up to `base_lr` over `warmup_steps`, then cosine to `end_lr` at `total_steps`.

    Warm-up step s (0-based) uses base_lr * (s + 1) / warmup_steps, so no step runs at lr 0.
    After `total_steps` the lr stays at `end_lr`.
    """
    if not 0 <= warmup_steps < total_steps:
        raise ValueError(f"cosine warm-up ({warmup_steps} steps) must be shorter than the run ({total_steps} steps)")

    def schedule(count: jnp.ndarray) -> jnp.ndarray:
        count = jnp.asarray(count, jnp.float32)
        warm = base_lr * (count + 1.0) / max(warmup_steps, 1)
        t = jnp.clip((count - warmup_steps) / (total_steps - warmup_steps), 0.0, 1.0)
        # 0.5 * (1 + cos(pi t)) written as cos(pi t / 2) ** 2: no cancellation near the end in float32.
        cosine = end_lr + (base_lr - end_lr) * jnp.cos(0.5 * jnp.pi * t) ** 2
        return jnp.where(count < warmup_steps, warm, cosine)

    return schedule


class Plateau:
    """torch.optim.lr_scheduler.ReduceLROnPlateau, stepped on the host once per evaluation.

    `step(metric)` returns the lr scale (lr / base_lr) for the following epoch; the loop writes it
    into the optimiser with `optim.set_lr_scale`. The arithmetic is torch's, in Python floats.

    Why not `optax.contrib.reduce_on_plateau`: fed once per epoch it still differs from torch.
    It only minimises, and for mode='max' with threshold_mode='rel' the negated metric would need
    rtol = -threshold (torch improves when a > best * (1 + threshold)), which optax rejects
    (rtol must be >= 0); its `patience` counts one epoch fewer (it reduces when the plateau count
    reaches `patience`, torch when it exceeds it); it compares in float32 on the device and has no
    `eps` guard. Mirroring torch here is a few lines and keeps the state a JSON-able dict.
    """

    def __init__(self, base_lr: float, *, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0,
                 min_lr: float = 0.0, eps: float = 1e-8):
        if mode not in MODES:
            raise ValueError(f"schedule.mode must be one of {MODES}, got {mode!r}")
        if threshold_mode not in THRESHOLD_MODES:
            raise ValueError(f"schedule.threshold_mode must be one of {THRESHOLD_MODES}, got {threshold_mode!r}")
        if not 0.0 < factor < 1.0:
            raise ValueError(f"schedule.factor must be in (0, 1), got {factor}")
        if base_lr <= 0:
            raise ValueError(f"the base learning rate must be > 0, got {base_lr}")
        self.base_lr = float(base_lr)
        self.mode, self.factor, self.patience = mode, float(factor), int(patience)
        self.threshold, self.threshold_mode = float(threshold), threshold_mode
        self.cooldown, self.min_lr, self.eps = int(cooldown), float(min_lr), float(eps)
        self.lr = self.base_lr
        self.best: float | None = None  # None = nothing seen yet (torch: +-inf, not JSON)
        self.num_bad_epochs = 0
        self.cooldown_counter = 0

    def _is_better(self, value: float) -> bool:
        best = self.best
        if best is None:
            best = math.inf if self.mode == "min" else -math.inf
        if self.mode == "min":
            bound = best * (1.0 - self.threshold) if self.threshold_mode == "rel" else best - self.threshold
            return value < bound
        bound = best * (1.0 + self.threshold) if self.threshold_mode == "rel" else best + self.threshold
        return value > bound

    def step(self, metric: float) -> float:
        """Records one epoch's validation metric; returns the lr scale for the next epoch."""
        value = float(metric)
        if self._is_better(value):
            self.best, self.num_bad_epochs = value, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs in cooldown do not count
        if self.num_bad_epochs > self.patience:
            new_lr = max(self.lr * self.factor, self.min_lr)
            if self.lr - new_lr > self.eps:
                self.lr = new_lr
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        return self.scale

    @property
    def scale(self) -> float:
        return self.lr / self.base_lr

    def state_dict(self) -> dict[str, Any]:
        return {"lr": self.lr, "best": self.best, "num_bad_epochs": self.num_bad_epochs,
                "cooldown_counter": self.cooldown_counter}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.lr, self.best = float(state["lr"]), state["best"]
        self.num_bad_epochs, self.cooldown_counter = int(state["num_bad_epochs"]), int(state["cooldown_counter"])


def make_plateau(cfg: Any, *, base_lr: float) -> Plateau:
    """The `Plateau` for a schedule section with name 'plateau'."""
    return Plateau(base_lr, mode=cfg.mode, factor=float(cfg.factor), patience=int(cfg.patience),
                   threshold=float(cfg.threshold), threshold_mode=cfg.threshold_mode, cooldown=int(cfg.cooldown),
                   min_lr=float(cfg.min_lr), eps=float(cfg.eps))
