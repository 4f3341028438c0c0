"""Optimisers against torch.optim on a tiny two-layer linear problem, a few steps each."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from artjax.config import defaults
from artjax.train import optim, schedules

torch = pytest.importorskip("torch")  # parity with PyTorch; the 3.12 job runs without it

RNG = np.random.default_rng(0)
X = RNG.normal(size=(6, 3)).astype(np.float32)
Y = RNG.normal(size=(6, 2)).astype(np.float32)
INIT = {"body": {"w": RNG.normal(size=(3, 4)).astype(np.float32)},
        "head": {"w": RNG.normal(size=(4, 2)).astype(np.float32), "b": RNG.normal(size=(2,)).astype(np.float32)}}
STEPS = 5


def _section(name, keys):
    """The schema's `name` section with `keys` set."""
    section = defaults()[name]
    section.update(keys)
    return section


def _optimizer(keys):
    return _section("optimizer", keys)


def _loss_jax(params, x, y):
    out = x @ params["body"]["w"] @ params["head"]["w"] + params["head"]["b"]
    return jnp.mean((out - y) ** 2)


def _run_jax(cfg, lr_schedule, micro_batches, scale_at=None):
    tx = optim.make_optimizer(_optimizer(cfg), lr_schedule)
    params = jax.tree.map(jnp.asarray, INIT)
    state = tx.init(params)
    step = jax.jit(lambda p, s, x, y: tx.update(jax.grad(_loss_jax)(p, x, y), s, p))
    for i in range(STEPS * micro_batches):
        if scale_at is not None and i == scale_at[0] * micro_batches:
            state = optim.set_lr_scale(state, scale_at[1])
        x, y = np.array_split(X, micro_batches)[i % micro_batches], np.array_split(Y, micro_batches)[i % micro_batches]
        updates, state = step(params, state, x, y)
        params = optax.apply_updates(params, updates)
    return params, state


def _run_torch(make_opt, base_lr, head_mult, clip, micro_batches, step_lr=None, scale_at=None):
    body = {k: torch.nn.Parameter(torch.tensor(v)) for k, v in INIT["body"].items()}
    head = {k: torch.nn.Parameter(torch.tensor(v)) for k, v in INIT["head"].items()}
    groups = [{"params": list(body.values())}, {"params": list(head.values()), "lr": base_lr * head_mult}]
    opt = make_opt(groups, base_lr)
    sched = torch.optim.lr_scheduler.StepLR(opt, *step_lr) if step_lr else None
    xs, ys = np.array_split(X, micro_batches), np.array_split(Y, micro_batches)
    for i in range(STEPS):
        if scale_at is not None and i == scale_at[0]:
            for g in opt.param_groups:
                g["lr"] *= scale_at[1]
        opt.zero_grad()
        for x, y in zip(xs, ys):
            out = torch.tensor(x) @ body["w"] @ head["w"] + head["b"]
            (torch.mean((out - torch.tensor(y)) ** 2) / micro_batches).backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(list(body.values()) + list(head.values()), clip)
        opt.step()
        if sched:
            sched.step()
    return {"body": {k: v.detach().numpy() for k, v in body.items()},
            "head": {k: v.detach().numpy() for k, v in head.items()}}


CASES = {
    "sgd": ({"name": "sgd"}, lambda g, lr: torch.optim.SGD(g, lr=lr)),
    "sgd_momentum_wd": ({"name": "sgd", "momentum": 0.9, "weight_decay": 1e-2},
                        lambda g, lr: torch.optim.SGD(g, lr=lr, momentum=0.9, weight_decay=1e-2)),
    "sgd_nesterov": ({"name": "sgd", "momentum": 0.8, "nesterov": True},
                     lambda g, lr: torch.optim.SGD(g, lr=lr, momentum=0.8, nesterov=True)),
    "adam_l2": ({"name": "adam", "weight_decay": 1e-2, "b1": 0.8, "b2": 0.99, "eps": 1e-6},
                lambda g, lr: torch.optim.Adam(g, lr=lr, betas=(0.8, 0.99), eps=1e-6, weight_decay=1e-2)),
    "adamw": ({"name": "adamw", "weight_decay": 5e-2},
              lambda g, lr: torch.optim.AdamW(g, lr=lr, weight_decay=5e-2)),
    "rmsprop": ({"name": "rmsprop", "weight_decay": 1e-3},
                lambda g, lr: torch.optim.RMSprop(g, lr=lr, weight_decay=1e-3)),
    "rmsprop_momentum_keras_rho": ({"name": "rmsprop", "momentum": 0.5, "rmsprop_decay": 0.9, "eps": 1e-7},
                                   lambda g, lr: torch.optim.RMSprop(g, lr=lr, alpha=0.9, eps=1e-7, momentum=0.5)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_torch_with_step_schedule_head_multiplier_and_clipping(case):
    cfg, make_opt = CASES[case]
    base_lr = 0.01
    cfg = {**cfg, "head_lr_multiplier": 3.0, "grad_clip_norm": 0.5}
    # StepLR(2, 0.5) stepped every update: one update per 'epoch'.
    step_lr = _section("schedule", {"name": "step", "step_size": 2, "gamma": 0.5})
    schedule = schedules.make_schedule(step_lr, base_lr=base_lr, steps_per_epoch=1)
    ours, state = _run_jax(cfg, schedule, micro_batches=1)
    theirs = _run_torch(make_opt, base_lr, 3.0, 0.5, 1, step_lr=(2, 0.5))
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), ours, theirs)
    moved = jax.tree.map(lambda a, b: float(np.max(np.abs(a - b))), ours, INIT)
    assert min(jax.tree.leaves(moved)) > 1e-4  # every parameter trained
    assert optim.get_lr(state) == pytest.approx(base_lr * 0.25)  # the lr of the 5th update (epoch 4)


def test_gradient_accumulation_matches_torch_accumulated_backward():
    cfg, make_opt = CASES["sgd_momentum_wd"]
    ours, _ = _run_jax({**cfg, "accumulate_steps": 3}, optax.constant_schedule(0.05), micro_batches=3)
    theirs = _run_torch(make_opt, 0.05, 1.0, 0.0, micro_batches=3)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), ours, theirs)


def test_lr_scale_reduces_the_lr_like_a_torch_param_group_change():
    cfg, make_opt = CASES["adam_l2"]
    ours, state = _run_jax(cfg, optax.constant_schedule(0.02), micro_batches=1, scale_at=(2, 0.1))
    theirs = _run_torch(make_opt, 0.02, 1.0, 0.0, 1, scale_at=(2, 0.1))
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), ours, theirs)
    assert optim.get_lr(state) == pytest.approx(0.002)


class _Net(nnx.Module):
    def __init__(self, rngs):
        self.stage1 = nnx.Linear(3, 4, rngs=rngs)
        self.head = nnx.Linear(4, 2, rngs=rngs)

    def __call__(self, x):
        return self.head(self.stage1(x))


def test_nnx_optimizer_head_multiplier_and_lr_scale_in_split_state():
    model = _Net(nnx.Rngs(0))
    tx = optim.make_optimizer(_optimizer({"name": "sgd", "head_lr_multiplier": 10.0, "accumulate_steps": 2}),
                              optax.constant_schedule(0.1))
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
    graphdef, state = nnx.split((model, optimizer))
    assert optim.get_lr(state) == pytest.approx(0.1)
    state = optim.set_lr_scale(state, 0.5)
    assert optim.get_lr(state) == pytest.approx(0.05)

    @jax.jit
    def train_step(state, x):
        model, optimizer = nnx.merge(graphdef, state)
        grads = nnx.grad(lambda m: jnp.sum(m(x)))(model)
        optimizer.update(model, grads)
        return nnx.state((model, optimizer))

    before = nnx.state(model, nnx.Param)
    x = jnp.ones((1, 3))
    state = train_step(train_step(state, x), x)  # two micro-batches = one update
    after = nnx.state(nnx.merge(graphdef, state)[0], nnx.Param)
    # d/d(head.bias) of sum(out) is 1 per output: step = lr 0.1 x scale 0.5 x head multiplier 10.
    np.testing.assert_allclose(after["head"]["bias"][...] - before["head"]["bias"][...], -0.5, rtol=1e-6)
    # The body's bias gradient is the column sum of head.kernel: multiplier not applied.
    expected = -0.05 * before["head"]["kernel"][...].sum(axis=1)
    np.testing.assert_allclose(after["stage1"]["bias"][...] - before["stage1"]["bias"][...], expected, rtol=1e-5)


def test_bad_configs_name_the_key():
    with pytest.raises(ValueError, match="optimizer.name"):
        optim.make_optimizer(_optimizer({"name": "lamb"}), optax.constant_schedule(0.1))
    with pytest.raises(ValueError, match="nesterov"):
        optim.make_optimizer(_optimizer({"name": "adam", "nesterov": True}), optax.constant_schedule(0.1))
    with pytest.raises(ValueError, match="accumulate_steps"):
        optim.make_optimizer(_optimizer({"name": "sgd", "accumulate_steps": 0}), optax.constant_schedule(0.1))
    with pytest.raises(ValueError, match="hyperparameter"):
        optim.get_lr(optax.sgd(0.1).init({"w": jnp.zeros(2)}))
