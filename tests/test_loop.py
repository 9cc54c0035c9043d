"""The loop: stops that save the steps, validation and early stopping, callbacks,
and reverse mode through long runs in bounded memory."""

import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import assert_tree_allclose, normal, regression, xla_flags

import jaxgd
from jaxgd import linear

ROOT = Path(__file__).resolve().parents[1]


def _params(n_features=3, dtype=jnp.float32):
    return linear.init(jax.random.key(1), n_features, 1, dtype)


def _counted(loss, calls):
    """`loss`, telling the host once per evaluation that ran (per lane)."""

    def counted(params, *data):
        value = loss(params, *data)
        jax.debug.callback(lambda finite: calls.append(finite), jnp.isfinite(value))
        return value

    return counted


def _lane(tree, k):
    return jax.tree.map(lambda x: x[k], tree)


# --- a stop saves the rest of the budget ---------------------------------------


@pytest.mark.slow
def test_a_tol_stop_runs_about_the_steps_taken_not_the_budget():
    X, y = regression(n_samples=200, n_features=5)
    calls = []
    budget = 20_000
    result = jaxgd.fit(
        _counted(linear.mse, calls),
        _params(5),
        X,
        y,
        learning_rate=0.1,
        num_steps=budget,
        tol=1e-3,
    )
    jax.effects_barrier()
    taken = int(result.steps_taken)
    assert result.converged and 10 < taken < 1_000
    # Every update taken and the one that met tol evaluated the loss, as did
    # the final loss; the rest of the budget, 19,000 steps and more, did not
    # run: only the steps of the chunk in which the run stopped.
    assert taken + 2 <= len(calls) <= taken + 2 + 0.02 * budget
    exact = jaxgd.fit(
        linear.mse, _params(5), X, y, learning_rate=0.1, num_steps=taken + 1, tol=1e-3
    )
    assert_tree_allclose(result.params, exact.params, rtol=1e-6)
    np.testing.assert_allclose(result.losses[: taken + 1], exact.losses, rtol=1e-6)
    assert np.isnan(result.losses[taken + 1 :]).all()


@pytest.mark.slow
def test_a_sweep_stops_with_its_last_lane_and_each_lane_equals_its_fit(x64):
    X, y = regression(n_samples=64, dtype=jnp.float64)
    params = _params(dtype=jnp.float64)
    rates = jnp.array([0.02, 0.1, 0.3, 3.0])  # the last one diverges at once
    calls = []
    budget = 20_000
    result = jaxgd.sweep(
        _counted(linear.mse, calls),
        params,
        X,
        y,
        learning_rates=rates,
        num_steps=budget,
        tol=1e-6,
    )
    jax.effects_barrier()
    taken = np.asarray(result.steps_taken)
    assert result.converged[:3].all() and result.diverged[3]
    assert taken.max() < 2_000
    lanes = len(rates)
    # Every lane runs until the last one stops, plus at most the rest of a chunk.
    assert len(calls) <= lanes * (taken.max() + 2 + 0.02 * budget)
    for k, rate in enumerate(rates):
        single = jaxgd.fit(
            linear.mse, params, X, y, learning_rate=rate, num_steps=budget, tol=1e-6
        )
        lane = _lane(result, k)
        assert_tree_allclose(lane.params, single.params, rtol=1e-10)
        np.testing.assert_allclose(lane.losses, single.losses, rtol=1e-10)
        assert int(lane.steps_taken) == int(single.steps_taken)
        assert bool(lane.converged) == bool(single.converged)


@pytest.mark.slow
def test_under_your_own_vmap_a_stop_gives_the_same_results():
    """A batched stop is a select: every lane computes, the values are the same."""
    X, y = regression(n_samples=48)
    rates = jnp.array([0.05, 0.3])

    def run(rate):
        return jaxgd.fit(
            linear.mse, _params(), X, y, learning_rate=rate, num_steps=600, tol=1e-3
        )

    batched = jax.vmap(run)(rates)
    for k, rate in enumerate(rates):
        single = run(rate)
        lane = _lane(batched, k)
        assert int(lane.steps_taken) == int(single.steps_taken) < 600
        assert_tree_allclose(lane.params, single.params, rtol=1e-5)
        np.testing.assert_allclose(lane.losses, single.losses, rtol=1e-5)


@pytest.mark.slow
def test_jit_of_a_run_that_stops_equals_eager():
    X, y = regression()

    def run(rate):
        return jaxgd.fit(
            linear.mse, _params(), X, y, learning_rate=rate, num_steps=900, tol=1e-3
        )

    eager, jitted = run(0.2), jax.jit(run)(0.2)
    assert int(eager.steps_taken) == int(jitted.steps_taken) < 900
    assert_tree_allclose(jitted.params, eager.params, rtol=1e-6)


# --- validation ------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    "num_steps, every",
    [
        (25, 4),  # the last period is cut short by the budget
        (300, 1),  # every step
        (700, 131),  # a period longer than a chunk, not a multiple of one
    ],
)
def test_validation_losses_are_the_loss_at_the_params_before_each_kth_update(
    x64, num_steps, every
):
    X, y = regression(n_samples=40, dtype=jnp.float64)
    X_val, y_val = regression(n_samples=30, dtype=jnp.float64, seed=5)
    params = _params(dtype=jnp.float64)
    plain = jaxgd.fit(
        linear.mse,
        params,
        X,
        y,
        learning_rate=0.05,
        num_steps=num_steps,
        record_params=True,
    )
    watched = jaxgd.fit(
        linear.mse,
        params,
        X,
        y,
        learning_rate=0.05,
        num_steps=num_steps,
        validation_data=(X_val, y_val),
        validation_every=every,
    )
    steps = np.arange(0, num_steps, every)
    assert watched.validation_losses.shape == (math.ceil(num_steps / every),)
    at = jax.tree.map(lambda t: t[steps], plain.trajectory)
    expected = jax.vmap(lambda p: linear.mse(p, X_val, y_val))(at)
    np.testing.assert_allclose(watched.validation_losses, expected, rtol=1e-12)
    # Watching changes nothing about the run.
    assert_tree_allclose(watched.params, plain.params, rtol=1e-12)
    np.testing.assert_allclose(watched.losses, plain.losses, rtol=1e-12)
    assert int(watched.best_step) == every * int(np.argmin(expected))
    assert not watched.stopped_early


@pytest.mark.slow
def test_validation_every_defaults_to_one_epoch():
    X, y = regression(n_samples=40)
    data = {"validation_data": (X[:10], y[:10])}
    full = jaxgd.fit(
        linear.mse, _params(), X, y, learning_rate=0.1, num_steps=12, **data
    )
    assert full.validation_losses.shape == (12,)
    mini = jaxgd.fit(
        linear.mse,
        _params(),
        X,
        y,
        learning_rate=0.1,
        num_steps=12,
        batch_size=8,
        key=jax.random.key(0),
        **data,
    )
    assert mini.validation_losses.shape == (3,)  # 40 // 8 = 5 updates an epoch


def _overfitting(dtype=jnp.float64):
    """Few samples, many features: the validation loss falls, then rises."""
    X, w, e, X_val = normal(3, (12, 10), (10, 1), (12, 1), (50, 10), dtype=dtype)
    y = X @ w + e
    return X, y, X_val, X_val @ w


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", [None, optax.adam(0.05)], ids=["plain", "adam"])
def test_patience_stops_and_restore_best_returns_the_params_of_best_step(
    x64, optimizer
):
    X, y, X_val, y_val = _overfitting()
    rule = {"learning_rate": 0.02} if optimizer is None else {"optimizer": optimizer}
    params = linear.init(jax.random.key(0), 10, 1, jnp.float64)
    every, patience = 5, 4
    result = jaxgd.fit(
        linear.mse,
        params,
        X,
        y,
        num_steps=5_000,
        validation_data=(X_val, y_val),
        validation_every=every,
        patience=patience,
        restore_best=True,
        **rule,
    )
    values = np.asarray(result.validation_losses)
    evaluated = np.flatnonzero(np.isfinite(values))
    last = evaluated[-1]
    assert result.stopped_early and not (result.converged or result.diverged)
    assert (evaluated == np.arange(last + 1)).all()  # NaN after the stop
    best = int(np.argmin(values[: last + 1]))
    # The stop came `patience` evaluations after the lowest one, before the
    # update at the last of them.
    assert last - best == patience
    assert int(result.steps_taken) == every * last
    assert np.isnan(result.losses[every * last :]).all()
    assert np.isfinite(result.losses[: every * last]).all()
    assert int(result.best_step) == every * best
    fixed = jaxgd.fit(linear.mse, params, X, y, num_steps=every * best, **rule)
    assert_tree_allclose(result.params, fixed.params, rtol=1e-12)
    assert_tree_allclose(result.opt_state, fixed.opt_state, rtol=1e-12)
    np.testing.assert_allclose(result.final_loss, fixed.final_loss, rtol=1e-12)
    # Without restore_best the run returns where it stopped.
    last_params = jaxgd.fit(
        linear.mse,
        params,
        X,
        y,
        num_steps=5_000,
        validation_data=(X_val, y_val),
        validation_every=every,
        patience=patience,
        **rule,
    ).params
    stopped = jaxgd.fit(linear.mse, params, X, y, num_steps=every * last, **rule)
    assert_tree_allclose(last_params, stopped.params, rtol=1e-12)


@pytest.mark.slow
def test_early_stopping_per_lane_of_a_sweep_equals_single_fits(x64):
    X, y, X_val, y_val = _overfitting()
    params = linear.init(jax.random.key(0), 10, 1, jnp.float64)
    rates = jnp.array([0.002, 0.01, 0.03])
    watch = dict(
        validation_data=(X_val, y_val),
        validation_every=10,
        patience=3,
        restore_best=True,
        num_steps=3_000,
    )
    result = jaxgd.sweep(linear.mse, params, X, y, learning_rates=rates, **watch)
    assert len(set(np.asarray(result.steps_taken).tolist())) > 1
    for k, rate in enumerate(rates):
        single = jaxgd.fit(linear.mse, params, X, y, learning_rate=rate, **watch)
        lane = _lane(result, k)
        assert_tree_allclose(lane.params, single.params, rtol=1e-10)
        np.testing.assert_allclose(
            lane.validation_losses, single.validation_losses, rtol=1e-10
        )
        for name in ("steps_taken", "best_step", "stopped_early"):
            assert int(getattr(lane, name)) == int(getattr(single, name)), name
    index, lane = jaxgd.best(result, by="validation")
    lowest = np.nanmin(np.asarray(result.validation_losses), axis=1)
    assert index == int(np.argmin(lowest))
    np.testing.assert_allclose(
        linear.mse(lane.params, X_val, y_val), lowest[index], rtol=1e-12
    )


@pytest.mark.slow
def test_multistart_watches_each_start():
    X, y, X_val, y_val = _overfitting(jnp.float32)
    starts = jax.vmap(lambda k: linear.init(k, 10, 1))(
        jax.random.split(jax.random.key(8), 3)
    )
    watch = dict(
        learning_rate=0.01,
        num_steps=2_000,
        validation_data=(X_val, y_val),
        validation_every=20,
        patience=2,
    )
    result = jaxgd.multistart(linear.mse, starts, X, y, **watch)
    for k in range(3):
        single = jaxgd.fit(linear.mse, _lane(starts, k), X, y, **watch)
        np.testing.assert_allclose(
            result.validation_losses[k], single.validation_losses, rtol=1e-5
        )
        assert int(result.steps_taken[k]) == int(single.steps_taken)


@pytest.mark.slow
def test_a_hypergradient_through_validation_and_early_stopping(x64):
    """d(final validation loss)/d(rate) with a validation set: finite differences."""
    X, y, X_val, y_val = _overfitting()
    params = linear.init(jax.random.key(0), 10, 1, jnp.float64)

    def validation_loss(rate):
        result = jaxgd.fit(
            linear.mse,
            params,
            X,
            y,
            learning_rate=rate,
            num_steps=300,
            validation_data=(X_val, y_val),
            validation_every=7,
            tol=1e-12,
        )
        return linear.mse(result.params, X_val, y_val)

    rate, h = 0.01, 1e-6
    exact = jax.grad(validation_loss)(rate)
    numeric = (validation_loss(rate + h) - validation_loss(rate - h)) / (2 * h)
    np.testing.assert_allclose(exact, numeric, rtol=1e-6)


# --- callbacks and the progress bar --------------------------------------------


@pytest.mark.slow
def test_callback_sees_every_evaluation_until_the_stop():
    X, y, X_val, y_val = _overfitting(jnp.float32)
    seen = []
    result = jaxgd.fit(
        linear.mse,
        linear.init(jax.random.key(0), 10, 1),
        X,
        y,
        learning_rate=0.02,
        num_steps=5_000,
        validation_data=(X_val, y_val),
        validation_every=25,
        patience=3,
        callback=seen.append,
    )
    jax.effects_barrier()
    stop = int(result.steps_taken)
    assert result.stopped_early
    assert [info.step for info in seen] == list(range(0, stop + 1, 25))
    for info in seen:
        assert info.lane is None and info.num_steps == 5_000
        np.testing.assert_allclose(
            info.validation_loss, result.validation_losses[info.step // 25], rtol=1e-6
        )
        if info.step < stop:
            np.testing.assert_allclose(info.loss, result.losses[info.step], rtol=1e-6)
            np.testing.assert_allclose(
                info.grad_norm, result.grad_norms[info.step], rtol=1e-6
            )
    # Patience stops before the update at the last evaluation: no loss there.
    assert math.isnan(seen[-1].loss)


@pytest.mark.slow
def test_callback_under_a_sweep_names_each_lane():
    X, y = regression(n_samples=32)
    seen = []
    result = jaxgd.sweep(
        linear.mse,
        _params(),
        X,
        y,
        learning_rates=jnp.array([0.05, 0.4, 50.0]),
        num_steps=400,
        tol=1e-3,
        validation_data=(X, y),
        validation_every=40,
        callback=seen.append,
    )
    jax.effects_barrier()
    for k in range(3):
        mine = [info for info in seen if info.lane == k]
        taken = int(result.steps_taken[k])
        # An evaluation happens while the lane runs: at step 0 and every 40
        # updates up to the one at which it stopped.
        assert [info.step for info in mine] == list(range(0, taken + 1, 40))
        for info in mine:
            np.testing.assert_allclose(
                info.loss, result.losses[k, info.step], rtol=1e-6, equal_nan=True
            )
    assert {info.lane for info in seen} == {0, 1, 2}


def test_without_validation_the_callback_still_reports_the_run():
    X, y = regression()
    seen = []
    result = jaxgd.fit(
        linear.mse,
        _params(),
        X,
        y,
        learning_rate=0.1,
        num_steps=5_000,
        callback=seen.append,
    )
    jax.effects_barrier()
    steps = [info.step for info in seen]
    assert steps[0] == 0 and steps == sorted(steps) and 20 <= len(steps) <= 5_000
    for info in seen:
        assert math.isnan(info.validation_loss)
        np.testing.assert_allclose(info.loss, result.losses[info.step], rtol=1e-6)


def test_the_progress_bar_stops_where_the_run_stops(capfd):
    X, y = regression()
    result = jaxgd.fit(
        linear.mse,
        _params(),
        X,
        y,
        learning_rate=0.2,
        num_steps=20_000,
        tol=1e-3,
        progress=True,
    )
    jax.effects_barrier()
    err = capfd.readouterr().err
    taken = int(result.steps_taken)
    assert result.converged and taken < 1_000
    last = err.replace("\r", "\n").strip().splitlines()[-1]
    assert f"{taken}/20000" in last and "converged" in last
    assert "nan" not in err


# --- reverse mode in bounded memory --------------------------------------------

_HYPERGRADIENT = textwrap.dedent(
    """
    import jax, jax.numpy as jnp
    import jaxgd
    from jaxgd import linear

    jax.config.update("jax_enable_x64", True)
    keys = jax.random.split(jax.random.key(0), 4)
    # A 256 x 64 layer: its params take 128 KB, 5.2 GB over 40,000 steps.
    X = jax.random.normal(keys[0], (4, 256))
    w = jax.random.normal(keys[1], (256, 64)) / 16
    y = X @ w + jax.random.normal(keys[2], (4, 64))
    X_val = jax.random.normal(keys[3], (8, 256))
    y_val = X_val @ w
    params = linear.init(jax.random.key(1), 256, 64, jnp.float64)

    def validation_loss(rate):
        trained = jaxgd.fit(
            linear.mse, params, X, y, learning_rate=rate, num_steps=40_000
        ).params
        return linear.mse(trained, X_val, y_val)

    def peak_mb():
        # The high-water mark of this process image (ru_maxrss would include
        # the parent's, inherited through fork and exec).
        with open("/proc/self/status") as status:
            line = next(line for line in status if line.startswith("VmHWM:"))
        return int(line.split()[1]) / 1024

    rate, h = 2e-5, 1e-9
    exact = jax.grad(validation_loss)(rate).block_until_ready()
    peak = peak_mb()
    numeric = (validation_loss(rate + h) - validation_loss(rate - h)) / (2 * h)
    print(float(exact), float(numeric), peak)
    """
)


@pytest.mark.slow
@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads /proc/self/status"
)
def test_a_hypergradient_through_40_000_steps_fits_in_bounded_memory():
    """Every step's params would take 5.2 GB; a chunk at a time, a few hundred MB.

    The process runs under an address-space limit of 3 GB, under which reverse
    mode that kept every step fails to allocate its 5.2 GB.
    """
    limit = 3 * 2**30
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import resource; "
            f"resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit})); "
            f"exec({_HYPERGRADIENT!r})",
        ],
        cwd=ROOT,
        env={**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": xla_flags()},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    exact, numeric, peak_mb = map(float, done.stdout.split())
    assert abs(exact) > 1.0
    np.testing.assert_allclose(exact, numeric, rtol=1e-6)
    assert peak_mb < 1_000, peak_mb


# --- bad input -------------------------------------------------------------------


def _fit(**kwargs):
    X, y = regression(n_samples=16)
    kwargs.setdefault("learning_rate", 0.1)
    return jaxgd.fit(linear.mse, _params(), X, y, **kwargs)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (
            {"patience": 3},
            ValueError,
            r"patience needs validation_data to watch; got patience=3 without "
            r"validation_data\. Pass validation_data=\(X_val, y_val\), or drop it\.",
        ),
        ({"restore_best": True}, ValueError, r"restore_best needs validation_data"),
        (
            {"validation_every": 5},
            ValueError,
            r"validation_every needs validation_data",
        ),
        (
            {
                "validation_data": (jnp.ones((4, 3)), jnp.ones((4, 1))),
                "validation_every": 0,
            },
            ValueError,
            r"validation_every must be >= 1; got 0\.",
        ),
        (
            {
                "validation_data": (jnp.ones((4, 3)), jnp.ones((4, 1))),
                "validation_every": 11,
                "num_steps": 10,
            },
            ValueError,
            r"validation_every must be at most num_steps \(10\); got 11\.",
        ),
        (
            {"validation_data": (jnp.ones((4, 3)),)},
            ValueError,
            r"validation_data must hold as many arrays as data \(2\), since "
            r"loss\(params, \*validation_data\) takes their place; got 1\.",
        ),
        (
            {"validation_data": jnp.ones((4, 3))},
            TypeError,
            r"validation_data must be a tuple of arrays passed to loss in place of "
            r"data, e\.g\. \(X_val, y_val\); got array of shape \(4, 3\)",
        ),
        (
            {"validation_data": (jnp.ones((4, 5)), jnp.ones((4, 1)))},
            ValueError,
            r"X has 5 features but W expects 3",
        ),
        (
            {"validation_data": (jnp.ones((4, 3)), jnp.ones((4, 1)), jnp.ones(4))},
            ValueError,
            r"validation_data must hold as many arrays as data \(2\)",
        ),
        (
            {"validation_data": (jnp.ones((4, 3)), jnp.ones((4, 1))), "patience": 0},
            ValueError,
            r"patience must be >= 1; got 0\.",
        ),
        (
            {"validation_data": (jnp.ones((4, 3)), jnp.ones((4, 1))), "patience": 2.5},
            TypeError,
            r"patience must be an int; got float 2\.5\.",
        ),
        ({"restore_best": 1}, TypeError, r"restore_best must be a bool; got 1\."),
        (
            {"callback": "print"},
            TypeError,
            r"callback must be a function callback\(info\) called at every "
            r"evaluation; got str 'print'\.",
        ),
    ],
)
def test_bad_validation_arguments_are_named(kwargs, error, message):
    with pytest.raises(error, match=message):
        _fit(**kwargs)


def test_bad_validation_arguments_are_named_under_jit_and_vmap():
    with pytest.raises(ValueError, match=r"patience needs validation_data"):
        jax.jit(lambda r: _fit(learning_rate=r, patience=2).final_loss)(0.1)
    with pytest.raises(ValueError, match=r"validation_data must hold as many"):
        jax.vmap(lambda r: _fit(validation_data=(jnp.ones((4, 3)),)).final_loss)(
            jnp.ones(2)
        )


def test_best_by_validation_needs_a_validation_set():
    result = jaxgd.sweep(
        lambda x: x**2, jnp.array(1.0), learning_rates=jnp.array([0.1]), num_steps=3
    )
    with pytest.raises(ValueError, match=r"needs the validation losses of a run"):
        jaxgd.best(result, by="validation")
    with pytest.raises(ValueError, match=r"by must be 'loss' or 'validation'"):
        jaxgd.best(result, by="final")
    with pytest.raises(TypeError, match=r"result must be the FitResult of a sweep"):
        jaxgd.best(None)
