"""Checks of the linear model's arguments: params, inputs and targets."""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from . import _validate


def as_array(x: Any, name: str, *, host: bool = False) -> Any:
    """`x` as an array of real numbers, or an error naming `name`.

    Integers and booleans are numbers here; strings, objects, ragged nested
    lists and complex numbers are not. Tracers pass through unchanged. With
    `host`, what is not yet a `jax.Array` stays a numpy array.
    """
    if not isinstance(x, jax.Array):
        if x is None:
            raise TypeError(f"{name} must be an array of numbers; got None.")
        try:
            x = np.asarray(x)
        except (TypeError, ValueError):  # ragged nested lists, odd objects
            raise TypeError(
                f"{name} must be a rectangular array of numbers; got "
                f"{_validate.describe(x)}."
            ) from None
    dtype = x.dtype
    if jnp.issubdtype(dtype, jnp.complexfloating):
        raise TypeError(
            f"{name} must hold real numbers; got {_validate.describe(x)}. The "
            "linear model is real: pass the real and imaginary parts as features."
        )
    if not (jnp.issubdtype(dtype, jnp.number) or jnp.issubdtype(dtype, jnp.bool_)):
        raise TypeError(f"{name} must hold numbers; got {_validate.describe(x)}.")
    if not isinstance(x, jax.Array):
        check_cast(x, name)
    return x if host else jnp.asarray(x)


def check_cast(x: np.ndarray, name: str) -> None:
    """A `ValueError` if JAX's cast of the host array `x` would lose its values.

    With `jax_enable_x64` off, JAX computes float64 arrays in float32: a value
    beyond float32's range would become infinite, and a column (of a 2-D
    array; the whole array otherwise) whose values all lie below float32's
    smallest normal number would round to 0 or lose its digits. Either would
    later read as "not finite" or "constant", so the message names the cast.
    """
    target = jax.dtypes.canonicalize_dtype(x.dtype)
    if target == x.dtype or not jnp.issubdtype(x.dtype, jnp.floating) or not x.size:
        return
    info = jnp.finfo(target)
    cast = f"with jax_enable_x64 off, JAX computes the {x.dtype} {name} in {target}"
    remedy = (
        f"Enable float64 (jax.config.update('jax_enable_x64', True)) or rescale {name}."
    )
    magnitude = np.where(np.isfinite(x), np.abs(x), 0)
    if magnitude.max() > info.max:
        first = tuple(int(i) for i in np.argwhere(magnitude > info.max)[0])
        where = f"{name}[{', '.join(map(str, first))}]" if first else name
        raise ValueError(
            f"{where} = {x[first]:.3g} is beyond the largest {target} "
            f"({float(info.max):.3g}): {cast}, where it would be infinite. " + remedy
        )
    largest = np.atleast_1d(magnitude.max(axis=0 if x.ndim == 2 else None))
    lost = np.flatnonzero((largest > 0) & (largest < info.tiny))
    if lost.size:
        where = f"column {lost[0]} of {name}" if x.ndim == 2 else name
        raise ValueError(
            f"{where} holds values no larger than {largest[lost[0]]:.3g}, below "
            f"the smallest normal {target} ({float(info.tiny):.3g}): {cast}, "
            "where they would round to 0 or lose their digits. " + remedy
        )


def finite(tree: Any) -> jax.Array:
    """Whether the arrays of `tree` hold no NaN and no infinity (a 0-d bool).

    Traceable: the update's check of the params it computed.
    """
    leaves = jax.tree.leaves(tree)
    return functools.reduce(
        jnp.logical_and, (jnp.all(jnp.isfinite(x)) for x in leaves), jnp.bool_(True)
    )


def all_finite(tree: Any) -> bool:
    """Whether the concrete arrays of `tree` hold no NaN and no infinity.

    Arrays in the host's memory (numpy's, or JAX's on the CPU) are read in
    place by numpy; others are checked where they are, in one program.
    """
    leaves = jax.tree.leaves(tree)
    if all(_on_host(leaf) for leaf in leaves):
        return all(bool(np.isfinite(np.asarray(leaf)).all()) for leaf in leaves)
    return bool(_finite_jit(leaves))


def _on_host(x: Any) -> bool:
    if not isinstance(x, jax.Array):
        return True
    return x.is_fully_addressable and all(d.platform == "cpu" for d in x.devices())


_finite_jit = jax.jit(finite)


def check_finite(x: jax.Array, name: str, caller: str) -> None:
    """A `ValueError` if the concrete array `x` holds NaN or an infinity.

    Skipped for tracers, whose values are not known yet.
    """
    if not _validate.is_concrete(x) or all_finite(x):
        return
    bad = np.argwhere(~np.isfinite(np.asarray(x)))
    first = tuple(int(i) for i in bad[0])
    where = f"{name}[{', '.join(map(str, first))}]" if first else name
    raise ValueError(
        f"{caller} needs finite {name}; {name} holds NaN or infinity in "
        f"{len(bad)} of its {x.size} values (the first: {where} = "
        f"{np.asarray(x)[first]})."
    )


def check_samples(X: Any, caller: str) -> None:
    """A `ValueError` if `X` has no rows: no sample to fit or measure."""
    shape = tuple(np.shape(X))
    if shape[0] == 0:
        raise ValueError(f"{caller} needs at least one sample; got X.shape={shape}.")


def unpack(params: dict) -> tuple[jax.Array, jax.Array]:
    """`(W, b)` of params `{"W": (n, m), "b": (m,)}`, or a `ValueError`."""
    if not isinstance(params, dict) or set(params) != {"W", "b"}:
        got = sorted(params) if isinstance(params, dict) else type(params).__name__
        raise ValueError(f'params must be a dict with keys "W" and "b"; got {got}.')
    W = as_array(params["W"], "params['W']")
    b = as_array(params["b"], "params['b']")
    if W.ndim != 2 or b.shape != W.shape[1:]:
        raise ValueError(
            f"params must hold W: (n, m) and b: (m,); got params['W'].shape="
            f"{W.shape}, params['b'].shape={b.shape}."
        )
    return W, b


def check_X(X: Any) -> jax.Array:
    """`X` as a 2-D array `(N, n)`, or a `ValueError`."""
    X = as_array(X, "X")
    if X.ndim != 2:
        raise ValueError(
            f"X must be 2-D (n_samples, n_features); got X.shape={X.shape}."
        )
    return X


def check_X_y(X: Any, y: Any) -> tuple[jax.Array, jax.Array]:
    """`X: (N, n)` and `y: (N, m)` as arrays, or a `ValueError`.

    A 1-D `y: (N,)` is one output, `(N, 1)`.
    """
    X, y = as_array(X, "X"), as_array(y, "y")
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


def targets(y: Any, shape: tuple[int, int], X: Any) -> jax.Array:
    """`y` as an array of the predictions' `shape`, or a `ValueError`.

    With one output, a 1-D `y: (N,)` is taken as `(N, 1)`, as scikit-learn
    takes it; anything else of another shape is an error, never broadcast.
    """
    y = as_array(y, "y")
    if y.shape == shape[:1] and shape[1:] == (1,):
        y = y[:, None]
    if y.shape != shape:
        raise ValueError(
            f"y must have the predictions' shape (n_samples, n_outputs) = "
            f"{shape}; got y.shape={y.shape} for X.shape={jnp.shape(X)}."
        )
    return y
