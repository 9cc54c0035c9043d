"""`jaxgd demo`: the gradient-descent chapter end to end, one figure per part.

Each part runs with the public API on the shipped data and returns one row of
the summary table and one figure:

1. a ball rolls down a curve from both sides;
2. balls started across a curve with two valleys: local and global minima;
3. a ball on a 2-D surface follows −∇f, against the gradient;
4. the linear layer W, b fitted on `auto_mpg`, and its gap to the closed form;
5. a learning-rate sweep: too small crawls, too large diverges;
6. logistic regression on `breast_cancer`: the boundary of two features;
7. mini-batch SGD against full-batch gradient descent, on the full data.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxgd import (
    FitResult,
    _checks,
    best,
    datasets,
    find_learning_rate,
    fit,
    linear,
    multistart,
    sweep,
)

from . import DEMO_FORMATS, _files

# The 1-D and 2-D paths are drawn ball by ball; they take at most this many
# steps so that each one stays visible.
_PATH_STEPS = 60
_BATCH_SIZE = 32
# The two features of breast_cancer drawn in part 6: of all pairs, the one a
# line separates best.
_PAIR = ("mean_texture", "mean_concave_points")
# Dates left out of the vector formats, so that the same figure is the same file.
_METADATA = {"png": {}, "svg": {"Date": None}, "pdf": {"CreationDate": None}}


class Row(NamedTuple):
    """One part of the demo: what it shows, what came out, where its figure is."""

    story: str
    result: str
    figure: Path


def run_demo(
    out: str | os.PathLike[str], *, num_steps: int = 1000, format: str = "png"
) -> list[Row]:
    """Runs the chapter's seven parts and writes one figure for each.

    Args:
        out: the folder for the figures; created if missing.
        num_steps: gradient-descent steps of each run of the linear model (the
            1-D and 2-D paths take at most 60).
        format: the figures' file format, one of `DEMO_FORMATS`.

    Returns:
        One `Row` per part, in order, with the path of the figure written.

    Raises:
        ValueError: if `format` is not one of `DEMO_FORMATS`.
        TypeError: if `format` is not a str.
    """
    from jaxgd import plot

    _checks.choice(format, "format", DEMO_FORMATS)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, part in _PARTS:
        story, result, figure = part(plot, num_steps)
        path = out / f"{name}.{format}"
        save = functools.partial(
            figure.savefig, format=format, metadata=_METADATA[format]
        )
        _files.write(path, save, "wb")
        rows.append(Row(story, result, path))
    return rows


def _ball(plot: Any, num_steps: int) -> tuple[str, str, Any]:
    def f(x: jax.Array) -> jax.Array:
        return 0.5 * (x - 1.0) ** 2

    result = multistart(
        f,
        jnp.array([-2.0, 4.0]),
        learning_rate=0.3,
        num_steps=min(num_steps, _PATH_STEPS),
        record_params=True,
    )
    ends = np.asarray(result.params)
    figure = plot.path_1d(f, result)
    _label(figure, "x", "f(x) = (x − 1)² / 2")
    return (
        "a ball on (x - 1)²/2, from both sides",
        f"x = -2 rolls right to {ends[0]:.4f}, x = 4 rolls left to {ends[1]:.4f}",
        _titled(figure, "η = 0.3: negative slope rolls right, positive rolls left"),
    )


# x⁴ - 3x² + x has its global minimum near x = -1.30 and a local one near
# x = 1.13; its slope 4x³ - 6x + 1 vanishes at this hump between the valleys.
_HUMP = 0.1693


def _local_global(plot: Any, num_steps: int) -> tuple[str, str, Any]:
    def f(x: jax.Array) -> jax.Array:
        return x**4 - 3.0 * x**2 + x

    result = multistart(
        f,
        jnp.linspace(-2.0, 2.0, 5),
        learning_rate=0.02,
        num_steps=min(num_steps, _PATH_STEPS),
        record_params=True,
    )
    index, lane = best(result)
    ends = np.asarray(result.params)
    stuck = ends[ends > _HUMP]
    figure = plot.path_1d(f, result, x_range=(-2.2, 2.2), best=index)
    _label(figure, "x", "f(x) = x⁴ − 3x² + x")
    return (
        "local vs global minimum of x⁴ - 3x² + x",
        f"best of 5 starts: x = {float(lane.params):.3f}, f = "
        f"{float(lane.final_loss):.3f}; {stuck.size} of 5 stuck in the local valley",
        _titled(
            figure, f"{stuck.size} of 5 balls stop in the higher valley on the right"
        ),
    )


def _surface(plot: Any, num_steps: int) -> tuple[str, str, Any]:
    def f(x: jax.Array) -> jax.Array:
        return (x[0] - 1.0) ** 2 + 5.0 * (x[1] + 0.5) ** 2

    result = fit(
        f,
        jnp.array([-2.0, 1.5]),
        learning_rate=0.18,
        num_steps=min(num_steps, _PATH_STEPS),
        record_params=True,
    )
    x1, x2 = np.asarray(result.params).tolist()
    figure = plot.path_2d(f, result, bounds=((-2.5, 2.5), (-2.4, 1.9)), arrows=13)
    axes = figure.axes[0]
    axes.plot(
        [1.0],
        [-0.5],
        marker="*",
        markersize=16,
        markerfacecolor="gold",
        markeredgecolor="black",
        linestyle="none",
        zorder=6,
        label="minimum (1, −0.5)",
    )
    _legend(axes)
    return (
        "2-D: (x₁ - 1)² + 5(x₂ + 0.5)²",
        f"(-2, 1.5) follows -∇f to ({x1:.4f}, {x2:.4f}) in "
        f"{int(result.steps_taken)} steps",
        _titled(figure, "η = 0.18: the path zigzags down the narrow valley"),
    )


def _linear(plot: Any, num_steps: int) -> tuple[str, str, Any]:
    X, y = _standardized("auto_mpg")
    rate = 0.9 * linear.max_learning_rate(X)
    result = _fit_linear(linear.mse, X, y, rate, num_steps)
    loss = float(result.final_loss)
    closed = _closed_form(X, y)
    figure, (left, right) = plot.subplots(2)
    plot.loss_curve(result, ax=left, labels=["gradient descent"])
    left.axhline(closed, color="black", linestyle="--", label="closed form")
    # Inside the panel, where the loss has already fallen: a legend beside it
    # would push the right panel away.
    left.legend(loc="upper right")
    _label(left, None, "mse (mpg²)")
    left.set_title("the loss falls to the closed form")
    plot.loss_curve(result, ax=right, optimum=closed)
    _label(right, None, "mse − closed form (mpg²)")
    right.set_title("the gap, shrinking by a constant factor")
    figure.suptitle(
        f"linear layer W, b on auto_mpg (6 standardized features), η = {rate:.3g}"
    )
    return (
        "linear layer W, b on auto_mpg",
        f"mse {loss:.6g} after {num_steps} steps; closed form (linear.solve) "
        f"{closed:.6g}, gap {loss - closed:.2g}",
        figure,
    )


def _rates(plot: Any, num_steps: int) -> tuple[str, str, Any]:
    X, y = _standardized("auto_mpg")
    top = linear.max_learning_rate(X)
    # From far too small to past the bound, where plain gradient descent diverges.
    rates = top * np.geomspace(1e-3, 1.5, 25)
    result = sweep(linear.mse, *_start(X, y), learning_rates=rates, num_steps=num_steps)
    final = np.asarray(result.final_loss)
    index, _ = best(result)
    last = (
        f"diverged at step {int(result.steps_taken[-1])}"
        if bool(result.diverged[-1])
        else f"mse {final[-1]:.3g}"
    )
    # The finder knows nothing of the Hessian: one short sweep finds the edge.
    finding = find_learning_rate(linear.mse, *_start(X, y))
    closed = _closed_form(X, y)
    figure, (left, right) = plot.subplots(2)
    plot.lr_sweep(rates, result, max_learning_rate=top, optimum=closed, ax=left)
    left.axvline(
        finding.suggestion,
        color="tab:green",
        linestyle=":",
        label=f"find_learning_rate: {finding.suggestion:.3g}",
    )
    _legend(left)
    _label(left, None, "final mse − closed form (mpg²)")
    left.set_title("too small crawls, too large diverges")
    plot.loss_curve(result, ax=right, learning_rates=rates, optimum=closed)
    _label(right, None, "mse − closed form (mpg²)")
    right.set_title("every rate's run, coloured by η")
    figure.suptitle(f"{len(rates)} learning rates on auto_mpg, {num_steps} steps each")
    return (
        "learning-rate sweep on auto_mpg",
        f"max_learning_rate {top:.3g}, find_learning_rate suggests "
        f"{finding.suggestion:.3g}; too small {rates[0]:.2g}: mse "
        f"{final[0]:.4g}; best {rates[index]:.3g}: mse {final[index]:.6g}; too "
        f"large {rates[-1]:.3g}: {last}",
        figure,
    )


def _logistic(plot: Any, num_steps: int) -> tuple[str, str, Any]:
    data = datasets.load("breast_cancer")
    X, y = _standardized("breast_cancer")
    rate = 0.9 * linear.max_learning_rate(X, "bce")
    result = _fit_linear(linear.bce, X, y, rate, num_steps)
    share = linear.accuracy(result.params, X, y)
    columns = [data.feature_names.index(name) for name in _PAIR]
    pair = X[:, columns]
    two = _fit_linear(
        linear.bce, pair, y, 0.9 * linear.max_learning_rate(pair, "bce"), num_steps
    )
    pair_share = linear.accuracy(two.params, pair, y)
    figure, (left, right) = plot.subplots(2)
    plot.decision_boundary(
        two.params,
        pair,
        y,
        ax=left,
        feature_names=[f"{name} (standardized)" for name in _PAIR],
        class_names=("benign", "malignant"),
    )
    left.set_title("2 features: the boundary p = 1/2")
    # The two models' histories as two lanes of one result, for two colours.
    both = _lanes(result, two)
    plot.loss_curve(
        both,
        ax=right,
        labels=[
            f"{X.shape[1]} features, accuracy {share:.3f}",
            f"2 features, accuracy {pair_share:.3f}",
        ],
    )
    _label(right, None, "bce (nats)")
    right.set_title("the loss of both models")
    right.set_xscale("symlog", linthresh=10)
    figure.suptitle("logistic regression on breast_cancer (569 tumours)")
    return (
        "logistic regression on breast_cancer",
        f"accuracy {share:.4f} ({round(share * y.shape[0])} of {y.shape[0]}), "
        f"bce {float(result.final_loss):.4g}; on 2 features {pair_share:.4f}",
        figure,
    )


def _minibatch(plot: Any, num_steps: int) -> tuple[str, str, Any]:
    X, y = _standardized("auto_mpg")
    rate = 0.5 * linear.max_learning_rate(X)
    full = _fit_linear(linear.mse, X, y, rate, num_steps, record=True)
    sgd = _fit_linear(
        linear.mse, X, y, rate, num_steps, batch_size=_BATCH_SIZE, record=True
    )
    closed = _closed_form(X, y)
    # A mini-batch run records the loss of its batches; the loss of all rows
    # at every step comes from its recorded params.
    _, X64, y64 = _start(X, y)
    before = jax.tree.map(lambda path: path[:-1], sgd.trajectory)
    on_all_rows = jax.vmap(linear.mse, in_axes=(0, None, None))(before, X64, y64)
    both = _lanes(sgd._replace(losses=on_all_rows), full)
    figure = plot.loss_curve(
        both,
        labels=[
            f"mini-batches of {_BATCH_SIZE} rows",
            f"full batch ({X.shape[0]} rows)",
        ],
        optimum=closed,
    )
    _label(figure, None, "mse on all rows − closed form (mpg²)")
    return (
        "mini-batch SGD vs full batch",
        f"after {num_steps} updates: batches of {_BATCH_SIZE} mse "
        f"{float(sgd.final_loss):.6g}, full batch {float(full.final_loss):.6g}",
        _titled(figure, f"η = {rate:.3g}: mini-batch noise stops short of the optimum"),
    )


def _legend(axes: Any) -> None:
    """The legend of `axes` drawn again, with what was added after the plot."""
    axes.legend(
        loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, frameon=False
    )


def _label(figure_or_axes: Any, x: str | None, y: str | None) -> None:
    axes = figure_or_axes
    if hasattr(figure_or_axes, "get_axes"):  # a figure: its first axes
        axes = figure_or_axes.get_axes()[0]
    if x is not None:
        axes.set_xlabel(x)
    if y is not None:
        axes.set_ylabel(y)


def _titled(figure: Any, title: str) -> Any:
    figure.axes[0].set_title(title)
    return figure


def _lanes(*results: FitResult) -> FitResult:
    """The histories of runs of the same length as the lanes of one result."""
    histories = [
        result._replace(params=None, opt_state=None, trajectory=None)
        for result in results
    ]
    return jax.tree.map(lambda *fields: jnp.stack(fields), *histories)


def _standardized(name: str) -> tuple[np.ndarray, np.ndarray]:
    data = datasets.load(name)
    return (data.X - data.X.mean(axis=0)) / data.X.std(axis=0), data.y


def _closed_form(X: np.ndarray, y: np.ndarray) -> float:
    return float(linear.mse(linear.solve(X, y), X, y))


def _start(X: np.ndarray, y: np.ndarray) -> tuple[Any, jax.Array, jax.Array]:
    """The initial params of the linear layer and the data, in float64."""
    params = linear.init(jax.random.key(0), X.shape[1], 1, jnp.float64)
    return params, jnp.asarray(X, jnp.float64), jnp.asarray(y, jnp.float64)


def _fit_linear(
    loss: Callable,
    X: np.ndarray,
    y: np.ndarray,
    rate: float,
    num_steps: int,
    batch_size: int | None = None,
    record: bool = False,
) -> FitResult:
    return fit(
        loss,
        *_start(X, y),
        learning_rate=rate,
        num_steps=num_steps,
        batch_size=batch_size,
        key=None if batch_size is None else jax.random.key(1),
        record_params=record,
    )


# The figures' file names are part of the command's output: keep them stable.
_PARTS = (
    ("01_ball_1d", _ball),
    ("02_local_global", _local_global),
    ("03_path_2d", _surface),
    ("04_linear_auto_mpg", _linear),
    ("05_learning_rate_sweep", _rates),
    ("06_logistic_breast_cancer", _logistic),
    ("07_minibatch_sgd", _minibatch),
)
