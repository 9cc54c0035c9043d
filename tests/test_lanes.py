"""Slicing a batched result: `FitResult.lane` and `FitResult.num_lanes`."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import regression

import jaxgd
from jaxgd import linear

RATES = [0.05, 0.1, 0.2]


def _loss(params, X, y):
    residual = linear.predict(params, X) - y
    return jnp.mean(residual**2), {"max_error": jnp.max(jnp.abs(residual))}


def _problem():
    X, y = regression(n_samples=32, dtype=jnp.float64)
    X_val, y_val = regression(n_samples=16, dtype=jnp.float64, seed=1)
    options = dict(
        num_steps=12,
        record_params=True,
        has_aux=True,
        validation_data=(X_val, y_val),
        validation_every=5,
    )
    return (X, y), options


def _assert_same_result(got, want):
    assert jax.tree.structure(got) == jax.tree.structure(want)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        assert jnp.shape(a) == jnp.shape(b)
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-12)


@pytest.mark.slow
def test_a_lane_of_a_sweep_is_the_fit_at_that_learning_rate(x64):
    data, options = _problem()
    params = linear.init(jax.random.key(1), 3, 1, jnp.float64)
    result = jaxgd.sweep(
        _loss, params, *data, learning_rates=jnp.array(RATES), **options
    )
    assert result.num_lanes == 3
    for i, rate in enumerate(RATES):
        single = jaxgd.fit(_loss, params, *data, learning_rate=rate, **options)
        assert single.num_lanes is None
        _assert_same_result(result.lane(i), single)
    _assert_same_result(result.lane(-1), result.lane(2))
    _assert_same_result(result.lane(np.int32(1)), result.lane(1))
    _assert_same_result(result.lane(jnp.array(1)), result.lane(1))


@pytest.mark.slow
def test_a_lane_of_a_multistart_is_the_fit_from_that_start(x64):
    data, options = _problem()
    starts = jax.vmap(lambda k: linear.init(k, 3, 1, jnp.float64))(
        jax.random.split(jax.random.key(2), 3)
    )
    result = jaxgd.multistart(_loss, starts, *data, learning_rate=0.1, **options)
    for i in range(3):
        start = jax.tree.map(lambda x, i=i: x[i], starts)
        single = jaxgd.fit(_loss, start, *data, learning_rate=0.1, **options)
        _assert_same_result(result.lane(i), single)


def _sweep():
    X, y = regression(n_samples=16)
    params = linear.init(jax.random.key(1), 3, 1)
    return jaxgd.sweep(
        linear.mse, params, X, y, learning_rates=jnp.array(RATES), num_steps=4
    )


@pytest.mark.parametrize(
    "index, lanes",
    [
        ([2, 0], [2, 0]),
        (np.array([1]), [1]),
        (jnp.array([0, 2]), [0, 2]),
        ([-1, 0, 0], [2, 0, 0]),
        (np.array([True, False, True]), [0, 2]),
        ([], []),
    ],
)
def test_an_index_array_gives_a_batch_of_those_lanes(index, lanes):
    result = _sweep()
    chosen = result.lane(index)
    assert chosen.num_lanes == len(lanes)
    assert chosen.validation_losses is None and chosen.trajectory is None
    for k, lane in enumerate(lanes):
        _assert_same_result(chosen.lane(k), result.lane(lane))


def test_a_fit_result_is_a_named_tuple_whose_items_are_fields_not_lanes():
    result = _sweep()
    assert result[3] is result.final_loss
    assert len(result) == len(jaxgd.FitResult._fields)


def test_a_single_run_has_no_lanes():
    X, y = regression(n_samples=16)
    single = jaxgd.fit(
        linear.mse,
        linear.init(jax.random.key(1), 3, 1),
        X,
        y,
        learning_rate=0.1,
        num_steps=3,
    )
    assert single.num_lanes is None
    with pytest.raises(ValueError, match=r"lane needs a batched FitResult.*single run"):
        single.lane(0)


@pytest.mark.parametrize("index", [3, -4, [0, 3], np.array([-5])])
def test_a_lane_out_of_range_is_named_with_the_number_of_lanes(index):
    with pytest.raises(ValueError, match=r"lane -?\d is out of range: .* has 3 lanes"):
        _sweep().lane(index)


def test_a_boolean_index_needs_one_flag_per_lane():
    with pytest.raises(ValueError, match="one flag per lane, 3; got 2"):
        _sweep().lane(np.array([True, False]))


@pytest.mark.parametrize(
    "index", [1.0, "1", True, None, np.array([[0, 1]]), [0.5], {"lane": 0}]
)
def test_a_lane_index_of_the_wrong_kind_is_refused(index):
    with pytest.raises(TypeError, match="lane takes an int"):
        _sweep().lane(index)


def test_a_lane_can_be_taken_under_jit_by_a_concrete_index():
    result = _sweep()
    _assert_same_result(jax.jit(lambda r: r.lane(1))(result), result.lane(1))
    with pytest.raises(TypeError, match="lane needs the value of index"):
        jax.jit(lambda r, i: r.lane(i))(result, 5)


def test_a_lane_keeps_frozen_arrays_and_constants_of_the_params():
    X, y = regression(n_samples=16)
    params = {"linear": linear.init(jax.random.key(1), 3, 1), "n": jnp.array(3)}
    params["name"] = "model"

    def loss(p, X, y):
        return linear.mse(p["linear"], X, y)

    mask = {"linear": True, "n": False, "name": False}
    result = jaxgd.sweep(
        loss,
        params,
        X,
        y,
        learning_rates=jnp.array(RATES),
        num_steps=3,
        trainable=mask,
    )
    lane = result.lane(2)
    single = jaxgd.fit(
        loss, params, X, y, learning_rate=RATES[2], num_steps=3, trainable=mask
    )
    assert lane.params["name"] == "model" and lane.params["n"].shape == ()
    assert int(lane.params["n"]) == 3
    np.testing.assert_allclose(
        lane.params["linear"]["W"], single.params["linear"]["W"], rtol=1e-6
    )
