"""`fit` against the mathematics: reference loops, closed forms, hand steps."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import assert_tree_allclose, optax_loop, regression

import jaxgd
from jaxgd import linear


def _params(n_features=3, n_outputs=1, dtype=jnp.float32):
    return linear.init(jax.random.key(1), n_features, n_outputs, dtype)


# --- equality with optax reference loops -------------------------------------


@pytest.mark.parametrize(
    "make_optimizer",
    [
        pytest.param(lambda: optax.sgd(0.1), id="sgd"),
        pytest.param(lambda: optax.sgd(0.05, momentum=0.9), id="momentum"),
        pytest.param(lambda: optax.adam(0.01), id="adam"),
    ],
)
def test_optimizer_equals_optax_loop_float32(make_optimizer):
    X, y = regression()
    params = _params()
    result = jaxgd.fit(
        linear.mse, params, X, y, optimizer=make_optimizer(), num_steps=50
    )
    ref_params, ref_losses, _ = optax_loop(
        linear.mse, params, (X, y), make_optimizer(), 50
    )
    assert_tree_allclose(result.params, ref_params, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(result.losses, ref_losses, rtol=1e-6)
    assert int(result.steps_taken) == 50
    assert not bool(result.converged) and not bool(result.diverged)


@pytest.mark.parametrize(
    "make_optimizer",
    [
        pytest.param(lambda: optax.sgd(0.1), id="sgd"),
        pytest.param(lambda: optax.adam(0.01), id="adam"),
    ],
)
def test_optimizer_equals_optax_loop_float64(x64, make_optimizer):
    X, y = regression(dtype=jnp.float64)
    params = _params(dtype=jnp.float64)
    result = jaxgd.fit(
        linear.mse, params, X, y, optimizer=make_optimizer(), num_steps=50
    )
    ref_params, ref_losses, _ = optax_loop(
        linear.mse, params, (X, y), make_optimizer(), 50
    )
    assert_tree_allclose(result.params, ref_params, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(result.losses, ref_losses, rtol=1e-12)


def test_learning_rate_equals_optax_sgd_loop_float32():
    X, y = regression()
    params = _params()
    result = jaxgd.fit(linear.mse, params, X, y, learning_rate=0.1, num_steps=50)
    ref_params, ref_losses, _ = optax_loop(
        linear.mse, params, (X, y), optax.sgd(0.1), 50
    )
    assert_tree_allclose(result.params, ref_params, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(result.losses, ref_losses, rtol=1e-6)


def test_learning_rate_equals_optax_sgd_loop_float64(x64):
    """A Python float rate keeps full float64 precision (not rounded to float32)."""
    X, y = regression(dtype=jnp.float64)
    params = _params(dtype=jnp.float64)
    result = jaxgd.fit(linear.mse, params, X, y, learning_rate=0.1, num_steps=50)
    ref_params, ref_losses, _ = optax_loop(
        linear.mse, params, (X, y), optax.sgd(0.1), 50
    )
    assert_tree_allclose(result.params, ref_params, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(result.losses, ref_losses, rtol=1e-12)


def test_schedule_equals_optax_loop():
    schedule = optax.exponential_decay(0.2, transition_steps=10, decay_rate=0.5)
    X, y = regression()
    params = _params()
    result = jaxgd.fit(linear.mse, params, X, y, learning_rate=schedule, num_steps=40)
    ref_params, ref_losses, _ = optax_loop(
        linear.mse, params, (X, y), optax.sgd(schedule), 40
    )
    assert_tree_allclose(result.params, ref_params, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(result.losses, ref_losses, rtol=1e-6)
    assert int(result.opt_state.count) == 40


def test_one_step_is_theta_minus_eta_grad():
    X, y = regression()
    params = _params()
    result = jaxgd.fit(linear.sse, params, X, y, learning_rate=0.003, num_steps=1)
    grads = jax.grad(linear.sse)(params, X, y)
    expected = jax.tree.map(lambda p, g: p - 0.003 * g, params, grads)
    assert_tree_allclose(result.params, expected, rtol=1e-6)
    np.testing.assert_allclose(result.losses[0], linear.sse(params, X, y), rtol=1e-6)
    np.testing.assert_allclose(result.grad_norms[0], optax.tree.norm(grads), rtol=1e-6)
    np.testing.assert_allclose(result.final_loss, linear.sse(expected, X, y), rtol=1e-5)


@pytest.mark.slow
def test_lbfgs_receives_value_and_value_fn():
    """Optimizers that need the loss value (optax.lbfgs) get it, as in optax."""
    X, y = regression()
    params = _params()
    optimizer = optax.lbfgs()

    @jax.jit
    def ref_step(params, state):
        value, grads = jax.value_and_grad(linear.mse)(params, X, y)
        updates, state = optimizer.update(
            grads,
            state,
            params,
            value=value,
            grad=grads,
            value_fn=lambda p: linear.mse(p, X, y),
        )
        return optax.apply_updates(params, updates), state

    def ref_loop(params, num_steps):
        state = optimizer.init(params)
        for _ in range(num_steps):
            params, state = ref_step(params, state)
        return params

    result = jaxgd.fit(linear.mse, params, X, y, optimizer=optimizer, num_steps=8)
    assert_tree_allclose(result.params, ref_loop(params, 8), rtol=1e-5, atol=1e-6)


# --- the chapter's problems --------------------------------------------------


@pytest.mark.slow
def test_linear_least_squares_converges_to_closed_form(x64):
    X, y = regression(n_samples=50, n_features=3, n_outputs=2, dtype=jnp.float64)
    rate = 0.9 * linear.max_learning_rate(X, out_features=2)
    params = _params(3, 2, jnp.float64)
    result = jaxgd.fit(linear.mse, params, X, y, learning_rate=rate, num_steps=3000)
    assert_tree_allclose(result.params, linear.solve(X, y), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(
        result.final_loss, linear.mse(linear.solve(X, y), X, y), rtol=1e-10
    )


def test_one_dimensional_ball_rolls_to_the_minimiser():
    def curve(x):
        return (x - 2.0) ** 2 + 1.0

    for start in (-3.0, 6.0):
        result = jaxgd.fit(curve, jnp.array(start), learning_rate=0.1, num_steps=200)
        np.testing.assert_allclose(result.params, 2.0, atol=1e-5)
        np.testing.assert_allclose(result.final_loss, 1.0, atol=1e-6)
        # The first move is against the slope: right when the slope is negative.
        first = jaxgd.fit(curve, jnp.array(start), learning_rate=0.1, num_steps=1)
        assert np.sign(float(first.params) - start) == -np.sign(start - 2.0)


def _double_well(x):
    """Global minimum near x = -1.30 (f = -3.51), local near x = 1.13 (f = -0.38)."""
    return x**4 - 3.0 * x**2 + 1.5 * x


@pytest.mark.slow
def test_local_minimum_traps_a_ball_and_multistart_finds_the_global_one():
    local = jaxgd.fit(_double_well, jnp.array(2.0), learning_rate=0.01, num_steps=2000)
    np.testing.assert_allclose(jax.grad(_double_well)(local.params), 0.0, atol=1e-4)
    assert float(local.params) > 0  # stuck in the valley on its own side

    starts = jnp.linspace(-2.0, 2.0, 9)
    runs = jaxgd.multistart(_double_well, starts, learning_rate=0.01, num_steps=2000)
    index, winner = jaxgd.best(runs)
    dense = jnp.linspace(-2.0, 2.0, 400_001)
    global_x = dense[jnp.argmin(_double_well(dense))]
    # float32 cannot rank points this close to a flat minimum: check f and f'.
    np.testing.assert_allclose(winner.params, global_x, atol=1e-2)
    np.testing.assert_allclose(jax.grad(_double_well)(winner.params), 0.0, atol=1e-4)
    np.testing.assert_allclose(winner.final_loss, _double_well(dense).min(), atol=1e-5)
    assert float(winner.final_loss) < float(local.final_loss)
    assert float(starts[index]) < 0


def test_two_dimensional_gradient_is_the_analytic_one():
    def f(x):
        return x[0] ** 2 + 3.0 * x[1] ** 2 + x[0] * x[1]

    def analytic(x):
        return jnp.stack([2.0 * x[0] + x[1], 6.0 * x[1] + x[0]])

    rate = 0.1
    result = jaxgd.fit(
        f, jnp.array([2.0, -1.5]), learning_rate=rate, num_steps=30, record_params=True
    )
    path = result.trajectory
    grads = jax.vmap(analytic)(path[:-1])
    np.testing.assert_allclose(path[1:], path[:-1] - rate * grads, rtol=1e-6)
    np.testing.assert_allclose(
        result.grad_norms, jnp.linalg.norm(grads, axis=1), rtol=1e-6
    )


# --- transparency: history, stop conditions, divergence ----------------------


def test_tol_stops_the_run_and_later_steps_are_no_ops():
    result = jaxgd.fit(
        lambda x: jnp.sum(x**2),
        jnp.array([1.0, -2.0]),
        learning_rate=0.25,
        num_steps=100,
        tol=1e-3,
        record_params=True,
    )
    # Each step halves x, so the gradient norm 2|x| drops below 1e-3 at step 12.
    steps = int(result.steps_taken)
    norms = 2 * np.sqrt(5.0) * 0.5 ** np.arange(steps + 1)
    assert steps == int(np.argmax(norms <= 1e-3))
    assert bool(result.converged) and not bool(result.diverged)
    np.testing.assert_allclose(result.grad_norms[: steps + 1], norms, rtol=1e-5)
    assert np.isnan(result.losses[steps + 1 :]).all()
    assert np.isnan(result.grad_norms[steps + 1 :]).all()
    path = np.asarray(result.trajectory)
    assert (path[steps:] == path[-1]).all()
    np.testing.assert_array_equal(result.params, result.trajectory[steps])


@pytest.mark.slow
def test_divergence_freezes_the_last_finite_params():
    X, y = regression()
    params = _params()
    rate = 3.0 * linear.max_learning_rate(X)
    result = jaxgd.fit(
        linear.mse,
        params,
        X,
        y,
        learning_rate=rate,
        num_steps=500,
        record_params=True,
    )
    step = int(result.steps_taken)
    assert bool(result.diverged) and not bool(result.converged)
    assert 0 < step < 500
    assert np.isfinite(result.losses[:step]).all()
    assert not np.isfinite(result.losses[step])
    assert np.isnan(result.losses[step + 1 :]).all()
    assert all(np.isfinite(leaf).all() for leaf in jax.tree.leaves(result.params))
    assert_tree_allclose(
        result.params, jax.tree.map(lambda t: t[step], result.trajectory), rtol=0
    )
    with pytest.raises(
        jaxgd.DivergenceError,
        match=rf"fit diverged at step {step}: the loss is inf .*use a smaller "
        r"learning_rate — halve it, or cut it to 10%",
    ):
        result.raise_if_diverged()


def test_nan_in_the_data_diverges_at_step_zero():
    X, y = regression()
    X = X.at[3, 1].set(jnp.nan)
    params = _params()
    result = jaxgd.fit(linear.mse, params, X, y, learning_rate=0.1, num_steps=10)
    assert bool(result.diverged) and int(result.steps_taken) == 0
    assert_tree_allclose(result.params, params, rtol=0)
    with pytest.raises(
        jaxgd.DivergenceError,
        match=r"fit diverged at step 0: the loss is nan at the initial params, "
        r"before any update.*Check the data",
    ):
        result.raise_if_diverged()


def test_optimizer_divergence_message_suggests_its_learning_rate():
    result = jaxgd.fit(
        lambda x: jnp.exp(x),
        jnp.array(0.0),
        optimizer=optax.sgd(-1000.0),
        num_steps=10,
    )
    with pytest.raises(jaxgd.DivergenceError, match="lower the optimizer's"):
        result.raise_if_diverged()


def test_raise_if_diverged_returns_the_result_when_fine():
    result = jaxgd.fit(lambda x: x**2, jnp.array(1.0), learning_rate=0.1, num_steps=5)
    assert result.raise_if_diverged() is result


@pytest.mark.parametrize("num_steps", [7, 301])  # a short run and a longer one
def test_record_params_trajectory(num_steps):
    X, y = regression()
    params = _params()
    result = jaxgd.fit(
        linear.mse,
        params,
        X,
        y,
        learning_rate=0.1,
        num_steps=num_steps,
        record_params=True,
    )
    assert result.trajectory["W"].shape == (num_steps + 1, 3, 1)
    assert result.trajectory["b"].shape == (num_steps + 1, 1)
    assert_tree_allclose(jax.tree.map(lambda t: t[0], result.trajectory), params, 0)
    assert_tree_allclose(
        jax.tree.map(lambda t: t[-1], result.trajectory), result.params, 0
    )
    losses = jax.vmap(lambda p: linear.mse(p, X, y))(result.trajectory)
    np.testing.assert_allclose(result.losses, losses[:-1], rtol=1e-6)
    assert jaxgd.fit(linear.mse, params, X, y, learning_rate=0.1).trajectory is None


@pytest.mark.slow
@pytest.mark.parametrize(
    "make_optimizer",
    [
        pytest.param(lambda: None, id="plain"),
        pytest.param(lambda: optax.sgd(0.05, momentum=0.9), id="momentum"),
        pytest.param(lambda: optax.adam(0.02), id="adam"),
    ],
)
def test_resume_with_opt_state_equals_one_long_run(make_optimizer):
    X, y = regression()
    params = _params()
    kwargs = (
        {"learning_rate": optax.linear_schedule(0.2, 0.01, 30)}
        if make_optimizer() is None
        else {"optimizer": make_optimizer()}
    )
    whole = jaxgd.fit(linear.mse, params, X, y, num_steps=30, **kwargs)
    first = jaxgd.fit(linear.mse, params, X, y, num_steps=12, **kwargs)
    second = jaxgd.fit(
        linear.mse,
        first.params,
        X,
        y,
        num_steps=18,
        opt_state=first.opt_state,
        **kwargs,
    )
    assert_tree_allclose(second.params, whole.params, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(
        np.concatenate([first.losses, second.losses]), whole.losses, rtol=1e-6
    )


def test_progress_bar_reports_and_changes_nothing(capfd):
    X, y = regression()
    params = _params()
    quiet = jaxgd.fit(linear.mse, params, X, y, learning_rate=0.1, num_steps=250)
    loud = jaxgd.fit(
        linear.mse, params, X, y, learning_rate=0.1, num_steps=250, progress=True
    )
    jax.effects_barrier()
    err = capfd.readouterr().err
    assert "250/250" in err
    assert_tree_allclose(loud.params, quiet.params, rtol=0)
    np.testing.assert_array_equal(loud.losses, quiet.losses)


# --- mini-batches ------------------------------------------------------------


@pytest.mark.slow
def test_batch_size_equal_to_n_is_full_batch_gradient_descent():
    X, y = regression(n_samples=40)
    params = _params()
    full = jaxgd.fit(linear.mse, params, X, y, learning_rate=0.1, num_steps=30)
    batched = jaxgd.fit(
        linear.mse,
        params,
        X,
        y,
        learning_rate=0.1,
        num_steps=30,
        batch_size=40,
        key=jax.random.key(3),
    )
    assert_tree_allclose(batched.params, full.params, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(batched.losses, full.losses, rtol=1e-5)


def test_each_epoch_is_a_fresh_permutation_and_the_remainder_waits():
    """With loss = sum(rows @ p) and rate 1, each step subtracts the batch's one-hot
    indicator from p, so the trajectory shows exactly which rows every batch held."""
    n, batch_size = 10, 3  # 3 batches per epoch; 1 row left over each epoch
    rows = jnp.eye(n)

    def count_rows(p, rows):
        return jnp.sum(rows @ p)

    result = jaxgd.fit(
        count_rows,
        jnp.zeros(n),
        rows,
        learning_rate=1.0,
        num_steps=7,
        batch_size=batch_size,
        key=jax.random.key(0),
        record_params=True,
    )
    used = -np.diff(np.asarray(result.trajectory), axis=0)  # (7, n) indicators
    assert set(np.unique(used)) <= {0.0, 1.0}
    np.testing.assert_array_equal(used.sum(axis=1), batch_size)
    for epoch in (used[0:3], used[3:6]):
        assert epoch.sum(axis=0).max() == 1  # no row twice within an epoch
        assert epoch.sum() == 9  # one row waits for a later epoch
    assert not np.array_equal(used[0:3], used[3:6])  # a fresh permutation
    assert int(result.steps_taken) == 7


@pytest.mark.slow
def test_minibatch_sgd_converges_to_least_squares(x64):
    X, y = regression(n_samples=96, dtype=jnp.float64)
    params = _params(dtype=jnp.float64)
    schedule = optax.exponential_decay(0.1, 200, 0.5)
    result = jaxgd.fit(
        linear.mse,
        params,
        X,
        y,
        learning_rate=schedule,
        num_steps=3000,
        batch_size=16,
        key=jax.random.key(0),
    )
    assert_tree_allclose(result.params, linear.solve(X, y), rtol=1e-3, atol=1e-3)


# --- compilation, transformations --------------------------------------------


def test_new_learning_rates_data_and_params_never_recompile():
    traces = []

    def loss(params, X, y):
        traces.append(None)
        return linear.mse(params, X, y)

    X, y = regression()
    params = _params()
    jaxgd.fit(loss, params, X, y, learning_rate=0.1, num_steps=20)
    after_first = len(traces)
    for rate in [0.01, 0.02, jnp.float32(0.05), jnp.array(0.3), 1e-3] + [0.2] * 5:
        jaxgd.fit(loss, params, X, y, learning_rate=rate, num_steps=20)
    jaxgd.fit(loss, params, X + 1.0, y * 2.0, learning_rate=0.1, num_steps=20)
    jaxgd.fit(
        loss, _params(3, 1) | {"b": jnp.ones(1)}, X, y, learning_rate=0.1, num_steps=20
    )
    assert after_first > 0
    assert len(traces) == after_first


@pytest.mark.slow
def test_jit_equals_eager_and_vmap_equals_a_loop():
    X, y = regression()
    params = _params()

    def run(rate, params, X, y, key):
        return jaxgd.fit(
            linear.mse,
            params,
            X,
            y,
            learning_rate=rate,
            num_steps=20,
            batch_size=16,
            key=key,
        )

    key = jax.random.key(5)
    eager = run(0.1, params, X, y, key)
    jitted = jax.jit(run)(0.1, params, X, y, key)
    assert_tree_allclose(jitted.params, eager.params, rtol=1e-6)

    rates = jnp.array([0.05, 0.1, 0.2])
    starts = jax.tree.map(lambda p: jnp.stack([p, p + 0.5, p - 0.5]), params)
    Xs, ys = jnp.stack([X, 2 * X, X]), jnp.stack([y, y, -y])
    keys = jax.random.split(jax.random.key(2), 3)
    batched = jax.vmap(run)(rates, starts, Xs, ys, keys)
    for k in range(3):
        lane = run(rates[k], _lane(starts, k), Xs[k], ys[k], keys[k])
        assert_tree_allclose(_lane(batched.params, k), lane.params, rtol=1e-5)
        np.testing.assert_allclose(batched.losses[k], lane.losses, rtol=1e-5)


def _lane(tree, k):
    return jax.tree.map(lambda leaf: leaf[k], tree)


@pytest.mark.slow
def test_hypergradient_matches_finite_differences(x64):
    X, y = regression(dtype=jnp.float64)
    X_val, y_val = regression(n_samples=32, dtype=jnp.float64, seed=7)
    params = _params(dtype=jnp.float64)

    def validation_loss(rate):
        trained = jaxgd.fit(
            linear.mse, params, X, y, learning_rate=rate, num_steps=25
        ).params
        return linear.mse(trained, X_val, y_val)

    rate, h = 0.05, 1e-6
    exact = jax.grad(validation_loss)(rate)
    numeric = (validation_loss(rate + h) - validation_loss(rate - h)) / (2 * h)
    np.testing.assert_allclose(exact, numeric, rtol=1e-6)
    assert abs(float(exact)) > 1e-3


def test_hypergradient_is_finite_at_an_exact_minimum():
    result = jax.grad(
        lambda rate: (
            jaxgd.fit(
                lambda x: jnp.sum(x**2), jnp.zeros(2), learning_rate=rate, num_steps=3
            ).final_loss
        )
    )(0.1)
    assert float(result) == 0.0


# --- dtypes and pytrees -------------------------------------------------------


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16, jnp.float16])
def test_dtypes_are_preserved(dtype):
    X, y = regression()
    params = _params(dtype=dtype)
    result = jaxgd.fit(
        linear.mse,
        params,
        X.astype(dtype),
        y.astype(dtype),
        learning_rate=0.1,
        num_steps=30,
    )
    assert result.params["W"].dtype == dtype and result.params["b"].dtype == dtype
    assert result.losses.dtype == jnp.float32
    assert float(result.final_loss) < float(result.losses[0])


def test_float64_is_preserved(x64):
    X, y = regression(dtype=jnp.float64)
    result = jaxgd.fit(
        linear.mse, _params(dtype=jnp.float64), X, y, learning_rate=0.1, num_steps=3
    )
    assert result.params["W"].dtype == jnp.float64
    assert result.losses.dtype == jnp.float64


class Affine(NamedTuple):
    scale: jax.Array
    shift: dict


def test_any_pytree_structure_is_preserved():
    params = Affine(jnp.ones(2), {"inner": (jnp.zeros(()), jnp.zeros(2))})

    def loss(p, x):
        return jnp.sum((p.scale * x + p.shift["inner"][0] + p.shift["inner"][1]) ** 2)

    result = jaxgd.fit(
        loss,
        params,
        jnp.array([1.0, 2.0]),
        learning_rate=0.01,
        num_steps=5,
        record_params=True,
    )
    assert isinstance(result.params, Affine)
    assert jax.tree.structure(result.params) == jax.tree.structure(params)
    assert jax.tree.structure(result.trajectory) == jax.tree.structure(params)
    assert result.trajectory.shift["inner"][1].shape == (6, 2)


def test_python_float_params_and_no_data():
    result = jaxgd.fit(lambda x: (x - 1.5) ** 2, 0.0, learning_rate=0.2, num_steps=60)
    np.testing.assert_allclose(result.params, 1.5, atol=1e-5)


def test_zero_steps_returns_the_initial_params():
    X, y = regression()
    params = _params()
    result = jaxgd.fit(linear.mse, params, X, y, learning_rate=0.1, num_steps=0)
    assert result.losses.shape == (0,)
    assert_tree_allclose(result.params, params, rtol=0)
    np.testing.assert_allclose(result.final_loss, linear.mse(params, X, y))


# --- make_step ------------------------------------------------------------------


def test_make_step_equals_one_step_of_fit():
    X, y = regression()
    params = _params()
    optimizer = optax.adam(0.05)
    step = jaxgd.make_step(linear.mse, optimizer=optimizer, tol=1e-9)
    state = step.init(params)
    losses = []
    for _ in range(5):
        state, info = jax.jit(step.update)(state, X, y)
        losses.append(info.loss)
    result = jaxgd.fit(
        linear.mse, params, X, y, optimizer=optimizer, num_steps=5, tol=1e-9
    )
    assert_tree_allclose(state.params, result.params, rtol=1e-6)
    np.testing.assert_allclose(losses, result.losses, rtol=1e-6)
    assert int(state.steps_taken) == 5


@pytest.mark.slow
@pytest.mark.parametrize(
    "learning_rate, tol, stop, num_steps",
    [
        (0.1, 0.05, "converged", 60),
        (3.0, None, "diverged", 60),
        (0.1, None, None, 60),
        (optax.exponential_decay(0.1, 20, 0.8), 0.05, "converged", 60),
        # Longer runs, which stop well after their start.
        (0.02, 1e-3, "converged", 400),
        (0.95, None, "diverged", 400),
        (0.1, None, None, 401),
        # A finite gradient below tol whose update would overflow: the step
        # converges and applies no update, so it does not diverge.
        (1e38, 1e30, "converged at once", 60),
    ],
)
def test_fit_equals_a_python_loop_of_make_step(learning_rate, tol, stop, num_steps):
    X, y = regression()
    params = _params()
    step = jaxgd.make_step(linear.mse, learning_rate=learning_rate, tol=tol)
    update = jax.jit(step.update)
    state = step.init(params)
    infos = []
    for _ in range(num_steps):
        state, info = update(state, X, y)
        infos.append(info)
    result = jaxgd.fit(
        linear.mse,
        params,
        X,
        y,
        learning_rate=learning_rate,
        num_steps=num_steps,
        tol=tol,
    )
    expected = jax.tree.map(lambda *xs: jnp.stack(xs), *infos)
    for name in ("loss", "grad_norm", "step_size"):
        got = getattr(result, f"{name}s" if name != "loss" else "losses")
        want = getattr(expected, name)
        assert got.dtype == want.dtype, name
        # One compiled program against many: float32 rounding may differ, on
        # the scale of the largest value (a gradient near the minimum is a
        # difference of large terms).
        finite = np.abs(want[np.isfinite(want)])
        scale = np.max(finite, initial=0.0)
        np.testing.assert_allclose(
            got, want, rtol=1e-5, atol=1e-6 * scale, err_msg=name
        )
    assert_tree_allclose(result.params, state.params, rtol=1e-5)
    assert_tree_allclose(result.opt_state, state.opt_state, rtol=0)
    for name in ("steps_taken", "converged", "diverged", "stalled", "loss_evals"):
        got, want = getattr(result, name), getattr(state, name)
        assert got.dtype == want.dtype, name
        assert got == want, name
    if stop is None:
        assert int(result.steps_taken) == num_steps
    elif stop == "converged at once":
        assert result.converged and not result.diverged and result.steps_taken == 0
    else:
        assert 0 < int(result.steps_taken) < num_steps
        assert getattr(result, stop)
