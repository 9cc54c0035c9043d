r"""Least squares from sufficient statistics: `linear.stats` and `linear.mse_stats`.

The mean squared error of the linear model depends on the data only through
the count, the means and the centred second moments, which add up over chunks
of rows. `_Moments` are a chunk's sums about its own means; they merge
exactly (moving sums to new means is an identity: Chan, Golub and LeVeque's
pairwise update), so chunks and processes combine in any grouping. `Stats`,
the public form, is anchored at the least-squares weights, so that the loss
near the optimum is a sum of small terms that do not cancel.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_derivatives import SymbolicZero
from jax.typing import ArrayLike

from . import _checks
from ._cpu_products import HIGHEST, rows_product


class Stats(NamedTuple):
    r"""Sufficient statistics of a least-squares problem, made by `stats`.

    With the centred data $X_c = X - \bar x$, $y_c = y - \bar y$ and
    an anchor $W_0$ (the least-squares weights), the sum of squared errors
    of any params is

    $$
    \lVert y - X W - b \rVert^2 = s_0 + 2 \langle D, g_0 \rangle
    + \langle D, X_c^T X_c D \rangle + N \lVert \bar y - \bar x W - b \rVert^2,
    \qquad D = W - W_0,
    $$

    so a step of gradient descent costs $O(n^2 m)$, whatever `N` is.
    Near the optimum every term is small and none of them cancels another,
    so the loss stays accurate where the expanded form
    $y^T y - 2 \langle W, X^T y \rangle + \langle W, X^T X W \rangle$
    would lose all its digits. The means are rounded, so $X_c$ and
    $y_c$ are centred only up to rounding; what is left of their means
    is kept too, and the loss adds it back exactly.

    Attributes:
        count: `N`, the number of samples (0-d).
        x_mean: `(n,)` mean of the rows of `X`, $\bar x$.
        y_mean: `(m,)` mean of the rows of `y`, $\bar y$.
        xc_mean: `(n,)` mean of the rows of $X_c$, the rounding error of
            `x_mean`.
        yc_mean: `(m,)` mean of the rows of $y_c$, the rounding error of
            `y_mean`.
        gram: `(n, n)` centred Gram matrix $X_c^T X_c$.
        anchor: `(n, m)` least-squares weights $W_0$ of the centred data,
            as closely as the solver finds them; any anchor gives the same
            loss, a close one gives it accurately.
        anchor_grad: `(n, m)` $g_0 = X_c^T (X_c W_0 - y_c)$, near zero:
            what is left of the gradient at the anchor.
        anchor_sse: `(m,)` per-output $s_0 = \lVert y_c - X_c W_0
            \rVert^2$, the smallest sum of squared errors.
    """

    count: jax.Array
    x_mean: jax.Array
    y_mean: jax.Array
    xc_mean: jax.Array
    yc_mean: jax.Array
    gram: jax.Array
    anchor: jax.Array
    anchor_grad: jax.Array
    anchor_sse: jax.Array


def stats(
    X: Any, y: ArrayLike | None = None, *, across_processes: bool = False
) -> Stats:
    r"""Sufficient statistics of `(X, y)` for `mse_stats`: one pass over the data.

    `jaxgd.fit(linear.mse_stats, params, linear.stats(X, y), ...)` runs the same
    iterates as `jaxgd.fit(linear.mse, params, X, y, ...)` (up to rounding),
    but each step costs $O(n^2 m)$ instead of $O(N n m)$; making the
    statistics costs about as much as $n / m$ direct steps. They are computed
    at the highest matmul precision, in float32 or wider.

    The rows need not be in memory at once: `linear.stats(chunks)` reads an
    iterable of `(X, y)` pairs once, keeps `O((n + m)^2)` numbers between
    them, and gives the statistics of all their rows (equal, up to rounding,
    to those of the rows stacked; chunks of one shape compile once). Each
    chunk's sums are taken about its own means and merged exactly, so nothing
    cancels however far the features sit from zero; but the anchor terms
    come from the sums rather than from a second pass over the residuals, so
    for many chunks enable float64 to keep the loss near the optimum accurate.

    Under `jax.distributed`, `across_processes=True` gives every process the
    statistics of the rows of all processes: each passes its own rows (or
    chunks), one collective gathers every process's sums, and each merges
    them in process order, so that all hold the same `Stats`.

    Args:
        X: `(N, n)` inputs; or, with `y` left out, an iterable of `(X, y)`
            chunks of rows, `X` of shape `(N_k, n)` and `y` of shape
            `(N_k, m)`.
        y: `(N, m)` targets.
        across_processes: sum the statistics over all processes of a
            `jax.distributed` run.

    Returns:
        A `Stats`, a pytree of arrays (it passes through `jit` and `vmap`).

    Raises:
        ValueError: if `X` is not 2-D, `y` is not `(N, m)`, they disagree on
            `N`, there are no samples, a value is NaN or infinite, a sum of
            squares overflows the dtype, chunks disagree on `n`, `m` or
            dtype, or a chunk is not an `(X, y)` pair.
        TypeError: if `X` or `y` does not hold real numbers.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxgd import linear
        >>> X = jnp.array([[0.0], [1.0], [2.0], [3.0]])
        >>> s = linear.stats(X, 2.0 * X + 1.0)
        >>> s.count.item(), s.x_mean.tolist(), s.gram.tolist(), s.anchor.tolist()
        (4.0, [1.5], [[5.0]], [[2.0]])

        The same from two chunks of rows:

        >>> halves = [(X[:2], 2.0 * X[:2] + 1.0), (X[2:], 2.0 * X[2:] + 1.0)]
        >>> s = linear.stats(halves)
        >>> s.count.item(), s.x_mean.tolist(), s.gram.tolist(), s.anchor.tolist()
        (4.0, [1.5], [[5.0]], [[2.0]])
    """
    _checks.flag(across_processes, "across_processes")
    if y is None:
        moments = _chunk_moments(X)
    else:
        X, y = _checks.rows(X, y, caller="stats")
        dtype = jnp.result_type(jnp.float32, X, y)
        X, y = X.astype(dtype), y.astype(dtype)
        if not across_processes or jax.process_count() == 1:
            rows = y
            return _check_overflow(
                _stats(X, y), lambda: jnp.sum(jnp.square(rows - rows.mean(0)[None]), 0)
            )
        moments = _moments(X, y)
    if across_processes and jax.process_count() > 1:
        moments = _across_processes(moments)
    return _check_overflow(_anchor(moments), lambda: moments.yy)


def _check_overflow(result: Stats, y_squares: Callable[[], Any]) -> Stats:
    """`result`, or a `ValueError` naming the columns whose sums overflowed.

    The data were finite, so a statistic that is not comes from sums of
    squares (or of values) past the largest float. `y_squares()` gives y's
    own centred sums of squares: the anchor's squared error also involves
    X, so it would blame y for X's overflow. Skipped under `jit`.
    """
    if _checks.all_finite(result):
        return result
    x_bad = ~(np.isfinite(np.diagonal(result.gram)) & np.isfinite(result.x_mean))
    y_bad = ~(np.isfinite(y_squares()) & np.isfinite(result.y_mean))
    where = [f"column {j} of X" for j in np.flatnonzero(x_bad)]
    where += [f"column {j} of y" for j in np.flatnonzero(y_bad)]
    listed = ", ".join(where) if where else "the products of X and y"
    raise ValueError(
        f"stats overflow {result.gram.dtype}: the sums of squares of {listed} "
        "are past the largest float. Rescale those columns (divide them by a "
        "power of ten), or enable float64."
    )


@jax.jit
def _stats(X: jax.Array, y: jax.Array) -> Stats:
    N = X.shape[0]
    x_mean, y_mean = jnp.mean(X, axis=0), jnp.mean(y, axis=0)
    yc = y - y_mean[None, :]
    yc_mean = jnp.mean(yc, axis=0)
    raw = jnp.matmul(X.T, X, precision=HIGHEST)
    # X'X - N x̄x̄' loses about log2(1 + x̄²/σ²) bits to cancellation: nothing
    # to speak of for standardised features, which skip a pass over a centred
    # copy of X; features far from zero mean are centred first.
    spread = jnp.diagonal(raw) / N - jnp.square(x_mean)
    nearly_centred = jnp.all(jnp.square(x_mean) <= spread / 4)

    zero = jnp.zeros_like(x_mean)

    def from_raw() -> tuple:
        gram = raw - N * jnp.outer(x_mean, x_mean)
        cross = rows_product(X, yc) - N * jnp.outer(x_mean, yc_mean)
        return gram, cross, zero

    def centred() -> tuple:
        Xc = X - x_mean[None, :]
        gram = jnp.matmul(Xc.T, Xc, precision=HIGHEST)
        return gram, rows_product(Xc, yc), jnp.mean(Xc, axis=0)

    gram, cross, xc_mean = jax.lax.cond(nearly_centred, from_raw, centred)
    anchor = _cg_anchor(gram, cross)
    anchor_grad, anchor_sse = jax.lax.cond(
        nearly_centred,
        lambda: _at_anchor(anchor, X, x_mean, yc),
        lambda: _at_anchor(anchor, X - x_mean[None, :], zero, yc),
    )
    # Symmetric to the last bit, as `_quadratic_form`'s derivative assumes.
    gram = (gram + gram.T) / 2
    return Stats(
        count=jnp.asarray(N, X.dtype),
        x_mean=x_mean,
        y_mean=y_mean,
        xc_mean=xc_mean,
        yc_mean=yc_mean,
        gram=gram,
        anchor=anchor,
        anchor_grad=anchor_grad,
        anchor_sse=anchor_sse,
    )


def _cg_anchor(gram: jax.Array, cross: jax.Array) -> jax.Array:
    """An approximate solution of `gram @ anchor = cross`: the anchor of `Stats`."""
    # Conjugate gradients on the system scaled by the columns' spreads: on
    # unstandardized columns (thousands beside fractions) the plain system is
    # too badly conditioned for a few iterations.
    scaled, scale = _scaled(gram)
    iterations = min(gram.shape[0], 128)
    anchor = _conjugate_gradient(scaled, cross / scale[:, None], iterations)
    return anchor / scale[:, None]


def _at_anchor(
    anchor: jax.Array, X: jax.Array, shift: jax.Array, yc: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """The gradient and the sum of squared residuals at `anchor`, for `X - shift`.

    The gradient is summed from the residuals rather than taken as
    `gram @ anchor - cross`, whose rounding error would swamp it.
    """
    fitted = jnp.matmul(X, anchor, precision=HIGHEST) - (shift @ anchor)[None, :]
    residual = yc - fitted
    grad = jnp.outer(shift, jnp.sum(residual, axis=0)) - rows_product(X, residual)
    return grad, jnp.sum(jnp.square(residual), axis=0)


def _conjugate_gradient(G: jax.Array, C: jax.Array, iterations: int) -> jax.Array:
    """Approximately solves `G W = C` column by column, for positive semi-definite G.

    Started at zero, the iterates stay in the range of `G`, so a singular `G`
    gives the minimum-norm solution. The result is an anchor for `Stats`,
    which need not be exact; plain matmuls keep it inside one compiled program.
    It stops after `iterations`, or once every column's residual is down to
    the rounding of `C`.
    """

    def ratio(a: jax.Array, b: jax.Array) -> jax.Array:
        return jnp.where(b > 0, a / jnp.where(b > 0, b, 1), 0)

    rr_start = jnp.sum(C * C, axis=0)
    rr_rounding = jnp.square(jnp.finfo(C.dtype).eps) * rr_start

    def going(carry: tuple) -> jax.Array:
        i, _, _, _, rr = carry
        return (i < iterations) & jnp.any(rr > rr_rounding)

    def body(carry: tuple) -> tuple:
        i, W, R, P, rr = carry
        GP = jnp.matmul(G, P, precision=HIGHEST)
        alpha = ratio(rr, jnp.sum(P * GP, axis=0))[None, :]
        W, R = W + alpha * P, R - alpha * GP
        rr_next = jnp.sum(R * R, axis=0)
        return i + 1, W, R, R + ratio(rr_next, rr)[None, :] * P, rr_next

    start = (jnp.asarray(0), jnp.zeros_like(C), C, C, rr_start)
    W = jax.lax.while_loop(going, body, start)[1]
    return jnp.where(jnp.isfinite(W), W, 0)


# --- statistics that add -----------------------------------------------------


class _Moments(NamedTuple):
    r"""Sums over rows about the rows' own (rounded) means: what merges exactly.

    With $\tilde x = x - \bar x$ and $\tilde y = y - \bar y$:
    `x_sum` = Σ x̃ and `y_sum` = Σ ỹ (zero up to the means' rounding),
    `xx` = Σ x̃ x̃ᵀ, `xy` = Σ x̃ ỹᵀ and `yy` = Σ ỹ² per output.
    """

    count: jax.Array
    x_mean: jax.Array
    y_mean: jax.Array
    x_sum: jax.Array
    y_sum: jax.Array
    xx: jax.Array
    xy: jax.Array
    yy: jax.Array


@jax.jit
def _moments(X: jax.Array, y: jax.Array) -> _Moments:
    x_mean, y_mean = jnp.mean(X, axis=0), jnp.mean(y, axis=0)
    Xc, yc = X - x_mean[None, :], y - y_mean[None, :]
    return _Moments(
        count=jnp.asarray(X.shape[0], X.dtype),
        x_mean=x_mean,
        y_mean=y_mean,
        x_sum=jnp.sum(Xc, axis=0),
        y_sum=jnp.sum(yc, axis=0),
        xx=jnp.matmul(Xc.T, Xc, precision=HIGHEST),
        xy=rows_product(Xc, yc),
        yy=jnp.sum(jnp.square(yc), axis=0),
    )


def _recentred(part: _Moments, x_mean: jax.Array, y_mean: jax.Array) -> _Moments:
    """The same rows' sums about other means: an identity, exact in arithmetic.

    With d = x̄ₚ - x̄ and e = ȳₚ - ȳ, x - x̄ = x̃ + d, so for instance
    Σ (x - x̄)(x - x̄)ᵀ = Σ x̃x̃ᵀ + d (Σ x̃)ᵀ + (Σ x̃) dᵀ + N d dᵀ.
    """
    d, e = part.x_mean - x_mean, part.y_mean - y_mean
    N = part.count
    return _Moments(
        count=N,
        x_mean=x_mean,
        y_mean=y_mean,
        x_sum=part.x_sum + N * d,
        y_sum=part.y_sum + N * e,
        xx=part.xx
        + jnp.outer(d, part.x_sum)
        + jnp.outer(part.x_sum, d)
        + N * jnp.outer(d, d),
        xy=part.xy
        + jnp.outer(d, part.y_sum)
        + jnp.outer(part.x_sum, e)
        + N * jnp.outer(d, e),
        yy=part.yy + 2 * e * part.y_sum + N * jnp.square(e),
    )


@jax.jit
def _merged(parts: _Moments) -> _Moments:
    """One `_Moments` of all the rows of `parts`, stacked on a leading axis."""
    count = jnp.sum(parts.count)
    weights = parts.count / count
    x_mean = jnp.sum(weights[:, None] * parts.x_mean, axis=0)
    y_mean = jnp.sum(weights[:, None] * parts.y_mean, axis=0)
    moved = jax.vmap(_recentred, in_axes=(0, None, None))(parts, x_mean, y_mean)
    summed = jax.tree.map(lambda a: jnp.sum(a, axis=0), moved)
    return summed._replace(x_mean=x_mean, y_mean=y_mean)


@jax.jit
def _merge(a: _Moments, b: _Moments) -> _Moments:
    return _merged(jax.tree.map(lambda *leaves: jnp.stack(leaves), a, b))


def _chunk_moments(chunks: Any) -> _Moments:
    """The merged `_Moments` of an iterable of `(X, y)` chunks, one at a time."""
    if isinstance(chunks, (jax.Array, np.ndarray)) or not isinstance(chunks, Iterable):
        raise ValueError(
            "stats needs X and y, or one iterable of (X, y) chunks of rows; got "
            f"{_checks.describe(chunks)} and no y."
        )
    total, first = None, None
    for k, chunk in enumerate(chunks):
        if not (isinstance(chunk, (tuple, list)) and len(chunk) == 2):
            raise ValueError(
                f"chunk {k} must be an (X, y) pair of arrays; got "
                f"{_checks.describe(chunk)}."
            )
        # numpy chunks stay numpy until the one transfer into `_moments`.
        X = _checks.array(chunk[0], f"chunk {k}'s X", host=True)
        y = _checks.array(chunk[1], f"chunk {k}'s y", host=True)
        if np.ndim(y) == 1 and np.ndim(X) == 2 and len(y) == len(X):
            y = y[:, None]  # one output
        _checks.feature_target_shapes(X, y)
        if X.shape[0] == 0:
            continue
        _checks.finite_values(X, f"chunk {k}'s X", "stats")
        _checks.finite_values(y, f"chunk {k}'s y", "stats")
        dtype = jnp.result_type(jnp.float32, X, y)
        shape = (X.shape[1], y.shape[1], dtype)
        if first is None:
            first = shape
        elif shape != first:
            raise ValueError(
                f"chunk {k} has {shape[0]} features, {shape[1]} outputs and dtype "
                f"{shape[2]}, but chunk 0 has {first[0]}, {first[1]} and "
                f"{first[2]}; every chunk must agree."
            )
        part = _moments(X.astype(dtype, copy=False), y.astype(dtype, copy=False))
        total = part if total is None else _merge(total, part)
        # One chunk at a time: without the wait, reading runs ahead of the
        # computation and every chunk read waits in memory for its turn.
        total = jax.block_until_ready(total)
    if total is None:
        raise ValueError("stats needs at least one sample; the chunks hold none.")
    return total


def _across_processes(local: _Moments) -> _Moments:
    """Every process's `_Moments`, gathered by one collective and merged in order."""
    from jax.experimental import multihost_utils

    gathered = multihost_utils.process_allgather(local)
    return _merged(jax.tree.map(jnp.asarray, gathered))


@jax.jit
def _anchor(moments: _Moments) -> Stats:
    """`Stats` from merged sums, anchored at the least-squares weights.

    The weights solve the normal equations scaled by the columns' spreads
    (unscaled columns of very different sizes would otherwise make the solve
    lose digits), the minimum-norm solution of the scaled problem when the
    features are collinear. Without the rows there is no second pass, so the
    anchor's gradient and squared error come from the sums.
    """
    G = (moments.xx + moments.xx.T) / 2
    C = moments.xy
    anchor = _solve_normal(G, C)
    GW = jnp.matmul(G, anchor, precision=HIGHEST)
    N = moments.count
    return Stats(
        count=N,
        x_mean=moments.x_mean,
        y_mean=moments.y_mean,
        xc_mean=moments.x_sum / N,
        yc_mean=moments.y_sum / N,
        gram=G,
        anchor=anchor,
        anchor_grad=GW - C,
        anchor_sse=moments.yy
        - 2 * jnp.sum(anchor * C, axis=0)
        + jnp.sum(anchor * GW, axis=0),
    )


def _solve_normal(G: jax.Array, C: jax.Array) -> jax.Array:
    """The minimum-norm solution of `G W = C` after scaling by the diagonal."""
    scaled, scale = _scaled(G)
    solution = jnp.linalg.lstsq(scaled, C / scale[:, None])[0]
    return solution / scale[:, None]


def _scaled(G: jax.Array) -> tuple[jax.Array, jax.Array]:
    """`G` scaled to a unit diagonal (where it is not 0), and the scale."""
    scale = jnp.sqrt(jnp.diagonal(G))
    scale = jnp.where(scale > 0, scale, 1)
    return G / scale[:, None] / scale[None, :], scale


# --- the loss ----------------------------------------------------------------


@jax.custom_jvp
def _quadratic_form(G: jax.Array, D: jax.Array) -> jax.Array:
    """`<D, G D>` for a symmetric `G`, whose derivative reuses `G D`.

    For a symmetric `G` the derivative in `D` is `2 <dD, G D>`, so a gradient
    step costs one product with `G` instead of the three that differentiating
    `jnp.sum(D * (G @ D))` gives.
    """
    return jnp.sum(D * jnp.matmul(G, D, precision=HIGHEST))


@functools.partial(_quadratic_form.defjvp, symbolic_zeros=True)
def _quadratic_form_jvp(primals: tuple, tangents: tuple) -> tuple:
    G, D = primals
    dG, dD = tangents
    GD = jnp.matmul(G, D, precision=HIGHEST)
    out = jnp.sum(D * GD)
    tangent = jnp.zeros_like(out)
    if not isinstance(dD, SymbolicZero):
        tangent = tangent + 2 * jnp.sum(dD * GD)
    if not isinstance(dG, SymbolicZero):
        tangent = tangent + jnp.sum(D * jnp.matmul(dG, D, precision=HIGHEST))
    return out, tangent


def mse_stats(params: dict, stats: Stats) -> jax.Array:
    r"""`mse` from sufficient statistics: the same value, in $O(n^2 m)$.

    `mse_stats(params, linear.stats(X, y))` equals `mse(params, X, y)` up to
    rounding, and so do their gradients; near the optimum it is the more
    accurate of the two (see `Stats`). Use it for full-batch gradient descent
    on large `N`. The statistics already sum over every sample, so there is
    nothing to draw mini-batches from: with `batch_size` use `mse` on `X, y`.

    Args:
        params: `{"W": (n, m), "b": (m,)}`.
        stats: `linear.stats(X, y)` of `(N, n)` inputs and `(N, m)` targets.

    Returns:
        The mean squared error over all `N * m` elements, a scalar.

    Raises:
        TypeError: if `stats` is not a `Stats`.
        ValueError: if the params' shapes disagree with the statistics'.

    Examples:
        >>> import jax, jax.numpy as jnp, jaxgd
        >>> from jaxgd import linear
        >>> X = jnp.array([[0.0], [1.0], [2.0], [3.0]])
        >>> y = 2.0 * X + 1.0
        >>> params = {"W": jnp.array([[1.0]]), "b": jnp.array([0.0])}
        >>> linear.mse_stats(params, linear.stats(X, y)), linear.mse(params, X, y)
        (Array(7.5, dtype=float32), Array(7.5, dtype=float32))
        >>> result = jaxgd.fit(linear.mse_stats, params, linear.stats(X, y),
        ...                    learning_rate=0.1, num_steps=2000)
        >>> jnp.round(result.params["W"], 3).tolist()
        [[2.0]]
    """
    W, b = _checks.linear_params(params)
    check_stats(stats, W.shape)
    D = W - stats.anchor
    offset = stats.y_mean - b - stats.x_mean @ W
    # sum_i (yc_i - Xc_i W) = N (yc_mean - xc_mean W): the cross term between
    # the centred residuals and the offset, zero up to the means' rounding.
    drift = stats.yc_mean - stats.xc_mean @ W
    sse = (
        jnp.sum(stats.anchor_sse)
        + 2 * jnp.sum(D * stats.anchor_grad)
        + _quadratic_form(stats.gram, D)
        + stats.count * jnp.sum(offset * (offset + 2 * drift))
    )
    return sse / (stats.count * W.shape[1])


def check_stats(stats: Any, shape: tuple[int, ...] | None = None) -> Stats:
    """`stats` if it is a `Stats` (of weights of `shape`), else an error."""
    if not isinstance(stats, Stats):
        raise TypeError(
            "stats must be the Stats of linear.stats(X, y); got "
            f"{_checks.describe(stats)}."
        )
    anchor = jnp.shape(stats.anchor)
    if shape is not None and tuple(shape) != anchor:
        raise ValueError(
            f"params do not fit these statistics: W.shape={tuple(shape)}, but the "
            f"statistics are of {anchor[0]} features and {anchor[1]} outputs, so W "
            f"must be {anchor}."
        )
    return stats


@jax.jit
def solve_stats(stats: Stats) -> dict:
    r"""The params minimising `mse_stats(params, stats)`: the closed form.

    From the anchor, one exact Newton step of the quadratic,
    $W = W_0 - G^{+} g_0$, solved with `G` scaled by its diagonal, and
    the bias that zeroes the offset term.
    """
    G, g0 = stats.gram, stats.anchor_grad
    W = stats.anchor - _solve_normal(G, g0)
    drift = stats.yc_mean - stats.xc_mean @ W
    b = stats.y_mean - stats.x_mean @ W + drift
    return {"W": W, "b": b}


@jax.jit
def raw_gram(stats: Stats, exponent: int = 0) -> jax.Array:
    r"""$A^T A / 4^e$ for $A = [X, 1]$, from the statistics.

    With $x = \tilde x + \bar x$, $\sum x x^T = G + \bar x s^T + s
    \bar x^T + N \bar x \bar x^T$ where $s = \sum \tilde x = N \cdot$
    `xc_mean`, and $\sum x = N \bar x + s$. Every term is scaled by the
    power of two $2^{-e}$ per factor of `A` before it is formed, so a
    large `e` keeps the sums of large features from overflowing.
    """
    N = stats.count
    mean = jnp.ldexp(stats.x_mean, -exponent)
    s = N * jnp.ldexp(stats.xc_mean, -exponent)
    xx = jnp.ldexp(stats.gram, -2 * exponent)
    xx = xx + jnp.outer(mean, s) + jnp.outer(s, mean) + N * jnp.outer(mean, mean)
    one = jnp.ldexp(jnp.ones((), xx.dtype), -exponent)
    column = one * (N * mean + s)
    top = jnp.concatenate([xx, column[:, None]], axis=1)
    bottom = jnp.concatenate([column, (N * one * one)[None]])[None, :]
    return jnp.concatenate([top, bottom], axis=0)


@jax.jit
def standardized_stats(stats: Stats, mean: jax.Array, scale: jax.Array) -> Stats:
    r"""The statistics of $Z = (X - \mu) / \sigma$, from those of `X`.

    Exact in arithmetic: centring does not change $X_c$, and scaling
    column $j$ by $1/\sigma_j$ scales row $j$ of the Gram
    matrix, of $g_0$ and (inversely) of the anchor.
    """
    return stats._replace(
        x_mean=(stats.x_mean - mean) / scale,
        xc_mean=stats.xc_mean / scale,
        gram=stats.gram / scale[:, None] / scale[None, :],
        anchor=stats.anchor * scale[:, None],
        anchor_grad=stats.anchor_grad / scale[:, None],
    )
