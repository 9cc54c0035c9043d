"""`jaxgd fit` and `jaxgd sweep` against direct calls of the library, in float64."""

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import optax
import pytest
from cli_helpers import (
    FEATURES,
    PYTHON,
    STEPS,
    assert_same_params,
    direct_fit,
    fails_with,
    fit_args,
    labels_csv,
    regression_csv,
    regression_data,
    run,
    run_json,
    subprocess_env,
    sweep_args,
    write_csv,
)

import jaxgd
from jaxgd import datasets, linear

# --- fit ---------------------------------------------------------------------


@pytest.mark.slow
def test_fit_prints_weights_in_the_units_of_the_data(tmp_path, capsys):
    path, X, y = regression_csv(tmp_path)
    code, out, err = run(capsys, fit_args(path))
    _, params = direct_fit(X, y)
    assert code == 0 and err == ""
    learned = [*params["W"][:, 0].tolist(), float(params["b"][0])]
    for name, weight in zip((*FEATURES, "bias"), learned, strict=True):
        assert re.search(rf"^{name}\s+{weight:.6g}$", out, re.M)
    assert "standardized for the optimizer, weights in the data's units" in out
    assert "--auto-lr: 0.9 × max_learning_rate" in out


@pytest.mark.slow
@pytest.mark.parametrize(
    ("options", "direct"),
    [
        pytest.param([], {}, id="auto-lr"),
        pytest.param(["--learning-rate", "0.01"], {"rate": 0.01}, id="given-rate"),
        pytest.param(
            ["--batch-size", "5", "--seed", "3"],
            {"batch_size": 5, "seed": 3},
            id="batches",
        ),
        pytest.param(["--no-standardize"], {"standardize": False}, id="raw"),
        pytest.param(
            ["--optimizer", "momentum"],
            {"optimizer": lambda rate: optax.sgd(rate, momentum=0.9)},
            id="momentum",
        ),
        pytest.param(
            ["--optimizer", "adam", "--learning-rate", "0.05"],
            {"optimizer": optax.adam, "rate": 0.05},
            id="adam",
        ),
    ],
)
def test_fit_json_equals_direct_fit(tmp_path, capsys, options, direct):
    path, X, y = regression_csv(tmp_path)
    code, report, _ = run_json(capsys, fit_args(path, *options))
    _result, params = direct_fit(X, y, **direct)
    assert code == 0
    assert_same_params(report, params)
    assert report["steps_taken"] == STEPS and report["diverged"] is False
    assert report["data"] == path and report["target"] == "y"
    assert report["rows"] == len(X) and report["dropped_rows"] == 0
    with jax.enable_x64(True):
        want = float(linear.mse(params, X, y))
    np.testing.assert_allclose(report["final_loss"], want, rtol=1e-12)


@pytest.mark.slow
def test_fit_standardized_reaches_least_squares_in_the_units_of_the_data(
    tmp_path, capsys
):
    """On columns of spreads 1 and 30 far from zero, a bare fit ends at
    numpy's least squares, weights per original unit; the raw run does not."""
    path, X, y = regression_csv(tmp_path)
    A = np.hstack([X, np.ones((len(X), 1))])
    theta, *_ = np.linalg.lstsq(A, y, rcond=None)
    closed = float(np.mean((A @ theta - y) ** 2))
    code, report, _ = run_json(capsys, fit_args(path, "--steps", 300))
    assert code == 0 and report["standardized"] is True
    np.testing.assert_allclose(
        list(report["weights"].values()), theta[:2, 0], rtol=1e-9
    )
    np.testing.assert_allclose(report["bias"], theta[2, 0], rtol=1e-9)
    np.testing.assert_allclose(report["closed_form_loss"], closed, rtol=1e-12)
    assert abs(report["gap"]) < 1e-12 * closed
    code, raw, _ = run_json(capsys, fit_args(path, "--steps", 300, "--no-standardize"))
    assert code == 0 and raw["standardized"] is False
    assert raw["gap"] > 1e-3 * closed


@pytest.mark.slow
def test_fit_line_search_equals_direct_fit_with_auto(tmp_path, capsys):
    path, X, y = regression_csv(tmp_path)
    code, report, _ = run_json(capsys, fit_args(path, "--line-search"))
    result, params = direct_fit(X, y, rate="auto")
    steps = np.asarray(result.step_sizes)
    assert code == 0 and report["learning_rate"] == "auto"
    assert_same_params(report, params)
    assert report["loss_evals"] == int(result.loss_evals) > STEPS
    np.testing.assert_allclose(report["step_sizes"]["min"], np.nanmin(steps))
    np.testing.assert_allclose(report["step_sizes"]["max"], np.nanmax(steps))
    code, out, _ = run(capsys, fit_args(path, "--line-search"))
    per_step = int(result.loss_evals) / STEPS
    assert "learning rate      auto (--line-search: an Armijo" in out
    assert f"{per_step:.2f} loss evaluations per step" in out


@pytest.mark.slow
def test_fit_tol_stops_at_the_tolerance(tmp_path, capsys):
    path, X, y = regression_csv(tmp_path)
    argv = fit_args(path, "--tol", "1e-3", "--steps", 500)
    code, report, _ = run_json(capsys, argv)
    result, params = direct_fit(X, y, tol=1e-3, steps=500)
    assert code == 0 and report["converged"] is True
    assert report["steps_taken"] == int(result.steps_taken) < 500
    assert_same_params(report, params)
    code, out, _ = run(capsys, argv)
    assert re.search(
        r"^steps taken +\d+ \(converged: the gradient's norm reached --tol\)$",
        out,
        re.M,
    )


@pytest.mark.slow
def test_fit_bce_reports_accuracy_and_the_gap_to_newton(tmp_path, capsys):
    path, X, y = labels_csv(tmp_path)
    code, report, _ = run_json(capsys, fit_args(path, "--loss", "bce"))
    _, params = direct_fit(X, y, loss="bce")
    assert code == 0
    assert_same_params(report, params)
    with jax.enable_x64(True):
        optimum = linear.solve(X, y, loss="bce")
        best = float(linear.bce(optimum, X, y))
        final = float(linear.bce(params, X, y))
    np.testing.assert_allclose(report["optimum_loss"], best, rtol=1e-12)
    np.testing.assert_allclose(report["final_loss"], final, rtol=1e-12)
    assert report["gap"] == report["final_loss"] - report["optimum_loss"] > 0
    logits = X @ params["W"] + params["b"]
    assert report["accuracy"] == np.mean((logits > 0) == (y == 1))
    assert "closed_form_loss" not in report
    code, out, _ = run(capsys, fit_args(path, "--loss", "bce"))
    assert re.search(rf"^accuracy\s+[01]\.\d{{4}} \(\d+ of {len(y)}\)$", out, re.M)
    assert re.search(
        r"^optimum loss +\S+ \(linear.solve\(..., loss=\"bce\"\)", out, re.M
    )


def test_fit_bce_on_separable_classes_has_no_optimum(tmp_path, capsys):
    X = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 1.0], [3.0, 0.0]])
    path = write_csv(tmp_path / "sep.csv", X, np.array([[0.0], [0.0], [1.0], [1.0]]))
    code, report, _ = run_json(capsys, fit_args(path, "--loss", "bce"))
    assert code == 0 and report["optimum_loss"] is None and report["gap"] is None
    assert "linearly separable" in report["no_optimum"]
    code, out, _ = run(capsys, fit_args(path, "--loss", "bce"))
    assert re.search(r"^optimum +none: the classes are linearly separable", out, re.M)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("loss", "name"), [("mse", "auto_mpg"), ("bce", "breast_cancer")]
)
def test_fit_without_csv_uses_the_shipped_data(capsys, loss, name):
    code, report, _ = run_json(capsys, ["fit", "--loss", loss, "--steps", STEPS])
    data = datasets.load(name)
    _, params = direct_fit(data.X, data.y, loss=loss)
    assert code == 0
    assert report["data"] == name and report["target"] == data.target_name
    assert_same_params(report, params, data.feature_names)


@pytest.mark.slow
def test_fit_without_csv_takes_another_target(capsys):
    code, report, _ = run_json(capsys, ["fit", "--target", "weight", "--steps", STEPS])
    assert code == 0 and report["target"] == "weight"
    assert "weight" not in report["weights"] and "mpg" in report["weights"]


def test_fit_divergence_exits_1_and_suggests_a_rate_that_works(tmp_path, capsys):
    path, _, _ = regression_csv(tmp_path)
    code, report, err = run_json(capsys, fit_args(path, "--learning-rate", 5))
    assert code == 1 and report["diverged"] is True
    # In float64 the loss grows for hundreds of steps before it overflows.
    match = re.fullmatch(
        r"jaxgd: the fit diverged: the loss grew from (\S+) to (\S+) in 40 steps: "
        r"learning rate 5 is too large \(max_learning_rate = \S+\); try "
        r"--learning-rate (\S+) \(.*\)\n",
        err,
    )
    assert match and float(match[2]) == pytest.approx(report["final_loss"], 1e-5)
    assert float(match[1]) < float(match[2])
    code, report, _ = run_json(capsys, fit_args(path, "--learning-rate", match[3]))
    assert code == 0 and report["diverged"] is False
    code, report, err = run_json(
        capsys, fit_args(path, "--learning-rate", 5, "--steps", 1000)
    )
    match = re.fullmatch(r"jaxgd: the fit diverged at step (\d+): learning .*\n", err)
    assert code == 1 and match and int(match[1]) == report["steps_taken"] < 1000


def test_fit_divergence_suggests_a_tenth_when_that_is_safe(tmp_path, capsys):
    path, X, _ = regression_csv(tmp_path)
    with jax.enable_x64(True):
        rate = 5 * linear.max_learning_rate(linear.standardize(X)[0])
    code, _, err = run(capsys, fit_args(path, "--learning-rate", rate))
    assert code == 1
    assert err.endswith(f"try --learning-rate {rate / 10:.6g} (a tenth of it)\n")


def test_fit_plot_writes_the_loss_curve(tmp_path, capsys):
    path, _, _ = regression_csv(tmp_path)
    figure = tmp_path / "loss.svg"
    code, _, _ = run(capsys, fit_args(path, "--plot", figure))
    assert code == 0
    assert figure.read_text().startswith("<?xml")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv", "loss.svg"]


# --- sweep -------------------------------------------------------------------


def direct_sweep(X, y, rates):
    with jax.enable_x64(True):
        Z, scaling = linear.standardize(X)
        init_key, _ = jax.random.split(jax.random.key(0))
        result = jaxgd.sweep(
            linear.mse_stats,
            linear.init(init_key, X.shape[1], 1, np.float64),
            linear.stats(Z, y),
            learning_rates=rates,
            num_steps=STEPS,
        )
        index, lane = jaxgd.best(result)
        return result, index, scaling.unscale(lane.params)


def test_sweep_json_equals_direct_sweep_and_best(tmp_path, capsys):
    path, X, y = regression_csv(tmp_path)
    code, report, _ = run_json(capsys, sweep_args(path, "1e-3:3:3"))
    rates = np.logspace(-3, np.log10(3), 3)
    result, index, params = direct_sweep(X, y, rates)
    runs = report["runs"]
    assert code == 0
    np.testing.assert_allclose([r["learning_rate"] for r in runs], rates)
    growing = np.asarray(result.final_loss) > np.asarray(result.losses)[:, 0]
    assert [r["diverged"] for r in runs] == (result.diverged | growing).tolist()
    assert runs[-1]["diverged"] is True  # 3 is past max_learning_rate
    assert [r["steps_taken"] for r in runs] == result.steps_taken.tolist()
    for run_, loss in zip(runs, result.final_loss.tolist(), strict=True):
        # JSON has no infinity: a loss that overflowed is null.
        assert run_["final_loss"] == pytest.approx(loss if np.isfinite(loss) else None)
    assert report["best"]["index"] == index
    assert_same_params(report["best"], jax.tree.map(np.asarray, params))


def test_sweep_text_table_and_best(tmp_path, capsys):
    path, X, y = regression_csv(tmp_path)
    code, out, _ = run(capsys, sweep_args(path, "0.01:0.05:3"))
    rates = np.logspace(-2, np.log10(0.05), 3)
    result, index, _ = direct_sweep(X, y, rates)
    assert code == 0
    for rate, loss in zip(rates, result.final_loss.tolist(), strict=True):
        assert re.search(rf"^\s*{rate:.6g}\s+{loss:.6g}\s+{STEPS}\s+no$", out, re.M)
    assert (
        f"best: learning rate {rates[index]:.6g} (run {index + 1}), final loss "
        f"{float(result.final_loss[index]):.6g}" in out
    )


def test_sweep_of_adam_equals_direct_sweep(tmp_path, capsys):
    path, X, y = regression_csv(tmp_path)
    argv = sweep_args(path, "0.01:0.1:2", "--optimizer", "adam")
    code, report, _ = run_json(capsys, argv)
    with jax.enable_x64(True):
        Z, _ = linear.standardize(X)
        init_key, _ = jax.random.split(jax.random.key(0))
        result = jaxgd.sweep(
            linear.mse_stats,
            linear.init(init_key, 2, 1, np.float64),
            linear.stats(Z, y),
            learning_rates=np.logspace(-2, -1, 2),
            num_steps=STEPS,
            optimizer=optax.adam,
        )
    assert code == 0
    np.testing.assert_allclose(
        [r["final_loss"] for r in report["runs"]], result.final_loss, rtol=1e-10
    )


def test_sweep_all_diverged_exits_1(tmp_path, capsys):
    path, _, _ = regression_csv(tmp_path)
    code, report, err = run_json(capsys, sweep_args(path, "50:100:3"))
    assert code == 1 and report["best"] is None
    assert all(run_["diverged"] for run_ in report["runs"])
    assert err.startswith("jaxgd: every learning rate diverged; try rates below")


def test_sweep_plot_writes_the_figure(tmp_path, capsys):
    path, _, _ = regression_csv(tmp_path)
    figure = tmp_path / "sweep.png"
    code, _, _ = run(capsys, sweep_args(path, "1e-3:1:3", "--plot", figure))
    assert code == 0
    assert figure.read_bytes().startswith(b"\x89PNG")


# --- bad input ---------------------------------------------------------------


def test_target_is_required_with_a_csv(tmp_path, capsys):
    path, _, _ = regression_csv(tmp_path)
    fails_with(capsys, ["fit", path], f"--target is required with a CSV file ({path})")


def test_constant_column_cannot_be_standardized(tmp_path, capsys):
    X = np.array([[1.0, 5.0], [2.0, 5.0], [4.0, 5.0]])
    path = write_csv(tmp_path / "c.csv", X, np.array([[1.0], [2.0], [2.5]]))
    fails_with(
        capsys,
        fit_args(path),
        "cannot standardize a constant column: 'x2' has the same value in every "
        "row; leave it out with --features, or --no-standardize",
    )
    code, report, _ = run_json(capsys, fit_args(path, "--no-standardize"))
    assert code == 0 and report["standardized"] is False


def test_a_column_constant_up_to_rounding_is_named(tmp_path, capsys):
    """0.1 in every row: its sums of squares leave a spread of rounding error."""
    X, y = regression_data(n=50)
    X[:, 1] = 0.1
    path = write_csv(tmp_path / "c.csv", X, y)
    fails_with(
        capsys,
        fit_args(path),
        "cannot standardize a constant column: 'x2' has the same value in every "
        "row; leave it out with --features, or --no-standardize",
    )


@pytest.mark.parametrize(
    ("column", "size"), [("x1", 1e200), ("x2", 1e170), ("y", 1e160)]
)
@pytest.mark.parametrize("options", [(), ("--no-standardize",), ("--batch-size", "6")])
def test_values_whose_squares_overflow_are_one_line(
    tmp_path, capsys, column, size, options
):
    """Once NaN weights, a traceback or a false divergence; now exit 2, one line."""
    X, y = np.ones((24, 2)), np.arange(24.0)[:, None]
    X[:, 0] = np.arange(24.0) % 5
    table = np.hstack([X, y])
    table[3, ("x1", "x2", "y").index(column)] = size
    path = write_csv(tmp_path / "big.csv", table[:, :2], table[:, 2:])
    err = fails_with(
        capsys,
        fit_args(path, *options),
        f"column {column!r} holds {size:.6g}, too large to compute with: over 24 "
        "rows the sum of its squares overflows float64, so every value must be "
        "below ",
    )
    limit = float(re.search(r"must be below (\S+) in magnitude; rescale", err)[1])
    assert limit < size and 24 * limit**2 < np.finfo(np.float64).max


def test_values_whose_squares_overflow_are_one_line_for_bce(tmp_path, capsys):
    path, X, y = labels_csv(tmp_path)
    X[5, 1] = -1e300
    path = write_csv(tmp_path / "big.csv", X, y)
    fails_with(
        capsys, fit_args(path, "--loss", "bce"), "column 'x2' holds 1e+300, too large"
    )


def test_a_column_just_below_the_limit_scales_its_weight(tmp_path, capsys):
    """Scaling a column by 1e150 scales its weight by 1e-150, and nothing else."""
    path, X, y = regression_csv(tmp_path)
    big = write_csv(tmp_path / "big.csv", X * [1e150, 1.0], y)
    _, plain, _ = run_json(capsys, fit_args(path))
    code, scaled, _ = run_json(capsys, fit_args(big))
    assert code == 0
    np.testing.assert_allclose(scaled["weights"]["x1"], plain["weights"]["x1"] / 1e150)
    np.testing.assert_allclose(scaled["weights"]["x2"], plain["weights"]["x2"])
    np.testing.assert_allclose(scaled["final_loss"], plain["final_loss"])


def test_bce_labels_must_be_0_or_1(tmp_path, capsys):
    path = write_csv(tmp_path / "l.csv", np.ones((3, 2)), np.array([[1], [2], [0.5]]))
    fails_with(
        capsys,
        fit_args(path, "--loss", "bce"),
        "--loss bce needs labels 0 or 1 in the target column 'y'; data row 2 holds 2 "
        "(and 1 more row)",
    )


@pytest.mark.parametrize("spec", ["1e-3:1", "0:1:3", "a:b:4", "1e-3:1:0", "1:2:3:4"])
def test_malformed_learning_rates(tmp_path, capsys, spec):
    path, _, _ = regression_csv(tmp_path)
    fails_with(
        capsys,
        sweep_args(path, spec),
        "argument --learning-rates: expected START:STOP:COUNT, two positive numbers "
        "and a whole number >= 1 (e.g. 1e-3:1:10 for 10 log-spaced rates), or rates "
        f"separated by commas (e.g. 0.01,0.1,0.5); got '{spec}'",
    )


@pytest.mark.parametrize("spec", ["0.1,,0.5", "0.1,-1", "0.1,inf", "fast", ""])
def test_malformed_learning_rate_lists(tmp_path, capsys, spec):
    path, _, _ = regression_csv(tmp_path)
    fails_with(
        capsys,
        sweep_args(path, spec),
        "argument --learning-rates: expected positive numbers separated by commas "
        f"(e.g. 0.01,0.1,0.5) or START:STOP:COUNT (e.g. 1e-3:1:10); got '{spec}'",
    )


def test_learning_rates_as_a_list_equal_the_same_rates_as_a_range(tmp_path, capsys):
    path, _, _ = regression_csv(tmp_path)
    rates = ",".join(map(repr, np.logspace(-3, np.log10(3), 3).tolist()))
    code, listed, _ = run_json(capsys, sweep_args(path, rates))
    assert code == 0
    code, ranged, _ = run_json(capsys, sweep_args(path, "1e-3:3:3"))
    assert code == 0
    assert listed == ranged
    code, one, _ = run_json(capsys, sweep_args(path, "0.1"))
    assert code == 0 and [run["learning_rate"] for run in one["runs"]] == [0.1]


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--learning-rate", "0", "must be a positive finite number; got '0'"),
        ("--learning-rate", "-0.1", "must be a positive finite number; got '-0.1'"),
        ("--learning-rate", "inf", "must be a positive finite number; got 'inf'"),
        ("--tol", "0", "must be a positive finite number; got '0'"),
        ("--tol", "nan", "must be a positive finite number; got 'nan'"),
        ("--steps", "0", "must be a whole number from 1 to 2147483647; got '0'"),
        ("--steps", "2.5", "must be a whole number from 1 to 2147483647; got '2.5'"),
        (
            "--steps",
            "3000000000",
            "must be a whole number from 1 to 2147483647; got '3000000000'",
        ),
        ("--batch-size", "0", "must be a whole number from 1 to 2147483647; got '0'"),
        (
            "--seed",
            "-1",
            "must be a whole number from 0 to 9223372036854775807; got '-1'",
        ),
        (
            "--seed",
            str(2**63),
            f"must be a whole number from 0 to 9223372036854775807; got '{2**63}'",
        ),
        ("--delimiter", "ab", "expected one character between cells"),
        ("--delimiter", "x", "expected one character between cells"),
        ("--delimiter", ".", "expected one character between cells"),
        ("--missing", "skip", "invalid choice: 'skip'"),
        ("--skip-rows", "-1", "must be a whole number from 0 to 2147483647; got '-1'"),
        ("--save", "", "expected a file name; got ''"),
        ("--plot", "", "expected a file name; got ''"),
        ("--optimizer", "lbfgs", "invalid choice: 'lbfgs'"),
    ],
)
def test_bad_numbers_and_choices(tmp_path, capsys, option, value, message):
    path, _, _ = regression_csv(tmp_path)
    fails_with(
        capsys, fit_args(path, f"{option}={value}"), f"argument {option}: {message}"
    )


def test_optimizers_that_do_not_fit_the_rate_options(tmp_path, capsys):
    path, _, _ = regression_csv(tmp_path)
    fails_with(
        capsys,
        fit_args(path, "--optimizer", "adam"),
        "--optimizer adam needs --learning-rate: the bound that --auto-lr uses is "
        "for gradient descent",
    )
    fails_with(
        capsys,
        fit_args(path, "--optimizer", "momentum", "--line-search"),
        "--line-search chooses the steps of plain gradient descent; it does not go "
        "with --optimizer momentum",
    )


def test_batch_size_larger_than_the_data(tmp_path, capsys):
    path, X, _ = regression_csv(tmp_path)
    fails_with(
        capsys,
        fit_args(path, "--batch-size", 100),
        f"--batch-size 100 is larger than the data: {path} has {len(X)} rows",
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "the following arguments are required: command"),
        (["fit", "--bogus"], "unrecognized arguments: --bogus"),
        (["fit", "--loss", "mae"], "argument --loss: invalid choice: 'mae'"),
        (
            ["fit", "--learning-rate", "0.1", "--auto-lr"],
            "argument --auto-lr: not allowed with argument --learning-rate",
        ),
        (["sweep"], "the following arguments are required: --learning-rates"),
        # No abbreviations: --learning-rate must not pass for --learning-rates.
        (
            ["sweep", "--learning-rates", "0.1:1:2", "--learning-rate", "0.1"],
            "unrecognized arguments: --learning-rate",
        ),
        (["sweep", "--learning-rates", "0.1:1:2", "--save", "m.json"], "--save"),
        (["predict", "m.json"], "the following arguments are required: CSV"),
    ],
)
def test_usage_errors(capsys, argv, message):
    fails_with(capsys, argv, message)


def test_plot_without_matplotlib(tmp_path, capsys, monkeypatch):
    path, _, _ = regression_csv(tmp_path)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    fails_with(
        capsys,
        fit_args(path, "--plot", tmp_path / "loss.png"),
        '--plot draws with matplotlib: pip install "jaxgd[plot]"',
    )


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("no/loss.png", "the folder {dir}/no does not exist"),
        ("loss", "the file name must end in the figure's format, one of "),
        ("loss.xyz", "the file name must end in the figure's format, one of "),
        ("", "is a folder; give a file name"),
        ("/dev/full", "the file name must end in the figure's format, one of "),
    ],
)
def test_plot_paths_are_checked_before_the_run(tmp_path, capsys, name, message):
    path, _, _ = regression_csv(tmp_path)
    figure = tmp_path / name if name else tmp_path
    fails_with(capsys, fit_args(path, "--plot", figure), message.format(dir=tmp_path))


@pytest.mark.slow
def test_an_interrupted_figure_leaves_the_old_one(tmp_path, capsys, monkeypatch):
    path, _, _ = regression_csv(tmp_path)
    figure = tmp_path / "loss.svg"
    figure.write_text("the old figure", encoding="utf-8")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    code, _, err = run(capsys, fit_args(path, "--plot", figure))
    assert (code, err) == (130, "jaxgd: interrupted\n")
    assert figure.read_text(encoding="utf-8") == "the old figure"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv", "loss.svg"]


@pytest.mark.slow
def test_a_symlink_is_replaced_and_its_target_left_alone(tmp_path, capsys):
    """The figure and the model are written beside the link and renamed over
    it: the link becomes the new file, what it pointed to is not written."""
    path, _, _ = regression_csv(tmp_path)
    target = tmp_path / "target.svg"
    target.write_text("someone else's file", encoding="utf-8")
    for option, name in (("--plot", "loss.svg"), ("--save", "model.json")):
        link = tmp_path / name
        link.symlink_to(target)
        code, _, _ = run(capsys, fit_args(path, option, link))
        assert code == 0
        assert not link.is_symlink() and link.stat().st_size > 0
        assert target.read_text(encoding="utf-8") == "someone else's file"


# --- the program -------------------------------------------------------------


def test_help_version_and_usage_errors_do_not_load_jax():
    script = (
        "import sys\n"
        "from jaxgd.cli import main\n"
        "codes = [main(a) for a in (['--help'], ['fit', '--help'], ['--version'], "
        "['fit', '--steps', '0'], ['predict', '--help'])]\n"
        "print(codes, 'jax' in sys.modules, 'numpy' in sys.modules, file=sys.stderr)\n"
    )
    done = subprocess.run(
        [PYTHON, "-c", script], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[-1] == "[0, 0, 0, 2, 0] False False"
    version = jaxgd.__version__
    assert f"jaxgd {version}\n" in done.stdout
    for command in ("demo", "fit", "sweep", "predict", "--version"):
        assert command in done.stdout


def test_version_is_the_package_version(capsys):
    code, out, _ = run(capsys, ["--version"])
    assert code == 0 and out == f"jaxgd {jaxgd.__version__}\n"


@pytest.mark.slow
def test_a_reader_that_leaves_early_gets_no_traceback(tmp_path):
    """`jaxgd fit ... | head -1`: the pipe closes before the report is written."""
    path, _, _ = regression_csv(tmp_path)
    process = subprocess.Popen(
        [PYTHON, "-m", "jaxgd", *map(str, fit_args(path))],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=subprocess_env(tmp_path),
    )
    process.stdout.close()
    _, err = process.communicate(timeout=300)
    assert process.returncode == 1
    assert b"Traceback" not in err and b"BrokenPipeError" not in err


@pytest.mark.slow
def test_closed_and_full_standard_output_are_one_line(tmp_path, capsys, monkeypatch):
    path, _, _ = regression_csv(tmp_path)
    monkeypatch.setattr(sys, "stdout", None)  # as `jaxgd fit ... >&-` starts
    code, _, err = run(capsys, fit_args(path))
    assert (code, err) == (
        2,
        "jaxgd: error: standard output is closed; there is nowhere to report\n",
    )
    with open("/dev/full", "w") as full:
        monkeypatch.setattr(sys, "stdout", full)
        code, _, err = run(capsys, fit_args(path))
    assert (code, err) == (
        2,
        "jaxgd: error: cannot write to standard output: No space left on device\n",
    )


def test_ctrl_c_in_a_finalizer_still_ends_the_command(tmp_path, capsys, monkeypatch):
    """An interrupt raised in a __del__ or a gc callback (JAX runs many) is
    printed as "Exception ignored" and dropped by Python; the command stops
    all the same, with its one line."""
    from jaxgd.cli import _commands

    class Finalizer:
        def __del__(self):
            raise KeyboardInterrupt

    def interrupted_in_a_finalizer(args, *reader):
        Finalizer()  # dropped at once: its __del__ raises
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the rest of a long run
            time.sleep(0.01)
        return 0

    monkeypatch.setattr(_commands, "run", interrupted_in_a_finalizer)
    path, _, _ = regression_csv(tmp_path)
    started = time.monotonic()
    code, out, err = run(capsys, fit_args(path))
    assert (code, out, err) == (130, "", "jaxgd: interrupted\n")
    assert time.monotonic() - started < 20


@pytest.mark.parametrize("lost", ["dropped", "made a ValueError"])
def test_ctrl_c_that_code_on_the_way_loses_still_ends_the_command(
    tmp_path, capsys, monkeypatch, lost
):
    """A few places in JAX catch every exception: a bare `except:` drops the
    interrupt, the comparison of pytree metadata raises a ValueError from it.
    The command ends all the same, its long run stopped before its first
    step, with its one line and nothing on stdout."""
    stats = linear.stats

    def interrupted_on_the_way(*args, **kwargs):
        try:
            signal.raise_signal(signal.SIGINT)  # Ctrl-C, here
        except KeyboardInterrupt as error:
            if lost != "dropped":
                raise ValueError("while checking equality of metadata") from error
        return stats(*args, **kwargs)

    monkeypatch.setattr(linear, "stats", interrupted_on_the_way)
    path, _, _ = regression_csv(tmp_path)
    code, out, err = run(capsys, fit_args(path, "--steps", 1_000_000))
    assert (code, out, err) == (130, "", "jaxgd: interrupted\n")


@pytest.mark.slow
def test_ctrl_c_while_compiling_or_running_exits_130_with_one_line(tmp_path):
    """SIGINT to the program once JAX is loaded: exit status 130, one line, no
    crash while the runtime shuts down (it once died of a segmentation fault
    after the message)."""
    path, _, _ = regression_csv(tmp_path)
    process = subprocess.Popen(
        [PYTHON, "-m", "jaxgd", *map(str, fit_args(path, "--steps", 1_000_000))],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=subprocess_env(tmp_path),
    )
    deadline = time.monotonic() + 120
    while not (tmp_path / "cache").exists() and time.monotonic() < deadline:
        time.sleep(0.02)  # the cache folder is made once JAX is imported
    time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=300)
    assert (process.returncode, out, err) == (130, b"", b"jaxgd: interrupted\n")


@pytest.mark.slow
def test_the_compilation_cache_is_filled_and_reused(tmp_path):
    """A second run finds every program of the first in the cache folder."""
    path, _, _ = regression_csv(tmp_path)
    cache = tmp_path / "cache"
    script = (
        "import sys, jax.monitoring as m\n"
        "hits = []\n"
        "m.register_event_listener(lambda name, **kw: "
        "hits.append(name) if name == '/jax/compilation_cache/cache_hits' else None)\n"
        "from jaxgd.cli import main\n"
        "code = main(sys.argv[1:])\n"
        "print('HITS', len(hits), file=sys.stderr)\n"
        "raise SystemExit(code)\n"
    )

    def once(*more):
        done = subprocess.run(
            [PYTHON, "-c", script, *map(str, fit_args(path, *more))],
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
            env=subprocess_env(tmp_path),
        )
        assert done.returncode == 0, done.stderr
        return int(done.stderr.split("HITS ")[1])

    assert once() == 0
    entries = sorted(p.name for p in cache.iterdir())
    assert entries
    assert once() > 0
    assert sorted(p.name for p in cache.iterdir()) == entries


@pytest.mark.slow
def test_damaged_cache_entries_are_removed_and_compiled_again(tmp_path):
    """Empty, garbage and swapped entries cost one line and a compilation, once;
    so does an entry that JAX cannot read during a run."""
    path, _, _ = regression_csv(tmp_path)
    cache = tmp_path / "cache"

    def once():
        done = subprocess.run(
            [PYTHON, "-m", "jaxgd", *map(str, fit_args(path)), "--json"],
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
            env=subprocess_env(tmp_path),
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["diverged"] is False
        return done.stderr

    assert once() == ""
    entries = sorted(p for p in cache.iterdir() if p.suffix != ".json")
    assert len(entries) >= 4
    entries[0].write_bytes(b"")
    entries[1].write_bytes(b"garbage")
    swapped = entries[2].read_bytes()
    entries[2].write_bytes(entries[3].read_bytes())
    entries[3].write_bytes(swapped)
    assert once() == (
        f"jaxgd: warning: removed 4 damaged entries from the cache of compiled "
        f"programs in {cache}; they are compiled again\n"
    )
    assert sorted(p for p in cache.iterdir() if p.suffix != ".json") == entries
    assert once() == ""
    # An entry damaged while its record says it is whole (a run that wrote it
    # and died, say) is found by JAX during the run.
    entries[1].write_bytes(b"garbage")
    (records,) = cache.glob("*.json")
    digests = json.loads(records.read_text(encoding="utf-8"))
    digests[entries[1].name] = hashlib.sha256(b"garbage").hexdigest()
    records.write_text(json.dumps(digests), encoding="utf-8")
    err = once()
    assert err.startswith(
        f"jaxgd: warning: the cache of compiled programs in {cache}: Error reading "
    )
    assert err.count("\n") == 1
    assert once() == ""
    assert sorted(p for p in cache.iterdir() if p.suffix != ".json") == entries


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0,
    reason="permission bits do not stop root from writing",
)
def test_a_cache_folder_that_cannot_be_written_is_one_line(
    tmp_path, capsys, monkeypatch
):
    folder = tmp_path / "cache"
    folder.mkdir()
    folder.chmod(0o500)
    monkeypatch.setenv("JAXGD_CACHE_DIR", str(folder))
    path, _, _ = regression_csv(tmp_path)
    try:
        code, out, err = run(capsys, [*fit_args(path), "--json"], cache=True)
    finally:
        folder.chmod(0o700)
    assert code == 0 and json.loads(out)["diverged"] is False
    assert err == (
        f"jaxgd: warning: cannot keep compiled programs in {folder}: Permission "
        "denied; running without the cache\n"
    )


@pytest.mark.slow
def test_a_cache_folder_that_cannot_be_made_is_a_warning(tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("JAXGD_CACHE_DIR", str(blocker / "cache"))
    path, _, _ = regression_csv(tmp_path)
    code, out, err = run(capsys, [*fit_args(path), "--json"], cache=True)
    assert code == 0 and json.loads(out)["diverged"] is False
    assert err.startswith(
        f"jaxgd: warning: cannot keep compiled programs in {blocker / 'cache'}: "
    )
    assert err.endswith("; running without the cache\n") and err.count("\n") == 1


def test_no_cache_makes_no_cache_folder(tmp_path, capsys, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("JAXGD_CACHE_DIR", str(cache))
    path, _, _ = regression_csv(tmp_path)
    code, _, _ = run(capsys, [*fit_args(path), "--no-cache"], cache=True)
    assert code == 0 and not cache.exists()


@pytest.mark.slow
def test_the_package_loads_jax_when_a_name_is_first_used():
    script = (
        "import sys, jaxgd\n"
        "before = 'jax' in sys.modules\n"
        "from jaxgd import fit, linear\n"
        "names = [n for n in jaxgd.__all__ if getattr(jaxgd, n, None) is None]\n"
        "listed = set(jaxgd.__all__) <= set(dir(jaxgd))\n"
        "print(before, 'jax' in sys.modules, names, listed)\n"
    )
    done = subprocess.run(
        [PYTHON, "-c", script], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "False True [] True\n"
    with pytest.raises(AttributeError, match="module 'jaxgd' has no attribute 'nope'"):
        jaxgd.nope  # noqa: B018
