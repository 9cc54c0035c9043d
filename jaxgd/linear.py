r"""The chapter's model: a linear layer $f(x) = x W + b$.

Params are a dict `{"W": (n, m), "b": (m,)}` for `n` input features and `m`
outputs: gradient descent searches a space of $n m + m = (n + 1) m$
dimensions. `X` is `(N, n)` and `y` is `(N, m)`; a `y` whose shape differs
from the predictions' is an error, never a silent broadcast.

Examples:
    >>> import jax, jax.numpy as jnp, jaxgd
    >>> from jaxgd import linear
    >>> X = jnp.array([[0.0], [1.0], [2.0], [3.0]])
    >>> y = 2.0 * X + 1.0
    >>> params = linear.init(jax.random.key(0), 1, 1)
    >>> rate = 0.9 * linear.max_learning_rate(X)
    >>> result = jaxgd.fit(linear.mse, params, X, y, learning_rate=rate,
    ...                    num_steps=2000)
    >>> W, b = result.params["W"], result.params["b"]
    >>> jnp.round(W, 3).tolist(), jnp.round(b, 3).tolist()
    ([[2.0]], [1.0])
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from . import _checks, _lstsq, _newton
from ._cpu_products import HIGHEST, affine
from ._lstsq import Stats as Stats
from ._lstsq import mse_stats as mse_stats
from ._lstsq import stats as stats

Params = dict[str, jax.Array]

__all__ = [
    "Standardization",
    "Stats",
    "accuracy",
    "bce",
    "init",
    "max_learning_rate",
    "mse",
    "mse_stats",
    "predict",
    "solve",
    "sse",
    "standardize",
    "stats",
]


def init(
    key: jax.Array, in_features: int, out_features: int, dtype: Any = jnp.float32
) -> Params:
    r"""Random params like PyTorch's `nn.Linear`: uniform in $\pm 1/\sqrt{n}$.

    Args:
        key: a `jax.random` key.
        in_features: `n`, the number of input features.
        out_features: `m`, the number of outputs.
        dtype: floating dtype of the params.

    Returns:
        `{"W": (n, m), "b": (m,)}`.

    Raises:
        ValueError: if a size is not a positive int.
        TypeError: if `dtype` is not a floating dtype or `key` is not a key.

    Examples:
        >>> import jax
        >>> from jaxgd import linear
        >>> params = linear.init(jax.random.key(0), 3, 2)
        >>> params["W"].shape, params["b"].shape
        ((3, 2), (2,))
    """
    n = _checks.count(in_features, "in_features", minimum=1)
    m = _checks.count(out_features, "out_features", minimum=1)
    _checks.floating_dtype(dtype)
    bound = 1.0 / n**0.5
    key_w, key_b = jax.random.split(_checks.prng_key(key))
    return {
        "W": jax.random.uniform(key_w, (n, m), dtype, -bound, bound),
        "b": jax.random.uniform(key_b, (m,), dtype, -bound, bound),
    }


def predict(params: Params, X: ArrayLike) -> jax.Array:
    """The layer's output $X W + b$.

    On the CPU the product and its derivative are laid out for XLA's fast
    matrix-multiply kernel (see `benchmarks/RESULTS.md`); every value and
    derivative is that of $X W + b$.

    Args:
        params: `{"W": (n, m), "b": (m,)}`.
        X: `(N, n)` inputs.

    Returns:
        `(N, m)` predictions.

    Raises:
        ValueError: if `X` is not 2-D or its features disagree with `W`.
        TypeError: if `X` or a param does not hold real numbers.
    """
    return _predict(*_layer(params, X))


def sse(params: Params, X: ArrayLike, y: ArrayLike) -> jax.Array:
    r"""The chapter's loss: $L = \sum_i \lVert y_i - f(x_i) \rVert^2$.

    Args:
        params: `{"W": (n, m), "b": (m,)}`.
        X: `(N, n)` inputs.
        y: `(N, m)` targets.

    Returns:
        The sum of squared errors, a scalar.

    Raises:
        ValueError: if shapes disagree.
    """
    return _sse(*_layer_data(params, X, y))


def mse(params: Params, X: ArrayLike, y: ArrayLike) -> jax.Array:
    """Mean squared error over all `N * m` elements (as PyTorch's `mse_loss`).

    Args:
        params: `{"W": (n, m), "b": (m,)}`.
        X: `(N, n)` inputs.
        y: `(N, m)` targets.

    Returns:
        The mean squared error, a scalar.

    Raises:
        ValueError: if shapes disagree or there are no samples (the mean of
            nothing).
    """
    return _mse(*_layer_data(params, X, y, caller="mse"))


def bce(params: Params, X: ArrayLike, y: ArrayLike) -> jax.Array:
    r"""Logistic regression: mean binary cross-entropy of $\sigma(X W + b)$.

    Computed from the logits $z$ as $\log(1 + e^{z}) - y z$, which
    neither overflows for large $|z|$ nor takes $\log 0$.

    Args:
        params: `{"W": (n, m), "b": (m,)}`.
        X: `(N, n)` inputs.
        y: `(N, m)` labels in [0, 1].

    Returns:
        The mean binary cross-entropy, a scalar.

    Raises:
        ValueError: if shapes disagree or there are no samples.
    """
    return _bce(*_layer_data(params, X, y, caller="bce"))


@jax.custom_jvp
def _softplus(z: jax.Array) -> jax.Array:
    r"""$\log(1 + e^z)$, for any `z` without overflow."""
    return jnp.maximum(z, 0) + jnp.log1p(jnp.exp(-jnp.abs(z)))


@_softplus.defjvp
def _softplus_jvp(primals: tuple, tangents: tuple) -> tuple:
    # The value and its derivative, the sigmoid, share one exponential:
    # e = exp(-|z|), sigma(z) = 1 / (1 + e) for z >= 0 and e / (1 + e) below.
    # (-|z| is written piecewise so that its derivative at 0 is -1, not 0,
    # and the second derivative there is sigma(1 - sigma) = 1/4.)
    (z,), (dz,) = primals, tangents
    e = jnp.exp(jnp.where(z >= 0, -z, z))
    value = jnp.maximum(z, 0) + jnp.log1p(e)
    sigmoid = jnp.where(z >= 0, 1, e) / (1 + e)
    return value, sigmoid * dz


def solve(X: Any, y: ArrayLike | None = None, loss: str = "mse") -> Params:
    r"""The params that minimise a loss exactly: the optimum gradient descent seeks.

    For `mse` and `sse`, closed-form least squares: solves $[X, 1]
    \theta = y$ in the least-squares sense (the minimum-norm solution when
    `X` is rank-deficient). Given the `Stats` of the data instead of `X` and
    `y`, solves the normal equations they hold, scaled by the features'
    spreads.

    For `bce`, logistic regression by Newton's method (iteratively reweighted
    least squares) in float64 on the host, each output column on its own,
    down to a gradient at float64's rounding. With 0/1 labels that a
    hyperplane separates there is no finite minimiser (the loss falls to 0
    as the weights grow without bound), and `solve` says so.

    The data are checked first: no rows, or a NaN or an infinity in `X`, `y`
    or the `Stats`, is an error. Under `jit` the values are not known when it
    is traced; there, least squares on data that are not finite returns NaN
    params.

    Args:
        X: `(N, n)` inputs, or for `mse` and `sse` the `linear.stats` of the
            data (then without `y`).
        y: `(N, m)` targets (labels in [0, 1] for `bce`).
        loss: `"mse"`, `"sse"` or `"bce"`.

    Returns:
        `{"W": (n, m), "b": (m,)}` in the dtype of `X` and `y` (at least
        float32).

    Raises:
        ValueError: if `X` is not 2-D, `y` is not `(N, m)`, they disagree on
            `N`, `loss` is unknown, there are no rows, some value is not
            finite, or for `bce` the labels are outside [0, 1] or the classes
            are linearly separable.
        TypeError: if `X` or `y` does not hold real numbers, `loss` is not a
            str, or `bce` is asked for under `jit`.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxgd import linear
        >>> X = jnp.array([[0.0], [1.0], [2.0]])
        >>> params = linear.solve(X, 3.0 * X - 1.0)
        >>> jnp.round(params["W"], 4).tolist(), jnp.round(params["b"], 4).tolist()
        ([[3.0]], [-1.0])
        >>> labels = jnp.array([[0.0], [1.0], [0.0], [1.0]])
        >>> X = jnp.array([[0.0], [1.0], [2.0], [3.0]])
        >>> params = linear.solve(X, labels, loss="bce")
        >>> round(float(params["W"][0, 0]), 4), round(float(params["b"][0]), 4)
        (0.9082, -1.3623)
    """
    _checks.choice(loss, "loss", tuple(_CURVATURE))
    if isinstance(X, Stats):
        if y is not None:
            raise ValueError("solve takes the Stats of the data alone, without y.")
        if loss == "bce":
            raise ValueError(
                'solve(stats) is least squares; loss="bce" needs the rows X and y.'
            )
        _check_stats_finite(X, "solve")
        return _lstsq.solve_stats(X)
    if y is None:
        raise ValueError("solve needs X and y, or the Stats of the data alone.")
    X, y = _checks.rows(X, y, caller="solve")
    dtype = jnp.result_type(jnp.float32, X, y)
    if loss == "bce":
        if not (_checks.is_concrete(X) and _checks.is_concrete(y)):
            raise TypeError(
                'solve(X, y, loss="bce") runs Newton\'s method on the host, so it '
                "needs the values of X and y: call it outside jit and vmap."
            )
        return _solve_bce(X, y, dtype)
    return _least_squares(X.astype(dtype), y.astype(dtype))


@jax.jit
def _least_squares(X: jax.Array, y: jax.Array) -> Params:
    # LAPACK's SVD never returns on an infinity or a NaN; concrete data were
    # refused already, traced ones get NaN params instead of a hang.
    A = _design(X)
    finite = jnp.all(jnp.isfinite(A)) & jnp.all(jnp.isfinite(y))
    theta = jnp.linalg.lstsq(jnp.where(finite, A, 0), jnp.where(finite, y, 0))[0]
    theta = jnp.where(finite, theta, jnp.nan)
    return {"W": theta[:-1], "b": theta[-1]}


def _solve_bce(X: jax.Array, y: jax.Array, dtype: Any) -> Params:
    X64, y64 = np.asarray(X, np.float64), np.asarray(y, np.float64)
    if np.any((y64 < 0) | (y64 > 1)):
        raise ValueError(
            f'loss="bce" needs labels in [0, 1]; y holds values from '
            f"{y64.min():g} to {y64.max():g}."
        )
    A = np.hstack([X64, np.ones((X64.shape[0], 1))])
    thetas = []
    for j in range(y64.shape[1]):
        try:
            thetas.append(_newton.newton(A, y64[:, j]))
        except _newton.SeparableError:
            column = f" (output {j})" if y64.shape[1] > 1 else ""
            raise ValueError(
                f"the classes{column} are linearly separable: a hyperplane puts "
                "every row on the side of its label, so bce has no finite "
                "minimiser (it falls towards 0 as the weights grow without bound)"
            ) from None
    theta = np.stack(thetas, axis=1)
    return {"W": jnp.asarray(theta[:-1], dtype), "b": jnp.asarray(theta[-1], dtype)}


_CURVATURE = {"mse": 2.0, "sse": 2.0, "bce": 0.25}


def max_learning_rate(X: Any, loss: str = "mse", out_features: int = 1) -> float:
    r"""The largest constant learning rate plain gradient descent survives.

    Returns $2 / \lambda_{max}$ of the loss Hessian in the params. With
    $A = [X, 1]$ the Hessian of `sse` is $2 A^T A$ (per output), of
    `mse` it is $2 A^T A / (N m)$; both are constant, so the bound is
    exact: any rate below it converges, any above it diverges from a generic
    start. For `bce` the sigmoid's curvature is at most 1/4, so the Hessian is
    at most $A^T A / (4 N m)$ and the bound returned is the guaranteed
    safe one.

    $\lambda_{max}(A^T A) = \lambda_{max}(A A^T)$, so the eigenvalue
    comes from the smaller of the two Gram matrices: wide data (fewer rows
    than columns) cost no more than their rows. `A` is first scaled by a power
    of two, exactly, so that no square overflows; a very large Gram matrix
    (from the `Stats` of many features) is solved by Lanczos iterations
    instead of a full eigendecomposition.

    Args:
        X: `(N, n)` inputs, or their `linear.stats` (which hold
            $A^T A$).
        loss: `"mse"`, `"sse"` or `"bce"`.
        out_features: `m`, the number of outputs (the mean of `mse` and `bce`
            is over `N * m` elements).

    Returns:
        The bound, a Python float.

    Raises:
        ValueError: if `X` is not 2-D, has no rows, holds NaN or an infinity,
            or is so large that the bound is below the smallest float;
            `loss` is unknown or `out_features` is not a positive int.
        TypeError: if `X` does not hold real numbers, `loss` is not a str, or
            `X` is traced (under `jit` there is no Python float to return).

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxgd import linear
        >>> X = jnp.array([[1.0], [-1.0]])
        >>> linear.max_learning_rate(X)  # A^T A = 2 I, Hessian = 2 I
        1.0
    """
    _checks.choice(loss, "loss", tuple(_CURVATURE))
    m = _checks.count(out_features, "out_features", minimum=1)
    if isinstance(X, Stats):
        _check_stats_finite(X, "max_learning_rate")
        count = float(X.count)
        peak = max(
            float(jnp.max(jnp.abs(X.x_mean), initial=0.0)),
            float(jnp.sqrt(jnp.max(jnp.diagonal(X.gram), initial=0.0) / X.count)),
        )
        exponent = _exponent(peak)
        gram = _lstsq.raw_gram(X, exponent)
    else:
        X = _checks.rows(X, caller="max_learning_rate")
        if not _checks.is_concrete(X):
            raise TypeError(
                "max_learning_rate returns a Python float, so it needs the values "
                "of X: call it outside jit and vmap."
            )
        X = X.astype(jnp.result_type(jnp.float32, X))
        count = X.shape[0]
        peak = float(jnp.max(jnp.abs(X), initial=0.0))
        exponent = _exponent(peak)
        gram = _design_gram(X, exponent, wide=X.shape[0] < X.shape[1] + 1)
    top = _largest_eigenvalue(np.asarray(gram, np.float64))
    scale = 1.0 if loss == "sse" else count * m
    # lambda_max of the unscaled A is top * 4**exponent.
    bound = math.ldexp(2.0 * scale / (_CURVATURE[loss] * top), -2 * exponent)
    if bound == 0.0:
        raise ValueError(
            f"max_learning_rate is below the smallest float: X holds values as "
            f"large as {peak:.3g}, whose squares make the Hessian's largest "
            "eigenvalue overflow. Rescale the features, e.g. with "
            "linear.standardize."
        )
    return bound


def _exponent(peak: float) -> int:
    """`e` with 2**e > max(peak, 1): dividing by 2**e is exact and leaves |A| < 1."""
    return math.frexp(max(peak, 1.0))[1]


@functools.partial(jax.jit, static_argnames="wide")
def _design_gram(X: jax.Array, exponent: int, *, wide: bool) -> jax.Array:
    r"""The Gram matrix of $A / 2^e$, $A = [X, 1]$: `A Aᵀ` if `wide`.

    Built without concatenating the column of ones: $A A^T = X X^T +
    1 1^T$ and $A^T A$ has $X^T 1$ and `N` in its last row.
    """
    Xs = jnp.ldexp(X, -exponent)
    one = jnp.ldexp(jnp.ones((), X.dtype), -exponent)
    if wide:
        return jnp.matmul(Xs, Xs.T, precision=HIGHEST) + one * one
    column = one * jnp.sum(Xs, axis=0)
    corner = (X.shape[0] * one * one)[None]
    top = jnp.concatenate([jnp.matmul(Xs.T, Xs, precision=HIGHEST), column[:, None]], 1)
    return jnp.concatenate([top, jnp.concatenate([column, corner])[None, :]], 0)


# Past this size a full eigendecomposition, O(k^3), costs far more than the
# few dozen products with the matrix, O(k^2) each, that Lanczos needs.
_DENSE_EIGEN_MAX = 1024


def _largest_eigenvalue(gram: np.ndarray) -> float:
    """The largest eigenvalue of a symmetric positive semi-definite matrix.

    Both methods read the matrix as symmetric (eigvalsh one triangle, Lanczos
    its products), so it is not symmetrised, which would copy it.
    """
    if gram.shape[0] <= _DENSE_EIGEN_MAX:
        return float(np.linalg.eigvalsh(gram)[-1])
    from scipy.sparse.linalg import eigsh

    # A fixed, generic start: the same answer on every call.
    start = np.random.default_rng(0).standard_normal(gram.shape[0])
    top = eigsh(gram, k=1, which="LA", v0=start, return_eigenvectors=False)
    return float(top[0])


def _check_stats_finite(stats: Stats, caller: str) -> None:
    """A `ValueError` if concrete `Stats` hold NaN or an infinity."""
    if _checks.all_finite(stats):
        return
    bad = [
        name
        for name, leaf in zip(Stats._fields, stats, strict=True)
        if not _checks.all_finite(leaf)
    ]
    raise ValueError(
        f"{caller} needs finite statistics; these hold NaN or infinity: "
        f"{', '.join(bad)}. The data had a value that is not finite, or "
        "values so large that their squares overflow: rescale the features."
    )


class Standardization(NamedTuple):
    r"""The map $z = (x - \mu) / \sigma$ of `standardize`, and back.

    A linear model fitted to standardized features is one in the original
    units: $z W_z + b_z = x W + b$ with $W = W_z / \sigma$ (row
    by row) and $b = b_z - (\mu / \sigma) W_z$.

    Attributes:
        mean: `(n,)` $\mu$, the features' means.
        scale: `(n,)` $\sigma$, the features' standard deviations.
    """

    mean: jax.Array
    scale: jax.Array

    def unscale(self, params: Params) -> Params:
        r"""Params on the standardized features as params on the original ones.

        Args:
            params: `{"W": (n, m), "b": (m,)}` for $z$.

        Returns:
            `{"W": (n, m), "b": (m,)}` for $x$, with the same
            predictions.
        """
        W, b = _checks.linear_params(params)
        if W.shape[0] != jnp.shape(self.mean)[0]:
            raise ValueError(
                f"params do not fit this standardization: W.shape={W.shape}, "
                f"but it is of {jnp.shape(self.mean)[0]} features."
            )
        W_x = W / self.scale[:, None]
        return {"W": W_x, "b": b - self.mean @ W_x}


def standardize(
    X: Any, *, names: Sequence[str] | None = None
) -> tuple[Any, Standardization]:
    r"""Features rescaled to mean 0 and standard deviation 1, and the map back.

    Plain gradient descent takes one constant rate for every direction, so on
    columns of very different spreads (a car's weight in thousands beside its
    cylinders) the largest safe rate crawls along the narrow ones. On
    standardized features the same number of steps gets much closer to the
    optimum; `Standardization.unscale` turns the params found back into
    params on the original features, exactly.

    The means and spreads of `X` are computed on the host in float64, in two
    passes (the spread about the mean), so that a large offset keeps a small
    spread: a float32 column of `1e8` with one `1e8 + 8` has its spread of
    one float32 step. They are then rounded to X's dtype (at least float32),
    and `Z` is computed from the rounded ones, so that `unscale` inverts the
    map `Z` was made with. A column is constant when its values are equal to
    float64's precision (its spread is below a few float64 ulps of its
    magnitude): it has no spread to divide by. From `Stats`, whose spreads
    come from sums in the statistics' dtype, a column is constant when its
    variance is below the rounding of those sums (a few ulps of the dtype).

    Args:
        X: `(N, n)` inputs, or their `linear.stats` (which hold the means and
            the spreads).
        names: the `n` columns' names, for messages (by default their
            indices).

    Returns:
        `(Z, standardization)`: `Z = (X - mean) / scale` (or the `Stats` of
        `Z`), and the `Standardization` with the `(n,)` means and standard
        deviations (population, `ddof=0`).

    Raises:
        ValueError: if `X` is not 2-D, has no rows, holds NaN or an infinity,
            or a column is constant (leave it out, the bias plays its part),
            or a column's spread is below the smallest normal number of the
            dtype it is computed in; if `names` is not one name per column.
        TypeError: if `X` does not hold real numbers, or is traced (under
            `jit` there are no values to compute on the host).

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxgd import linear
        >>> X = jnp.array([[1.0, 100.0], [3.0, 300.0]])
        >>> Z, scaling = linear.standardize(X)
        >>> Z.tolist(), scaling.mean.tolist(), scaling.scale.tolist()
        ([[-1.0, -1.0], [1.0, 1.0]], [2.0, 200.0], [1.0, 100.0])
        >>> scaling.unscale({"W": jnp.array([[2.0], [4.0]]), "b": jnp.array([1.0])})
        {'W': Array([[2.  ],
               [0.04]], dtype=float32), 'b': Array([-11.], dtype=float32)}
    """
    if isinstance(X, Stats):
        _check_stats_finite(X, "standardize")
        columns = _column_names(names, int(jnp.shape(X.x_mean)[0]))
        mean = X.x_mean
        second = jnp.diagonal(X.gram) / X.count
        spread = second - jnp.square(X.xc_mean)
        scale = jnp.sqrt(jnp.maximum(spread, 0))
        # The variance is lost in the rounding of the two terms it is the
        # difference of: nothing is left of the column's spread.
        rounding = 8 * jnp.finfo(spread.dtype).eps * second
        constant = np.flatnonzero(np.asarray(spread <= rounding))
        tiny = np.asarray(
            jnp.square(mean) < jnp.finfo(spread.dtype).tiny * X.count, bool
        )
        underflow = [j for j in constant if tiny[j]]
        hint = ""
        if underflow:
            j = underflow[0]
            hint = (
                f" ({columns[j]} holds values near {float(mean[j]):.3g}, whose "
                f"squares underflow {spread.dtype}: if it is not constant, "
                "rescale it before taking the statistics)"
            )
        _refuse_constant(constant, columns, "in these statistics", hint)
        scaling = Standardization(mean, scale)
        return _lstsq.standardized_stats(X, mean, scale), scaling
    X = _checks.rows(X, caller="standardize", host=True)
    if not _checks.is_concrete(X):
        raise TypeError(
            "standardize computes the means and spreads of X on the host, so it "
            "needs the values of X: call it outside jit and vmap."
        )
    columns = _column_names(names, X.shape[1])
    dtype = jax.dtypes.canonicalize_dtype(jnp.result_type(jnp.float32, X.dtype))
    X = np.asarray(X)
    if X.dtype == np.bool_:
        X = X.astype(np.float32)
    mean, scale, equal = _mean_std(X)
    _refuse_constant(np.flatnonzero(equal), columns, "")
    info = jnp.finfo(dtype)
    small = np.flatnonzero(scale < info.tiny)
    if small.size:
        j = int(small[0])
        cast = (
            f": with jax_enable_x64 off, JAX computes the {X.dtype} X in {dtype}"
            if np.dtype(dtype) != X.dtype
            else ""
        )
        raise ValueError(
            f"standardize cannot rescale {columns[j]} of X: its spread, "
            f"{scale[j]:.3g}, is below the smallest normal {dtype} "
            f"({float(info.tiny):.3g}){cast}. Rescale that column, or enable "
            "float64 (jax.config.update('jax_enable_x64', True))."
        )
    mean, scale = mean.astype(dtype), scale.astype(dtype)
    Z = _standardized(X, mean, scale)
    return jnp.asarray(Z), Standardization(jnp.asarray(mean), jnp.asarray(scale))


def _column_names(names: Any, count: int) -> list[str]:
    """How messages name each of `count` columns: by name, or by index."""
    if names is None:
        return [f"column {j}" for j in range(count)]
    if isinstance(names, str) or not all(isinstance(n, str) for n in names):
        raise TypeError(
            f"names must be a sequence of str, one per column of X; got "
            f"{_checks.describe(names)}."
        )
    if len(names) != count:
        raise ValueError(
            f"names must hold one name per column of X, {count}; got {len(names)}."
        )
    return [f"column {j} ({name!r})" for j, name in enumerate(names)]


def _refuse_constant(
    constant: np.ndarray, columns: list[str], where: str, hint: str = ""
) -> None:
    """A `ValueError` naming the constant columns (a few, and a count)."""
    if not constant.size:
        return
    shown = ", ".join(columns[j] for j in constant[:5])
    more = f" and {constant.size - 5} more" if constant.size > 5 else ""
    verb = "has" if constant.size == 1 else "have"
    what = (
        f"no spread {where} beyond the rounding of their sums"
        if where
        else "the same value in every row (to a few float64 ulps)"
    )
    raise ValueError(
        f"standardize cannot rescale a constant column: {shown}{more} of X "
        f"{verb} {what}, so there is no spread to divide by{hint}. Leave such "
        "a column out: the bias plays its part."
    )


# Rows read at once by the host's passes over X: a few MB of float64 per
# column, however many rows there are.
_BLOCK_ROWS = 1 << 16


def _mean_std(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each column's mean and standard deviation in float64, and which are constant.

    Each column is divided by a power of two near its largest magnitude
    first (exactly), so that its squares neither overflow nor underflow, and
    the spread is summed about the mean in a second pass, so that an offset
    large against the spread cancels nothing.
    """
    largest = np.max(np.abs(X), axis=0).astype(np.float64)
    exponent = np.frexp(largest)[1]
    blocks = range(0, X.shape[0], _BLOCK_ROWS)

    def scaled(start: int) -> np.ndarray:
        return np.ldexp(X[start : start + _BLOCK_ROWS].astype(np.float64), -exponent)

    count = X.shape[0]
    mean = sum(scaled(start).sum(axis=0) for start in blocks) / count
    # About the rounded mean: what is left of the deviations' mean corrects
    # both the mean and the spread (the corrected two-pass algorithm).
    left, squares = 0.0, 0.0
    for start in blocks:
        deviation = scaled(start) - mean
        left = left + deviation.sum(axis=0)
        squares = squares + np.square(deviation).sum(axis=0)
    std = np.sqrt(np.maximum(squares / count - np.square(left / count), 0.0))
    mean = mean + left / count
    # |scaled| < 1, so a spread of a few float64 ulps of the column's
    # magnitude is one below a few ulps of 1: rounding, not data.
    equal = (np.min(X, axis=0) == np.max(X, axis=0)) | (
        std <= 4 * np.finfo(np.float64).eps
    )
    return np.ldexp(mean, exponent), np.ldexp(std, exponent), equal


def _standardized(X: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """`(X - mean) / scale` computed in float64 block by block, in `mean`'s dtype."""
    out = np.empty(X.shape, mean.dtype)
    mean64, scale64 = mean.astype(np.float64), scale.astype(np.float64)
    for start in range(0, X.shape[0], _BLOCK_ROWS):
        block = X[start : start + _BLOCK_ROWS].astype(np.float64)
        out[start : start + _BLOCK_ROWS] = (block - mean64) / scale64
    return out


def accuracy(params: Params, X: ArrayLike, y: ArrayLike) -> float:
    """The fraction of rows whose logit `X W + b` is on the side of its 0/1 label.

    A logit above 0 predicts 1 (a probability above 1/2), one at or below 0
    predicts 0.

    Args:
        params: `{"W": (n, m), "b": (m,)}`.
        X: `(N, n)` inputs.
        y: `(N, m)` labels, 0 or 1.

    Returns:
        The accuracy over all `N * m` labels, a Python float.

    Raises:
        ValueError: if shapes disagree or there are no samples.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxgd import linear
        >>> params = {"W": jnp.array([[1.0]]), "b": jnp.array([-1.5])}
        >>> X, y = jnp.array([[0.0], [2.0], [3.0]]), jnp.array([[0.0], [1.0], [0.0]])
        >>> linear.accuracy(params, X, y)  # logits -1.5, 0.5, 1.5: the last is wrong
        0.6666666666666666
    """
    W, b, X, labels = _layer_data(params, X, y, caller="accuracy")
    logits = _predict(W, b, X)
    return float(np.mean((np.asarray(logits) > 0) == (np.asarray(labels) == 1)))


def _design(X: jax.Array) -> jax.Array:
    return jnp.concatenate([X, jnp.ones((X.shape[0], 1), X.dtype)], axis=1)


def _layer(params: Params, X: ArrayLike) -> tuple[jax.Array, jax.Array, jax.Array]:
    """`(W, b, X)` of a layer and its inputs, or the error of what disagrees."""
    W, b = _checks.linear_params(params)
    X = _checks.features(X)
    if X.shape[1] != W.shape[0]:
        raise ValueError(
            f"X has {X.shape[1]} features but W expects {W.shape[0]}: "
            f"X.shape={X.shape}, W.shape={W.shape}."
        )
    return W, b, X


def _layer_data(
    params: Params, X: ArrayLike, y: ArrayLike, caller: str | None = None
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """`(W, b, X, y)` with `y` shaped as the predictions; `caller` needs rows."""
    W, b, X = _layer(params, X)
    y = _checks.targets(y, (X.shape[0], W.shape[1]), X)
    if caller is not None:
        _checks.samples(X, caller)
    return W, b, X, y


# The losses are compiled as a whole: called on arrays, each is one program
# (per shape) instead of one per operation; inside a traced loss they are
# inlined like any other function.


@jax.jit
def _predict(W: jax.Array, b: jax.Array, X: jax.Array) -> jax.Array:
    dtype = jnp.result_type(X, W, b)
    return affine(X.astype(dtype), W.astype(dtype), b.astype(dtype))


@jax.jit
def _sse(W: jax.Array, b: jax.Array, X: jax.Array, y: jax.Array) -> jax.Array:
    return jnp.sum(jnp.square(y - _predict(W, b, X)))


@jax.jit
def _mse(W: jax.Array, b: jax.Array, X: jax.Array, y: jax.Array) -> jax.Array:
    return jnp.mean(jnp.square(y - _predict(W, b, X)))


@jax.jit
def _bce(W: jax.Array, b: jax.Array, X: jax.Array, y: jax.Array) -> jax.Array:
    logits = _predict(W, b, X)
    return jnp.mean(_softplus(logits) - y * logits)
