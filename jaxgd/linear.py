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

from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from . import _validate

Params = dict[str, jax.Array]

__all__ = ["bce", "init", "max_learning_rate", "mse", "predict", "solve", "sse"]


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
    return X @ W + b


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
    return jnp.mean(jnp.logaddexp(0.0, logits) - labels * logits)


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
    X = _check_X(X)
    y = jnp.asarray(y)
    if y.ndim != 2 or y.shape[0] != X.shape[0]:
        raise ValueError(
            f"y must be 2-D (n_samples, n_outputs) with as many rows as X; got "
            f"X.shape={X.shape}, y.shape={y.shape}."
            + (" Reshape it with y[:, None]." if y.shape == X.shape[:1] else "")
        )
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
