"""Data-parallel checks on four simulated CPU devices.

`tests/test_sharding.py` runs this module with pytest in a subprocess started
with `XLA_FLAGS=--xla_force_host_platform_device_count=4`, so that the rest of
the suite keeps one device. Each result on sharded data is compared with the
same call on plain arrays, which run on a single device.
"""

import importlib.util
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import AxisType, NamedSharding, PartitionSpec

import jaxgd
from jaxgd import linear

DEVICES = 4
RTOL = 1e-5


@pytest.fixture(autouse=True, scope="module")
def _four_devices():
    assert jax.device_count() == DEVICES, jax.devices()


def problem():
    key_x, key_w = jax.random.split(jax.random.key(0))
    X = jax.random.normal(key_x, (16, 3))
    y = X @ jax.random.normal(key_w, (3, 1)) + 0.5
    return X, y, linear.init(jax.random.key(1), 3, 1)


def assert_same(sharded, single):
    """Every leaf of two results agrees to float32 rel 1e-5."""
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(
            np.asarray(a), np.asarray(b), rtol=RTOL, atol=1e-7
        ),
        sharded,
        single,
    )


def assert_replicated(tree):
    for leaf in jax.tree.leaves(tree):
        assert leaf.sharding.is_fully_replicated, leaf.sharding
        assert len(leaf.sharding.device_set) == DEVICES


def test_shard_data_splits_rows_evenly_in_device_order():
    X, y, _ = problem()
    Xs, ys = jaxgd.shard_data(X, y)
    for placed, original in ((Xs, X), (ys, y)):
        np.testing.assert_array_equal(placed, original)
        shards = sorted(placed.addressable_shards, key=lambda s: s.index[0].start)
        assert [s.index[0] for s in shards] == [
            slice(4 * d, 4 * (d + 1)) for d in range(DEVICES)
        ]
        assert len({s.device for s in shards}) == DEVICES


def test_fit_on_sharded_data_equals_one_device_with_params_replicated():
    X, y, params = problem()
    single = jaxgd.fit(linear.mse, params, X, y, learning_rate=0.1, num_steps=30)
    sharded = jaxgd.fit(
        linear.mse, params, *jaxgd.shard_data(X, y), learning_rate=0.1, num_steps=30
    )
    assert len(single.params["W"].sharding.device_set) == 1
    assert_same(sharded, single)
    assert_replicated(sharded)


def test_new_sharded_values_do_not_recompile():
    X, y, params = problem()
    traces = []

    def loss(params, X, y):
        traces.append(None)
        return linear.mse(params, X, y)

    jaxgd.fit(loss, params, *jaxgd.shard_data(X, y), learning_rate=0.1, num_steps=5)
    first = len(traces)
    jaxgd.fit(loss, params, *jaxgd.shard_data(2 * X, y), learning_rate=0.2, num_steps=5)
    assert len(traces) == first


def test_mini_batches_from_sharded_data_equal_one_device():
    X, y, params = problem()
    kwargs = dict(learning_rate=0.1, num_steps=10, batch_size=6, key=jax.random.key(2))
    single = jaxgd.fit(linear.mse, params, X, y, **kwargs)
    sharded = jaxgd.fit(linear.mse, params, *jaxgd.shard_data(X, y), **kwargs)
    assert_same(sharded, single)
    assert_replicated(sharded.params)


def test_sweep_on_sharded_data_equals_one_device():
    X, y, params = problem()
    rates = jnp.array([0.01, 0.1, 0.5, 5.0])
    single = jaxgd.sweep(linear.mse, params, X, y, learning_rates=rates, num_steps=20)
    sharded = jaxgd.sweep(
        linear.mse, params, *jaxgd.shard_data(X, y), learning_rates=rates, num_steps=20
    )
    assert_same(sharded, single)
    assert sharded.diverged.tolist() == [False, False, False, True]


def test_multistart_on_sharded_data_equals_one_device():
    X, y, _ = problem()
    starts = jax.vmap(lambda k: linear.init(k, 3, 1))(
        jax.random.split(jax.random.key(3), 3)
    )
    kwargs = dict(learning_rate=0.1, num_steps=10)
    single = jaxgd.multistart(linear.mse, starts, X, y, **kwargs)
    sharded = jaxgd.multistart(linear.mse, starts, *jaxgd.shard_data(X, y), **kwargs)
    assert_same(sharded, single)


def test_two_axis_mesh_splits_rows_over_both_axes():
    X, y, params = problem()
    mesh = jax.make_mesh((2, 2), ("hosts", "chips"), axis_types=(AxisType.Auto,) * 2)
    Xs, ys = jaxgd.shard_data(X, y, mesh=mesh)
    assert Xs.sharding.spec == PartitionSpec(("hosts", "chips"))
    assert len({s.index[0].start for s in Xs.addressable_shards}) == DEVICES
    single = jaxgd.fit(linear.mse, params, X, y, learning_rate=0.1, num_steps=10)
    sharded = jaxgd.fit(linear.mse, params, Xs, ys, learning_rate=0.1, num_steps=10)
    assert_same(sharded, single)


def test_shard_local_data_in_one_process_equals_shard_data():
    X, y, _ = problem()
    for placed, expected in zip(
        jaxgd.shard_local_data(X, y), jaxgd.shard_data(X, y), strict=True
    ):
        assert placed.sharding == expected.sharding
        np.testing.assert_array_equal(placed, expected)


def test_rows_that_do_not_divide_the_device_count_are_an_error():
    X = jnp.ones((10, 3))
    with pytest.raises(
        ValueError,
        match=r"arrays\[0\] has 10 rows \(shape \(10, 3\)\), which do not split "
        r"evenly over the 4 device\(s\) of the mesh: the length must be a multiple "
        r"of 4, e.g. 8 or 12\. Drop the last rows \(x\[:8\]\) or pass a mesh whose "
        r"device count divides 10; rows are never padded",
    ):
        jaxgd.shard_data(X, jnp.ones((10, 1)))
    with pytest.raises(
        ValueError,
        match=r"arrays\[0\] has 2 rows .* e.g. 4\. Pass a mesh whose device count "
        r"divides 2;",
    ):
        jaxgd.shard_data(jnp.ones((2, 3)))
    with pytest.raises(ValueError, match=r"over the 4 device\(s\) of this process"):
        jaxgd.shard_local_data(X)


def test_data_on_an_explicit_mesh_is_refused_with_the_fix():
    X, y, params = problem()
    mesh = jax.make_mesh((DEVICES,), ("batch",), axis_types=(AxisType.Explicit,))
    X, y = jax.device_put((X, y), NamedSharding(mesh, PartitionSpec("batch")))
    message = (
        r"data\[0\] is sharded over the Explicit mesh axes \('batch',\).*"
        r"Place the data with jaxgd\.shard_data\(\.\.\.\), or build the mesh with "
        r"Auto axes"
    )
    for batching in ({}, {"batch_size": 4, "key": jax.random.key(0)}):
        with pytest.raises(ValueError, match=message):
            jaxgd.fit(
                linear.mse, params, X, y, learning_rate=0.1, num_steps=5, **batching
            )


def test_the_example_matches_one_device_on_four():
    path = Path(__file__).resolve().parents[2] / "examples" / "data_parallel.py"
    spec = importlib.util.spec_from_file_location("data_parallel", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    report = example.main(num_steps=10, batch_size=16)
    assert (report["devices"], report["rows"], report["rows_dropped"]) == (4, 568, 1)
    for run in ("full batch", "mini-batch"):
        numbers = report[run]
        np.testing.assert_allclose(
            numbers["final_loss"], numbers["final_loss_one_device"], rtol=RTOL
        )
        assert numbers["max_param_difference"] <= 1e-5
