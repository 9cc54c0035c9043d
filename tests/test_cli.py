"""The `jaxgd fit` and `jaxgd sweep` commands against direct calls of the library."""

import json
import re
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxgd
from jaxgd import datasets, linear
from jaxgd.cli import main

FEATURES = ("x1", "x2")
# One step count and one table shape for most runs, so they share compilations.
STEPS = 40


def write_csv(path, X, y, names=(*FEATURES, "y")):
    """Writes a table whose numbers read back exactly."""
    np.savetxt(
        path, np.hstack([X, y]), delimiter=",", header=",".join(names), comments=""
    )
    return str(path)


def regression_csv(tmp_path, n=24, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2)) * [1.0, 3.0] + [0.5, -1.0]
    y = X @ [[1.5], [-0.5]] + 2.0 + 0.1 * rng.normal(size=(n, 1))
    return write_csv(tmp_path / "data.csv", X, y), X, y


def labels_csv(tmp_path, n=40, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    y = (X @ [[2.0], [-1.0]] + 0.7 * rng.normal(size=(n, 1)) > 0).astype(float)
    return write_csv(tmp_path / "labels.csv", X, y), X, y


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


def run(capsys, argv):
    code = main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys, argv):
    code, out, err = run(capsys, [*argv, "--json"])
    return code, json.loads(out), err


def on_statistics(loss, X, y, batch_size=None):
    """As documented: full-batch mse runs on linear.stats, the rest on the rows."""
    data = (jnp.asarray(X, jnp.float32), jnp.asarray(y, jnp.float32))
    if loss is linear.mse and batch_size is None:
        return linear.mse_stats, (linear.stats(*data),)
    return loss, data


def direct_fit(loss, X, y, rate, seed=0, batch_size=None):
    """What the command line documents: init and batches from one seed."""
    init_key, batch_key = jax.random.split(jax.random.key(seed))
    loss, data = on_statistics(loss, X, y, batch_size)
    return jaxgd.fit(
        loss,
        linear.init(init_key, X.shape[1], 1),
        *data,
        learning_rate=rate,
        num_steps=STEPS,
        batch_size=batch_size,
        key=None if batch_size is None else batch_key,
    )


def direct_sweep(X, y, rates):
    init_key, _ = jax.random.split(jax.random.key(0))
    loss, data = on_statistics(linear.mse, X, y)
    return jaxgd.sweep(
        loss,
        linear.init(init_key, X.shape[1], 1),
        *data,
        learning_rates=rates,
        num_steps=STEPS,
    )


def max_rate(X, loss="mse"):
    return linear.max_learning_rate(jnp.asarray(X, jnp.float32), loss)


def assert_same_params(report, result, names=FEATURES):
    assert list(report["weights"]) == list(names)
    np.testing.assert_allclose(
        list(report["weights"].values()),
        np.asarray(result.params["W"])[:, 0],
        rtol=1e-6,
    )
    np.testing.assert_allclose(report["bias"], result.params["b"][0], rtol=1e-6)


# --- fit ---------------------------------------------------------------------


def test_fit_prints_weights_by_feature_name(tmp_path, capsys):
    path, X, y = regression_csv(tmp_path)
    code, out, err = run(capsys, fit_args(path))
    result = direct_fit(linear.mse, X, y, 0.9 * max_rate(X))
    assert code == 0 and err == ""
    learned = [*result.params["W"][:, 0].tolist(), float(result.params["b"][0])]
    for name, weight in zip((*FEATURES, "bias"), learned, strict=True):
        assert re.search(rf"^{name}\s+{weight:.6g}$", out, re.M)
    assert "closed-form loss" in out
    assert "--auto-lr: 0.9 × max_learning_rate" in out


@pytest.mark.parametrize(
    ("options", "rate", "batch_size", "seed"),
    [
        pytest.param([], None, None, 0, id="auto-lr"),
        pytest.param(["--learning-rate", "0.01"], 0.01, None, 0, id="given-rate"),
        pytest.param(["--batch-size", "5", "--seed", "3"], None, 5, 3, id="batches"),
    ],
)
def test_fit_json_equals_direct_fit(tmp_path, capsys, options, rate, batch_size, seed):
    path, X, y = regression_csv(tmp_path)
    code, report, _ = run_json(capsys, fit_args(path, *options))
    if rate is None:
        rate = (0.9 if batch_size is None else 0.5) * max_rate(X)
    result = direct_fit(linear.mse, X, y, rate, seed, batch_size)
    assert code == 0
    np.testing.assert_allclose(report["learning_rate"], rate, rtol=1e-6)
    assert_same_params(report, result)
    np.testing.assert_allclose(report["final_loss"], result.final_loss, rtol=1e-5)
    assert report["steps_taken"] == STEPS and report["diverged"] is False
    assert report["data"] == path and report["target"] == "y"


def test_fit_line_search_equals_direct_fit_with_auto(tmp_path, capsys):
    path, X, y = regression_csv(tmp_path)
    code, report, _ = run_json(capsys, fit_args(path, "--line-search"))
    result = direct_fit(linear.mse, X, y, "auto")
    steps = np.asarray(result.step_sizes)
    assert code == 0 and report["learning_rate"] == "auto"
    assert_same_params(report, result)
    assert report["loss_evals"] == int(result.loss_evals) > STEPS
    np.testing.assert_allclose(report["step_sizes"]["min"], np.nanmin(steps))
    np.testing.assert_allclose(report["step_sizes"]["max"], np.nanmax(steps))
    code, out, _ = run(capsys, fit_args(path, "--line-search"))
    per_step = int(result.loss_evals) / STEPS
    assert "learning rate      auto (--line-search: an Armijo" in out
    assert f"{per_step:.2f} loss evaluations per step" in out


def test_fit_closed_form_is_least_squares_in_float64(tmp_path, capsys, x64):
    path, X, y = regression_csv(tmp_path)
    code, report, _ = run_json(capsys, fit_args(path, "--standardize"))
    Xs = (X - X.mean(axis=0)) / X.std(axis=0)
    closed = float(linear.mse(linear.solve(Xs, y), Xs, y))
    learned = {
        "W": jnp.asarray(list(report["weights"].values()))[:, None],
        "b": jnp.asarray([report["bias"]]),
    }
    assert code == 0 and report["standardized"] is True
    np.testing.assert_allclose(report["closed_form_loss"], closed, rtol=1e-12)
    np.testing.assert_allclose(
        report["final_loss"], float(linear.mse(learned, Xs, y)), rtol=1e-12
    )
    assert report["gap"] == report["final_loss"] - report["closed_form_loss"]
    # Standardized, the linear model converges to the closed form.
    assert -1e-12 * closed <= report["gap"] < 1e-6 * closed


def test_fit_standardize_fits_standardized_features(tmp_path, capsys):
    path, X, y = regression_csv(tmp_path)
    code, report, _ = run_json(capsys, fit_args(path, "--standardize"))
    Xs = (X - X.mean(axis=0)) / X.std(axis=0)
    assert code == 0
    assert_same_params(report, direct_fit(linear.mse, Xs, y, 0.9 * max_rate(Xs)))


def test_fit_features_selects_columns(tmp_path, capsys):
    path, X, y = regression_csv(tmp_path)
    code, report, _ = run_json(capsys, fit_args(path, "--features", "x2"))
    result = direct_fit(linear.mse, X[:, 1:], y, 0.9 * max_rate(X[:, 1:]))
    assert code == 0
    assert_same_params(report, result, ["x2"])


def test_fit_bce_accuracy_matches_direct_computation(tmp_path, capsys):
    path, X, y = labels_csv(tmp_path)
    code, report, _ = run_json(capsys, fit_args(path, "--loss", "bce"))
    result = direct_fit(linear.bce, X, y, 0.9 * max_rate(X, "bce"))
    logits = X @ np.asarray(result.params["W"]) + np.asarray(result.params["b"])
    assert code == 0
    assert_same_params(report, result)
    assert report["accuracy"] == pytest.approx(np.mean((logits > 0) == (y == 1)))
    assert "closed_form_loss" not in report
    np.testing.assert_allclose(report["final_loss"], result.final_loss, rtol=1e-5)


def test_fit_bce_text_reports_accuracy(tmp_path, capsys):
    path, _, y = labels_csv(tmp_path)
    code, out, _ = run(capsys, fit_args(path, "--loss", "bce"))
    assert code == 0
    assert re.search(rf"^accuracy\s+[01]\.\d{{4}} \(\d+ of {len(y)}\)$", out, re.M)


@pytest.mark.parametrize(
    ("loss", "name"), [("mse", "auto_mpg"), ("bce", "breast_cancer")]
)
def test_fit_without_csv_uses_the_shipped_data(capsys, loss, name):
    argv = ["fit", "--loss", loss, "--standardize", "--steps", STEPS]
    code, report, _ = run_json(capsys, argv)
    data = datasets.load(name)
    assert code == 0
    assert report["data"] == name and report["target"] == data.target_name
    assert list(report["weights"]) == list(data.feature_names)


def test_fit_without_csv_takes_another_target(capsys):
    code, report, _ = run_json(capsys, ["fit", "--target", "weight", "--steps", STEPS])
    assert code == 0 and report["target"] == "weight"
    assert "weight" not in report["weights"] and "mpg" in report["weights"]


def test_fit_divergence_exits_1_and_suggests_a_rate_that_works(tmp_path, capsys):
    path, _, _ = regression_csv(tmp_path)
    code, report, err = run_json(capsys, fit_args(path, "--learning-rate", 5))
    assert code == 1 and report["diverged"] is True
    assert report["steps_taken"] < STEPS
    match = re.fullmatch(
        r"jaxgd: the fit diverged at step (\d+): learning rate 5 is too large "
        r"\(max_learning_rate = \S+\); try --learning-rate (\S+) \(.*\)\n",
        err,
    )
    assert match and int(match[1]) == report["steps_taken"]
    code, report, _ = run_json(capsys, fit_args(path, "--learning-rate", match[2]))
    assert code == 0 and report["diverged"] is False


def test_fit_divergence_suggests_a_tenth_when_that_is_safe(tmp_path, capsys):
    path, X, _ = regression_csv(tmp_path)
    rate = 5 * max_rate(X)
    code, _, err = run(capsys, fit_args(path, "--learning-rate", rate))
    assert code == 1
    assert err.endswith(f"try --learning-rate {rate / 10:.6g} (a tenth of it)\n")


def test_fit_plot_writes_the_loss_curve(tmp_path, capsys):
    path, _, _ = regression_csv(tmp_path)
    figure = tmp_path / "loss.png"
    code, _, _ = run(capsys, fit_args(path, "--plot", figure))
    assert code == 0
    assert figure.read_bytes().startswith(b"\x89PNG")


# --- sweep -------------------------------------------------------------------


def test_sweep_json_equals_direct_sweep_and_best(tmp_path, capsys):
    path, X, y = regression_csv(tmp_path)
    code, report, _ = run_json(capsys, sweep_args(path, "1e-3:3:3"))
    rates = np.logspace(-3, np.log10(3), 3)
    result = direct_sweep(X, y, rates)
    index, lane = jaxgd.best(result)
    runs = report["runs"]
    assert code == 0
    np.testing.assert_allclose([r["learning_rate"] for r in runs], rates)
    assert [r["diverged"] for r in runs] == result.diverged.tolist()
    assert runs[-1]["diverged"] is True  # 3 is past max_learning_rate
    assert [r["steps_taken"] for r in runs] == result.steps_taken.tolist()
    for run_, loss in zip(runs, result.final_loss.tolist(), strict=True):
        # JSON has no infinity: a loss that overflowed is null.
        assert run_["final_loss"] == pytest.approx(loss if np.isfinite(loss) else None)
    assert report["best"]["index"] == index
    assert_same_params(report["best"], lane)
    np.testing.assert_allclose(report["max_learning_rate"], max_rate(X), rtol=1e-6)


def test_sweep_text_table_and_best(tmp_path, capsys):
    path, X, y = regression_csv(tmp_path)
    code, out, _ = run(capsys, sweep_args(path, "0.01:0.05:3"))
    rates = np.logspace(-2, np.log10(0.05), 3)
    result = direct_sweep(X, y, rates)
    index, lane = jaxgd.best(result)
    assert code == 0
    for rate, loss in zip(rates, result.final_loss.tolist(), strict=True):
        assert re.search(rf"^\s*{rate:.6g}\s+{loss:.6g}\s+{STEPS}\s+no$", out, re.M)
    assert (
        f"best: learning rate {rates[index]:.6g} (run {index + 1}), final loss "
        f"{float(lane.final_loss):.6g}" in out
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
    argv = sweep_args(path, "1e-3:1:3", "--plot", figure)
    code, _, _ = run(capsys, argv)
    assert code == 0
    assert figure.read_bytes().startswith(b"\x89PNG")


# --- bad input ---------------------------------------------------------------


def fails_with(capsys, argv, message):
    """The command exits with 2 and says exactly one line, containing message."""
    code, out, err = run(capsys, argv)
    assert code == 2, err
    assert out == ""
    assert err.startswith("jaxgd: error: ") and err.count("\n") == 1, err
    assert message in err, err


def test_missing_and_unreadable_files(tmp_path, capsys):
    missing = tmp_path / "nope.csv"
    fails_with(
        capsys, fit_args(missing), f"{missing}: cannot read the table: No such file"
    )
    fails_with(capsys, fit_args(tmp_path), f"{tmp_path}: cannot read the table")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("", "the table is empty", id="empty"),
        pytest.param(
            "x1,x2,y\n1,2,3\n4,abc,6\n",
            "data row 2 (line 3), column 'x2': cannot read 'abc' as a number",
            id="not-a-number",
        ),
        pytest.param(
            "x1,x2,y\n1,,3\n4,5,nan\n",
            "2 cells are empty, NaN or infinite: data row 1 column 'x2'; data row 2 "
            "column 'y'",
            id="empty-and-nan",
        ),
    ],
)
def test_bad_tables(tmp_path, capsys, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")
    fails_with(capsys, fit_args(path), f"{path}: {message}")


def test_missing_columns_list_the_columns(tmp_path, capsys):
    path, _, _ = regression_csv(tmp_path)
    columns = "its columns are: 'x1', 'x2', 'y'"
    fails_with(
        capsys,
        ["fit", path, "--target", "z"],
        f"target column 'z' is not in the table; {columns}",
    )
    fails_with(
        capsys,
        sweep_args(path, "0.1:1:2", "--features", "x1,q"),
        f"feature column 'q' is not in the table; {columns}",
    )


def test_target_is_required_with_a_csv(tmp_path, capsys):
    path, _, _ = regression_csv(tmp_path)
    fails_with(capsys, ["fit", path], f"--target is required with a CSV file ({path})")


def test_constant_column_with_standardize(tmp_path, capsys):
    X = np.array([[1.0, 5.0], [2.0, 5.0]])
    path = write_csv(tmp_path / "c.csv", X, np.array([[1.0], [2.0]]))
    fails_with(
        capsys,
        fit_args(path, "--standardize"),
        "--standardize cannot rescale a constant column: 'x2' has the same value in "
        "every row",
    )


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
        "and a whole number >= 1 (e.g. 1e-3:1:10 for 10 log-spaced rates); got "
        f"'{spec}'",
    )


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--learning-rate", "0", "must be a positive finite number; got '0'"),
        ("--learning-rate", "-0.1", "must be a positive finite number; got '-0.1'"),
        ("--learning-rate", "inf", "must be a positive finite number; got 'inf'"),
        ("--steps", "0", "must be a whole number >= 1; got '0'"),
        ("--steps", "2.5", "must be a whole number >= 1; got '2.5'"),
        ("--batch-size", "0", "must be a whole number >= 1; got '0'"),
        ("--seed", "-1", "must be a whole number >= 0; got '-1'"),
    ],
)
def test_bad_numbers(tmp_path, capsys, option, value, message):
    path, _, _ = regression_csv(tmp_path)
    fails_with(
        capsys, fit_args(path, f"{option}={value}"), f"argument {option}: {message}"
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


def test_plot_into_a_missing_folder(tmp_path, capsys):
    path, _, _ = regression_csv(tmp_path)
    figure = tmp_path / "no" / "loss.png"
    code, out, err = run(capsys, fit_args(path, "--plot", figure, "--json"))
    assert code == 2 and json.loads(out)["diverged"] is False
    assert err.startswith(f"jaxgd: error: cannot write the figure '{figure}': ")
    assert err.count("\n") == 1


# --- entry points ------------------------------------------------------------


def test_python_dash_m_help():
    done = subprocess.run(
        [sys.executable, "-m", "jaxgd", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for command in ("demo", "fit", "sweep"):
        assert command in done.stdout


def test_a_reader_that_leaves_early_gets_no_traceback(tmp_path):
    """`jaxgd fit ... | head -1`: the pipe closes before the report is written."""
    path, _, _ = regression_csv(tmp_path)
    process = subprocess.Popen(
        [sys.executable, "-m", "jaxgd", *map(str, fit_args(path))],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    process.stdout.close()
    _, err = process.communicate(timeout=120)
    assert process.returncode == 1
    assert b"Traceback" not in err and b"BrokenPipeError" not in err


def test_help_returns_0(capsys):
    code, out, _ = run(capsys, ["fit", "--help"])
    assert code == 0 and "--learning-rate" in out and "--auto-lr" in out
