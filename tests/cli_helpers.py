"""Shared helpers of the command-line tests: tables, runs, direct references."""

import json
import os
import sys

import jax
import numpy as np

import jaxgd
from jaxgd import linear
from jaxgd.cli import main

FEATURES = ("x1", "x2")
# One step count and one table shape for most runs, so they share compilations.
STEPS = 40


def write_csv(path, X, y, names=(*FEATURES, "y"), delimiter=","):
    """Writes a table whose numbers read back exactly."""
    np.savetxt(
        path,
        np.hstack([X, y]),
        delimiter=delimiter,
        header=delimiter.join(names),
        comments="",
        fmt="%.17g",
    )
    return str(path)


def regression_data(n=24, seed=0):
    """Two features of different spreads, away from zero mean, and a target."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2)) * [1.0, 30.0] + [0.5, -100.0]
    y = X @ [[1.5], [-0.05]] + 2.0 + 0.1 * rng.normal(size=(n, 1))
    return X, y


def regression_csv(tmp_path, n=24, seed=0):
    X, y = regression_data(n, seed)
    return write_csv(tmp_path / "data.csv", X, y), X, y


def labels_csv(tmp_path, n=60, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2)) * [1.0, 5.0] + [2.0, 0.0]
    y = (X - [2.0, 0.0]) @ [[2.0], [-0.2]] + 2.0 * rng.normal(size=(n, 1)) > 0
    return write_csv(tmp_path / "labels.csv", X, y.astype(float)), X, y.astype(float)


def fit_args(path, *more):
    return ["fit", path, "--target", "y", "--steps", STEPS, *more]


def sweep_args(path, rates, *more):
    return [
        "sweep",
        path,
        "--target",
        "y",
        "--learning-rates",
        rates,
        "--steps",
        STEPS,
        *more,
    ]


def run(capsys, argv, cache=False):
    """`main(argv)` in this process: (exit status, stdout, stderr)."""
    argv = [str(arg) for arg in argv]
    if not cache and argv and argv[0] in ("fit", "sweep", "predict", "demo"):
        argv.append("--no-cache")
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys, argv):
    code, out, err = run(capsys, [*argv, "--json"])
    return code, json.loads(out), err


def fails_with(capsys, argv, message):
    """The command exits with 2 and says exactly one line, containing message."""
    code, out, err = run(capsys, argv)
    assert code == 2, err
    assert out == ""
    assert err.startswith("jaxgd: error: ") and err.count("\n") == 1, err
    assert message in err, err
    return err


def direct_fit(
    X,
    y,
    *,
    loss="mse",
    rate=None,
    standardize=True,
    batch_size=None,
    seed=0,
    steps=STEPS,
    optimizer=None,
    tol=None,
):
    """What the command line documents, in float64: standardize, fit, map back.

    Returns the result and its params in the data's units.
    """
    with jax.enable_x64(True):
        X, y = np.asarray(X, np.float64), np.asarray(y, np.float64)
        Z, scaling = linear.standardize(X) if standardize else (X, None)
        if loss == "mse" and batch_size is None:
            f, data = linear.mse_stats, (linear.stats(Z, y),)
        else:
            f, data = (linear.mse if loss == "mse" else linear.bce), (Z, y)
        if rate is None:
            fraction = 0.9 if batch_size is None else 0.5
            rate = fraction * linear.max_learning_rate(Z, loss)
        init_key, batch_key = jax.random.split(jax.random.key(seed))
        params = linear.init(init_key, X.shape[1], 1, np.float64)
        options = {"num_steps": steps, "tol": tol}
        if optimizer is None:
            options["learning_rate"] = rate
        else:
            options["optimizer"] = optimizer(rate)
        if batch_size is not None:
            options.update(batch_size=batch_size, key=batch_key)
        result = jaxgd.fit(f, params, *data, **options)
        params = scaling.unscale(result.params) if standardize else result.params
        return result, jax.tree.map(np.asarray, params)


def assert_same_params(report, params, names=FEATURES, rtol=1e-9):
    assert list(report["weights"]) == list(names)
    np.testing.assert_allclose(
        list(report["weights"].values()), params["W"][:, 0], rtol=rtol
    )
    np.testing.assert_allclose(report["bias"], params["b"][0], rtol=rtol)


def subprocess_env(tmp_path):
    """This environment, with the compilation cache in a folder of the test."""
    env = dict(os.environ)
    env["JAXGD_CACHE_DIR"] = str(tmp_path / "cache")
    env["JAX_PLATFORMS"] = "cpu"
    return env


PYTHON = sys.executable
