"""Figures of a run: loss curves, learning-rate sweeps, paths, a classifier's boundary.

Every function returns a `matplotlib.figure.Figure`. Given `ax=` (a matplotlib
`Axes`) it draws into that axes and returns `ax.figure`, so several plots can
share one figure: `subplots` makes such a figure, of one or more panels side by
side. Figures are built without `matplotlib.pyplot` and drawn by the Agg
canvas, so plotting works headless and never changes the backend a program
has chosen; save them with `fig.savefig("loss.png")` (or `.svg`, `.pdf`).

All figures share one style: 150 dots per inch (a new one-panel figure is
1050 x 660 pixels), a light grid, no box around the legend, and legends and
colour bars beside the axes, where they cover no data. Runs that diverged are
marked with a black ``x`` where they stopped and never set the scale of an
axis while other runs did not diverge.

Needs matplotlib, the optional extra `plot`: ``pip install "jaxgd[plot]"``.

Examples:
    >>> import jax.numpy as jnp, jaxgd
    >>> from jaxgd import plot
    >>> result = jaxgd.fit(lambda x: (x - 3.0) ** 2, jnp.array(0.0),
    ...                    learning_rate=0.1, num_steps=50)
    >>> fig = plot.loss_curve(result)
    >>> fig.axes[0].get_yscale(), fig.dpi
    ('log', 150)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from . import _checks, linear
from ._result import FitResult
from ._sweep import best

try:
    import matplotlib
    from matplotlib.axes import Axes
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import ListedColormap, LogNorm
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
except ImportError as error:
    raise ImportError(
        'jaxgd.plot needs matplotlib; install it with: pip install "jaxgd[plot]"'
    ) from error

__all__ = [
    "decision_boundary",
    "loss_curve",
    "lr_sweep",
    "path_1d",
    "path_2d",
    "search",
    "subplots",
]

DPI = 150
"""Dots per inch of every figure that jaxgd makes."""

# One panel is 7 x 4.4 inches, 1050 x 660 pixels at 150 dpi; side by side,
# each panel of several is a little narrower.
_WIDTH, _PANEL_WIDTH, _HEIGHT = 7.0, 5.6, 4.4
_STYLE = {
    "axes.grid": True,
    "axes.axisbelow": True,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "grid.color": "0.88",
    "grid.linewidth": 0.6,
    "legend.frameon": False,
    "lines.linewidth": 1.6,
    "lines.markersize": 5,
}
# Finite positive values spanning more than this ratio get a log axis.
_LOG_SPAN = 100.0
# Height, as a fraction of the axes, at which lanes without a value in view sit.
_TOP = 0.95
_DIVERGED_STYLE = {
    "marker": "x",
    "markersize": 9,
    "markeredgewidth": 2,
    "linestyle": "none",
    "color": "black",
    "zorder": 5,
    "clip_on": False,
}
_START_STYLE = {
    "marker": "o",
    "markersize": 10,
    "markerfacecolor": "white",
    "markeredgewidth": 2,
    "linestyle": "none",
    "zorder": 4,
}
_STAR_STYLE = {
    "marker": "*",
    "markersize": 18,
    "markerfacecolor": "gold",
    "markeredgecolor": "black",
    "markeredgewidth": 1,
    "linestyle": "none",
    "zorder": 6,
}
_BEST_STYLE = {**_STAR_STYLE, "markersize": 14}
# Learning rates are coloured by viridis without its palest yellow, which a
# thin line on a white background would hide.
_RATE_COLOURS = ListedColormap(
    matplotlib.colormaps["viridis"](np.linspace(0, 0.88, 256))
)


def _styled(function: Callable) -> Callable:
    """Draws everything `function` makes in jaxgd's style."""

    @functools.wraps(function)
    def styled(*args: Any, **kwargs: Any) -> Any:
        with matplotlib.rc_context(_STYLE):
            return function(*args, **kwargs)

    return styled


@_styled
def subplots(ncols: int = 1) -> tuple[Figure, list[Axes]]:
    """A blank figure of `ncols` panels side by side, in the style of jaxgd's plots.

    Pass each panel as `ax=` to a plot to draw several into one figure.

    Args:
        ncols: the number of panels, left to right.

    Returns:
        `(figure, axes)`: the figure, at 150 dpi, and a list of `ncols` axes.

    Raises:
        ValueError: if `ncols` is not an int >= 1.

    Examples:
        >>> import jax.numpy as jnp, jaxgd
        >>> from jaxgd import plot
        >>> result = jaxgd.fit(lambda x: x**2, jnp.array(1.0), learning_rate=0.1,
        ...                    num_steps=20)
        >>> fig, (left, right) = plot.subplots(2)
        >>> plot.loss_curve(result, ax=left) is fig
        True
        >>> fig.get_size_inches() * fig.dpi
        array([1680.,  660.])
    """
    ncols = _checks.count(ncols, "ncols", minimum=1)
    width = _WIDTH if ncols == 1 else _PANEL_WIDTH * ncols
    fig = Figure(figsize=(width, _HEIGHT), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, list(np.atleast_1d(fig.subplots(1, ncols)))


@_styled
def loss_curve(
    result: FitResult,
    *,
    ax: Axes | None = None,
    labels: Sequence[str] | None = None,
    learning_rates: ArrayLike | None = None,
    optimum: float | None = None,
    validation: bool = False,
    validation_every: int | None = None,
) -> Figure:
    """Plots the loss at every step of one run or of each lane of a batch.

    Only finite losses are drawn, so the NaN tail after a run stopped (by `tol`
    or by divergence) leaves no trace. A lane that diverged gets a black ``x``
    at step `steps_taken` (where the non-finite value was met), at the height
    of its last finite loss, or at the top of the axes when that loss is out of
    view. While some lanes did not diverge, the y axis spans their losses only:
    a diverged lane's climb towards overflow does not flatten the others. The y
    axis is logarithmic when the losses in view are all >= 0 and the positive
    ones span more than two decades.

    With `learning_rates` (the rates of a `jaxgd.sweep`) each lane is coloured
    by its rate on a logarithmic colour bar, on which the rates that diverged
    are marked with an ``x``: a sweep of 32 rates stays readable.

    With `optimum` (the lowest loss there is, e.g. from `linear.solve`) the
    curve is the gap `loss - optimum` on a logarithmic axis, on which
    convergence is a straight line whose slope is the rate of convergence;
    steps whose loss is at or below `optimum` (rounding at the optimum) are
    not drawn.

    With `validation=True` (for a run with `validation_data`) each run's
    `validation_losses` are drawn too, dashed in the run's colour, at the
    steps where they were measured: before updates 0, k, 2k, ... (`k =
    validation_every`). Each run's lowest validation loss, at its
    `best_step`, gets a gold star. The result does not hold `k`: pass the
    run's `validation_every`, or it is inferred from the lengths, `num_steps
    = len(losses)` (a run without `history_every`) and `ceil(num_steps / k) =
    len(validation_losses)`, when exactly one `k` fits them (it always does
    for `k = 1`, the full-batch default); otherwise it is an error that asks
    for it.

    Args:
        result: a `FitResult` whose `losses` have shape `(num_steps,)` (one run)
            or `(K, num_steps)` (K lanes from `sweep` or `multistart`).
        ax: axes to draw into; a new figure when None.
        labels: `K` legend labels, one per lane (one for a single run).
        learning_rates: `(K,)` positive rates, one per lane, to colour the lanes
            by; not together with `labels`.
        optimum: a finite number subtracted from every loss.
        validation: also draw the validation losses and mark the best step.
        validation_every: `k`, the run's `validation_every`, with
            `validation`.

    Returns:
        The figure drawn into.

    Raises:
        TypeError: if `result` is not a `FitResult`, `ax` is not an Axes,
            `optimum` is not a number, `validation` is not a bool or
            `validation_every` is not an int.
        ValueError: if `losses` is not 1-D or 2-D, `labels` or `learning_rates`
            has the wrong length, a rate is not positive and finite, both are
            given, or `optimum` is not finite; with `validation`, if the run
            had no `validation_data`, `optimum` is given too, or
            `validation_every` does not fit the number of validation losses
            (or, left out, more than one does).

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
    if labels is not None and learning_rates is not None:
        raise ValueError(
            "loss_curve takes labels or learning_rates, not both: the colour bar "
            "of learning_rates names the lanes."
        )
    if labels is not None:
        if isinstance(labels, str) or len(labels) != count:
            raise ValueError(
                f"labels must hold one label per lane: result has {count} "
                f"lane(s) (losses.shape={np.shape(result.losses)}); got labels="
                f"{labels!r}."
            )
    rates = None
    if learning_rates is not None:
        rates = _rates(learning_rates, count, "loss_curve")
    watched = None
    if not isinstance(validation, bool):
        raise TypeError(
            f"validation must be a bool; got {_checks.describe(validation)}."
        )
    if validation:
        if optimum is not None:
            raise ValueError(
                "loss_curve draws validation losses as they are, not as a gap to "
                "the training loss's optimum: pass validation=True or optimum=, "
                "not both."
            )
        watched = _validation(result, losses.shape, validation_every)
    elif validation_every is not None:
        raise ValueError(
            "validation_every places the validation losses: pass it with "
            f"validation=True; got validation_every={validation_every!r} alone."
        )
    if optimum is not None:
        losses = losses - float(_checks.number(optimum, "optimum"))
        losses[losses <= 0] = np.nan
    fig, ax = _figure(ax)
    if rates is None:
        colours = [_colour(k) for k in range(count)]
    else:
        norm = _rate_norm(rates)
        colours = [_RATE_COLOURS(norm(rate)) for rate in rates]
    # Lanes that diverged, or ended above where they started on their way to
    # it, do not set the scale while others are left.
    steady = ~diverged & ~_grew(losses)
    scale = losses[steady] if steady.any() else losses
    if watched is not None:
        values = watched[1]
        scale = np.concatenate(
            [scale.ravel(), (values[steady] if steady.any() else values).ravel()]
        )
    log = optimum is not None or _wide(scale)
    limits = _limits(scale, log) if steady.any() and not steady.all() else None
    if watched is not None and labels is None and count == 1:
        labels = ["training"]
    for k in range(count):
        finite = np.isfinite(losses[k])
        shown = losses[k][finite]
        if limits is not None and not steady[k]:
            # Drawn to just past the top of the axes, where it leaves the view.
            shown = np.minimum(shown, _above(limits, log))
        (line,) = ax.plot(
            np.flatnonzero(finite),
            shown,
            color=colours[k],
            label=None if labels is None else labels[k],
            linewidth=1.0 if rates is not None and count > 8 else None,
        )
        _from_step_0(line)
    legend_extra = []
    if watched is not None:
        legend_extra = _draw_validation(ax, watched, colours, steady, limits, log)
    if log:
        ax.set_yscale("log", nonpositive="clip")
    if limits is not None:
        ax.set_ylim(*limits)
    _mark_stops(ax, losses, diverged, steps_taken)
    ax.set_xlabel("step t (updates)")
    ax.set_ylabel("loss − optimum" if optimum is not None else "loss")
    if rates is not None:
        bar = fig.colorbar(ScalarMappable(norm, _RATE_COLOURS), ax=ax)
        bar.set_label("learning rate η" + (" (x: diverged)" if diverged.any() else ""))
        if diverged.any():
            bar.ax.plot(
                np.full(int(diverged.sum()), 0.5), rates[diverged], **_DIVERGED_STYLE
            )
        if watched is not None:
            # The colour bar stands beside the axes: the legend goes inside.
            handles = [line for line in ax.lines if not line.get_label()[0] == "_"]
            ax.legend(handles=[*handles, *legend_extra], loc="best")
    elif labels is not None or diverged.any() or watched is not None:
        _legend(ax, legend_extra)
    return fig


@_styled
def search(
    result: FitResult,
    *,
    ax: Axes | None = None,
    validation_every: int | None = None,
) -> Figure:
    """Plots a search: every lane's validation loss against the steps.

    For a sweep with `search=` (or any batched run with `validation_data`).
    A lane a search pruned is drawn thin and grey up to its last validation
    loss, where a grey bar marks its rung's end; the lanes that went on are
    drawn in colour. The winner, `jaxgd.best(result, by="validation")`, is
    drawn thick, with a gold star at its lowest validation loss. The y axis
    is logarithmic when the losses span more than two decades. The steps of
    the validation losses are found as `loss_curve` finds them: pass the
    run's `validation_every` when the lengths do not tell it.

    Args:
        result: a batched `FitResult` with validation losses.
        ax: axes to draw into; a new figure when None.
        validation_every: `k`, the run's `validation_every`.

    Returns:
        The figure drawn into.

    Raises:
        TypeError: if `result` is not a `FitResult` or `ax` not an Axes.
        ValueError: if `result` has no lane axis or no validation losses, or
            `validation_every` does not fit them.

    Examples:
        >>> import jax.numpy as jnp, jaxgd
        >>> from jaxgd import plot
        >>> loss = lambda w, x, y: jnp.mean((x * w - y) ** 2)
        >>> x = jnp.linspace(-1.0, 1.0, 8)
        >>> result = jaxgd.sweep(loss, jnp.array(0.0), x, 2 * x,
        ...     learning_rates=jnp.array([0.001, 0.01, 0.1, 1.0]),
        ...     validation_data=(x, 2 * x), num_steps=40,
        ...     search=jaxgd.successive_halving(eta=2, min_steps=10))
        >>> fig = plot.search(result, validation_every=10)
        >>> [line.get_label() for line in fig.axes[0].lines][-3:]
        ['winner: lane 3', 'pruned', 'lowest validation loss']
    """
    losses, _, _ = _lanes(result, "search")
    if np.ndim(result.losses) != 2:
        raise ValueError(
            "search plots the lanes of a batched result (from sweep or "
            f"multistart); got losses.shape={np.shape(result.losses)}."
        )
    every, values, best_step = _validation(
        result, losses.shape, validation_every, "search"
    )
    pruned = (
        np.zeros(values.shape[0], bool)
        if result.pruned is None
        else np.asarray(result.pruned, bool)
    )
    winner, _ = best(result, by="validation")
    fig, ax = _figure(ax)
    steps = every * np.arange(values.shape[1])
    ends_x, ends_y = [], []
    for k in range(values.shape[0]):
        finite = np.isfinite(values[k])
        if not finite.any():
            continue
        style = dict(color=_colour(k), label="_nolegend_")
        if pruned[k]:
            style = dict(color="0.6", linewidth=0.8, label="_nolegend_")
            ends_x.append(steps[finite][-1])
            ends_y.append(values[k][finite][-1])
        if k == winner:
            style = dict(color=_colour(k), linewidth=2.6, label=f"winner: lane {k}")
        (line,) = ax.plot(steps[finite], values[k][finite], **style)
        _from_step_0(line)
    ax.plot(
        ends_x,
        ends_y,
        marker="|",
        markersize=12,
        markeredgewidth=2,
        linestyle="none",
        color="0.45",
        label="pruned" if ends_x else "_nolegend_",
    )
    at = best_step[winner] // every
    ax.plot(
        [best_step[winner]],
        [values[winner][at]],
        label="lowest validation loss",
        **_BEST_STYLE,
    )
    _log_if_wide(ax, values[np.isfinite(values)])
    ax.set_xlabel("step t (updates)")
    ax.set_ylabel("validation loss")
    _legend(ax)
    return fig


def _validation(
    result: FitResult,
    shape: tuple[int, int],
    every: Any,
    caller: str = "loss_curve(..., validation=True)",
) -> tuple[int, np.ndarray, np.ndarray]:
    """`(k, validation_losses (K, V), best_step (K,))` of a result, checked."""
    if result.validation_losses is None or result.best_step is None:
        raise ValueError(
            f"{caller} needs the validation losses of a "
            "run with validation_data, but this run had no validation_data "
            "(result.validation_losses is None)."
        )
    count, num_steps = shape
    values = _numpy(result.validation_losses).reshape(count, -1)
    measured = values.shape[1]
    # ceil(T / k) = V exactly for T / V <= k < T / (V - 1), and k <= T.
    low = -(-num_steps // measured) if measured else num_steps + 1
    high = (num_steps - 1) // (measured - 1) if measured > 1 else num_steps
    if every is not None:
        every = _checks.count(every, "validation_every", minimum=1)
        if not low <= every <= high:
            raise ValueError(
                f"validation_every={every} does not fit the run: {num_steps} steps "
                f"validated every {every} give {-(-num_steps // every)} "
                f"validation losses, but the result has {measured}."
            )
    elif low != high:
        fits = (
            f"every k from {low} to {high} gives"
            if low < high
            else "no validation_every gives"
        )
        raise ValueError(
            f"{caller.split('(')[0]} cannot tell validation_every from the "
            f"lengths: for {num_steps} steps, {fits} {measured} validation "
            "losses. Pass the run's validation_every=."
        )
    else:
        every = low
    best = np.asarray(result.best_step, int).reshape(count)
    return every, values, best


def _draw_validation(
    ax: Axes,
    watched: tuple[int, np.ndarray, np.ndarray],
    colours: list[Any],
    steady: np.ndarray,
    limits: tuple[float, float] | None,
    log: bool,
) -> list[Line2D]:
    """Each run's validation losses, dashed, and a star at its best step.

    Returns what the legend needs beyond the labelled lines: for several runs,
    a grey dashed line that stands for all their validation curves.
    """
    every, values, best = watched
    count = values.shape[0]
    steps = every * np.arange(values.shape[1])
    best_x, best_y = [], []
    for k in range(count):
        finite = np.isfinite(values[k])
        shown = values[k][finite]
        if limits is not None and not steady[k]:
            shown = np.minimum(shown, _above(limits, log))
        (line,) = ax.plot(
            steps[finite],
            shown,
            color=colours[k],
            linestyle="--",
            label="validation" if count == 1 else "_nolegend_",
        )
        _from_step_0(line)
        at = best[k] // every
        if best[k] % every == 0 and at < values.shape[1] and finite[at]:
            best_x.append(best[k])
            best_y.append(values[k][at])
    ax.plot(best_x, best_y, label="lowest validation loss", **_BEST_STYLE)
    if count == 1:
        return []
    return [Line2D([], [], color="0.35", linestyle="--", label="validation")]


@_styled
def lr_sweep(
    learning_rates: ArrayLike,
    result: FitResult,
    *,
    max_learning_rate: float | None = None,
    optimum: float | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Plots the final loss of each lane of a sweep against its learning rate.

    Lanes that ended with a finite loss are joined by a line, in order of
    rate, on a logarithmic rate axis, and the best of them (the lowest final
    loss, ties to the lowest lane index, as in `jaxgd.best`) gets a gold star.
    Lanes that diverged or ended with a non-finite loss get a black ``x`` at
    the top of the axes, above their rate, labelled "diverged"; so do lanes
    whose final loss is above their first (on their way to diverging, "or
    grew"), so that they never set the scale. The loss axis is logarithmic
    when the final losses drawn span more than two decades.

    Args:
        learning_rates: `(K,)` the rates the sweep ran with.
        result: the `FitResult` of `jaxgd.sweep(..., learning_rates=...)`, with
            `final_loss` of shape `(K,)`.
        max_learning_rate: when given, a dashed vertical line at this rate,
            labelled with its value (e.g. `linear.max_learning_rate(X)`).
        optimum: when given, the final losses are drawn as the gap
            `final_loss - optimum` on a logarithmic axis (a gap at or below 0,
            rounding at the optimum, is not drawn): where a sweep's losses all
            look alike, the gap shows which rates got closest.
        ax: axes to draw into; a new figure when None.

    Returns:
        The figure drawn into.

    Raises:
        TypeError: if `result` is not a `FitResult`, `ax` is not an Axes, or
            `max_learning_rate` or `optimum` is not a number.
        ValueError: if `learning_rates` is not a 1-D array of positive finite
            rates, one per lane of `result`, `max_learning_rate` is not a
            positive finite number or `optimum` is not finite.

    Examples:
        >>> import jax.numpy as jnp, jaxgd
        >>> from jaxgd import plot
        >>> rates = jnp.array([0.01, 0.1, 0.5, 1.5])
        >>> result = jaxgd.sweep(lambda x: x**2, jnp.array(1.0),
        ...                      learning_rates=rates, num_steps=100)
        >>> fig = plot.lr_sweep(rates, result, max_learning_rate=1.0)
        >>> [line.get_label() for line in fig.axes[0].lines]
        ['final loss', 'best η = 0.5', 'diverged', 'max_learning_rate = 1']
    """
    _check_result(result, "lr_sweep")
    final = _numpy(result.final_loss)
    if final.ndim != 1:
        raise ValueError(
            "lr_sweep needs the result of jaxgd.sweep, whose final_loss has shape "
            f"(K,); got final_loss.shape={final.shape}."
        )
    rates = _rates(learning_rates, final.shape[0], "lr_sweep")
    if max_learning_rate is not None:
        max_learning_rate = float(
            _checks.positive(max_learning_rate, "max_learning_rate")
        )
    diverged = ~np.isfinite(final) | np.asarray(result.diverged, bool)
    losses = _numpy(result.losses)
    grew = ~diverged & (_grew(losses) if losses.ndim == 2 else False)
    good = ~diverged & ~grew
    shown = final
    if optimum is not None:
        shown = final - float(_checks.number(optimum, "optimum"))
    fig, ax = _figure(ax)
    drawn = good & (shown > 0 if optimum is not None else True)
    order = np.argsort(rates[drawn], kind="stable")
    ax.plot(
        rates[drawn][order],
        shown[drawn][order],
        marker="o",
        color="C0",
        label="final loss" if optimum is None else "final loss − optimum",
    )
    if good.any():
        index = int(np.flatnonzero(good)[np.argmin(final[good])])
        ax.plot(
            [rates[index]],
            [shown[index] if shown[index] > 0 or optimum is None else np.nan],
            label=f"best η = {rates[index]:.3g}",
            **_STAR_STYLE,
        )
    if not good.all():
        _mark_top(
            ax, rates[~good], label="diverged" + (" or grew" if grew.any() else "")
        )
    if max_learning_rate is not None:
        ax.axvline(
            max_learning_rate,
            color="tab:red",
            linestyle="--",
            label=f"max_learning_rate = {max_learning_rate:.3g}",
        )
    ax.set_xscale("log")
    if optimum is not None:
        ax.set_yscale("log")
    else:
        _log_if_wide(ax, final[good])
    ax.set_xlabel("learning rate η")
    ax.set_ylabel("final loss" if optimum is None else "final loss − optimum")
    _legend(ax)
    return fig


@_styled
def path_1d(
    f: Callable[[jax.Array], jax.Array],
    result: FitResult,
    *,
    ax: Axes | None = None,
    x_range: tuple[float, float] | None = None,
    every: int | None = None,
    labels: Sequence[str] | None = None,
    best: int | None = None,
) -> Figure:
    """Draws the chapter's ball rolling down a curve: `f` and the path on it.

    The curve is `f` over `x_range`. Each run's params until it stopped are
    balls at (xₜ, f(xₜ)), one colour per run, with an arrow from each
    ball to the next: the way the ball rolled, downhill while the rate is
    small enough. Each run's start is a large hollow circle, and the legend
    names every run (by default by its start, "x₀ = −2"). The y axis spans the
    balls and the lowest point of the curve, so that valleys are not squashed
    by the curve's climb at the edges.

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
        labels: one legend label per run.
        best: the index of a run whose end gets a gold star, e.g. the index
            returned by `jaxgd.best(result)`.

    Returns:
        The figure drawn into.

    Raises:
        TypeError: if `f` is not callable, `result` not a `FitResult` or `ax`
            not an Axes.
        ValueError: if the run did not record params, the param is not a
            scalar, `f` does not return one scalar per point, or `x_range`,
            `every`, `labels` or `best` is invalid.

    Examples:
        >>> import jax.numpy as jnp, jaxgd
        >>> from jaxgd import plot
        >>> f = lambda x: (x - 2.0) ** 2 + 1.0
        >>> result = jaxgd.multistart(f, jnp.array([-1.0, 5.0]), learning_rate=0.2,
        ...                           num_steps=10, record_params=True)
        >>> fig = plot.path_1d(f, result)
        >>> [points.get_offsets().shape for points in fig.axes[0].collections[::2]]
        [(11, 2), (11, 2)]
        >>> [line.get_label() for line in fig.axes[0].lines[1:]]
        ['x₀ = −1', 'x₀ = 5']
    """
    paths = _paths(f, result, "path_1d", point_shape=())
    labels = _run_labels(labels, paths, "path_1d")
    best = _run_index(best, len(paths), "best")
    if every is None:
        longest = max(len(path) for path in paths)
        every = max(1, math.ceil((longest - 1) / 30))
    every = _checks.count(every, "every", minimum=1)
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
    curve = _evaluate(f, xs, dtype, "path_1d")
    ax.plot(xs, curve, color="0.4", zorder=1, label="_curve")
    heights = []
    for k, x in enumerate(shown):
        y = _evaluate(f, x, dtype, "path_1d")
        heights.append(y)
        ax.scatter(
            x, y, s=36, color=_colour(k), edgecolors="black", linewidths=0.5, zorder=3
        )
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
    for k, y in enumerate(heights):
        ax.plot(
            shown[k][:1],
            y[:1],
            markeredgecolor=_colour(k),
            label=labels[k],
            **_START_STYLE,
        )
    if best is not None:
        x, y = shown[best][-1], heights[best][-1]
        ax.plot(
            [x],
            [y],
            label=f"best: x = {_number_text(x)}, f = {_number_text(y)}",
            **_STAR_STYLE,
        )
    seen = np.concatenate([*heights, curve[np.isfinite(curve)]])
    bottom = float(np.min(seen))
    top = float(max(np.max(y) for y in heights))
    pad = 0.08 * (top - bottom) if top > bottom else max(1.0, abs(top))
    ax.set_xlim(low, high)
    ax.set_ylim(bottom - pad, top + pad)
    ax.set_xlabel("x")
    ax.set_ylabel("f(x)")
    if any(label and not label.startswith("_") for label in labels) or best is not None:
        _legend(ax)
    return fig


@_styled
def path_2d(
    f: Callable[[jax.Array], jax.Array],
    result: FitResult,
    *,
    ax: Axes | None = None,
    bounds: tuple[tuple[float, float], tuple[float, float]] | None = None,
    grid: int = 40,
    arrows: int = 15,
    labels: Sequence[str] | None = None,
) -> Figure:
    """Draws the path of a 2-vector param on the contours of `f`, along its descent.

    Filled contours of `f` on a `grid` x `grid` mesh with a colour bar, the
    field of −∇f (computed with `jax.grad` and `jax.vmap`) as
    dark arrows on an `arrows` x `arrows` mesh, and each run's params until it
    stopped as a line of dots, one colour per run, from a hollow circle (the
    start) to a filled one (the end): the ball follows the arrows of
    −∇f, against the gradient. Both axes have the same scale, so
    the arrows cross the contours at right angles, as a gradient does.

    Args:
        f: the function minimised, `f(x) -> scalar` for `x` of shape `(2,)`.
        result: a `FitResult` of `fit` or `multistart` run with
            `record_params=True` on a param of shape `(2,)`: `trajectory` has
            shape `(num_steps + 1, 2)` (one run) or `(K, num_steps + 1, 2)`.
        ax: axes to draw into; a new figure when None.
        bounds: `((x1_low, x1_high), (x2_low, x2_high))`; by default the span
            of the paths with a margin of 25% on each side.
        grid: points per side of the contour mesh.
        arrows: arrows per side of the gradient field.
        labels: one legend label per run; by default "path" for one run and
            the start of each for several.

    Returns:
        The figure drawn into.

    Raises:
        TypeError: if `f` is not callable, `result` not a `FitResult` or `ax`
            not an Axes.
        ValueError: if the run did not record params, the param is not of
            shape `(2,)`, `f` does not return one scalar per point, or
            `bounds`, `grid`, `arrows` or `labels` is invalid.

    Examples:
        >>> import jax.numpy as jnp, jaxgd
        >>> from jaxgd import plot
        >>> f = lambda x: x[0] ** 2 + 4.0 * x[1] ** 2
        >>> result = jaxgd.fit(f, jnp.array([2.0, 1.0]), learning_rate=0.1,
        ...                    num_steps=20, record_params=True)
        >>> fig = plot.path_2d(f, result, arrows=5)
        >>> fig.axes[0].lines[0].get_xydata().shape, fig.axes[0].get_aspect()
        ((21, 2), 1.0)
    """
    paths = _paths(f, result, "path_2d", point_shape=(2,))
    grid = _checks.count(grid, "grid", minimum=2)
    arrows = _checks.count(arrows, "arrows", minimum=1)
    if labels is None and len(paths) == 1:
        labels = ["path"]
    labels = _run_labels(labels, paths, "path_2d")
    if bounds is None:
        points = np.concatenate(paths)
        bounds = (
            _span(points[:, 0], margin=0.25),
            _span(points[:, 1], margin=0.25),
        )
    elif np.shape(bounds) != (2, 2):
        raise ValueError(
            f"bounds must be ((x1_low, x1_high), (x2_low, x2_high)); got {bounds!r}."
        )
    (x1_low, x1_high), (x2_low, x2_high) = (
        _interval(bounds[0], "bounds[0]"),
        _interval(bounds[1], "bounds[1]"),
    )
    own = ax is None
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
        levels = np.unique(np.quantile(finite, np.linspace(0, 1, 17)))
        if levels.size >= 3:
            filled = ax.contourf(
                x1, x2, heights, levels=levels, cmap="viridis", alpha=0.45, zorder=0
            )
            ax.contour(
                x1,
                x2,
                heights,
                levels=levels[1:-1],
                cmap="viridis",
                linewidths=0.8,
                zorder=1,
            )
            bar = fig.colorbar(
                filled, ax=ax, location="bottom", format="{x:.2g}", shrink=0.9
            )
            bar.set_label("f(x₁, x₂)")

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
        color="0.3",
        alpha=0.8,
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
            label=labels[k],
        )
        ax.plot(path[:1, 0], path[:1, 1], markeredgecolor=_colour(k), **_START_STYLE)
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
    ax.set_aspect("equal")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    _legend(
        ax,
        extra=[
            Line2D(
                [],
                [],
                marker=r"$\rightarrow$",
                markersize=14,
                color="0.3",
                linestyle="none",
                label="−∇f (downhill)",
            ),
            Line2D([], [], markeredgecolor="0.3", label="start", **_START_STYLE),
            Line2D(
                [],
                [],
                marker="o",
                markersize=8,
                markerfacecolor="0.6",
                markeredgecolor="black",
                linestyle="none",
                label="end",
            ),
        ],
    )
    if own:
        _fit_height(fig, ax)
    return fig


@_styled
def decision_boundary(
    params: Any,
    X: ArrayLike,
    y: ArrayLike,
    *,
    ax: Axes | None = None,
    feature_names: Sequence[str] | None = None,
    class_names: Sequence[str] = ("0", "1"),
) -> Figure:
    """Draws a logistic regression on two features: the data and its boundary.

    The rows of `X` as points, one colour and marker per label, over the
    probability p(x) = σ(x·W + b) of label 1 that the model gives
    everywhere in the picture: filled bands between the probabilities 0.1,
    0.25, 0.5, 0.75 and 0.9 with a colour bar, the 0.1, 0.25, 0.75 and 0.9
    contours dashed and the decision boundary x·W + b = 0, where
    p = 1/2, a solid black line. The legend's title is the model's
    accuracy on `X, y` (`linear.accuracy`).

    Args:
        params: the params of `jaxgd.linear` for two features and one output:
            `{"W": (2, 1), "b": (1,)}`, e.g. from `fit(linear.bce, ...)`.
        X: `(N, 2)` the two features.
        y: `(N, 1)` labels, 0 or 1.
        ax: axes to draw into; a new figure when None.
        feature_names: the names of the two features, for the axes.
        class_names: the names of labels 0 and 1, for the legend.

    Returns:
        The figure drawn into.

    Raises:
        TypeError: if `ax` is not an Axes.
        ValueError: if `params` is not a linear layer of 2 features and 1
            output, `X` is not `(N, 2)`, `y` is not `(N, 1)` of 0s and 1s, or
            `feature_names` or `class_names` does not hold two names.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxgd import plot
        >>> params = {"W": jnp.array([[1.0], [1.0]]), "b": jnp.array([0.0])}
        >>> X = jnp.array([[-1.0, -2.0], [2.0, 1.0], [1.0, -0.5]])
        >>> y = jnp.array([[0.0], [1.0], [1.0]])
        >>> fig = plot.decision_boundary(params, X, y)
        >>> fig.axes[0].get_legend().get_title().get_text()
        'accuracy 1.000 (3 of 3)'
    """
    W = np.asarray(params["W"]) if isinstance(params, dict) and "W" in params else None
    b = np.asarray(params["b"]) if isinstance(params, dict) and "b" in params else None
    if W is None or b is None or W.shape != (2, 1) or b.shape != (1,):
        shapes = (
            {key: np.shape(value) for key, value in params.items()}
            if isinstance(params, dict)
            else _checks.describe(params)
        )
        raise ValueError(
            "decision_boundary needs the params of a linear layer of 2 features "
            f"and 1 output, {{'W': (2, 1), 'b': (1,)}}; got {shapes}."
        )
    X, y = _numpy(X), _numpy(y)
    if X.ndim != 2 or X.shape[1] != 2 or y.shape != (X.shape[0], 1):
        raise ValueError(
            "decision_boundary needs X of shape (N, 2) and y of shape (N, 1); got "
            f"X.shape={X.shape}, y.shape={y.shape}."
        )
    if not np.all((y == 0) | (y == 1)):
        raise ValueError(
            f"decision_boundary needs labels 0 or 1 in y; got {np.unique(y)[:5]}."
        )
    names = _pair(feature_names, ("$x_1$", "$x_2$"), "feature_names")
    classes = _pair(class_names, ("0", "1"), "class_names")
    fig, ax = _figure(ax)
    (x1_low, x1_high), (x2_low, x2_high) = (
        _span(X[:, 0], margin=0.05),
        _span(X[:, 1], margin=0.05),
    )
    x1, x2 = np.meshgrid(
        np.linspace(x1_low, x1_high, 200), np.linspace(x2_low, x2_high, 200)
    )
    grid = np.stack([x1.ravel(), x2.ravel()], 1)
    logits = grid @ W[:, 0] + b[0]
    probability = (1.0 / (1.0 + np.exp(-logits))).reshape(x1.shape)
    bands = ax.contourf(
        x1,
        x2,
        probability,
        levels=[0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0],
        cmap="RdBu_r",
        alpha=0.35,
        zorder=0,
    )
    bar = fig.colorbar(bands, ax=ax, location="bottom", shrink=0.9)
    bar.set_label(f"p(label {classes[1]} | x), the model's probability")
    lines = ax.contour(
        x1,
        x2,
        probability,
        levels=[0.1, 0.25, 0.75, 0.9],
        colors="0.35",
        linestyles="--",
        linewidths=0.8,
        zorder=1,
    )
    ax.clabel(lines, fmt="%.2g", fontsize=8)
    ax.contour(
        x1, x2, probability, levels=[0.5], colors="black", linewidths=2, zorder=2
    )
    for label, colour, marker in ((0, "tab:blue", "o"), (1, "tab:red", "^")):
        rows = X[y[:, 0] == label]
        ax.scatter(
            rows[:, 0],
            rows[:, 1],
            s=14,
            marker=marker,
            color=colour,
            edgecolors="white",
            linewidths=0.3,
            zorder=3,
            label=f"label {classes[label]} ({len(rows)})",
        )
    ax.set_xlim(x1_low, x1_high)
    ax.set_ylim(x2_low, x2_high)
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1])
    share = linear.accuracy({"W": W, "b": b}, X, y)
    legend = _legend(
        ax,
        extra=[Line2D([], [], color="black", linewidth=2, label="boundary p = 1/2")],
    )
    legend.set_title(f"accuracy {share:.3f} ({round(share * len(X))} of {len(X)})")
    return fig


def _check_result(result: Any, caller: str) -> None:
    if not isinstance(result, FitResult):
        raise TypeError(
            f"{caller} needs a jaxgd.FitResult as result; got "
            f"{_checks.describe(result)}."
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
            f"{_checks.describe(f)}."
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
            f"{_checks.describe(trajectory)}."
        )
    trajectory = _numpy(trajectory).reshape(losses.shape[0], *one)
    return [path[: n + 1] for path, n in zip(trajectory, steps_taken, strict=True)]


def _run_labels(labels: Any, paths: list[np.ndarray], caller: str) -> list[str]:
    """One label per run: the given ones, or each run's start for several runs."""
    if labels is None:
        if len(paths) == 1:
            return ["_start"]
        return [f"x₀ = {_point(path[0])}" for path in paths]
    if isinstance(labels, str) or len(labels) != len(paths):
        raise ValueError(
            f"{caller} needs one label per run: result has {len(paths)} run(s); "
            f"got labels={labels!r}."
        )
    return [str(label) for label in labels]


def _point(x: np.ndarray) -> str:
    if x.ndim == 0:
        return _number_text(x)
    return "(" + ", ".join(_number_text(v) for v in x) + ")"


def _number_text(x: Any) -> str:
    """A number to 3 significant digits, with a typographic minus sign."""
    return f"{float(x):.3g}".replace("-", "−")


def _run_index(index: Any, count: int, name: str) -> int | None:
    if index is None:
        return None
    index = _checks.count(index, name, minimum=0)
    if index >= count:
        raise ValueError(
            f"{name} must be the index of a run, below {count}; got {index}."
        )
    return index


def _rates(learning_rates: Any, count: int, caller: str) -> np.ndarray:
    """The rates of a result's `count` lanes, for a logarithmic scale."""
    rates = _real_array(learning_rates, "learning_rates")
    if rates.shape != (count,):
        lanes = f"{count} lane{'s' if count != 1 else ''}"
        raise ValueError(
            "learning_rates must hold one rate per lane of result: got "
            f"learning_rates.shape={rates.shape} for {lanes}."
        )
    if not np.all(np.isfinite(rates) & (rates > 0)):
        raise ValueError(
            f"{caller} puts learning_rates on a log scale, so they must be "
            f"positive and finite; got {rates.tolist()}."
        )
    return rates


def _rate_norm(rates: np.ndarray) -> LogNorm:
    low, high = float(rates.min()), float(rates.max())
    if low == high:
        low, high = low / 2, high * 2
    return LogNorm(low, high)


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
        fig, (ax,) = subplots(1)
        return fig, ax
    if not isinstance(ax, Axes):
        raise TypeError(f"ax must be a matplotlib Axes; got {_checks.describe(ax)}.")
    return ax.figure, ax


def _fit_height(fig: Figure, ax: Axes) -> None:
    """Makes the figure as tall as the equal-aspect axes need, no taller.

    An axes of equal scales shrinks inside the box the layout gave it; the
    colour bar and legend beside it keep the box's size. Fitting the figure's
    height to the shrunk axes leaves neither an empty band nor a colour bar
    longer than the picture.
    """
    # The layout and the aspect depend on each other: a few rounds settle them.
    for _ in range(4):
        fig.draw_without_rendering()
        width, height = fig.get_size_inches()
        box, drawn = ax.get_position(original=True), ax.get_position(original=False)
        if box.width > drawn.width:
            change = box.height * height * (box.width / drawn.width - 1.0)
        else:
            change = -(box.height - drawn.height) * height
        if abs(change) < 0.02:
            break
        fig.set_size_inches(width, min(max(height + change, 2.5), 2 * _HEIGHT))


def _legend(ax: Axes, extra: Sequence[Line2D] = ()) -> Any:
    """The legend beside the axes, on the right, where it covers no data."""
    handles, labels = ax.get_legend_handles_labels()
    handles, labels = [*handles, *extra], [*labels, *(h.get_label() for h in extra)]
    return ax.legend(
        handles,
        labels,
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        borderaxespad=0.0,
    )


def _from_step_0(line: Line2D) -> None:
    """The step axis starts at step 0, with no margin before it.

    There are no steps before 0: a margin there would only add negative
    steps, which a symmetric-log step axis (`ax.set_xscale("symlog")`) labels
    as a tick at −10¹. Autoscaling stops at a line's sticky edge.
    """
    line.sticky_edges.x.append(0)


def _grew(losses: np.ndarray) -> np.ndarray:
    """Per lane: its last finite loss is above its first, on the way to diverging."""
    grew = np.zeros(losses.shape[0], bool)
    for k, lane in enumerate(losses):
        finite = lane[np.isfinite(lane)]
        grew[k] = finite.size > 1 and finite[-1] > finite[0]
    return grew


def _mark_stops(
    ax: Axes, losses: np.ndarray, diverged: np.ndarray, steps_taken: np.ndarray
) -> None:
    """An ``x`` where each diverged lane stopped: at its last loss, if in view."""
    bottom, top = ax.get_ylim()
    stops_x, stops_y, above = [], [], []
    for k in np.flatnonzero(diverged):
        steps = np.flatnonzero(np.isfinite(losses[k]))
        seen = steps[steps <= steps_taken[k]]
        if seen.size and bottom <= losses[k][seen[-1]] <= top:
            stops_x.append(steps_taken[k])
            stops_y.append(losses[k][seen[-1]])
        else:
            above.append(steps_taken[k])
    if stops_x:
        ax.plot(stops_x, stops_y, label="diverged", **_DIVERGED_STYLE)
    if above:
        _mark_top(ax, above, label="_nolegend_" if stops_x else "diverged")


def _mark_top(ax: Axes, xs: Sequence[float] | np.ndarray, label: str) -> None:
    """Marks x positions at the top of the axes, whatever the y limits."""
    ax.plot(
        xs,
        np.full(len(xs), _TOP),
        transform=ax.get_xaxis_transform(),
        label=label,
        **_DIVERGED_STYLE,
    )


def _wide(values: np.ndarray) -> bool:
    """Finite values >= 0 whose positive ones span more than two decades."""
    finite = values[np.isfinite(values)]
    positive = finite[finite > 0]
    return bool(
        positive.size
        and np.all(finite >= 0)
        and positive.max() > _LOG_SPAN * positive.min()
    )


def _log_if_wide(ax: Axes, values: np.ndarray) -> None:
    if _wide(values):
        ax.set_yscale("log", nonpositive="clip")


def _limits(values: np.ndarray, log: bool) -> tuple[float, float] | None:
    """Y limits around the finite `values` (the positive ones on a log axis)."""
    finite = values[np.isfinite(values)]
    if log:
        finite = finite[finite > 0]
    if not finite.size:
        return None
    low, high = float(finite.min()), float(finite.max())
    if log:
        ratio = (high / low) ** 0.05 if high > low else 2.0
        return low / ratio, high * ratio
    pad = 0.05 * (high - low) if high > low else max(1.0, abs(high))
    return low - pad, high + pad


def _above(limits: tuple[float, float], log: bool) -> float:
    """A height a little above the top of `limits`."""
    low, high = limits
    return 10.0 * high if log else high + (high - low)


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


def _pair(names: Any, default: tuple[str, str], name: str) -> tuple[str, str]:
    if names is None:
        return default
    if isinstance(names, str) or len(names) != 2:
        raise ValueError(f"{name} must hold two names; got {names!r}.")
    return str(names[0]), str(names[1])


def _numpy(x: Any) -> np.ndarray:
    return np.asarray(x, np.float64)


def _real_array(x: Any, name: str) -> np.ndarray:
    """`x` as float64, refusing what is not an array of real numbers."""
    array = np.asarray(x) if isinstance(x, (list, tuple)) else x
    if not _checks.is_real_number(array):
        raise TypeError(
            f"{name} must be an array of real numbers; got {_checks.describe(x)}."
        )
    return _numpy(array)


def _colour(k: int) -> str:
    return f"C{k % 10}"
