r"""The chapter's model: a linear layer :math:`f(x) = x W + b`.

Params are a dict `{"W": (n, m), "b": (m,)}` for `n` input features and `m`
outputs: gradient descent searches a space of :math:`n \times (m + 1)`
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
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.custom_derivatives import SymbolicZero
from jax.typing import ArrayLike

from . import _validate

Params = dict[str, jax.Array]

__all__ = [
    "Stats",
    "bce",
    "init",
    "max_learning_rate",
    "mse",
    "mse_stats",
    "predict",
    "solve",
    "sse",
    "stats",
]


def init(
    key: jax.Array, in_features: int, out_features: int, dtype: Any = jnp.float32
) -> Params:
    r"""Random params like PyTorch's `nn.Linear`: uniform in :math:`\pm 1/\sqrt{n}`.

    Args:
        key: a `jax.random` key.
        in_features: `n`, the number of input features.
        out_features: `m`, the number of outputs.
        dtype: floating dtype of the params.

    Returns:
        `{"W": (n, m), "b": (m,)}`.

    Raises:
        ValueError: if a size is not a positive int.
        TypeError: if `dtype` is not floating.

    Examples:
        >>> import jax
        >>> from jaxgd import linear
        >>> params = linear.init(jax.random.key(0), 3, 2)
        >>> params["W"].shape, params["b"].shape
        ((3, 2), (2,))
    """
    n = _validate.check_int(in_features, "in_features", minimum=1)
    m = _validate.check_int(out_features, "out_features", minimum=1)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"dtype must be a floating dtype; got {dtype}.")
    bound = 1.0 / n**0.5
    key_w, key_b = jax.random.split(key)
    return {
        "W": jax.random.uniform(key_w, (n, m), dtype, -bound, bound),
        "b": jax.random.uniform(key_b, (m,), dtype, -bound, bound),
    }


def predict(params: Params, X: ArrayLike) -> jax.Array:
    """The layer's output :math:`X W + b`.

    On the CPU its derivative in `(W, b)` is one product with an explicit copy
    of :math:`[X, 1]^T`, which XLA:CPU multiplies about 3x faster than it
    contracts `X` over its rows, and which gives the gradient in `b` from the
    same product; in a loop over fixed data the copy is made once, before the
    loop. Every derivative is that of :math:`X W + b`.

    Args:
        params: `{"W": (n, m), "b": (m,)}`.
        X: `(N, n)` inputs.

    Returns:
        `(N, m)` predictions.

    Raises:
        ValueError: if `X` is not 2-D or its features disagree with `W`.
    """
    X = jnp.asarray(X)
    W, b = _unpack(params)
    if X.ndim != 2:
        raise ValueError(
            f"X must be 2-D (n_samples, n_features); got X.shape={X.shape}."
        )
    if X.shape[1] != W.shape[0]:
        raise ValueError(
            f"X has {X.shape[1]} features but W expects {W.shape[0]}: "
            f"X.shape={X.shape}, W.shape={W.shape}."
        )
    dtype = jnp.result_type(X, W, b)
    return _affine(X.astype(dtype), W.astype(dtype), b.astype(dtype))


@jax.custom_jvp
def _affine(X: jax.Array, W: jax.Array, b: jax.Array) -> jax.Array:
    """`X @ W + b`, whose derivative in `(W, b)` multiplies by `[X, 1]^T` on the CPU.

    The gradient of `X W + b` in `W` is `X^T g`, a contraction over the rows
    of `X` that XLA:CPU runs on a generic kernel about 3x slower than its
    matrix multiply (`benchmarks/RESULTS.md`); the gradient in `b` is a
    separate sum of `g` over the rows. Written as one product of `[dW; db]`
    with an explicit `[X, 1]^T`, both come from the fast kernel, and under
    `vmap` the cotangent is read in one layout instead of being transposed
    for each. Inside a loop over fixed data, XLA makes the copy once, before
    the loop. Other backends, whose multiplies need no copy, are left as they
    are, and so is a single feature, where XLA makes both products
    elementwise.
    """
    return _forward(X, W, b)


def _forward(X: jax.Array, W: jax.Array, b: jax.Array) -> jax.Array:
    """`X @ W + b`; on the CPU written as `(W^T X^T)^T + b`.

    For a single run XLA folds the transpose away and both are one product.
    Under `vmap` over `W` (the lanes of a sweep or a multistart), `X @ W`
    puts the lanes second, and XLA then makes the residuals twice a step, once
    in that layout for the loss and once lanes-first for the gradient's
    product with `[X, 1]^T`; written this way the lanes come first and one
    residual serves both (a 64-rate sweep: about 1.7x faster, as fast as the
    rates stacked as columns of one fit, `benchmarks/RESULTS.md`).
    """
    if jax.default_backend() == "cpu":
        product = jax.lax.dot_general(W, X, (((0,), (1,)), ((), ())))
        return product.T + b[None, :]
    return X @ W + b[None, :]


@functools.partial(_affine.defjvp, symbolic_zeros=True)
def _affine_jvp(primals: tuple, tangents: tuple) -> tuple:
    X, W, b = primals
    dX, dW, db = tangents
    out = _forward(X, W, b)
    parts = []
    if not isinstance(dW, SymbolicZero):
        if isinstance(db, SymbolicZero):
            db = jnp.zeros_like(b)
        # With a single feature XLA makes both products elementwise, which
        # beats any matrix-multiply call.
        if jax.default_backend() == "cpu" and X.shape[1] > 1:
            # The barriers keep XLA from folding the transpose into the product
            # and from folding the copy of a constant X at compile time.
            ones = jnp.ones((1, X.shape[0]), X.dtype)
            X1T = jnp.concatenate([jax.lax.optimization_barrier(X).T, ones], axis=0)
            X1T = jax.lax.optimization_barrier(X1T)
            dWb = jnp.concatenate([dW, db[None, :]], axis=0)
            parts.append(jax.lax.dot_general(X1T, dWb, (((0,), (0,)), ((), ()))))
        else:
            parts.append(X @ dW + db[None, :])
    elif not isinstance(db, SymbolicZero):
        parts.append(jnp.broadcast_to(db[None, :], out.shape))
    if not isinstance(dX, SymbolicZero):
        parts.append(dX @ W)
    if not parts:
        return out, jnp.zeros_like(out)
    return out, functools.reduce(jnp.add, parts)


def sse(params: Params, X: ArrayLike, y: ArrayLike) -> jax.Array:
    r"""The chapter's loss: :math:`L = \sum_i \lVert y_i - f(x_i) \rVert^2`.

    Args:
        params: `{"W": (n, m), "b": (m,)}`.
        X: `(N, n)` inputs.
        y: `(N, m)` targets.

    Returns:
        The sum of squared errors, a scalar.

    Raises:
        ValueError: if shapes disagree.
    """
    return jnp.sum(jnp.square(_residual(params, X, y)))


def mse(params: Params, X: ArrayLike, y: ArrayLike) -> jax.Array:
    """Mean squared error over all `N * m` elements (as PyTorch's `mse_loss`).

    Args:
        params: `{"W": (n, m), "b": (m,)}`.
        X: `(N, n)` inputs.
        y: `(N, m)` targets.

    Returns:
        The mean squared error, a scalar.

    Raises:
        ValueError: if shapes disagree.
    """
    return jnp.mean(jnp.square(_residual(params, X, y)))


def bce(params: Params, X: ArrayLike, y: ArrayLike) -> jax.Array:
    r"""Logistic regression: mean binary cross-entropy of :math:`\sigma(X W + b)`.

    Computed from the logits :math:`z` as :math:`\log(1 + e^{z}) - y z`, which
    neither overflows for large :math:`|z|` nor takes :math:`\log 0`.

    Args:
        params: `{"W": (n, m), "b": (m,)}`.
        X: `(N, n)` inputs.
        y: `(N, m)` labels in [0, 1].

    Returns:
        The mean binary cross-entropy, a scalar.

    Raises:
        ValueError: if shapes disagree.
    """
    logits = predict(params, X)
    labels = _targets(y, logits, X)
    return jnp.mean(_softplus(logits) - labels * logits)


@jax.custom_jvp
def _softplus(z: jax.Array) -> jax.Array:
    r""":math:`\log(1 + e^z)`, for any `z` without overflow."""
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


def solve(X: ArrayLike, y: ArrayLike) -> Params:
    r"""Closed-form least squares: the params minimising `sse` and `mse`.

    Solves :math:`[X, 1] \theta = y` in the least-squares sense (the
    minimum-norm solution when `X` is rank-deficient).

    Args:
        X: `(N, n)` inputs.
        y: `(N, m)` targets.

    Returns:
        `{"W": (n, m), "b": (m,)}` in the dtype of `X` and `y`.

    Raises:
        ValueError: if `X` is not 2-D, `y` is not `(N, m)`, or they disagree
            on `N`.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxgd import linear
        >>> X = jnp.array([[0.0], [1.0], [2.0]])
        >>> params = linear.solve(X, 3.0 * X - 1.0)
        >>> jnp.round(params["W"], 4).tolist(), jnp.round(params["b"], 4).tolist()
        ([[3.0]], [-1.0])
    """
    X, y = _check_X_y(X, y)
    dtype = jnp.result_type(jnp.float32, X, y)
    A = _design(X.astype(dtype))
    theta = jnp.linalg.lstsq(A, y.astype(dtype))[0]
    return {"W": theta[:-1], "b": theta[-1]}


_CURVATURE = {"mse": 2.0, "sse": 2.0, "bce": 0.25}


def max_learning_rate(X: ArrayLike, loss: str = "mse", out_features: int = 1) -> float:
    r"""The largest constant learning rate plain gradient descent survives.

    Returns :math:`2 / \lambda_{max}` of the loss Hessian in the params. With
    :math:`A = [X, 1]` the Hessian of `sse` is :math:`2 A^T A` (per output), of
    `mse` it is :math:`2 A^T A / (N m)`; both are constant, so the bound is
    exact: any rate below it converges, any above it diverges from a generic
    start. For `bce` the sigmoid's curvature is at most 1/4, so the Hessian is
    at most :math:`A^T A / (4 N m)` and the bound returned is the guaranteed
    safe one.

    Args:
        X: `(N, n)` inputs.
        loss: `"mse"`, `"sse"` or `"bce"`.
        out_features: `m`, the number of outputs (the mean of `mse` and `bce`
            is over `N * m` elements).

    Returns:
        The bound, a Python float.

    Raises:
        ValueError: if `X` is not 2-D, `loss` is unknown or `out_features` is
            not a positive int.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxgd import linear
        >>> X = jnp.array([[1.0], [-1.0]])
        >>> linear.max_learning_rate(X)  # A^T A = 2 I, Hessian = 2 I
        1.0
    """
    X = _check_X(X)
    if loss not in _CURVATURE:
        raise ValueError(f"loss must be one of {sorted(_CURVATURE)}; got {loss!r}.")
    m = _validate.check_int(out_features, "out_features", minimum=1)
    A = _design(X.astype(jnp.result_type(jnp.float32, X)))
    top = float(jnp.linalg.eigvalsh(A.T @ A)[-1])
    scale = 1.0 if loss == "sse" else X.shape[0] * m
    return 2.0 * scale / (_CURVATURE[loss] * top)


def _unpack(params: Params) -> tuple[jax.Array, jax.Array]:
    if not isinstance(params, dict) or set(params) != {"W", "b"}:
        got = sorted(params) if isinstance(params, dict) else type(params).__name__
        raise ValueError(f'params must be a dict with keys "W" and "b"; got {got}.')
    W, b = jnp.asarray(params["W"]), jnp.asarray(params["b"])
    if W.ndim != 2 or b.shape != W.shape[1:]:
        raise ValueError(
            f"params must hold W: (n, m) and b: (m,); got W.shape={W.shape}, "
            f"b.shape={b.shape}."
        )
    return W, b


def _check_X(X: ArrayLike) -> jax.Array:
    X = jnp.asarray(X)
    if X.ndim != 2:
        raise ValueError(
            f"X must be 2-D (n_samples, n_features); got X.shape={X.shape}."
        )
    return X


@jax.custom_jvp
def _quadratic_form(G: jax.Array, D: jax.Array) -> jax.Array:
    """`<D, G D>` for a symmetric `G`, whose derivative reuses `G D`.

    For a symmetric `G` the derivative in `D` is `2 <dD, G D>`, so a gradient
    step costs one product with `G` instead of the three that differentiating
    `jnp.sum(D * (G @ D))` gives.
    """
    return jnp.sum(D * jnp.matmul(G, D, precision=_HIGHEST))


@functools.partial(_quadratic_form.defjvp, symbolic_zeros=True)
def _quadratic_form_jvp(primals: tuple, tangents: tuple) -> tuple:
    G, D = primals
    dG, dD = tangents
    GD = jnp.matmul(G, D, precision=_HIGHEST)
    out = jnp.sum(D * GD)
    tangent = jnp.zeros_like(out)
    if not isinstance(dD, SymbolicZero):
        tangent = tangent + 2 * jnp.sum(dD * GD)
    if not isinstance(dG, SymbolicZero):
        tangent = tangent + jnp.sum(D * jnp.matmul(dG, D, precision=_HIGHEST))
    return out, tangent


def _check_X_y(X: ArrayLike, y: ArrayLike) -> tuple[jax.Array, jax.Array]:
    X = _check_X(X)
    y = jnp.asarray(y)
    if y.ndim != 2 or y.shape[0] != X.shape[0]:
        raise ValueError(
            f"y must be 2-D (n_samples, n_outputs) with as many rows as X; got "
            f"X.shape={X.shape}, y.shape={y.shape}."
            + (" Reshape it with y[:, None]." if y.shape == X.shape[:1] else "")
        )
    return X, y


def _targets(y: ArrayLike, predictions: jax.Array, X: jax.Array) -> jax.Array:
    y = jnp.asarray(y)
    if y.shape != predictions.shape:
        hint = ""
        if y.shape == predictions.shape[:1] and predictions.shape[1] == 1:
            hint = " Reshape it with y[:, None]."
        raise ValueError(
            f"y must have the predictions' shape (n_samples, n_outputs) = "
            f"{predictions.shape}; got y.shape={y.shape} for "
            f"X.shape={jnp.shape(X)}.{hint}"
        )
    return y


def _residual(params: Params, X: ArrayLike, y: ArrayLike) -> jax.Array:
    predictions = predict(params, X)
    return _targets(y, predictions, X) - predictions


def _design(X: jax.Array) -> jax.Array:
    return jnp.concatenate([X, jnp.ones((X.shape[0], 1), X.dtype)], axis=1)


class Stats(NamedTuple):
    r"""Sufficient statistics of a least-squares problem, made by `stats`.

    With the centred data :math:`X_c = X - \bar x`, :math:`y_c = y - \bar y` and
    an anchor :math:`W_0` (the least-squares weights), the sum of squared errors
    of any params is

    .. math::

        \lVert y - X W - b \rVert^2 = s_0 + 2 \langle D, g_0 \rangle
        + \langle D, X_c^T X_c D \rangle + N \lVert \bar y - \bar x W - b \rVert^2,
        \qquad D = W - W_0,

    so a step of gradient descent costs :math:`O(n^2 m)`, whatever `N` is.
    Near the optimum every term is small and none of them cancels another,
    so the loss stays accurate where the expanded form
    :math:`y^T y - 2 \langle W, X^T y \rangle + \langle W, X^T X W \rangle`
    would lose all its digits. The means are rounded, so :math:`X_c` and
    :math:`y_c` are centred only up to rounding; what is left of their means
    is kept too, and the loss adds it back exactly.

    Attributes:
        count: `N`, the number of samples (0-d).
        x_mean: `(n,)` mean of the rows of `X`, :math:`\bar x`.
        y_mean: `(m,)` mean of the rows of `y`, :math:`\bar y`.
        xc_mean: `(n,)` mean of the rows of :math:`X_c`, the rounding error of
            `x_mean`.
        yc_mean: `(m,)` mean of the rows of :math:`y_c`, the rounding error of
            `y_mean`.
        gram: `(n, n)` centred Gram matrix :math:`X_c^T X_c`.
        anchor: `(n, m)` least-squares weights :math:`W_0` of the centred data,
            as closely as conjugate gradients find them; any anchor gives the
            same loss, a close one gives it accurately.
        anchor_grad: `(n, m)` :math:`g_0 = X_c^T (X_c W_0 - y_c)`, near zero:
            what is left of the gradient at the anchor.
        anchor_sse: `(m,)` per-output :math:`s_0 = \lVert y_c - X_c W_0
            \rVert^2`, the smallest sum of squared errors.
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


def stats(X: ArrayLike, y: ArrayLike) -> Stats:
    r"""Sufficient statistics of `(X, y)` for `mse_stats`: one pass over the data.

    `jaxgd.fit(linear.mse_stats, params, linear.stats(X, y), ...)` runs the same
    iterates as `jaxgd.fit(linear.mse, params, X, y, ...)` (up to rounding),
    but each step costs :math:`O(n^2 m)` instead of :math:`O(N n m)`; making
    the statistics costs about as much as :math:`n / m` direct steps. They are
    computed at the highest matmul precision, in float32 or wider.

    Args:
        X: `(N, n)` inputs.
        y: `(N, m)` targets.

    Returns:
        A `Stats`, a pytree of arrays (it passes through `jit` and `vmap`).

    Raises:
        ValueError: if `X` is not 2-D, `y` is not `(N, m)`, they disagree on
            `N`, or there are no samples.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxgd import linear
        >>> X = jnp.array([[0.0], [1.0], [2.0], [3.0]])
        >>> s = linear.stats(X, 2.0 * X + 1.0)
        >>> s.count.item(), s.x_mean.tolist(), s.gram.tolist(), s.anchor.tolist()
        (4.0, [1.5], [[5.0]], [[2.0]])
    """
    X, y = _check_X_y(X, y)
    if X.shape[0] == 0:
        raise ValueError(f"stats needs at least one sample; got X.shape={X.shape}.")
    dtype = jnp.result_type(jnp.float32, X, y)
    return _stats(X.astype(dtype), y.astype(dtype))


_HIGHEST = jax.lax.Precision.HIGHEST


@jax.jit
def _stats(X: jax.Array, y: jax.Array) -> Stats:
    N = X.shape[0]
    x_mean, y_mean = jnp.mean(X, axis=0), jnp.mean(y, axis=0)
    yc = y - y_mean[None, :]
    yc_mean = jnp.mean(yc, axis=0)
    raw = jnp.matmul(X.T, X, precision=_HIGHEST)
    # X'X - N x̄x̄' loses about log2(1 + x̄²/σ²) bits to cancellation: nothing
    # to speak of for standardised features, which skip a pass over a centred
    # copy of X; features far from zero mean are centred first.
    spread = jnp.diagonal(raw) / N - jnp.square(x_mean)
    nearly_centred = jnp.all(jnp.square(x_mean) <= spread / 4)

    def from_raw() -> tuple:
        gram = raw - N * jnp.outer(x_mean, x_mean)
        cross = _rows_product(X, yc) - N * jnp.outer(x_mean, yc_mean)
        return gram, jnp.zeros_like(x_mean), *_anchored(gram, cross, X, x_mean, yc)

    def centred() -> tuple:
        Xc = X - x_mean[None, :]
        gram = jnp.matmul(Xc.T, Xc, precision=_HIGHEST)
        cross = _rows_product(Xc, yc)
        zero = jnp.zeros_like(x_mean)
        return gram, jnp.mean(Xc, axis=0), *_anchored(gram, cross, Xc, zero, yc)

    gram, xc_mean, anchor, anchor_grad, residual = jax.lax.cond(
        nearly_centred, from_raw, centred
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
        anchor_sse=jnp.sum(jnp.square(residual), axis=0),
    )


def _rows_product(X: jax.Array, Z: jax.Array) -> jax.Array:
    """`X^T Z` for a tall `X` and a narrow `Z`, computed as `(Z^T X)^T`.

    Both contract over the rows, but XLA:CPU runs the product whose result is
    `(m, n)` as a fast matrix multiply and the one whose result is `(n, m)`
    on a kernel 2-3x slower. The barrier keeps XLA from folding the final
    transpose back into the product; elsewhere the order makes no difference.
    """
    product = jax.lax.dot_general(Z, X, (((0,), (0,)), ((), ())), precision=_HIGHEST)
    return jax.lax.optimization_barrier(product).T


def _anchored(
    gram: jax.Array, cross: jax.Array, X: jax.Array, shift: jax.Array, yc: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """The anchor, the gradient there and the residuals there, for `X - shift`.

    The gradient is summed from the residuals rather than taken as
    `gram @ anchor - cross`, whose rounding error would swamp it.
    """
    anchor = _conjugate_gradient(gram, cross, iterations=min(X.shape[1], 128))
    fitted = jnp.matmul(X, anchor, precision=_HIGHEST) - (shift @ anchor)[None, :]
    residual = yc - fitted
    grad = jnp.outer(shift, jnp.sum(residual, axis=0)) - _rows_product(X, residual)
    return anchor, grad, residual


def _conjugate_gradient(G: jax.Array, C: jax.Array, iterations: int) -> jax.Array:
    """Approximately solves `G W = C` column by column, for positive semi-definite G.

    Started at zero, the iterates stay in the range of `G`, so a singular `G`
    gives the minimum-norm solution. The result is an anchor for `Stats`,
    which need not be exact; plain matmuls keep it inside one compiled program.
    It stops after `iterations`, or once every column's residual is down to
    the rounding of `C` (after 6 on the large benchmark's standardised data).
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
        GP = jnp.matmul(G, P, precision=_HIGHEST)
        alpha = ratio(rr, jnp.sum(P * GP, axis=0))[None, :]
        W, R = W + alpha * P, R - alpha * GP
        rr_next = jnp.sum(R * R, axis=0)
        return i + 1, W, R, R + ratio(rr_next, rr)[None, :] * P, rr_next

    start = (jnp.asarray(0), jnp.zeros_like(C), C, C, rr_start)
    W = jax.lax.while_loop(going, body, start)[1]
    return jnp.where(jnp.isfinite(W), W, 0)


def mse_stats(params: Params, stats: Stats) -> jax.Array:
    r"""`mse` from sufficient statistics: the same value, in :math:`O(n^2 m)`.

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
    W, b = _unpack(params)
    if not isinstance(stats, Stats):
        raise TypeError(
            "stats must be the Stats of linear.stats(X, y); got "
            f"{_validate.describe(stats)}."
        )
    if W.shape != jnp.shape(stats.anchor):
        raise ValueError(
            f"params do not fit these statistics: W.shape={W.shape}, but the "
            f"statistics are of {jnp.shape(stats.anchor)[0]} features and "
            f"{jnp.shape(stats.anchor)[1]} outputs, so W must be "
            f"{jnp.shape(stats.anchor)}."
        )
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
