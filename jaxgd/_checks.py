"""Checks on user input, run at call time and at trace time.

Everything here raises `ValueError` or `TypeError` with a message that names
the argument and shows what was received. Checks on *values* (a learning rate
must be positive, say) run only on concrete numbers: under `jit` or `vmap` the
values are tracers and the checks are skipped rather than failing with a
`TracerBoolConversionError`.
"""

from __future__ import annotations

import math
import operator
import os
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


def is_concrete(x: Any) -> bool:
    """True for Python numbers and arrays whose value is known now."""
    return not isinstance(x, jax.core.Tracer)


def describe(x: Any) -> str:
    """A short description of a value for error messages."""
    if hasattr(x, "shape") and hasattr(x, "dtype"):
        return f"array of shape {tuple(x.shape)} and dtype {x.dtype}"
    text = repr(x)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{type(x).__name__} {text}"


# Steps are counted in int32 inside the compiled loop.
MAX_STEPS = 2**31 - 1


def check_int(
    value: Any, name: str, *, minimum: int, maximum: int | None = None
) -> int:
    """Returns `value` as an int, or raises if it is not in [minimum, maximum]."""
    if isinstance(value, bool) or isinstance(value, float):
        raise TypeError(f"{name} must be an int; got {describe(value)}.")
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int; got {describe(value)}.") from None
    if number < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {number}.")
    if maximum is not None and number > maximum:
        raise ValueError(f"{name} must be at most {maximum:,}; got {number:,}.")
    return number


def available_memory() -> int | None:
    """Bytes free on the default device, or on the machine for the CPU."""
    try:
        stats = jax.local_devices()[0].memory_stats()
    except Exception:  # a backend without memory statistics
        stats = None
    if stats and "bytes_limit" in stats:
        return int(stats["bytes_limit"] - stats.get("bytes_in_use", 0))
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def bytes_text(size: float) -> str:
    """A size in bytes as people read it: 1.4 GB, 12 MB."""
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if size < 1000 or unit == "PB":
            return f"{size:.3g} {unit}"
        size /= 1000
    return f"{size:.3g} PB"


def check_loss_output(
    loss: Callable,
    params: Any,
    data: Sequence[Any],
    what: str = "data",
    has_aux: bool = False,
) -> tuple[jax.ShapeDtypeStruct, Any]:
    """Traces `loss` abstractly, checks it returns a real floating scalar.

    Returns the shape and dtype of the value and of the aux (None without
    `has_aux`). `what` names the data in messages (`"validation_data"` for a
    validation set).
    """
    name = getattr(loss, "__name__", repr(loss))
    call = f"{name}(params, *{what})"
    try:
        out = jax.eval_shape(loss, params, *data)
    except TypeError as error:
        raise TypeError(
            f"calling loss {call} with {len(data)} {what} argument(s) failed: {error}"
        ) from error
    except ValueError as error:
        if what == "data":  # the loss's own message is about the data
            raise
        # The loss names its arguments (X, y), not which set they came from.
        raise ValueError(f"calling loss {call} failed: {error}") from error
    aux = None
    if has_aux:
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            raise TypeError(
                f"with has_aux=True, loss must return (value, aux); {call} "
                f"returned {describe(out)}."
            )
        out, aux = out
        for path, leaf in jax.tree.flatten_with_path(aux)[0]:
            if not jnp.issubdtype(leaf.dtype, jnp.number) and leaf.dtype != bool:
                raise TypeError(
                    f"the aux of {call} must hold numbers; "
                    f"aux{jax.tree_util.keystr(path)} has dtype {leaf.dtype}."
                )
    if not (hasattr(out, "shape") and hasattr(out, "dtype")):
        hint = (
            " If it returns (value, aux), pass has_aux=True."
            if isinstance(out, tuple) and not has_aux
            else ""
        )
        raise TypeError(
            f"loss must return a scalar array; {call} returned {describe(out)}." + hint
        )
    if out.shape != ():
        raise ValueError(
            f"loss must return a scalar; {call} returned shape "
            f"{tuple(out.shape)}. Reduce it, e.g. with jnp.mean or jnp.sum."
        )
    if not jnp.issubdtype(out.dtype, jnp.floating):
        raise TypeError(
            f"loss must return a real floating-point scalar; {call} "
            f"returned dtype {out.dtype}."
        )
    return out, aux


def check_validation(
    data: Sequence[Any],
    *,
    validation_data: Any,
    validation_every: Any,
    patience: Any,
    restore_best: bool,
    num_steps: int,
    batch_size: int | None,
) -> tuple[tuple | None, int | None, int | None]:
    """Checks the validation arguments of `fit` together.

    Returns `(validation_data, validation_every, patience)`, the data as a
    tuple and the period filled in: one epoch by default. Whether `loss`
    takes the validation data is checked where the loop is traced.
    """
    if validation_data is None:
        for name, value, unset in (
            ("validation_every", validation_every, None),
            ("patience", patience, None),
            ("restore_best", restore_best, False),
        ):
            if value is not unset:
                raise ValueError(
                    f"{name} needs validation_data to watch; got {name}="
                    f"{value!r} without validation_data. Pass "
                    "validation_data=(X_val, y_val), or drop it."
                )
        return None, None, None
    if not isinstance(validation_data, (tuple, list)):
        raise TypeError(
            "validation_data must be a tuple of arrays passed to loss in place "
            f"of data, e.g. (X_val, y_val); got {describe(validation_data)}."
        )
    validation_data = tuple(validation_data)
    for path, leaf in jax.tree.flatten_with_path(validation_data)[0]:
        if not (
            isinstance(leaf, (int, float, np.ndarray, np.generic, jax.Array))
            and not isinstance(leaf, bool)
        ):
            raise TypeError(
                f"validation_data{jax.tree_util.keystr(path)} must be an array "
                f"(validation_data holds arrays like data's); got {describe(leaf)}."
            )
    if len(validation_data) != len(data):
        raise ValueError(
            f"validation_data must hold as many arrays as data ({len(data)}), "
            f"since loss(params, *validation_data) takes their place; got "
            f"{len(validation_data)}."
        )
    if validation_every is None:
        every = 1 if batch_size is None else num_samples(data) // batch_size
        validation_every = max(1, min(every, num_steps))
    else:
        validation_every = check_int(validation_every, "validation_every", minimum=1)
        if validation_every > num_steps:
            raise ValueError(
                f"validation_every must be at most num_steps ({num_steps}); got "
                f"{validation_every}."
            )
    if patience is not None:
        patience = check_int(patience, "patience", minimum=1)
    return validation_data, validation_every, patience


def check_learning_rate(learning_rate: Any, name: str = "learning_rate") -> None:
    """Checks one learning rate: a positive finite scalar, or a schedule."""
    if callable(learning_rate):
        return
    if isinstance(learning_rate, (bool, str)) or not (
        isinstance(learning_rate, (int, float)) or hasattr(learning_rate, "dtype")
    ):
        raise TypeError(
            f"{name} must be a float, a 0-d array, an optax schedule or 'auto' "
            f"(a line search); got {describe(learning_rate)}."
        )
    shape = np.shape(learning_rate)
    if shape != ():
        raise ValueError(
            f"{name} must be a scalar; got shape {shape}. To run several learning "
            "rates at once use jaxgd.sweep(..., learning_rates=...)."
        )
    if hasattr(learning_rate, "dtype") and not jnp.issubdtype(
        learning_rate.dtype, jnp.number
    ):
        raise TypeError(f"{name} must be a number; got {describe(learning_rate)}.")
    if is_concrete(learning_rate):
        value = float(learning_rate)
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be positive and finite; got {value}.")


def is_real_number(x: Any) -> bool:
    """A real number: a Python int or float (not a bool) or a real array."""
    if isinstance(x, bool):
        return False
    if isinstance(x, (int, float)):
        return True
    dtype = getattr(x, "dtype", None)
    return dtype is not None and (
        jnp.issubdtype(dtype, jnp.floating) or jnp.issubdtype(dtype, jnp.integer)
    )


def check_tol(tol: Any) -> None:
    """`tol` must be a non-negative real scalar."""
    if tol is None:
        return
    if not is_real_number(tol) or np.shape(tol) != ():
        raise TypeError(f"tol must be a non-negative real scalar; got {describe(tol)}.")
    if is_concrete(tol):
        value = float(tol)
        if not value >= 0:
            raise ValueError(f"tol must be >= 0; got {value}.")


def num_samples(data: Sequence[Any], what: str = "data arrays") -> int:
    """The common length of axis 0 of every data leaf, or a ValueError."""
    leaves_with_path = jax.tree.flatten_with_path(tuple(data))[0]
    if not leaves_with_path:
        raise ValueError(f"batch_size needs {what} to batch; got none.")
    sizes = {}
    for path, leaf in leaves_with_path:
        shape = np.shape(leaf)
        where = "data" + jax.tree_util.keystr(path)
        if len(shape) == 0:
            raise ValueError(
                f"batching splits axis 0 of every data array, but {where} is a "
                "scalar. Only arrays with one row per sample can be batched; "
                "sufficient statistics such as linear.stats(X, y) cannot: drop "
                "batch_size."
            )
        sizes[where] = shape
    lengths = {shape[0] for shape in sizes.values()}
    if len(lengths) > 1:
        listed = ", ".join(f"{where}.shape={shape}" for where, shape in sizes.items())
        raise ValueError(
            f"data arrays disagree on the number of samples (axis 0): {listed}."
        )
    return lengths.pop()


def check_batching(batch_size: Any, key: Any, data: Sequence[Any]) -> int | None:
    """Validates `batch_size` and `key` together; returns the batch size or None."""
    if batch_size is None:
        if key is not None:
            raise ValueError(
                "key is only used to draw mini-batches; pass batch_size too, or "
                "drop key for full-batch gradient descent."
            )
        return None
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    if key is None:
        raise ValueError(
            "batch_size needs a key to draw the mini-batches, e.g. "
            "key=jax.random.key(0)."
        )
    dtype = getattr(key, "dtype", None)
    typed = dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key)
    raw = dtype == jnp.uint32 and np.shape(key) == (2,)
    if not (typed and np.shape(key) == ()) and not raw:
        raise TypeError(
            "key must be one jax.random key, e.g. key=jax.random.key(0); got "
            f"{describe(key)}."
        )
    n = num_samples(data)
    if batch_size > n:
        raise ValueError(
            f"batch_size must be at most the number of samples; got batch_size="
            f"{batch_size} for {n} samples."
        )
    return batch_size
