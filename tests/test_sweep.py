"""`sweep`, `multistart` and `best` equal a Python loop of `fit` calls."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import assert_tree_allclose, regression

import jaxgd
from jaxgd import linear

X, Y = regression(n_samples=32)
PARAMS = linear.init(jax.random.key(4), 3, 1)


def _assert_lane_equals(batched, k, single, rtol=1e-5):
    lane = jax.tree.map(lambda x: x[k], batched)
    assert_tree_allclose(lane.params, single.params, rtol=rtol, atol=rtol / 10)
    np.testing.assert_allclose(lane.losses, single.losses, rtol=rtol)
    np.testing.assert_allclose(lane.grad_norms, single.grad_norms, rtol=rtol)
    assert int(lane.steps_taken) == int(single.steps_taken)
    assert bool(lane.diverged) == bool(single.diverged)
    assert bool(lane.converged) == bool(single.converged)


@pytest.mark.slow
def test_sweep_equals_a_loop_of_fit(x64):
    """In float64, where batched and single matmuls agree to rounding.

    The sweep's loop runs until its last lane stops; each lane stops on its own.
    """
    X, Y = regression(n_samples=32, dtype=jnp.float64)
    params = linear.init(jax.random.key(4), 3, 1, jnp.float64)
    rates = jnp.logspace(-2, 0, 5)
    result = jaxgd.sweep(
        linear.mse, params, X, Y, learning_rates=rates, num_steps=300, tol=1e-4
    )
    assert result.losses.shape == (5, 300) and result.params["W"].shape == (5, 3, 1)
    for k, rate in enumerate(rates):
        single = jaxgd.fit(
            linear.mse, params, X, Y, learning_rate=rate, num_steps=300, tol=1e-4
        )
        _assert_lane_equals(result, k, single, rtol=1e-10)


@pytest.mark.slow
def test_sweep_flags_exactly_the_lanes_above_the_stability_bound():
    bound = linear.max_learning_rate(X)
    factors = np.array([0.3, 0.9, 0.99, 1.05, 1.5, 4.0])
    result = jaxgd.sweep(
        linear.mse, PARAMS, X, Y, learning_rates=factors * bound, num_steps=3000
    )
    np.testing.assert_array_equal(np.asarray(result.diverged), factors > 1)
    stable = ~(factors > 1)
    assert np.isfinite(np.asarray(result.final_loss)[stable]).all()
    np.testing.assert_array_equal(np.asarray(result.steps_taken)[stable], 3000)
    # Diverged lanes stopped early without affecting the others.
    assert (np.asarray(result.steps_taken)[~stable] < 3000).all()


def test_sweep_is_one_compilation():
    traces = []

    def loss(params, X, y):
        traces.append(None)
        return linear.mse(params, X, y)

    jaxgd.sweep(
        loss, PARAMS, X, Y, learning_rates=jnp.logspace(-3, -1, 8), num_steps=10
    )
    first = len(traces)
    jaxgd.sweep(loss, PARAMS, X, Y, learning_rates=jnp.logspace(-2, 0, 8), num_steps=10)
    jaxgd.sweep(
        loss, PARAMS, X * 2, Y, learning_rates=np.linspace(0.1, 0.2, 8), num_steps=10
    )
    assert first > 0 and len(traces) == first


@pytest.mark.slow
def test_sweep_of_an_optimizer_factory_equals_a_loop():
    rates = jnp.array([1e-3, 1e-2, 1e-1])
    result = jaxgd.sweep(
        linear.mse,
        PARAMS,
        X,
        Y,
        learning_rates=rates,
        optimizer=optax.adam,
        num_steps=30,
    )
    for k, rate in enumerate(rates):
        single = jaxgd.fit(
            linear.mse,
            PARAMS,
            X,
            Y,
            optimizer=optax.adam,
            learning_rate=rate,
            num_steps=30,
        )
        _assert_lane_equals(result, k, single)


@pytest.mark.slow
def test_sweep_with_minibatches_shares_the_batches_across_lanes():
    rates = jnp.array([0.01, 0.1])
    key = jax.random.key(9)
    result = jaxgd.sweep(
        linear.mse,
        PARAMS,
        X,
        Y,
        learning_rates=rates,
        num_steps=20,
        batch_size=8,
        key=key,
    )
    for k, rate in enumerate(rates):
        single = jaxgd.fit(
            linear.mse,
            PARAMS,
            X,
            Y,
            learning_rate=rate,
            num_steps=20,
            batch_size=8,
            key=key,
        )
        _assert_lane_equals(result, k, single)


@pytest.mark.slow
def test_multistart_equals_a_loop_of_fit(x64):
    X, Y = regression(n_samples=32, dtype=jnp.float64)
    params = linear.init(jax.random.key(4), 3, 1, jnp.float64)
    starts = jax.tree.map(
        lambda p: p[None] + jnp.arange(4.0).reshape((4,) + (1,) * p.ndim), params
    )
    result = jaxgd.multistart(
        linear.mse,
        starts,
        X,
        Y,
        optimizer=optax.sgd(0.05, momentum=0.5),
        num_steps=25,
    )
    for k in range(4):
        single = jaxgd.fit(
            linear.mse,
            jax.tree.map(lambda p, k=k: p[k], starts),
            X,
            Y,
            optimizer=optax.sgd(0.05, momentum=0.5),
            num_steps=25,
        )
        _assert_lane_equals(result, k, single, rtol=1e-10)


@pytest.mark.slow
def test_multistart_resumes_per_lane_opt_states():
    starts = jnp.array([[1.0, 2.0], [-3.0, 0.5], [0.0, 4.0]])

    def bowl(x):
        return jnp.sum(jnp.array([1.0, 10.0]) * x**2)

    optimizer = optax.adam(0.1)
    whole = jaxgd.multistart(bowl, starts, optimizer=optimizer, num_steps=20)
    first = jaxgd.multistart(bowl, starts, optimizer=optimizer, num_steps=8)
    second = jaxgd.multistart(
        bowl,
        first.params,
        optimizer=optimizer,
        num_steps=12,
        opt_state=first.opt_state,
    )
    np.testing.assert_allclose(second.params, whole.params, rtol=1e-6)


def test_a_diverged_lane_never_stops_the_others():
    starts = jnp.array([0.5, 1e30, -2.0])
    result = jaxgd.multistart(lambda x: x**2, starts, learning_rate=0.1, num_steps=50)
    np.testing.assert_array_equal(np.asarray(result.diverged), [False, True, False])
    np.testing.assert_array_equal(np.asarray(result.steps_taken), [50, 0, 50])
    np.testing.assert_allclose(
        np.asarray(result.params)[[0, 2]], np.array([0.5, -2.0]) * 0.8**50, atol=1e-8
    )
    index, lane = jaxgd.best(result)
    assert index == 0 and float(lane.final_loss) == pytest.approx((0.5 * 0.8**50) ** 2)
    with pytest.raises(
        jaxgd.DivergenceError,
        match=r"1 of 3 lanes diverged \(lanes"
        r" 1\). Lane 1: fit diverged at step 0",
    ):
        result.raise_if_diverged()


def test_best_skips_diverged_and_non_finite_lanes():
    result = jaxgd.sweep(
        lambda x: (x - 1.0) ** 2,
        jnp.array(5.0),
        learning_rates=jnp.array([0.01, 0.3, 5.0, 0.1]),
        num_steps=30,
    )
    final = np.asarray(result.final_loss)
    assert bool(result.diverged[2])
    index, lane = jaxgd.best(result)
    assert index == 1 and index == int(
        np.nanargmin(np.where(result.diverged, np.inf, final))
    )
    np.testing.assert_allclose(lane.params, result.params[1])
    assert lane.losses.shape == (30,)
