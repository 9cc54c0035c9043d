"""Lanes over devices: `devices=` of `sweep`, `multistart` and `cross_validate`.

The suite runs on one device: here `devices=` with that one device, and the
bad values of `devices`. The checks that need several devices run in
subprocesses: `sharding_scripts/four_device_lanes.py` under pytest with four
simulated CPU devices; the two-process run of `test_sharding.py` also splits
the lanes of a sweep over both processes' devices.
"""

import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_sharding import ROOT, SCRIPTS, TIMEOUT, cpu_env, problem

import jaxgd
from jaxgd import linear

RATES = jnp.array([0.01, 0.1, 0.5, 5.0])


def assert_identical(a, b):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.mark.slow
def test_one_device_gives_the_run_without_devices_and_holds_every_lane():
    X, y, params = problem()
    device = jax.devices()[:1]
    options = dict(learning_rates=RATES, num_steps=20, tol=1e-2)
    plain = jaxgd.sweep(linear.mse, params, X, y, **options)
    placed = jaxgd.sweep(linear.mse, params, X, y, devices=device, **options)
    assert_identical(placed, plain)
    assert placed.params["W"].sharding.device_set == set(device)
    assert placed.params["W"].addressable_shards[0].data.shape == (4, 3, 1)
    starts = jax.tree.map(lambda x: jnp.stack([x, -x]), params)
    assert_identical(
        jaxgd.multistart(
            linear.mse, starts, X, y, learning_rate=0.1, num_steps=5, devices=device
        ),
        jaxgd.multistart(linear.mse, starts, X, y, learning_rate=0.1, num_steps=5),
    )


@pytest.mark.slow
def test_cross_validation_on_one_device_gives_the_run_without_devices():
    X, y, params = problem()
    options = dict(learning_rates=RATES[:2], num_steps=10, folds=2)
    assert_identical(
        jaxgd.cross_validate(
            linear.mse, params, X, y, devices=tuple(jax.devices()), **options
        ),
        jaxgd.cross_validate(linear.mse, params, X, y, **options),
    )


@pytest.mark.parametrize(
    ("devices", "error", "message"),
    [
        (
            "cpu",
            TypeError,
            r"^devices must be a list of devices, e\.g\. jax\.devices\(\) or "
            r"jax\.devices\(\)\[:2\]; got str 'cpu'\.$",
        ),
        (
            jax.devices()[0],
            TypeError,
            r"^devices must be a list of devices, e\.g\. jax\.devices\(\) or "
            r"jax\.devices\(\)\[:2\]; got .*Device",
        ),
        (
            [0, 1],
            TypeError,
            r"^devices must be a list of devices, e\.g\. jax\.devices\(\); got "
            r"int 0 among them\.$",
        ),
        (
            [],
            ValueError,
            r"^devices must list at least one device, e\.g\. jax\.devices\(\); "
            r"got none\.$",
        ),
        (
            jax.devices()[:1] * 2,
            ValueError,
            r"^devices lists .* more than once; each device holds its own share "
            r"of the lanes\.$",
        ),
    ],
    ids=["text", "one-device-not-in-a-list", "ints", "empty", "repeated"],
)
def test_bad_devices_are_named(devices, error, message):
    X, y, params = problem()
    starts = jax.tree.map(lambda x: jnp.stack([x, -x]), params)
    calls = (
        lambda: jaxgd.sweep(
            linear.mse, params, X, y, learning_rates=RATES, devices=devices
        ),
        lambda: jaxgd.multistart(
            linear.mse, starts, X, y, learning_rate=0.1, devices=devices
        ),
        lambda: jaxgd.cross_validate(
            linear.mse, params, X, y, learning_rates=RATES, devices=devices
        ),
    )
    for call in calls:
        with pytest.raises(error, match=message):
            call()


@pytest.mark.slow
def test_lanes_over_four_simulated_devices_give_one_device_results():
    """Runs sharding_scripts/four_device_lanes.py under pytest on four CPU devices."""
    script = SCRIPTS / "four_device_lanes.py"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(script), "-q", "-p", "no:cacheprovider"],
        cwd=ROOT,
        env=cpu_env(4),
        capture_output=True,
        text=True,
        timeout=3 * TIMEOUT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
