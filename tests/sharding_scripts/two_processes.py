"""One process of a two-process data-parallel run, started by test_sharding.py.

Usage: `python two_processes.py PORT PROCESS_ID`, with `JAX_PLATFORMS=cpu` and
two simulated devices per process in `XLA_FLAGS`. The process joins the run
at 127.0.0.1:PORT over gloo collectives, feeds only its own half of the rows
through `jaxgd.shard_local_data` (and to `linear.stats(...,
across_processes=True)`), splits the lanes of a sweep over the devices of
both processes (`devices=jax.devices()`), and prints its results as one line
`RESULT {json}`; the test compares them with one process on one device.
"""

import json
import sys

import jax
import numpy as np
from jax.experimental import multihost_utils

import jaxgd
from jaxgd import linear


def problem():
    """The same rows as `test_sharding.problem`: 16 samples, 3 features."""
    key_x, key_w = jax.random.split(jax.random.key(0))
    X = jax.random.normal(key_x, (16, 3))
    y = X @ jax.random.normal(key_w, (3, 1)) + 0.5
    return np.asarray(X), np.asarray(y), linear.init(jax.random.key(1), 3, 1)


def main(port: int, process_id: int) -> None:
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=f"127.0.0.1:{port}",
        num_processes=2,
        process_id=process_id,
        initialization_timeout=60,
    )
    X, y, params = problem()
    mine = slice(8 * process_id, 8 * (process_id + 1))
    X_global, y_global = jaxgd.shard_local_data(X[mine], y[mine])
    full = jaxgd.fit(
        linear.mse, params, X_global, y_global, learning_rate=0.1, num_steps=20
    )
    mini = jaxgd.fit(
        linear.mse,
        params,
        X_global,
        y_global,
        learning_rate=0.1,
        num_steps=8,
        batch_size=6,
        key=jax.random.key(2),
    )
    lanes = jaxgd.sweep(
        linear.mse,
        params,
        *jaxgd.shard_data(X, y),
        learning_rates=np.array([0.05, 0.5], np.float32),
        num_steps=10,
    )

    # Lanes over the four devices of both processes: each holds two lanes.
    rates = np.array([0.01, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 5.0], np.float32)
    split = jaxgd.sweep(
        linear.mse,
        params,
        X,
        y,
        learning_rates=rates,
        num_steps=40,
        tol=1e-2,
        devices=jax.devices(),
    )

    def plain(tree):
        return jax.tree.map(lambda x: np.asarray(x).tolist(), tree)

    def gathered(tree):
        return plain(multihost_utils.process_allgather(tree, tiled=True))

    report = {
        "devices": jax.device_count(),
        "local_rows": sorted(
            [s.index[0].start, s.index[0].stop] for s in X_global.addressable_shards
        ),
        "full": plain({"params": full.params, "losses": full.losses}),
        "mini": plain({"params": mini.params, "losses": mini.losses}),
        "sweep": plain({"params": lanes.params, "final_loss": lanes.final_loss}),
        "lanes": gathered(
            {
                "params": split.params,
                "losses": split.losses,
                "steps_taken": split.steps_taken,
            }
        ),
        "local_lanes": sorted(
            [s.index[0].start, s.index[0].stop]
            for s in split.params["W"].addressable_shards
        ),
    }
    # Statistics summed over processes: uneven rows (11 and 5), in float64.
    with jax.enable_x64(True):
        rows = slice(0, 11) if process_id == 0 else slice(11, 16)
        X64, y64 = np.asarray(X, np.float64), np.asarray(y, np.float64)
        stats = linear.stats(X64[rows], y64[rows], across_processes=True)
        report["stats"] = plain(stats._asdict())
    try:
        jaxgd.shard_local_data(X[: 8 - 4 * process_id])
    except ValueError as error:
        report["uneven_error"] = str(error)
    print("RESULT " + json.dumps(report), flush=True)
    jax.distributed.shutdown()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
