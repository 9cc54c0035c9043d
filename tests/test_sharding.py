"""Data parallelism: `shard_data`, `shard_local_data`, and `fit` on sharded data.

The suite itself runs on one device. The checks that need several devices run
in subprocesses: `sharding_scripts/four_devices.py` under pytest with four
simulated CPU devices, and `sharding_scripts/two_processes.py` as a real
two-process run over gloo on 127.0.0.1, compared with this process's result.
"""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import xla_flags
from jax.sharding import AxisType, NamedSharding, PartitionSpec

import jaxgd
from jaxgd import linear

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = Path(__file__).resolve().parent / "sharding_scripts"
TIMEOUT = 180


def problem():
    key_x, key_w = jax.random.split(jax.random.key(0))
    X = jax.random.normal(key_x, (16, 3))
    y = X @ jax.random.normal(key_w, (3, 1)) + 0.5
    return X, y, linear.init(jax.random.key(1), 3, 1)


def cpu_env(devices):
    """This environment with `devices` simulated CPU devices and no proxies."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "grpc_proxy")
    }
    env["JAX_PLATFORMS"] = "cpu"
    env["XLA_FLAGS"] = xla_flags(f"--xla_force_host_platform_device_count={devices}")
    return env


def test_shard_data_keeps_values_order_and_structure():
    X, y, _ = problem()
    Xs, ys = jaxgd.shard_data(X, y)
    np.testing.assert_array_equal(Xs, X)
    np.testing.assert_array_equal(ys, y)
    assert Xs.sharding.spec == PartitionSpec("data")
    assert Xs.sharding.mesh.axis_types == (AxisType.Auto,)
    single = jaxgd.shard_data(np.asarray(X))
    assert isinstance(single, jax.Array)
    np.testing.assert_array_equal(single, X)
    mesh = jax.make_mesh((1,), ("rows",), axis_types=(AxisType.Auto,))
    tree = jaxgd.shard_data({"X": X, "w": np.arange(16.0)}, mesh=mesh)
    assert tree["w"].sharding.spec == PartitionSpec("rows")
    np.testing.assert_array_equal(tree["w"], np.arange(16.0))


@pytest.mark.parametrize("place", [jaxgd.shard_data, jaxgd.shard_local_data])
def test_bad_input_to_place_is_named(place):
    with pytest.raises(ValueError, match=r"pass at least one array to place; got none"):
        place()
    with pytest.raises(
        ValueError, match=r"arrays\[1\]\['b'\] is 0-d; data parallelism splits axis 0"
    ):
        place(jnp.ones(4), {"a": jnp.ones(4), "b": jnp.float32(1.0)})
    with pytest.raises(
        TypeError, match=r"mesh must be a jax.sharding.Mesh or None; got str 'data'"
    ):
        place(jnp.ones(4), mesh="data")
    explicit = jax.make_mesh((1,), ("data",), axis_types=(AxisType.Explicit,))
    with pytest.raises(
        ValueError,
        match=r"mesh must have only Auto axes; got axis types \{'data': Explicit\}",
    ):
        place(jnp.ones(4), mesh=explicit)


@pytest.mark.parametrize("place", [jaxgd.shard_data, jaxgd.shard_local_data])
def test_nothing_to_place_no_rows_and_mixed_rows_are_named(place):
    """Once accepted silently: None came back as None, empty arrays as empty."""
    with pytest.raises(
        ValueError, match=r"arrays\[0\] holds no array to place; got NoneType None"
    ):
        place(None)
    with pytest.raises(ValueError, match=r"arrays\[1\] holds no array to place"):
        place(jnp.ones((4, 2)), None)
    with pytest.raises(
        ValueError,
        match=r"arrays\[0\] has no rows \(shape \(0, 2\)\); data parallelism splits",
    ):
        place(np.zeros((0, 2)))
    with pytest.raises(
        ValueError,
        match=r"the arrays disagree on the number of samples \(axis 0\): "
        r"arrays\[0\].shape=\(4, 2\), arrays\[1\].shape=\(3, 1\)",
    ):
        place(np.zeros((4, 2)), np.zeros((3, 1)))
    with pytest.raises(ValueError, match=r"arrays\[0\]\['b'\].shape=\(2,\)"):
        place({"a": np.ones(3), "b": np.ones(2)})
    with pytest.raises(
        TypeError, match=r"arrays\[0\] must hold numbers; got array of shape \(2,\)"
    ):
        place(np.array(["a", "b"]))


def explicit(*arrays):
    mesh = jax.make_mesh((1,), ("batch",), axis_types=(AxisType.Explicit,))
    return jax.device_put(arrays, NamedSharding(mesh, PartitionSpec("batch")))


def refused(index, name="data"):
    """The message for data[index] placed on the Explicit axis "batch"."""
    return (
        rf"{name}\[{index}\] is sharded over the Explicit mesh axes \('batch',\) "
        # jax >= 0.9 prints a PartitionSpec as P(...), older versions in full.
        r"\((?:P|PartitionSpec)\('batch', None\)\), on which JAX cannot decide how "
        r"the gradient.*"
        r"Place the data with jaxgd\.shard_data\(\.\.\.\), or build the mesh with "
        r"Auto axes"
    )


def test_explicit_mesh_data_is_refused_by_fit_sweep_and_multistart():
    X, y, params = problem()
    (y,) = explicit(y)
    with pytest.raises(ValueError, match=refused(1)):
        jaxgd.fit(linear.mse, params, X, y, learning_rate=0.1, num_steps=3)
    with pytest.raises(ValueError, match=refused(1)):
        jaxgd.sweep(
            linear.mse, params, X, y, learning_rates=jnp.array([0.1]), num_steps=3
        )
    starts = jax.tree.map(lambda p: p[None], params)
    with pytest.raises(ValueError, match=refused(1)):
        jaxgd.multistart(linear.mse, starts, X, y, learning_rate=0.1, num_steps=3)


def test_an_explicit_mesh_validation_set_is_refused_by_its_name():
    X, y, params = problem()
    X_val, y_val = explicit(X, y)
    with pytest.raises(ValueError, match=refused(0, "validation_data")):
        jaxgd.fit(
            linear.mse,
            params,
            X,
            y,
            learning_rate=0.1,
            num_steps=3,
            validation_data=(X_val, y_val),
        )


def test_explicit_mesh_data_is_refused_under_jit_and_vmap():
    X, y, params = problem()
    X, y = explicit(X, y)

    def final_loss(X, y, rate):
        return jaxgd.fit(
            linear.mse, params, X, y, learning_rate=rate, num_steps=3
        ).final_loss

    with pytest.raises(ValueError, match=refused(0)):
        jax.jit(final_loss)(X, y, 0.1)
    with pytest.raises(ValueError, match=refused(0)):
        jax.vmap(final_loss, in_axes=(None, None, 0))(X, y, jnp.array([0.1, 0.2]))


@pytest.mark.slow
def test_four_simulated_devices_give_one_device_results():
    """Runs sharding_scripts/four_devices.py under pytest on four CPU devices."""
    script = SCRIPTS / "four_devices.py"
    command = [
        sys.executable,
        "-m",
        "pytest",
        str(script),
        "-q",
        "-p",
        "no:cacheprovider",
    ]
    done = subprocess.run(
        command,
        cwd=ROOT,
        env=cpu_env(4),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_two_processes():
    """Starts both processes; kills both unless they are done within TIMEOUT."""
    port = free_port()
    script = str(SCRIPTS / "two_processes.py")
    processes = [
        subprocess.Popen(
            [sys.executable, script, str(port), str(rank)],
            cwd=ROOT,
            env=cpu_env(2),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for rank in range(2)
    ]
    deadline = time.monotonic() + TIMEOUT
    outputs = []
    try:
        for process in processes:
            left = max(deadline - time.monotonic(), 1)
            outputs.append(process.communicate(timeout=left)[0])
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.communicate()
    for process, output in zip(processes, outputs, strict=True):
        assert process.returncode == 0, output
    return [
        json.loads(line.removeprefix("RESULT "))
        for output in outputs
        for line in output.splitlines()
        if line.startswith("RESULT ")
    ]


@pytest.mark.slow
def test_two_processes_give_one_process_results():
    X, y, params = problem()
    full = jaxgd.fit(linear.mse, params, X, y, learning_rate=0.1, num_steps=20)
    mini = jaxgd.fit(
        linear.mse,
        params,
        X,
        y,
        learning_rate=0.1,
        num_steps=8,
        batch_size=6,
        key=jax.random.key(2),
    )
    lanes = jaxgd.sweep(
        linear.mse,
        params,
        X,
        y,
        learning_rates=np.array([0.05, 0.5], np.float32),
        num_steps=10,
    )
    split = jaxgd.sweep(
        linear.mse,
        params,
        X,
        y,
        learning_rates=np.array([0.01, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 5.0], np.float32),
        num_steps=40,
        tol=1e-2,
    )
    expected = {
        "lanes": {
            "params": split.params,
            "losses": split.losses,
            "steps_taken": split.steps_taken,
        },
        "full": {"params": full.params, "losses": full.losses},
        "mini": {"params": mini.params, "losses": mini.losses},
        "sweep": {"params": lanes.params, "final_loss": lanes.final_loss},
    }
    with jax.enable_x64(True):
        whole = linear.stats(np.asarray(X, np.float64), np.asarray(y, np.float64))
    reports = run_two_processes()
    assert len(reports) == 2
    # One collective gives both processes the same statistics, those of all
    # 16 rows, though the processes held 11 and 5.
    assert reports[0]["stats"] == reports[1]["stats"]
    # The fields that are zero up to rounding, against the size of what rounded.
    size = {
        "xc_mean": np.max(np.abs(whole.x_mean)),
        "yc_mean": np.max(np.abs(whole.y_mean)),
        "anchor_grad": np.max(np.abs(whole.gram)) * np.max(np.abs(whole.anchor)),
        # This y is exactly linear in X: its least sum of squares is rounding.
        "anchor_sse": np.sum((np.asarray(y) - np.mean(np.asarray(y))) ** 2),
    }
    for field, want in whole._asdict().items():
        got = np.asarray(reports[0]["stats"][field])
        atol = 1e-12 * size.get(field, 0.0)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=atol, err_msg=field)
    for rank, report in enumerate(reports):
        assert report["devices"] == 4
        # Each process's two devices hold two lanes each, in process order.
        assert report["local_lanes"] == [
            [4 * rank, 4 * rank + 2],
            [4 * rank + 2, 4 * rank + 4],
        ]
        # Each process's rows live on its own two devices, in process order.
        assert report["local_rows"] == [
            [8 * rank, 8 * rank + 4],
            [8 * rank + 4, 8 * rank + 8],
        ]
        assert report["uneven_error"] == (
            "every process must pass the same number of rows to shard_local_data; "
            "got rows per array process 0: [8]; process 1: [4]."
        )
        for name, want in expected.items():
            jax.tree.map(
                lambda got, want: np.testing.assert_allclose(
                    np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-7
                ),
                report[name],
                jax.tree.map(lambda x: np.asarray(x).tolist(), want),
            )
