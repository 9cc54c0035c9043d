"""Checks of the linear model's arguments: params, inputs and targets."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike


def unpack(params: dict) -> tuple[jax.Array, jax.Array]:
    """`(W, b)` of params `{"W": (n, m), "b": (m,)}`, or a `ValueError`."""
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


def check_X(X: ArrayLike) -> jax.Array:
    """`X` as a 2-D array `(N, n)`, or a `ValueError`."""
    X = jnp.asarray(X)
    if X.ndim != 2:
        raise ValueError(
            f"X must be 2-D (n_samples, n_features); got X.shape={X.shape}."
        )
    return X


def check_X_y(X: ArrayLike, y: ArrayLike) -> tuple[jax.Array, jax.Array]:
    """`X: (N, n)` and `y: (N, m)` as arrays, or a `ValueError`.

    A 1-D `y: (N,)` is one output, `(N, 1)`.
    """
    X, y = jnp.asarray(X), jnp.asarray(y)
    if y.ndim == 1 and X.ndim == 2 and y.shape[0] == X.shape[0]:
        y = y[:, None]
    check_shapes(X, y)
    return X, y


def check_shapes(X: jax.Array, y: jax.Array) -> None:
    """A `ValueError` unless `X: (N, n)` and `y: (N, m)`."""
    if X.ndim != 2:
        raise ValueError(
            f"X must be 2-D (n_samples, n_features); got X.shape={X.shape}."
        )
    if y.ndim != 2 or y.shape[0] != X.shape[0]:
        raise ValueError(
            f"y must be (n_samples, n_outputs), or (n_samples,) for one output, "
            f"with as many rows as X; got X.shape={X.shape}, y.shape={y.shape}."
        )


def targets(y: ArrayLike, predictions: jax.Array, X: ArrayLike) -> jax.Array:
    """`y` as an array of the predictions' shape, or a `ValueError`.

    With one output, a 1-D `y: (N,)` is taken as `(N, 1)`, as scikit-learn
    takes it; anything else of another shape is an error, never broadcast.
    """
    y = jnp.asarray(y)
    if y.shape == predictions.shape[:1] and predictions.shape[1:] == (1,):
        y = y[:, None]
    if y.shape != predictions.shape:
        raise ValueError(
            f"y must have the predictions' shape (n_samples, n_outputs) = "
            f"{predictions.shape}; got y.shape={y.shape} for "
            f"X.shape={jnp.shape(X)}."
        )
    return y
