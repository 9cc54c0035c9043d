"""Checks of user input, one helper per kind of value, run at call time.

Every check raises `TypeError` (the wrong kind of value) or `ValueError` (the
right kind, out of range) with a message that names the argument and shows
what was received. Checks on *values* (a learning rate must be positive) run
only on concrete numbers: under `jit` or `vmap` the values are tracers and the
checks are skipped, never a `TracerBoolConversionError`.
"""

from __future__ import annotations

import functools
import inspect
import math
import operator
import os
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

# Steps are counted in int32 inside the compiled loop.
MAX_STEPS = 2**31 - 1


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


def is_array(x: Any) -> bool:
    """An array: JAX's, numpy's, or a numpy scalar."""
    return isinstance(x, (jax.Array, np.ndarray, np.generic))


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


# --- one helper per kind of value ---------------------------------------------


def count(value: Any, name: str, *, minimum: int, maximum: int | None = None) -> int:
    """`value` as an int in [minimum, maximum]: a count, a size, an index."""
    if isinstance(value, (bool, float)):
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


def flag(value: Any, name: str) -> bool:
    """`value`, a Python bool: a switch that changes the compiled program."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool; got {value!r}.")
    return value


def number(
    value: Any,
    name: str,
    *,
    what: str = "a number",
    above: float | None = None,
    below: float | None = None,
    at_least: float | None = None,
) -> Any:
    """`value`, a real scalar, finite and within the bounds given.

    A Python number or a 0-d array; the bounds are checked on a concrete value
    only. `what` says in the message what kind of number was wanted.
    """
    if not is_real_number(value) or np.ndim(value) != 0:
        raise TypeError(f"{name} must be {what}; got {describe(value)}.")
    if not is_concrete(value):
        return value
    x = float(value)
    if not (
        math.isfinite(x)
        and (above is None or x > above)
        and (below is None or x < below)
        and (at_least is None or x >= at_least)
    ):
        wanted = ""
        if below is not None:
            wanted = f" and in ({above:g}, {below:g})"
        elif at_least is not None:
            wanted = f" and >= {at_least:g}"
        elif above is not None:
            wanted = f" and > {above:g}"
        shown = value if isinstance(value, (int, float)) else x
        raise ValueError(f"{name} must be finite{wanted}; got {shown!r}.")
    return value


def positive(value: Any, name: str) -> Any:
    """`value`, a positive finite real scalar (checked when concrete)."""
    try:
        return number(value, name, above=0.0)
    except ValueError:
        message = f"{name} must be positive and finite; got {float(value)}."
        raise ValueError(message) from None


def positives(values: Any, name: str) -> Any:
    """`values`, a non-empty 1-D array of positive finite numbers.

    A list or tuple of numbers becomes a float64 numpy array.
    """
    if isinstance(values, (list, tuple)):
        bad = [value for value in values if not is_real_number(value)]
        if bad:
            raise TypeError(
                f"{name} must be real numbers; got {describe(bad[0])} among them."
            )
        values = np.asarray(values, dtype=float)
    elif not is_real_number(values):
        raise TypeError(
            f"{name} must be a 1-D array of real numbers; got {describe(values)}."
        )
    shape = np.shape(values)
    if len(shape) != 1 or shape[0] == 0:
        raise ValueError(
            f"{name} must be a non-empty 1-D array; got {describe(values)}."
        )
    if is_concrete(values):
        floats = np.asarray(values, dtype=np.float64)
        bad = [float(v) for v in floats if not (math.isfinite(v) and v > 0)]
        if bad:
            raise ValueError(f"{name} must all be positive and finite; got {bad[:5]}.")
    return values


def function(value: Any, name: str, signature: str) -> Callable:
    """`value`, a callable: `signature` shows how it is called."""
    if not callable(value):
        raise TypeError(
            f"{name} must be a function {signature}; got {describe(value)}."
        )
    return value


def choice(value: Any, name: str, options: Sequence[str]) -> str:
    """`value`, one of the strings `options`."""
    if len(options) == 2:
        listed = f"{options[0]!r} or {options[1]!r}"
    else:
        listed = f"one of {sorted(options)}"
    if not isinstance(value, str) or value not in options:
        got = repr(value) if isinstance(value, str) else describe(value)
        error = ValueError if isinstance(value, str) else TypeError
        raise error(f"{name} must be {listed}; got {got}.")
    return value


def floating_dtype(dtype: Any, name: str = "dtype") -> Any:
    """`dtype`, a floating dtype (`jnp.float32`, `"float64"`, `np.float16`)."""
    try:  # numpy would read an array as its dtype (deprecated): not a dtype
        floating = not is_array(dtype) and jnp.issubdtype(dtype, jnp.floating)
    except (TypeError, ValueError, SyntaxError):  # numpy parsing a string
        floating = False
    if not floating:
        shown = describe(dtype) if is_array(dtype) else repr(dtype)
        raise TypeError(
            f"{name} must be a floating dtype such as jnp.float32; got {shown}."
        )
    return dtype


def prng_key(value: Any, name: str = "key") -> Any:
    """`value`, one PRNG key: a typed key of shape (), or a raw uint32 pair."""
    dtype = getattr(value, "dtype", None)
    typed = dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key)
    raw = dtype == jnp.uint32 and np.shape(value) == (2,)
    if not (typed and np.shape(value) == ()) and not raw:
        raise TypeError(
            f"{name} must be one jax.random key, e.g. {name}=jax.random.key(0); got "
            f"{describe(value)}."
        )
    return value


def leading_shapes(
    tree: Any, name: str, scalar: str, *, arrays_only: bool = False
) -> dict[str, tuple[int, ...]]:
    """The shape of every leaf of `tree`, by its name `name[path]`.

    Each leaf needs a leading axis (of samples, of lanes): `scalar` is the
    message for a 0-d leaf, `{where}` naming it. With `arrays_only`, leaves
    that are neither arrays nor floats (a model's function, flag or count)
    are passed over.
    """
    shapes = {}
    for path, leaf in jax.tree.flatten_with_path(tree)[0]:
        if arrays_only and not isinstance(leaf, (float, complex)):
            if not hasattr(leaf, "shape"):
                continue
        where = name + jax.tree_util.keystr(path)
        shapes[where] = tuple(np.shape(leaf))
        if not shapes[where]:
            raise ValueError(scalar.format(where=where))
    return shapes


def agree(
    shapes: dict[str, tuple[int, ...]],
    disagree: str,
    *,
    expected: int | None = None,
    sizes: bool = False,
) -> int | None:
    """The one length of axis 0 of `shapes` (and `expected`, if given).

    Otherwise a `ValueError` that starts with `disagree` and lists every
    shape, or with `sizes` every length; None for no shapes.
    """
    lengths = {shape[0] for shape in shapes.values()}
    if expected is not None and shapes:
        lengths.add(expected)
    if len(lengths) > 1:
        listed = ", ".join(
            f"{where}: {shape[0]}" if sizes else f"{where}.shape={shape}"
            for where, shape in shapes.items()
        )
        raise ValueError(f"{disagree}: {listed}.")
    return lengths.pop() if lengths else None


def representable(value: Any, dtype: Any, name: str) -> None:
    """A `ValueError` if a concrete number rounds to 0 or overflows in `dtype`."""
    if not is_concrete(value):
        return
    given = np.asarray(value, dtype=np.float64).ravel()
    with np.errstate(over="ignore", under="ignore"):
        got = given.astype(jnp.dtype(dtype)).astype(np.float64)
    lost = (given != 0) & np.isfinite(given) & ((got == 0) | ~np.isfinite(got))
    if lost.any():
        k = int(np.flatnonzero(lost)[0])
        dtype = jnp.dtype(dtype)
        where = f"{name}[{k}]" if np.ndim(value) else name
        raise ValueError(
            f"{where} = {given[k]:g} cannot be represented in {dtype}, the dtype of "
            f"the params it updates: it becomes {got[k]:g}. Use a value within "
            f"{dtype}'s range, or params of a wider dtype."
        )


def finite_values(x: Any, name: str, caller: str | None = None) -> None:
    """A `ValueError` if the concrete `x` holds NaN or an infinity.

    The message names the first such value, and with `caller` the function
    that needs them finite.
    """
    if all_finite(x):
        return
    values = np.asarray(x)
    bad = np.argwhere(~np.isfinite(values))
    first = tuple(int(i) for i in bad[0])
    where = f"{name}[{', '.join(map(str, first))}]" if first else name
    if caller is None:
        raise ValueError(f"{where} must be finite; got {values[first]}.")
    raise ValueError(
        f"{caller} needs finite {name}; {name} holds NaN or infinity in "
        f"{len(bad)} of its {values.size} values (the first: {where} = "
        f"{values[first]})."
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
    """Whether the arrays of `tree` hold no NaN and no infinity, if known.

    True when a leaf is traced: its values are not known yet. Arrays in the
    host's memory (numpy's, or JAX's on the CPU) are read in place by numpy;
    others are checked where they are, in one program.
    """
    leaves = jax.tree.leaves(tree)
    if not all(is_concrete(leaf) for leaf in leaves):
        return True
    if all(_on_host(leaf) for leaf in leaves):
        return all(bool(np.isfinite(np.asarray(leaf)).all()) for leaf in leaves)
    return bool(_finite_jit(leaves))


def _on_host(x: Any) -> bool:
    if not isinstance(x, jax.Array):
        return True
    return x.is_fully_addressable and all(d.platform == "cpu" for d in x.devices())


_finite_jit = jax.jit(finite)


# --- the arguments of fit, sweep and make_step ---------------------------------


def loss_output(
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


def validation(
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
        validation_every = count(validation_every, "validation_every", minimum=1)
        if validation_every > num_steps:
            raise ValueError(
                f"validation_every must be at most num_steps ({num_steps}); got "
                f"{validation_every}."
            )
    if patience is not None:
        patience = count(patience, "patience", minimum=1)
    return validation_data, validation_every, patience


def learning_rate(learning_rate: Any, name: str = "learning_rate") -> None:
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
    positive(learning_rate, name)


def schedule(schedule: Callable, name: str = "learning_rate") -> None:
    """A schedule must map a step count to one real number."""
    what = "rate" if name == "learning_rate" else "value"
    try:
        out = jax.eval_shape(schedule, jax.ShapeDtypeStruct((), jnp.int32))
    except Exception as error:
        raise TypeError(
            f"{name}, a schedule, must be a function of the step count "
            f"(a 0-d int32) returning the {what}; calling it failed: {error}"
        ) from None
    shape, dtype = getattr(out, "shape", None), getattr(out, "dtype", None)
    if shape != () or dtype is None or not jnp.issubdtype(dtype, jnp.floating):
        raise ValueError(
            f"{name}, a schedule, must return one real {what} for a step "
            f"count; it returned {describe(out)}."
        )


def tol(tol: Any) -> None:
    """`tol` must be a non-negative real scalar."""
    if tol is None:
        return
    if not is_real_number(tol) or np.shape(tol) != ():
        raise TypeError(f"tol must be a non-negative real scalar; got {describe(tol)}.")
    if is_concrete(tol):
        value = float(tol)
        if not value >= 0:
            raise ValueError(f"tol must be >= 0; got {value}.")


def loss_hyperparams(
    loss: Callable, values: Any, dtype: Any, positional: int = 0
) -> dict[str, jax.Array] | None:
    """Checks `loss_hyperparams`: the loss's keyword arguments, as arrays.

    Python numbers become arrays of `dtype` (the params' floating dtype);
    arrays keep theirs. Names the loss does not take after its `positional`
    arguments (the params and the data) are refused when its signature can be
    read.
    """
    if values is None:
        return None
    if not isinstance(values, dict) or not all(isinstance(k, str) for k in values):
        raise TypeError(
            "loss_hyperparams must be a dict of the loss's keyword arguments by "
            f"name, e.g. {{'l2': 0.1}}; got {describe(values)}."
        )
    try:
        parameters = inspect.signature(loss).parameters
    except (TypeError, ValueError):  # a builtin or a wrapper: the trace tells
        parameters = None
    if parameters is not None and not any(
        p.kind == p.VAR_KEYWORD for p in parameters.values()
    ):
        takes = [
            name
            for name, p in list(parameters.items())[positional:]
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        ]
        for name in values:
            if name not in takes:
                raise ValueError(
                    f"loss_hyperparams names {name!r}, which the loss does not take "
                    f"as a keyword argument; it takes {takes}."
                )
    arrays = {}
    for name, value in values.items():
        where = f"loss_hyperparams[{name!r}]"
        if not is_real_number(value):
            raise TypeError(
                f"{where} must be a number or an array of numbers; got "
                f"{describe(value)}."
            )
        value = jnp.asarray(value, dtype if isinstance(value, (int, float)) else None)
        if is_concrete(value) and not np.isfinite(np.asarray(value)).all():
            raise ValueError(f"{where} must be finite; got {describe(value)}.")
        arrays[name] = value
    return arrays


def num_samples(data: Sequence[Any]) -> int:
    """The common length of axis 0 of every data leaf, or a ValueError."""
    shapes = leading_shapes(
        tuple(data),
        "data",
        "batching splits axis 0 of every data array, but {where} is a scalar. "
        "Only arrays with one row per sample can be batched; sufficient "
        "statistics such as linear.stats(X, y) cannot: drop batch_size.",
    )
    if not shapes:
        raise ValueError("batch_size needs data arrays to batch; got none.")
    return agree(shapes, "data arrays disagree on the number of samples (axis 0)")


def batching(batch_size: Any, key: Any, data: Sequence[Any]) -> int | None:
    """Validates `batch_size` and `key` together; returns the batch size or None."""
    if batch_size is None:
        if key is not None:
            raise ValueError(
                "key is only used to draw mini-batches; pass batch_size too, or "
                "drop key for full-batch gradient descent."
            )
        return None
    batch_size = count(batch_size, "batch_size", minimum=1)
    if key is None:
        raise ValueError(
            "batch_size needs a key to draw the mini-batches, e.g. "
            "key=jax.random.key(0)."
        )
    prng_key(key)
    n = num_samples(data)
    if batch_size > n:
        raise ValueError(
            f"batch_size must be at most the number of samples; got batch_size="
            f"{batch_size} for {n} samples."
        )
    return batch_size


# --- the linear model's arrays -------------------------------------------------


def array(x: Any, name: str, *, host: bool = False) -> Any:
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
                f"{name} must be a rectangular array of numbers; got {describe(x)}."
            ) from None
    dtype = x.dtype
    if jnp.issubdtype(dtype, jnp.complexfloating):
        raise TypeError(
            f"{name} must hold real numbers; got {describe(x)}. The "
            "linear model is real: pass the real and imaginary parts as features."
        )
    if not (jnp.issubdtype(dtype, jnp.number) or jnp.issubdtype(dtype, jnp.bool_)):
        raise TypeError(f"{name} must hold numbers; got {describe(x)}.")
    if not isinstance(x, jax.Array):
        cast(x, name)
    return x if host else jnp.asarray(x)


def cast(x: np.ndarray, name: str) -> None:
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


def samples(X: Any, caller: str) -> None:
    """A `ValueError` if `X` has no rows: no sample to fit or measure."""
    shape = tuple(np.shape(X))
    if shape[0] == 0:
        raise ValueError(f"{caller} needs at least one sample; got X.shape={shape}.")


def linear_params(params: dict) -> tuple[jax.Array, jax.Array]:
    """`(W, b)` of params `{"W": (n, m), "b": (m,)}`, or a `ValueError`."""
    if not isinstance(params, dict) or set(params) != {"W", "b"}:
        got = sorted(params) if isinstance(params, dict) else type(params).__name__
        raise ValueError(f'params must be a dict with keys "W" and "b"; got {got}.')
    W = array(params["W"], "params['W']")
    b = array(params["b"], "params['b']")
    if W.ndim != 2 or b.shape != W.shape[1:]:
        raise ValueError(
            f"params must hold W: (n, m) and b: (m,); got params['W'].shape="
            f"{W.shape}, params['b'].shape={b.shape}."
        )
    return W, b


def features(X: Any, y: Any = None, *, host: bool = False) -> Any:
    """`X: (N, n)`, and `y: (N, m)` if given, as arrays; else a `ValueError`.

    A 1-D `y: (N,)` is one output, `(N, 1)`. With `host`, see `array`.
    """
    X = array(X, "X", host=host)
    if y is None:
        feature_target_shapes(X)
        return X
    y = array(y, "y", host=host)
    if y.ndim == 1 and X.ndim == 2 and y.shape[0] == X.shape[0]:
        y = y[:, None]
    feature_target_shapes(X, y)
    return X, y


def feature_target_shapes(X: Any, y: Any = None) -> None:
    """A `ValueError` unless `X: (N, n)` and, if given, `y: (N, m)`."""
    if X.ndim != 2:
        raise ValueError(
            f"X must be 2-D (n_samples, n_features); got X.shape={X.shape}."
        )
    if y is not None and (y.ndim != 2 or y.shape[0] != X.shape[0]):
        raise ValueError(
            f"y must be (n_samples, n_outputs), or (n_samples,) for one output, "
            f"with as many rows as X; got X.shape={X.shape}, y.shape={y.shape}."
        )


def rows(X: Any, y: Any = None, *, caller: str, host: bool = False) -> Any:
    """`features(X, y)` with at least one row, every concrete value finite."""
    checked = features(X, y, host=host)
    arrays = {"X": checked} if y is None else dict(zip("Xy", checked, strict=True))
    samples(arrays["X"], caller)
    for name, values in arrays.items():
        finite_values(values, name, caller)
    return checked


def targets(y: Any, shape: tuple[int, int], X: Any) -> jax.Array:
    """`y` as an array of the predictions' `shape`, or a `ValueError`.

    With one output, a 1-D `y: (N,)` is taken as `(N, 1)`, as scikit-learn
    takes it; anything else of another shape is an error, never broadcast.
    """
    y = array(y, "y")
    if y.shape == shape[:1] and shape[1:] == (1,):
        y = y[:, None]
    if y.shape != shape:
        raise ValueError(
            f"y must have the predictions' shape (n_samples, n_outputs) = "
            f"{shape}; got y.shape={y.shape} for X.shape={jnp.shape(X)}."
        )
    return y


# --- resources -------------------------------------------------------------------


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
