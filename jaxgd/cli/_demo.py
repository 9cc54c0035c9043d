"""`jaxgd demo`: the gradient-descent chapter end to end, one figure per part.

Each part runs with the public API on the shipped data and returns one row of
the summary table and one figure:

1. a ball rolls down a curve from both sides;
2. balls started across a curve with two valleys: local and global minima;
3. a ball on a 2-D surface rolls against the gradient arrows;
4. the linear layer W, b fitted on `auto_mpg`, against the closed form;
5. a learning-rate sweep: too small crawls, too large diverges;
6. logistic regression on `breast_cancer`, with its accuracy;
7. mini-batch SGD against full-batch gradient descent.
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
    best,
    datasets,
    find_learning_rate,
    fit,
    linear,
    multistart,
    sweep,
)

from . import _files

# The 1-D and 2-D paths are drawn ball by ball; they take at most this many
# steps so that each one stays visible.
_PATH_STEPS = 60
_BATCH_SIZE = 32


class Row(NamedTuple):
    """One part of the demo: what it shows, what came out, where its figure is."""

    story: str
    result: str
    figure: Path


def run_demo(out: str | os.PathLike[str], *, num_steps: int = 1000) -> list[Row]:
    """Runs the chapter's seven parts and writes one PNG figure for each.

    Args:
        out: the folder for the figures; created if missing.
        num_steps: gradient-descent steps of each run of the linear model (the
            1-D and 2-D paths take at most 60).

    Returns:
        One `Row` per part, in order, with the path of the figure written.
    """
    from jaxgd import plot

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, part in _PARTS:
        story, result, figure = part(plot, num_steps)
        path = out / name
        _files.write(path, functools.partial(figure.savefig, format="png"), "wb")
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
    return (
        "a ball on (x - 1)²/2, from both sides",
        f"x = -2 rolls right to {ends[0]:.4f}, x = 4 rolls left to {ends[1]:.4f}",
        _titled(plot.path_1d(f, result), "negative slope: right; positive: left"),
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
    _, lane = best(result)
    ends = np.asarray(result.params)
    stuck = ends[ends > _HUMP]
    return (
        "local vs global minimum of x⁴ - 3x² + x",
        f"best of 5 starts: x = {float(lane.params):.3f}, f = "
        f"{float(lane.final_loss):.3f}; {stuck.size} of 5 stuck in the local valley",
        _titled(plot.path_1d(f, result), "some balls stop in the higher valley"),
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
    return (
        "2-D: (x₁ - 1)² + 5(x₂ + 0.5)²",
        f"(-2, 1.5) zigzags against the gradient to ({x1:.4f}, {x2:.4f}) in "
        f"{int(result.steps_taken)} steps",
        _titled(plot.path_2d(f, result), "the ball rolls against the gradient"),
    )


def _linear(plot: Any, num_steps: int) -> tuple[str, str, Any]:
    X, y = _standardized("auto_mpg")
    rate = 0.9 * linear.max_learning_rate(X)
    result = _fit_linear(linear.mse, X, y, rate, num_steps)
    loss = float(result.final_loss)
    closed = float(linear.mse(linear.solve(X, y), X, y))
    figure = plot.loss_curve(result, labels=[f"gradient descent, η = {rate:.3g}"])
    ax = _titled(figure, "linear layer on auto_mpg (mse)").axes[0]
    ax.axhline(closed, color="black", linestyle="--", label="closed form")
    ax.legend()
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
    rates = top * np.array([1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 0.6, 0.9, 1.1, 1.5])
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
    figure = plot.lr_sweep(rates, result, max_learning_rate=top)
    axes = figure.axes[0]
    axes.axvline(
        finding.suggestion,
        color="tab:green",
        linestyle=":",
        label=f"find_learning_rate suggests {finding.suggestion:.3g}",
    )
    axes.legend()
    return (
        "learning-rate sweep on auto_mpg",
        f"max_learning_rate {top:.3g}, find_learning_rate suggests "
        f"{finding.suggestion:.3g}; too small {rates[0]:.2g}: mse "
        f"{final[0]:.4g}; best {rates[index]:.3g}: mse {final[index]:.6g}; too "
        f"large {rates[-1]:.3g}: {last}",
        _titled(figure, f"{num_steps} steps: too small crawls, too large diverges"),
    )


def _logistic(plot: Any, num_steps: int) -> tuple[str, str, Any]:
    X, y = _standardized("breast_cancer")
    rate = 0.9 * linear.max_learning_rate(X, "bce")
    result = _fit_linear(linear.bce, X, y, rate, num_steps)
    share = linear.accuracy(result.params, X, y)
    figure = _titled(
        plot.loss_curve(result), "logistic regression on breast_cancer (bce)"
    )
    return (
        "logistic regression on breast_cancer",
        f"accuracy {share:.4f} ({round(share * y.shape[0])} of {y.shape[0]}), "
        f"bce {float(result.final_loss):.4g}",
        figure,
    )


def _minibatch(plot: Any, num_steps: int) -> tuple[str, str, Any]:
    X, y = _standardized("auto_mpg")
    rate = 0.5 * linear.max_learning_rate(X)
    full = _fit_linear(linear.mse, X, y, rate, num_steps)
    sgd = _fit_linear(linear.mse, X, y, rate, num_steps, batch_size=_BATCH_SIZE)
    # The two runs as two lanes of one result, so they get two colours; the
    # smooth full-batch curve last, on top of the noisy one.
    both = jax.tree.map(lambda a, b: jnp.stack([a, b]), sgd, full)
    figure = _titled(
        plot.loss_curve(
            both,
            labels=[
                f"mini-batch ({_BATCH_SIZE} rows)",
                f"full batch ({X.shape[0]} rows)",
            ],
        ),
        f"mini-batch SGD vs full batch, η = {rate:.3g}",
    )
    return (
        "mini-batch SGD vs full batch",
        f"after {num_steps} updates: batches of {_BATCH_SIZE} mse "
        f"{float(sgd.final_loss):.6g}, full batch {float(full.final_loss):.6g}",
        figure,
    )


def _titled(figure: Any, title: str) -> Any:
    figure.axes[0].set_title(title)
    return figure


def _standardized(name: str) -> tuple[np.ndarray, np.ndarray]:
    data = datasets.load(name)
    return (data.X - data.X.mean(axis=0)) / data.X.std(axis=0), data.y


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
) -> FitResult:
    return fit(
        loss,
        *_start(X, y),
        learning_rate=rate,
        num_steps=num_steps,
        batch_size=batch_size,
        key=None if batch_size is None else jax.random.key(1),
    )


# The figures' file names are part of the command's output: keep them stable.
_PARTS = (
    ("01_ball_1d.png", _ball),
    ("02_local_global.png", _local_global),
    ("03_path_2d.png", _surface),
    ("04_linear_auto_mpg.png", _linear),
    ("05_learning_rate_sweep.png", _rates),
    ("06_logistic_breast_cancer.png", _logistic),
    ("07_minibatch_sgd.png", _minibatch),
)
