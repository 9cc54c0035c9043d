"""Runs each script in `examples/` with tiny sizes and checks what it reports."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from jaxgd import datasets

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load_example(name):
    spec = importlib.util.spec_from_file_location(
        f"example_{name}", EXAMPLES / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def assert_pngs(folder, *names):
    for name in names:
        data = (folder / name).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 1000, name


def standardised(name):
    data = datasets.load(name)
    X = (data.X - data.X.mean(axis=0)) / data.X.std(axis=0)
    return X, data.y


def max_rate(X, curvature):
    """2 / lambda_max of the Hessian curvature * A^T A / N, with A = [X, 1].

    The curvature is 2 for the mean squared error and at most 1/4 for binary
    cross-entropy.
    """
    A = np.hstack([X, np.ones((X.shape[0], 1))])
    return 2 * X.shape[0] / (curvature * np.linalg.eigvalsh(A.T @ A)[-1])


def test_one_dimension_balls_roll_against_the_slope_to_the_minimum(tmp_path, capsys):
    example = load_example("one_dimension")
    out = tmp_path / "figures"
    report = example.main(num_steps=60, out=out, learning_rate=0.1)

    starts = np.array(report["starts"])
    slopes = 2.0 * (starts - 2.0)  # dy/dx of (x - 2)^2 + 1
    np.testing.assert_allclose(report["slopes"], slopes, rtol=1e-6)
    np.testing.assert_allclose(report["first_moves"], -0.1 * slopes, rtol=1e-5)
    assert np.all(np.sign(report["first_moves"]) == -np.sign(slopes))
    assert np.sign(slopes).tolist() == [-1.0, 1.0]
    np.testing.assert_allclose(report["ends"], 2.0, atol=1e-3)
    np.testing.assert_allclose(report["final_losses"], 1.0, atol=1e-5)
    assert "(right)" in capsys.readouterr().out
    assert_pngs(out, "one_dimension.png")


@pytest.mark.slow
def test_local_minima_best_ball_is_in_the_global_minimum(tmp_path):
    example = load_example("local_minima")
    report = example.main(num_steps=200, out=tmp_path, num_starts=5)

    def f(x):
        return x**4 - 3 * x**2 + x

    critical = np.sort(np.roots([4.0, 0.0, -6.0, 1.0]).real)
    low, hump, high = critical  # minimum, maximum, minimum
    minimiser = low if f(low) < f(high) else high
    assert minimiser == low and f(low) < f(high) - 1.0
    np.testing.assert_allclose(report["best_end"], minimiser, atol=1e-3)
    np.testing.assert_allclose(report["best_loss"], f(minimiser), atol=1e-4)
    # Each ball ends in the valley on its side of the hump.
    starts, ends = np.array(report["starts"]), np.array(report["ends"])
    np.testing.assert_allclose(ends, np.where(starts < hump, low, high), atol=1e-3)
    assert (starts > hump).any() and (starts < hump).any()
    assert_pngs(tmp_path, "local_minima.png")


@pytest.mark.slow
def test_two_dimensions_steps_use_the_analytic_gradient(tmp_path):
    example = load_example("two_dimensions")
    report = example.main(num_steps=80, out=tmp_path, learning_rate=0.09, shown=4)

    def gradient(x):  # [df/dx1, df/dx2] of (x1 - 1)^2 + 10 (x2 + 0.5)^2
        x = np.asarray(x)
        return np.stack([2 * (x[..., 0] - 1), 20 * (x[..., 1] + 0.5)], axis=-1)

    points = np.array(report["points"])
    assert points.shape == (5, 2)
    np.testing.assert_allclose(report["gradient_at_start"], gradient(report["start"]))
    np.testing.assert_allclose(
        report["step_gradients"], gradient(points[:-1]), rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(report["end"], [1.0, -0.5], atol=1e-3)
    assert_pngs(tmp_path, "two_dimensions.png")


@pytest.mark.slow
def test_linear_layer_learns_the_least_squares_weights(tmp_path):
    example = load_example("linear_layer")
    report = example.main(num_steps=600, out=tmp_path)

    X, y = standardised("auto_mpg")
    y = (y - y.mean()) / y.std()
    A = np.hstack([X, np.ones((X.shape[0], 1))])
    theta = np.linalg.lstsq(A, y, rcond=None)[0]
    best = np.mean((A @ theta - y) ** 2)

    assert report["dimensions"] == 7  # W: 6 x 1, b: 1
    np.testing.assert_allclose(
        report["learning_rate"], 0.9 * max_rate(X, curvature=2), rtol=1e-4
    )
    np.testing.assert_allclose(report["W"], theta[:-1], atol=1e-3)
    np.testing.assert_allclose(report["b"], theta[-1], atol=1e-3)
    np.testing.assert_allclose(report["W_closed_form"], theta[:-1], atol=1e-4)
    np.testing.assert_allclose(report["final_loss"], best, rtol=1e-4)
    np.testing.assert_allclose(report["closed_form_loss"], best, rtol=1e-4)
    assert report["max_weight_difference"] < 1e-3
    assert_pngs(tmp_path, "linear_layer.png")


@pytest.mark.slow
def test_learning_rate_flags_exactly_the_rates_above_the_bound(tmp_path):
    example = load_example("learning_rate")
    report = example.main(num_steps=100, out=tmp_path, first_guess=1.0)

    X, _ = standardised("auto_mpg")
    bound = max_rate(X, curvature=2)
    np.testing.assert_allclose(report["max_learning_rate"], bound, rtol=1e-4)
    rates = np.array(report["learning_rates"])
    assert (rates < bound).any() and (rates > bound).any()
    assert report["diverged"] == (rates > bound).tolist()
    assert [v == "diverges" for v in report["verdicts"]] == (rates > bound).tolist()
    assert "crawls" in report["verdicts"] and "good" in report["verdicts"]

    for name, factor in (("halve", 0.5), ("cut to 10%", 0.1)):
        tries = report[name]
        tried = np.array([rate for rate, _ in tries])
        np.testing.assert_allclose(tried, factor ** np.arange(len(tries)))
        # A try works exactly when its rate is below the bound.
        assert [works for _, works in tries] == (tried < bound).tolist()
        assert tries[-1][1] and len(tries) > 1
    assert_pngs(tmp_path, "learning_rate_sweep.png", "learning_rate_losses.png")

    # The loss curves: coloured by rate, the diverged ones off the scale.
    ax = report["figures"]["losses"].axes[0]
    converged = np.array(report["final_losses"])[~(rates > bound)]
    assert ax.get_yscale() == "log"
    assert ax.get_ylim()[1] < 1e3 * max(converged.max(), 1.0)
    colours = {line.get_color() for line in ax.lines[: len(rates)]}
    assert len(colours) == len(rates)


@pytest.mark.slow
def test_logistic_regression_classifies_the_biopsies(tmp_path, capsys):
    example = load_example("logistic_regression")
    report = example.main(num_steps=100, out=tmp_path)

    X, y = standardised("breast_cancer")
    np.testing.assert_allclose(
        report["learning_rate"], max_rate(X, curvature=0.25), rtol=1e-4
    )
    logits = X @ np.array(report["W"]) + np.array(report["b"])
    accuracy = np.mean((logits > 0) == (y == 1))
    np.testing.assert_allclose(report["accuracy"], accuracy, atol=1 / len(y))
    assert report["accuracy"] > 0.9
    np.testing.assert_allclose(report["baseline_accuracy"], 357 / 569, rtol=1e-6)
    bce = np.mean(np.logaddexp(0, logits) - y * logits)
    np.testing.assert_allclose(report["final_loss"], bce, rtol=1e-3)
    assert f"{report['accuracy']:.1%}" in capsys.readouterr().out
    assert_pngs(tmp_path, "logistic_regression.png")


@pytest.mark.slow
def test_minibatch_sgd_gets_further_in_the_same_epochs(tmp_path):
    example = load_example("minibatch_sgd")
    report = example.main(num_steps=4, out=tmp_path, batch_size=32)

    assert report["full_batch_updates"] == 4
    assert report["minibatch_updates"] == 4 * (392 // 32)
    best = report["closed_form_loss"]
    assert best <= report["minibatch_loss"] < report["full_batch_loss"]
    assert_pngs(tmp_path, "minibatch_sgd.png")
