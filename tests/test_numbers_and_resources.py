"""Numbers in the precision asked for, optimizers that want more than the
gradient, and runs whose records are bounded."""

import os
import re
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import assert_tree_allclose, regression

import jaxgd
from jaxgd import linear


def _bowl(x):
    return (x - 2.0) ** 2 + 1.0


# --- the precision asked for ----------------------------------------------------


def test_weakly_typed_params_follow_x64(x64):
    """With x64 on, jnp.array(-3.0) and -3.0 mean float64, and are run in it."""
    exact = 1.0 + 25.0 * 0.8**20  # x - 2 shrinks by 0.8 a step from -5
    for start in (jnp.array(-3.0), -3.0):
        result = jaxgd.fit(_bowl, start, learning_rate=0.1, num_steps=10)
        assert result.params.dtype == jnp.float64
        assert result.losses.dtype == jnp.float64
        assert float(result.final_loss) == pytest.approx(exact, rel=1e-15)


def test_weakly_typed_params_stay_float32_without_x64():
    result = jaxgd.fit(_bowl, jnp.array(-3.0), learning_rate=0.1, num_steps=10)
    assert result.params.dtype == jnp.float32
    np.testing.assert_allclose(result.final_loss, 1.0 + 25.0 * 0.8**20, rtol=1e-6)


def test_a_finite_gradient_whose_square_overflows_is_no_divergence():
    """|g| = 2 sqrt(2) 1e19 fits float32; its square, 8e38, does not: the norm
    reads inf, and the run goes on with finite params."""
    start = jnp.array([1e19, 1e19], jnp.float32)

    def loss(x):
        return jnp.sum(x**2)

    result = jaxgd.fit(loss, start, learning_rate=1e-3, num_steps=3)
    assert not result.diverged and int(result.steps_taken) == 3
    np.testing.assert_allclose(result.params, start * 0.998**3, rtol=1e-6)
    assert np.isinf(result.grad_norms).all()
    step = jaxgd.make_step(loss, learning_rate=1e-3)
    state, _ = jax.jit(step.update)(step.init(start))
    assert not state.diverged and int(state.steps_taken) == 1
    lanes = jaxgd.sweep(
        loss, start, learning_rates=jnp.array([1e-3, 2e-3]), num_steps=3
    )
    assert not lanes.diverged.any()
    # A gradient with a NaN (a finite loss) is still divergence, at once.
    cusp = jaxgd.fit(
        lambda x: jnp.sum(jnp.sqrt(jnp.abs(x))),
        jnp.array([0.0, 1.0]),
        learning_rate=0.1,
        num_steps=3,
    )
    assert cusp.diverged and int(cusp.steps_taken) == 0
    assert np.isfinite(cusp.losses[0]) and not np.isfinite(cusp.grad_norms[0])


@pytest.mark.parametrize("rate, becomes", [(1e-300, "0"), (1e39, "inf")])
def test_a_rate_the_params_dtype_cannot_hold_is_refused(rate, becomes):
    message = (
        rf"learning_rate = {re.escape(f'{rate:g}')} cannot be represented in "
        rf"float32, the dtype of the params it updates: it becomes {becomes}\."
    )
    with pytest.raises(ValueError, match=message):
        jaxgd.fit(_bowl, jnp.array(0.0), learning_rate=rate, num_steps=2)
    # The lane is named.
    with pytest.raises(
        ValueError, match=message.replace("learning_rate", r"learning_rates\[1\]")
    ):
        jaxgd.sweep(_bowl, jnp.array(0.0), learning_rates=[0.1, rate], num_steps=2)


def test_a_tiny_rate_is_fine_in_float64(x64):
    result = jaxgd.fit(_bowl, jnp.array(0.0), learning_rate=1e-300, num_steps=2)
    assert float(result.step_sizes[0]) == 1e-300


def test_the_line_search_accepts_the_exact_step_in_float64(x64):
    """At x = (1, 1) of |x|^2 / 2 the step 1 lands on the minimum, where the
    Armijo test holds with equality: |g|^2 = 2 exactly, while sqrt(2)^2 > 2."""
    result = jaxgd.fit(
        lambda x: 0.5 * jnp.sum(x**2),
        jnp.array([1.0, 1.0]),
        learning_rate=jaxgd.backtracking(initial=1.0, c=0.5),
        num_steps=1,
    )
    assert float(result.step_sizes[0]) == 1.0
    np.testing.assert_array_equal(result.params, [0.0, 0.0])


def test_a_loss_returning_a_python_float():
    result = jaxgd.fit(
        lambda p: 0.0, {"w": jnp.ones(2)}, learning_rate=0.1, num_steps=3
    )
    assert float(result.final_loss) == 0.0 and int(result.steps_taken) == 3


# --- optimizers that want more than the gradient --------------------------------


def _reference(loss, params, data, optimizer, num_steps, **extra):
    """A loop of `optimizer.update` with the extra arguments it needs."""
    state = optimizer.init(params)
    for _ in range(num_steps):
        value, grads = jax.value_and_grad(loss)(params, *data)
        kwargs = {name: make(params, value, grads) for name, make in extra.items()}
        updates, state = optimizer.update(grads, state, params, **kwargs)
        params = optax.apply_updates(params, updates)
    return params


@pytest.mark.slow
@pytest.mark.parametrize(
    "make_optimizer, extra",
    [
        (lambda: optax.contrib.sam(optax.sgd(0.1), optax.sgd(0.05)), {}),
        (
            lambda: optax.contrib.sam(
                optax.sgd(0.1), optax.sgd(0.05), opaque_mode=True
            ),
            {"grad_fn": "grad_fn"},
        ),
        (lambda: optax.contrib.sophia(0.01), {"obj_fn": "obj_fn"}),
        (
            lambda: optax.chain(
                optax.sgd(1.0), optax.scale_by_backtracking_linesearch(15)
            ),
            {"value": "value", "grad": "grad", "value_fn": "value_fn"},
        ),
    ],
    ids=["sam", "sam-opaque", "sophia", "backtracking"],
)
def test_optimizers_that_want_more_than_the_gradient(x64, make_optimizer, extra):
    X, y = regression(n_samples=20, dtype=jnp.float64)
    params = linear.init(jax.random.key(0), 3, 1, jnp.float64)
    result = jaxgd.fit(
        linear.mse, params, X, y, optimizer=make_optimizer(), num_steps=10
    )

    def objective(p):
        return linear.mse(p, X, y)

    makers = {
        "value": lambda p, value, grads: value,
        "grad": lambda p, value, grads: grads,
        "value_fn": lambda p, value, grads: objective,
        "obj_fn": lambda p, value, grads: objective,
        "grad_fn": lambda p, value, grads: lambda q, _: jax.grad(objective)(q),
    }
    reference = _reference(
        linear.mse,
        params,
        (X, y),
        make_optimizer(),
        10,
        **{name: makers[name] for name in extra},
    )
    assert_tree_allclose(result.params, reference, rtol=1e-10, atol=1e-12)


# --- bounded records --------------------------------------------------------------


@pytest.mark.slow
def test_history_every_keeps_every_kth_record():
    X, y = regression()

    def loss(params, X, y):
        value = linear.mse(params, X, y)
        return value, {"half": value / 2}

    kwargs = dict(
        learning_rate=optax.exponential_decay(0.1, 50, 0.5),
        num_steps=250,
        has_aux=True,
        record_params=True,
    )
    full = jaxgd.fit(loss, linear.init(jax.random.key(1), 3, 1), X, y, **kwargs)
    thin = jaxgd.fit(
        loss, linear.init(jax.random.key(1), 3, 1), X, y, history_every=30, **kwargs
    )
    assert thin.losses.shape == (9,)  # steps 0, 30, ..., 240
    for name in ("losses", "grad_norms", "step_sizes"):
        np.testing.assert_allclose(
            getattr(thin, name), getattr(full, name)[::30], rtol=1e-6
        )
    np.testing.assert_allclose(thin.aux["half"], full.aux["half"][::30], rtol=1e-6)
    assert thin.trajectory["W"].shape == (9, 3, 1)  # after 0, 30, ..., 240 updates
    assert_tree_allclose(
        thin.trajectory, jax.tree.map(lambda t: t[::30], full.trajectory), rtol=1e-6
    )
    assert_tree_allclose(thin.params, full.params, rtol=1e-6)
    lanes = jaxgd.sweep(
        linear.mse,
        linear.init(jax.random.key(1), 3, 1),
        X,
        y,
        learning_rates=jnp.array([0.05, 0.1]),
        num_steps=100,
        history_every=7,
        tol=1e-3,
    )
    assert lanes.losses.shape == (2, 15)
    for k, rate in enumerate([0.05, 0.1]):
        single = jaxgd.fit(
            linear.mse,
            linear.init(jax.random.key(1), 3, 1),
            X,
            y,
            learning_rate=rate,
            num_steps=100,
            tol=1e-3,
        )
        np.testing.assert_allclose(lanes.losses[k], single.losses[::7], rtol=1e-5)


def test_a_long_budget_keeps_a_short_history():
    result = jaxgd.fit(
        lambda x: jnp.sum((x - 1.0) ** 2),
        jnp.zeros(2),
        learning_rate=0.1,
        num_steps=10_000_000,
        history_every=100_000,
        tol=1e-3,
    )
    assert result.converged and result.losses.shape == (100,)
    assert result.losses.nbytes == 400


def test_a_run_too_big_for_memory_is_refused():
    with pytest.raises(
        ValueError,
        match=r"the histories of this run need [\d.]+ [GT]B \(2,000,000,000 kept "
        r"steps of 64 lanes\), more than the [\d.]+ [KMGT]?B of memory available: "
        r"pass history_every=[\d,]+ to keep every [\d,]+th step, or run fewer "
        r"num_steps\.",
    ):
        jaxgd.sweep(
            _bowl,
            jnp.array(0.0),
            learning_rates=jnp.ones(64) * 0.1,
            num_steps=2_000_000_000,
        )


@pytest.mark.parametrize(
    "call, error, message",
    [
        (
            lambda: jaxgd.fit(_bowl, 0.0, learning_rate=0.1, num_steps=2**31),
            ValueError,
            r"num_steps must be at most 2,147,483,647; got 2,147,483,648\.",
        ),
        (
            lambda: jaxgd.fit(_bowl, 0.0, learning_rate=0.1, history_every=0),
            ValueError,
            r"history_every must be >= 1; got 0\.",
        ),
        (
            lambda: jaxgd.multistart(_bowl, jnp.zeros(0), learning_rate=0.1),
            ValueError,
            r"params_batch has no lanes: its leaves have a leading axis of length 0",
        ),
        (
            lambda: jaxgd.make_step(None, learning_rate=0.1),
            TypeError,
            r"loss must be a function loss\(params, \*data\); got NoneType None\.",
        ),
    ],
)
def test_bad_counts_and_calls_are_named(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.slow
def test_a_budget_of_many_chunks_skips_them_in_groups_after_the_stop():
    X, y = regression()
    kwargs = dict(learning_rate=0.05, tol=1e-3, record_params=True)
    long = jaxgd.fit(
        linear.mse,
        linear.init(jax.random.key(1), 3, 1),
        X,
        y,
        num_steps=400_000,
        history_every=100,
        **kwargs,
    )
    taken = int(long.steps_taken)
    assert long.converged and taken < 1_000
    exact = jaxgd.fit(
        linear.mse,
        linear.init(jax.random.key(1), 3, 1),
        X,
        y,
        num_steps=taken + 1,
        **kwargs,
    )
    assert_tree_allclose(long.params, exact.params, rtol=1e-6)
    np.testing.assert_allclose(
        long.losses[: taken // 100 + 1], exact.losses[::100], rtol=1e-6
    )
    assert np.isnan(long.losses[taken // 100 + 1 :]).all()
    # The params after every later update are those the run stopped with.
    assert long.trajectory["W"].shape == (4_001, 3, 1)
    assert_tree_allclose(
        jax.tree.map(lambda t: t[-1], long.trajectory), long.params, rtol=0
    )


_INTERRUPTED = """
import signal, sys, time
import jax.numpy as jnp
import jaxgd

signal.signal(signal.SIGINT, signal.default_int_handler)
try:
    jaxgd.fit(lambda x: jnp.sum((x - 1.0) ** 2), jnp.zeros(3), learning_rate=1e-9,
              num_steps=2_000_000_000, history_every=1_000_000, progress=True)
    print("finished")
except KeyboardInterrupt as error:
    print(error)
"""


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sends SIGINT")
def test_ctrl_c_stops_a_long_compiled_run_at_once():
    process = subprocess.Popen(
        [sys.executable, "-c", _INTERRUPTED],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen = ""
    while "/2000000000" not in seen:  # the progress bar: the loop is running
        char = process.stderr.read(1)
        assert char, seen
        seen += char
    time.sleep(0.5)
    sent = time.monotonic()
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=60)
    assert time.monotonic() - sent < 10
    assert re.fullmatch(
        r"interrupted: the run stopped at step [\d,]+ of 2,000,000,000\n", out
    ), out


_INTERRUPTED_QUIETLY = """
import sys
import jax.numpy as jnp
import jaxgd

def running(info):
    if info.step == 0 and info.lane in (None, 0):
        print("running", flush=True)

loss = lambda x: jnp.sum((x - 1.0) ** 2)
try:
    if sys.argv[1] == "fit":
        jaxgd.fit(loss, jnp.zeros(3), learning_rate=1e-9, num_steps=50_000_000,
                  history_every=1_000, callback=running)
    else:
        jaxgd.sweep(loss, jnp.zeros(3), learning_rates=jnp.array([1e-9, 2e-9]),
                    num_steps=50_000_000, history_every=1_000, callback=running)
    print("finished")
except KeyboardInterrupt as error:
    print(error)
"""


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sends SIGINT")
@pytest.mark.parametrize("entry", ["fit", "sweep"])
def test_ctrl_c_is_heard_while_the_compiled_call_holds_the_main_thread(entry):
    """No progress bar: the run itself must hear the signal, not its end.

    XLA:CPU runs a program it deems cheap on the calling thread, so the
    compiled call keeps the main thread, where Python runs its signal
    handlers, until it returns: a run that heard Ctrl-C only then would take
    its 50,000,000 steps (minutes here). The child compiles under XLA's
    default flags, under which this loop is such a program.
    """
    process = subprocess.Popen(
        [sys.executable, "-c", _INTERRUPTED_QUIETLY, entry],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "XLA_FLAGS": ""},
    )
    assert process.stdout.readline() == "running\n"
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=120)
    match = re.fullmatch(
        r"interrupted: the run stopped at step ([\d,]+) of 50,000,000\n", out
    )
    assert match, out
    assert int(match.group(1).replace(",", "")) < 50_000_000


def _sum_of_squares(x):
    return jnp.sum(x**2)


_X = jnp.ones(2)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (
            lambda: jaxgd.fit(
                _sum_of_squares,
                _X,
                num_steps=3,
                learning_rate=lambda count: jnp.ones(2),
            ),
            ValueError,
            r"learning_rate, a schedule, must return one real rate for a step "
            r"count; it returned array of shape \(2,\)",
        ),
        (
            lambda: jaxgd.fit(_sum_of_squares, _X, learning_rate=0.1, tol=1e-3 + 1j),
            TypeError,
            r"tol must be a non-negative real scalar; got complex",
        ),
        (
            lambda: jaxgd.fit(_sum_of_squares, _X, learning_rate=0.1, tol="1e-3"),
            TypeError,
            r"tol must be a non-negative real scalar; got str '1e-3'",
        ),
        (
            lambda: jaxgd.fit(
                lambda p, X: jnp.sum((X @ p) ** 2),
                _X,
                jnp.ones((4, 2)),
                learning_rate=0.1,
                batch_size=2,
                key=1234,
            ),
            TypeError,
            r"key must be one jax.random key, e.g. key=jax.random.key\(0\); got int",
        ),
        (
            lambda: jaxgd.fit(
                _sum_of_squares,
                _X,
                optimizer=optax.adam(0.1),
                opt_state=jax.tree.map(
                    lambda a: a.astype(jnp.int32) if a.dtype == jnp.float32 else a,
                    optax.adam(0.1).init(_X),
                ),
            ),
            TypeError,
            r"opt_state does not match the optimizer's state for these params: a "
            r"leaf of shape \(2,\) has dtype int32, expected float32",
        ),
        (
            lambda: jaxgd.sweep(_sum_of_squares, _X, learning_rates=["a", "b"]),
            TypeError,
            r"learning_rates must be real numbers; got str 'a' among them",
        ),
        (
            lambda: jaxgd.sweep(_sum_of_squares, _X, learning_rates=[True, False]),
            TypeError,
            r"learning_rates must be real numbers; got bool True among them",
        ),
        (
            lambda: jaxgd.fit(
                _sum_of_squares,
                _X,
                optimizer=optax.adam,
                learning_rate=0.1,
                hyperparams={"b1": jnp.array([1, 2])},
            ),
            TypeError,
            r"hyperparams\['b1'\] is an array of int32: only floats are traced",
        ),
    ],
)
def test_arguments_of_the_wrong_kind_are_named(call, error, message):
    with pytest.raises(error, match=message):
        call()
