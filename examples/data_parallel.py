r"""Data parallelism: one `fit` call on every device, the same answer as on one.

Logistic regression (`jaxgd.linear.bce`) on the Breast Cancer Wisconsin table,
its rows split over all devices by `jaxgd.shard_data`. Each device computes
the loss and gradient of its own rows, one all-reduce per step sums them, and
the params stay replicated: the result equals the single-device run. The
table's 569 rows are first cut to a multiple of the device count, because
jaxgd never pads rows (a padded row would change the loss).

On a CPU-only machine the script simulates ``--cpu-devices`` devices (default
4); on a machine with several GPUs it uses all of them. On several hosts, start
one process per host with ``--coordinator HOST:PORT --num-processes N
--process-id I`` (or with ``--distributed`` alone under SLURM or Open MPI,
which JAX detects by itself): each process then keeps only its share of the
rows and places them with `jaxgd.shard_local_data`.
"""

from __future__ import annotations

import argparse

import jax
import numpy as np

import jaxgd
from jaxgd import datasets, linear


def load_rows() -> tuple[np.ndarray, np.ndarray, int]:
    """Standardised features and 0/1 labels cut to a multiple of the devices.

    Returns:
        `(X, y, dropped)`: the rows kept and how many were cut off the end.
    """
    data = datasets.load_breast_cancer()
    X = ((data.X - data.X.mean(axis=0)) / data.X.std(axis=0)).astype(np.float32)
    y = data.y.astype(np.float32)
    dropped = len(X) % jax.device_count()
    return X[: len(X) - dropped], y[: len(X) - dropped], dropped


def main(num_steps: int = 300, batch_size: int = 64) -> dict:
    """Trains on every device and on one, and compares the two.

    Args:
        num_steps: updates of each run.
        batch_size: rows per update of the mini-batch run.

    Returns:
        The numbers printed: device and row counts, the final losses of the
        full-batch and mini-batch runs on all devices and on one, the largest
        difference between their params, and the training accuracy.
    """
    X, y, dropped = load_rows()
    processes, process = jax.process_count(), jax.process_index()
    share = len(X) // processes
    mine = slice(process * share, (process + 1) * share)
    # Each process places only its own rows; with one process this equals
    # jaxgd.shard_data(X, y).
    X_global, y_global = jaxgd.shard_local_data(X[mine], y[mine])

    params = linear.init(jax.random.key(0), X.shape[1], 1)
    settings = {
        "full batch": dict(learning_rate=0.9 * linear.max_learning_rate(X, "bce")),
        "mini-batch": dict(
            learning_rate=0.1, batch_size=batch_size, key=jax.random.key(1)
        ),
    }
    report = {
        "devices": jax.device_count(),
        "processes": processes,
        "rows": len(X),
        "rows_dropped": dropped,
    }
    for name, kwargs in settings.items():
        everywhere = jaxgd.fit(
            linear.bce, params, X_global, y_global, num_steps=num_steps, **kwargs
        )
        one = jaxgd.fit(linear.bce, params, X, y, num_steps=num_steps, **kwargs)
        gap = max(
            float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
            for a, b in zip(
                jax.tree.leaves(everywhere.params),
                jax.tree.leaves(one.params),
                strict=True,
            )
        )
        report[name] = {
            "final_loss": float(everywhere.final_loss),
            "final_loss_one_device": float(one.final_loss),
            "max_param_difference": gap,
        }
    # The result is replicated on every device: read it like any array.
    trained = jax.tree.map(np.asarray, everywhere.params)
    predicted = np.asarray(linear.predict(trained, X)) > 0
    report["accuracy"] = float(np.mean(predicted == (y > 0.5)))

    if process == 0:
        print(
            f"{report['devices']} devices in {processes} process(es); "
            f"{len(X)} rows ({report['rows_dropped']} dropped to split evenly)"
        )
        for name in settings:
            run = report[name]
            print(
                f"  {name}: final loss {run['final_loss']:.6f} on all devices, "
                f"{run['final_loss_one_device']:.6f} on one; params differ by at "
                f"most {run['max_param_difference']:.1e}"
            )
        print(f"  training accuracy {report['accuracy']:.3f}")
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="updates per run")
    parser.add_argument(
        "--cpu-devices", type=int, default=4, help="CPU devices to simulate"
    )
    parser.add_argument(
        "--distributed", action="store_true", help="join a multi-process run"
    )
    parser.add_argument("--coordinator", help="HOST:PORT of process 0")
    parser.add_argument("--num-processes", type=int)
    parser.add_argument("--process-id", type=int)
    args = parser.parse_args()
    # Only the CPU backend reads this; GPUs and TPUs are used as they are.
    jax.config.update("jax_num_cpu_devices", args.cpu_devices)
    if args.distributed or args.coordinator:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(
            coordinator_address=args.coordinator,
            num_processes=args.num_processes,
            process_id=args.process_id,
        )
    main(num_steps=args.steps)
