"""Figures of a run: loss curves, learning-rate sweeps, paths on a curve or surface.

Every function returns a `matplotlib.figure.Figure`. Given `ax=` (a matplotlib
`Axes`) it draws into that axes and returns `ax.figure`, so several plots can
share one figure. Figures are built without `matplotlib.pyplot` and drawn by the
Agg canvas, so plotting works headless and never changes the backend a program
has chosen; save them with `fig.savefig("loss.png")`.

Needs matplotlib, the optional extra `plot`: ``pip install "jaxgd[plot]"``.

Examples:
    >>> import jax.numpy as jnp, jaxgd
    >>> from jaxgd import plot
    >>> result = jaxgd.fit(lambda x: (x - 3.0) ** 2, jnp.array(0.0),
    ...                    learning_rate=0.1, num_steps=50)
    >>> fig = plot.loss_curve(result)
    >>> fig.axes[0].get_yscale()
    'log'
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from . import _validate
from ._result import FitResult

try:
    from matplotlib.axes import Axes
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
except ImportError as error:
    raise ImportError(
        'jaxgd.plot needs matplotlib; install it with: pip install "jaxgd[plot]"'
    ) from error

__all__ = ["loss_curve", "lr_sweep", "path_1d", "path_2d"]

# Finite positive values spanning more than this ratio get a log axis.
_LOG_SPAN = 100.0
# Height, as a fraction of the axes, at which lanes without a finite value sit.
_TOP = 0.95
_DIVERGED_STYLE = {
    "marker": "x",
    "markersize": 9,
    "markeredgewidth": 2,
    "linestyle": "none",
    "color": "black",
    "zorder": 4,
}


def loss_curve(
    result: FitResult,
    *,
    ax: Axes | None = None,
    labels: Sequence[str] | None = None,
) -> Figure:
    """Plots the loss at every step of one run or of each lane of a batch.

    Only finite losses are drawn, so the NaN tail after a run stopped (by `tol`
    or by divergence) leaves no trace. A lane that diverged gets a black ``x``
    at step `steps_taken` (where the non-finite value was met), at the height
    of its last finite loss, and the legend says "diverged". The y axis is
    logarithmic when the finite losses are all >= 0 and the positive ones span
    more than two decades.

    Args:
        result: a `FitResult` whose `losses` have shape `(num_steps,)` (one run)
            or `(K, num_steps)` (K lanes from `sweep` or `multistart`).
        ax: axes to draw into; a new figure when None.
        labels: `K` legend labels, one per lane (one for a single run).

    Returns:
        The figure drawn into.

    Raises:
        TypeError: if `result` is not a `FitResult` or `ax` is not an Axes.
        ValueError: if `losses` is not 1-D or 2-D, or `labels` has the wrong
            length.

    Examples:
        >>> import jax.numpy as jnp, jaxgd
        >>> from jaxgd import plot
        >>> result = jaxgd.sweep(lambda x: x**2, jnp.array(1.0),
        ...                      learning_rates=jnp.array([0.1, 1.5]),
        ...                      num_steps=100)
        >>> fig = plot.loss_curve(result, labels=["0.1", "1.5"])
        >>> [line.get_label() for line in fig.axes[0].lines]
        ['0.1', '1.5', 'diverged']
    """
    losses, diverged, steps_taken = _lanes(result, "loss_curve")
    count = losses.shape[0]
    if labels is not None:
        if isinstance(labels, str) or len(labels) != count:
            raise ValueError(
                f"labels must hold one label per lane: result has {count} "
                f"lane(s) (losses.shape={np.shape(result.losses)}); got labels="
                f"{labels!r}."
            )
    fig, ax = _figure(ax)
    stops_x, stops_y, unseen = [], [], []
    for k in range(count):
        finite = np.isfinite(losses[k])
        steps = np.flatnonzero(finite)
        ax.plot(
            steps,
            losses[k][finite],
            color=_colour(k),
            label=None if labels is None else labels[k],
        )
        if diverged[k]:
            seen = steps[steps <= steps_taken[k]]
            if seen.size:
                stops_x.append(steps_taken[k])
                stops_y.append(losses[k][seen[-1]])
            else:
                unseen.append(steps_taken[k])
    if stops_x:
        ax.plot(stops_x, stops_y, label="diverged", **_DIVERGED_STYLE)
    if unseen:
        _mark_top(ax, unseen, label="_nolegend_" if stops_x else "diverged")
    _log_if_wide(ax, losses)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    if labels is not None or diverged.any():
        ax.legend()
    return fig


def lr_sweep(
    learning_rates: ArrayLike,
    result: FitResult,
    *,
    max_learning_rate: float | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Plots the final loss of each lane of a sweep against its learning rate.

    Lanes that ended with a finite loss are joined by a line, in order of
    rate, on a logarithmic rate axis; lanes that diverged (or ended with a
    non-finite loss) get a black ``x`` at the top of the axes, above their rate,
    labelled "diverged". The loss axis is logarithmic when the finite final
    losses span more than two decades.

    Args:
        learning_rates: `(K,)` the rates the sweep ran with.
        result: the `FitResult` of `jaxgd.sweep(..., learning_rates=...)`, with
            `final_loss` of shape `(K,)`.
        max_learning_rate: when given, a dashed vertical line at this rate,
            labelled with its value (e.g. `linear.max_learning_rate(X)`).
        ax: axes to draw into; a new figure when None.

    Returns:
        The figure drawn into.

    Raises:
        TypeError: if `result` is not a `FitResult` or `ax` is not an Axes.
        ValueError: if `learning_rates` is not a 1-D array of positive finite
            rates, one per lane of `result`, or `max_learning_rate` is not a
            positive finite number.

    Examples:
        >>> import jax.numpy as jnp, jaxgd
        >>> from jaxgd import plot
        >>> rates = jnp.array([0.01, 0.1, 0.5, 1.5])
        >>> result = jaxgd.sweep(lambda x: x**2, jnp.array(1.0),
        ...                      learning_rates=rates, num_steps=100)
        >>> fig = plot.lr_sweep(rates, result, max_learning_rate=1.0)
        >>> [line.get_label() for line in fig.axes[0].lines]
        ['final loss', 'diverged', 'max_learning_rate = 1']
    """
    _check_result(result, "lr_sweep")
    final = _numpy(result.final_loss)
    if final.ndim != 1:
        raise ValueError(
            "lr_sweep needs the result of jaxgd.sweep, whose final_loss has shape "
            f"(K,); got final_loss.shape={final.shape}."
        )
    rates = _numpy(learning_rates)
    if rates.shape != final.shape:
        raise ValueError(
            "learning_rates must hold one rate per lane of result: got "
            f"learning_rates.shape={rates.shape} for {final.shape[0]} lanes "
            f"(final_loss.shape={final.shape})."
        )
    if not np.all(np.isfinite(rates) & (rates > 0)):
        raise ValueError(
            f"learning_rates must be positive and finite for a log axis; got "
            f"{rates.tolist()}."
        )
    if max_learning_rate is not None:
        max_learning_rate = _positive(max_learning_rate, "max_learning_rate")
    fig, ax = _figure(ax)
    good = np.isfinite(final) & ~np.asarray(result.diverged, bool)
    order = np.argsort(rates[good], kind="stable")
    ax.plot(rates[good][order], final[good][order], marker="o", label="final loss")
    if not good.all():
        _mark_top(ax, rates[~good], label="diverged")
    if max_learning_rate is not None:
        ax.axvline(
            max_learning_rate,
            color="tab:red",
            linestyle="--",
            label=f"max_learning_rate = {max_learning_rate:.3g}",
        )
    ax.set_xscale("log")
    _log_if_wide(ax, final[good])
    ax.set_xlabel("learning rate")
    ax.set_ylabel("final loss")
    ax.legend()
    return fig


def path_1d(
    f: Callable[[jax.Array], jax.Array],
    result: FitResult,
    *,
    ax: Axes | None = None,
    x_range: tuple[float, float] | None = None,
    every: int | None = None,
) -> Figure:
    """Draws the chapter's ball rolling down a curve: `f` and the path on it.

    The curve is `f` over `x_range`. Each run's params until it stopped are
    balls at :math:`(x_t, f(x_t))`, one colour per run, with an arrow from each
    ball to the next: the way the ball rolled, downhill while the rate is
    small enough.

    Args:
        f: the function minimised, `f(x) -> scalar` for a scalar `x`; it is
            evaluated with `jax.vmap`.
        result: a `FitResult` of `fit` or `multistart` run with
            `record_params=True` on a scalar param: `trajectory` has shape
            `(num_steps + 1,)` (one run) or `(K, num_steps + 1)` (K runs).
        ax: axes to draw into; a new figure when None.
        x_range: `(low, high)` of the curve; by default the span of the balls
            with a margin of 10% on each side.
        every: draw every `every`-th ball (the last one always); by default
            all of them, or about 30 per run for longer runs.

    Returns:
        The figure drawn into.

    Raises:
        TypeError: if `f` is not callable, `result` not a `FitResult` or `ax`
            not an Axes.
        ValueError: if the run did not record params, the param is not a
            scalar, `f` does not return one scalar per point, or `x_range` or
            `every` is invalid.

    Examples:
        >>> import jax.numpy as jnp, jaxgd
        >>> from jaxgd import plot
        >>> f = lambda x: (x - 2.0) ** 2 + 1.0
        >>> result = jaxgd.multistart(f, jnp.array([-1.0, 5.0]), learning_rate=0.2,
        ...                           num_steps=10, record_params=True)
        >>> fig = plot.path_1d(f, result)
        >>> [points.get_offsets().shape for points in fig.axes[0].collections[::2]]
        [(11, 2), (11, 2)]
    """
    paths = _paths(f, result, "path_1d", point_shape=())
    if every is None:
        longest = max(len(path) for path in paths)
        every = max(1, math.ceil((longest - 1) / 30))
    every = _validate.check_int(every, "every", minimum=1)
    shown = []
    for path in paths:
        keep = np.arange(0, len(path), every)
        if keep[-1] != len(path) - 1:
            keep = np.append(keep, len(path) - 1)
        shown.append(path[keep])
    if x_range is None:
        x_range = _span(np.concatenate(shown), margin=0.1)
    low, high = _interval(x_range, "x_range")
    fig, ax = _figure(ax)
    dtype = np.asarray(result.trajectory).dtype
    xs = np.linspace(low, high, 400)
    ax.plot(xs, _evaluate(f, xs, dtype, "path_1d"), color="0.4", zorder=1)
    for k, x in enumerate(shown):
        y = _evaluate(f, x, dtype, "path_1d")
        ax.scatter(x, y, s=60, color=_colour(k), edgecolors="black", zorder=3)
        dx, dy = np.diff(x), np.diff(y)
        moved = (dx != 0) | (dy != 0)
        ax.quiver(
            x[:-1][moved],
            y[:-1][moved],
            dx[moved],
            dy[moved],
            angles="xy",
            scale_units="xy",
            scale=1,
            color=_colour(k),
            width=0.004,
            zorder=2,
        )
    ax.set_xlabel("x")
    ax.set_ylabel("f(x)")
    return fig


def path_2d(
    f: Callable[[jax.Array], jax.Array],
    result: FitResult,
    *,
    ax: Axes | None = None,
    bounds: tuple[tuple[float, float], tuple[float, float]] | None = None,
    grid: int = 40,
    arrows: int = 15,
) -> Figure:
    r"""Draws the path of a 2-vector param on the contours of `f`, against its slope.

    Contours of `f` on a `grid` x `grid` mesh, the field of :math:`-\nabla f`
    (computed with `jax.grad` and `jax.vmap`) as grey arrows on an `arrows` x
    `arrows` mesh, and each run's params until it stopped as a line of dots,
    one colour per run: the ball rolls against the gradient.

    Args:
        f: the function minimised, `f(x) -> scalar` for `x` of shape `(2,)`.
        result: a `FitResult` of `fit` or `multistart` run with
            `record_params=True` on a param of shape `(2,)`: `trajectory` has
            shape `(num_steps + 1, 2)` (one run) or `(K, num_steps + 1, 2)`.
        ax: axes to draw into; a new figure when None.
        bounds: `((x1_low, x1_high), (x2_low, x2_high))`; by default the span
            of the paths with a margin of 15% on each side.
        grid: points per side of the contour mesh.
        arrows: arrows per side of the gradient field.

    Returns:
        The figure drawn into.

    Raises:
        TypeError: if `f` is not callable, `result` not a `FitResult` or `ax`
            not an Axes.
        ValueError: if the run did not record params, the param is not of
            shape `(2,)`, `f` does not return one scalar per point, or
            `bounds`, `grid` or `arrows` is invalid.

    Examples:
        >>> import jax.numpy as jnp, jaxgd
        >>> from jaxgd import plot
        >>> f = lambda x: x[0] ** 2 + 4.0 * x[1] ** 2
        >>> result = jaxgd.fit(f, jnp.array([2.0, 1.0]), learning_rate=0.1,
        ...                    num_steps=20, record_params=True)
        >>> fig = plot.path_2d(f, result, arrows=5)
        >>> fig.axes[0].lines[0].get_xydata().shape
        (21, 2)
    """
    paths = _paths(f, result, "path_2d", point_shape=(2,))
    grid = _validate.check_int(grid, "grid", minimum=2)
    arrows = _validate.check_int(arrows, "arrows", minimum=1)
    if bounds is None:
        points = np.concatenate(paths)
        bounds = (
            _span(points[:, 0], margin=0.15),
            _span(points[:, 1], margin=0.15),
        )
    elif np.shape(bounds) != (2, 2):
        raise ValueError(
            f"bounds must be ((x1_low, x1_high), (x2_low, x2_high)); got {bounds!r}."
        )
    (x1_low, x1_high), (x2_low, x2_high) = (
        _interval(bounds[0], "bounds[0]"),
        _interval(bounds[1], "bounds[1]"),
    )
    fig, ax = _figure(ax)
    dtype = np.asarray(result.trajectory).dtype

    x1, x2 = np.meshgrid(
        np.linspace(x1_low, x1_high, grid), np.linspace(x2_low, x2_high, grid)
    )
    heights = _evaluate(f, np.stack([x1.ravel(), x2.ravel()], 1), dtype, "path_2d")
    heights = heights.reshape(x1.shape)
    finite = heights[np.isfinite(heights)]
    if finite.size:
        # Levels at quantiles of the surface spread the contours evenly over the
        # picture, whether f is a steep bowl or a landscape of several valleys.
        levels = np.unique(np.quantile(finite, np.linspace(0, 1, 17)[1:-1]))
        if levels.size >= 2:
            ax.contour(x1, x2, heights, levels=levels, cmap="viridis", zorder=1)

    a1, a2 = np.meshgrid(
        np.linspace(x1_low, x1_high, arrows), np.linspace(x2_low, x2_high, arrows)
    )
    at = jnp.asarray(np.stack([a1.ravel(), a2.ravel()], 1), dtype)
    slope = np.asarray(jax.vmap(jax.grad(f))(at), np.float64)
    ax.quiver(
        a1.ravel(),
        a2.ravel(),
        -slope[:, 0],
        -slope[:, 1],
        angles="xy",
        color="0.55",
        zorder=2,
    )

    for k, path in enumerate(paths):
        ax.plot(
            path[:, 0],
            path[:, 1],
            marker="o",
            markersize=3,
            color=_colour(k),
            zorder=3,
        )
        ax.scatter(
            path[-1:, 0],
            path[-1:, 1],
            s=80,
            color=_colour(k),
            edgecolors="black",
            zorder=4,
        )
    ax.set_xlim(x1_low, x1_high)
    ax.set_ylim(x2_low, x2_high)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    return fig


def _check_result(result: Any, caller: str) -> None:
    if not isinstance(result, FitResult):
        raise TypeError(
            f"{caller} needs a jaxgd.FitResult as result; got "
            f"{_validate.describe(result)}."
        )


def _lanes(result: FitResult, caller: str) -> tuple[np.ndarray, ...]:
    """`losses (K, T)`, `diverged (K,)`, `steps_taken (K,)`, K = 1 for one run."""
    _check_result(result, caller)
    losses = _numpy(result.losses)
    if losses.ndim not in (1, 2):
        raise ValueError(
            f"{caller} needs losses of shape (num_steps,) or (K, num_steps); got "
            f"losses.shape={losses.shape}."
        )
    lanes = losses.shape[0] if losses.ndim == 2 else 1
    diverged = np.asarray(result.diverged, bool).reshape(lanes)
    steps_taken = np.asarray(result.steps_taken, int).reshape(lanes)
    return losses.reshape(lanes, -1), diverged, steps_taken


def _paths(
    f: Any, result: FitResult, caller: str, point_shape: tuple[int, ...]
) -> list[np.ndarray]:
    """Each run's params from the start to where it stopped, as float64 arrays."""
    if not callable(f):
        raise TypeError(
            f"{caller} needs the function f(x) -> scalar that was minimised; got "
            f"{_validate.describe(f)}."
        )
    losses, _, steps_taken = _lanes(result, caller)
    trajectory = result.trajectory
    if trajectory is None:
        raise ValueError(
            f"{caller} needs the params after every step, but result.trajectory "
            "is None: run fit (or multistart) with record_params=True."
        )
    one = (losses.shape[1] + 1, *point_shape)
    expected = one if np.ndim(result.losses) == 1 else (losses.shape[0], *one)
    if not hasattr(trajectory, "shape") or tuple(trajectory.shape) != expected:
        param = "a scalar param" if not point_shape else "a param of shape (2,)"
        raise ValueError(
            f"{caller} needs {param}, so a trajectory of shape {expected}; got "
            f"{_validate.describe(trajectory)}."
        )
    trajectory = _numpy(trajectory).reshape(losses.shape[0], *one)
    return [path[: n + 1] for path, n in zip(trajectory, steps_taken, strict=True)]


def _evaluate(f: Callable, points: np.ndarray, dtype: Any, caller: str) -> np.ndarray:
    """`f` at each point along axis 0, as float64."""
    values = np.asarray(jax.vmap(f)(jnp.asarray(points, dtype)), np.float64)
    if values.shape != points.shape[:1]:
        raise ValueError(
            f"{caller} needs f to return a scalar for one point; for "
            f"{points.shape[0]} points of shape {points.shape[1:]} it returned "
            f"shape {values.shape}."
        )
    return values


def _figure(ax: Any) -> tuple[Figure, Axes]:
    if ax is None:
        fig = Figure(figsize=(6.4, 4.8), layout="constrained")
        FigureCanvasAgg(fig)
        return fig, fig.add_subplot()
    if not isinstance(ax, Axes):
        raise TypeError(f"ax must be a matplotlib Axes; got {_validate.describe(ax)}.")
    return ax.figure, ax


def _mark_top(ax: Axes, xs: Sequence[float] | np.ndarray, label: str) -> None:
    """Marks x positions at the top of the axes, whatever the y limits."""
    ax.plot(
        xs,
        np.full(len(xs), _TOP),
        transform=ax.get_xaxis_transform(),
        label=label,
        **_DIVERGED_STYLE,
    )


def _log_if_wide(ax: Axes, values: np.ndarray) -> None:
    finite = values[np.isfinite(values)]
    positive = finite[finite > 0]
    if (
        positive.size
        and np.all(finite >= 0)
        and positive.max() > _LOG_SPAN * positive.min()
    ):
        ax.set_yscale("log", nonpositive="clip")


def _span(values: np.ndarray, margin: float) -> tuple[float, float]:
    low, high = float(np.min(values)), float(np.max(values))
    pad = margin * (high - low) if high > low else max(1.0, abs(low))
    return low - pad, high + pad


def _interval(pair: Any, name: str) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in pair)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (low, high); got {pair!r}.") from None
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(f"{name} must be finite with low < high; got ({low}, {high}).")
    return low, high


def _positive(value: Any, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(
            f"{name} must be a number; got {_validate.describe(value)}."
        ) from None
    if not (math.isfinite(number) and number > 0):
        raise ValueError(f"{name} must be positive and finite; got {number}.")
    return number


def _numpy(x: Any) -> np.ndarray:
    return np.asarray(x, np.float64)


def _colour(k: int) -> str:
    return f"C{k % 10}"
