"""Lanes over four simulated CPU devices: `devices=` of the lane entry points.

`tests/test_devices.py` runs this module with pytest in a subprocess started
with `XLA_FLAGS=--xla_force_host_platform_device_count=4`. Every result with
`devices=` is compared with the same call without it, which runs on one
device. Where only the number of lanes each device holds differs, the two
agree bit for bit; elsewhere to float32 rounding, since XLA:CPU may group
the arithmetic of two lanes otherwise than that of eight (a batched matmul).
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxgd
from jaxgd import linear

DEVICES = 4


@pytest.fixture(autouse=True, scope="module")
def _four_devices():
    assert jax.device_count() == DEVICES, jax.devices()


def problem():
    key_x, key_w = jax.random.split(jax.random.key(0))
    X = jax.random.normal(key_x, (16, 3))
    y = X @ jax.random.normal(key_w, (3, 1)) + 0.5
    return X, y, linear.init(jax.random.key(1), 3, 1)


def assert_identical(split, single):
    """Every leaf of two results is the same array, NaN where the other's is."""
    assert jax.tree.structure(split) == jax.tree.structure(single)
    for a, b in zip(jax.tree.leaves(split), jax.tree.leaves(single), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def assert_same(split, single, atol=1e-7):
    """Every leaf of two results agrees to float32 rounding (and NaN to NaN)."""
    assert jax.tree.structure(split) == jax.tree.structure(single)
    for a, b in zip(jax.tree.leaves(split), jax.tree.leaves(single), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=atol)


def assert_split(result, devices, lanes):
    """Every array leaf has its lanes split over `devices`, in their order."""
    share = lanes // len(devices)
    for leaf in jax.tree.leaves(result):
        assert leaf.shape[0] == lanes
        assert leaf.sharding.device_set == set(devices), leaf.sharding
        shards = sorted(leaf.addressable_shards, key=lambda s: s.device.id)
        assert [s.device for s in shards] == list(devices)
        assert [s.index[0] for s in shards] == [
            slice(share * d, share * (d + 1)) for d in range(len(devices))
        ]
        assert all(s.data.shape[0] == share for s in shards)


RATES = jnp.array([0.01, 0.03, 0.1, 0.2, 0.3, 0.5, 1.0, 5.0])


def test_a_sweep_over_four_devices_equals_one_device_and_splits_its_lanes():
    X, y, params = problem()
    options = dict(
        learning_rates=RATES,
        num_steps=150,
        tol=1e-3,
        validation_data=(X[:8], y[:8]),
        validation_every=10,
        patience=3,
        restore_best=True,
        record_params=True,
    )
    single = jaxgd.sweep(linear.mse, params, X, y, **options)
    split = jaxgd.sweep(linear.mse, params, X, y, devices=jax.devices(), **options)
    assert_identical(split, single)
    assert_split(split, jax.devices(), 8)
    # The lanes stop on their own, and the last one ends the loop.
    assert split.diverged[-1] and split.converged.any()
    assert len(set(split.steps_taken.tolist())) > 2


def test_two_of_the_four_devices_hold_half_of_the_lanes_each():
    X, y, params = problem()
    devices = jax.devices()[2:]
    single = jaxgd.sweep(linear.mse, params, X, y, learning_rates=RATES, num_steps=50)
    split = jaxgd.sweep(
        linear.mse, params, X, y, learning_rates=RATES, num_steps=50, devices=devices
    )
    assert_identical(split, single)
    assert_split(split, devices, 8)


def test_an_optimizer_factory_and_mini_batches_over_devices_equal_one_device():
    X, y, params = problem()
    options = dict(
        optimizer=optax.adam,
        learning_rates=RATES[:4],
        hyperparams={"b1": jnp.array([0.5, 0.8, 0.9, 0.95])},
        num_steps=40,
        batch_size=4,
        key=jax.random.key(2),
        history_every=3,
    )
    single = jaxgd.sweep(linear.mse, params, X, y, **options)
    split = jaxgd.sweep(linear.mse, params, X, y, devices=jax.devices(), **options)
    assert_same(split, single)
    assert_split(split, jax.devices(), 4)


def test_a_multistart_over_four_devices_equals_one_device():
    X, y, _ = problem()
    starts = jax.vmap(lambda k: linear.init(k, 3, 1))(
        jax.random.split(jax.random.key(3), 8)
    )
    options = dict(learning_rate=0.1, num_steps=60, tol=1e-2)
    single = jaxgd.multistart(linear.mse, starts, X, y, **options)
    split = jaxgd.multistart(linear.mse, starts, X, y, devices=jax.devices(), **options)
    assert_identical(split, single)
    assert_split(split, jax.devices(), 8)


def test_searches_over_four_devices_equal_one_device():
    X, y, params = problem()
    searches = (
        # Rungs of 8, 4 (split) and 2 lanes (replicated).
        jaxgd.successive_halving(eta=2, min_steps=5),
        jaxgd.population_based(every=10, fraction=0.25, key=jax.random.key(4)),
    )
    for search in searches:
        options = dict(
            learning_rates=RATES,
            num_steps=20,
            validation_data=(X[8:], y[8:]),
            record_params=True,
            search=search,
        )
        single = jaxgd.sweep(linear.mse, params, X, y, **options)
        split = jaxgd.sweep(linear.mse, params, X, y, devices=jax.devices(), **options)
        assert_same(split, single)
        assert_split(split, jax.devices(), 8)
        if search is searches[0]:
            assert split.pruned.sum() == 6


def test_cross_validation_over_four_devices_equals_one_device():
    X, y, params = problem()
    options = dict(
        learning_rates=RATES[:4], num_steps=30, folds=3, key=jax.random.key(5)
    )
    single = jaxgd.cross_validate(linear.mse, params, X, y, **options)
    split = jaxgd.cross_validate(
        linear.mse, params, X, y, devices=jax.devices(), **options
    )
    assert_same(split, single)
    # Configuration c's three folds live on device c.
    assert_split(split.results, jax.devices(), 12)


def test_sharded_data_and_lanes_over_the_same_devices_equal_one_device():
    X, y, params = problem()
    single = jaxgd.sweep(linear.mse, params, X, y, learning_rates=RATES, num_steps=30)
    split = jaxgd.sweep(
        linear.mse,
        params,
        *jaxgd.shard_data(X, y),
        learning_rates=RATES,
        num_steps=30,
        devices=jax.devices(),
    )
    # The data-parallel loss sums its rows in another order: losses near 0
    # differ by their rounding, about 1e-7 of the first.
    assert_same(split, single, atol=1e-6)
    assert_split(split, jax.devices(), 8)


def test_devices_that_do_not_divide_the_lanes_are_an_error():
    X, y, params = problem()
    with pytest.raises(
        ValueError,
        match=r"^devices: the 6 lanes do not split evenly over the 4 devices given; "
        r"each device holds an equal share, so pass a number of lanes that is a "
        r"multiple of 4 \(e\.g\. 4 or 8\), or a list of devices whose length "
        r"divides 6\.$",
    ):
        jaxgd.sweep(
            linear.mse, params, X, y, learning_rates=RATES[:6], devices=jax.devices()
        )
    starts = jax.vmap(lambda k: linear.init(k, 3, 1))(
        jax.random.split(jax.random.key(3), 2)
    )
    with pytest.raises(ValueError, match=r"the 2 lanes .* multiple of 4 \(e\.g\. 4\)"):
        jaxgd.multistart(
            linear.mse, starts, X, y, learning_rate=0.1, devices=jax.devices()
        )
    with pytest.raises(
        ValueError,
        match=r"the 2 configurations \(the lanes of each fold\) do not split evenly "
        r"over the 4 devices",
    ):
        jaxgd.cross_validate(
            linear.mse,
            params,
            X,
            y,
            learning_rates=RATES[:2],
            folds=2,
            devices=jax.devices(),
        )
