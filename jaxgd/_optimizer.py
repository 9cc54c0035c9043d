"""The rule of an update: plain gradient descent, an optax object, or a factory.

`fit`, `sweep`, `multistart` and `make_step` take the update rule in one of
three forms:

- `learning_rate` alone: plain gradient descent (a float, a 0-d array, an
  optax schedule, or `"auto"` / `jaxgd.backtracking(...)` for a line search);
- `optimizer=optax.adam(1e-2)`: an optax object, used as it is. Its numbers
  are part of the object, so a new object compiles anew;
- `optimizer=optax.adam` with `learning_rate=1e-2` and `hyperparams={"b1":
  0.9}`: a factory, built inside the compiled run through
  `optax.inject_hyperparams`, so that the learning rate and every float in
  `hyperparams` are traced: new values never recompile, and `sweep` can give
  each lane its own. Python bools, ints, strings and functions in
  `hyperparams` are static (they switch behaviour or set sizes): a new value
  of one recompiles.

`prepare` checks the three forms at call time and splits them into what is
static (`Rule`) and what is traced (the learning rate and the float
hyperparameters); `transformation` rebuilds the update inside the run.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from . import _linesearch, _validate


class Rule(NamedTuple):
    """Everything static about the update rule of a run.

    Attributes:
        transformation: an optax object, used as it is; or None.
        factory: an optax factory, built with the traced numbers; or None.
        schedule: a learning-rate schedule `count -> rate` (plain gradient
            descent, or the factory's rate); or None.
        line_search: the line search of `learning_rate="auto"`; or None.
        static_hyperparams: the factory's static arguments, as sorted
            `(name, value)` pairs.
    """

    transformation: optax.GradientTransformation | None
    factory: Callable[..., optax.GradientTransformation] | None
    schedule: Callable[[jax.Array], jax.Array] | None
    line_search: _linesearch.Backtracking | None
    static_hyperparams: tuple[tuple[str, Any], ...]


def prepare(
    learning_rate: Any,
    optimizer: Any,
    hyperparams: Any,
    dtype: Any = None,
) -> tuple[Rule, jax.Array | None, dict[str, jax.Array] | None]:
    """Checks the update rule; returns `(rule, learning_rate, hyperparams)`.

    The learning rate and the float hyperparameters come back as arrays of
    the params' floating dtype (`dtype`), ready to be traced, or as they were
    given when `dtype` is None; a schedule or a line search goes into the
    static `Rule`.

    Raises:
        TypeError: an optimizer that is neither an optax object nor a
            factory; hyperparams that are not a dict of the factory's
            arguments.
        ValueError: a missing or doubled rule; hyperparams without a factory.
    """
    is_object = isinstance(optimizer, optax.GradientTransformation)
    is_factory = optimizer is not None and not is_object
    if is_factory and not callable(optimizer):
        raise TypeError(
            "optimizer must be an optax.GradientTransformation (e.g. "
            "optax.adam(1e-3)) or an optax factory (e.g. optax.adam, with "
            f"learning_rate=...); got {_validate.describe(optimizer)}."
        )
    if hyperparams is not None and not is_factory:
        raise ValueError(
            "hyperparams go to an optimizer factory, e.g. optimizer=optax.adam, "
            "learning_rate=1e-2, hyperparams={'b1': 0.9}; got hyperparams with "
            + (
                f"the optax object {_validate.describe(optimizer)}, whose numbers "
                "are fixed: pass the factory instead."
                if is_object
                else "plain gradient descent (no optimizer)."
            )
        )
    if is_object:
        if learning_rate is not None:
            raise ValueError(
                "pass exactly one of learning_rate (plain gradient descent) and "
                "optimizer (an optax.GradientTransformation); both were given. "
                "To give an optimizer its learning rate, pass the factory: "
                "optimizer=optax.adam, learning_rate=1e-2."
            )
        return Rule(optimizer, None, None, None, ()), None, None
    if is_factory:
        return _prepare_factory(learning_rate, optimizer, hyperparams, dtype)
    if learning_rate is None:
        raise ValueError(
            "pass exactly one of learning_rate (plain gradient descent) and "
            "optimizer (an optax.GradientTransformation); neither was given."
        )
    line_search = _linesearch.line_search_or_none(learning_rate)
    if line_search is not None:
        return Rule(None, None, None, line_search, ()), None, None
    _validate.check_learning_rate(learning_rate)
    if callable(learning_rate):
        check_schedule(learning_rate)
        return Rule(None, None, learning_rate, None, ()), None, None
    rate = _number(learning_rate, dtype, "learning_rate")
    return Rule(None, None, None, None, ()), rate, None


def _prepare_factory(
    learning_rate: Any, factory: Callable, hyperparams: Any, dtype: Any
) -> tuple[Rule, jax.Array | None, dict[str, jax.Array] | None]:
    name = getattr(factory, "__name__", repr(factory))
    if hyperparams is None:
        hyperparams = {}
    if not isinstance(hyperparams, dict) or not all(
        isinstance(key, str) for key in hyperparams
    ):
        raise TypeError(
            "hyperparams must be a dict of the optimizer's arguments by name, "
            f"e.g. {{'b1': 0.9}}; got {_validate.describe(hyperparams)}."
        )
    if "learning_rate" in hyperparams:
        raise ValueError(
            "pass the learning rate as learning_rate=..., not in hyperparams."
        )
    if _linesearch.is_line_search(learning_rate):
        raise ValueError(
            f"learning_rate={learning_rate!r} asks for a line search, which runs "
            f"plain gradient descent; the optimizer factory {name} takes a "
            "number or a schedule as its learning rate."
        )
    arguments = dict(hyperparams)
    if learning_rate is not None:
        _validate.check_learning_rate(learning_rate)
        arguments["learning_rate"] = learning_rate
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # no signature to check: the factory will say
        signature = None
    if signature is not None:
        try:
            signature.bind(**arguments)
        except TypeError as error:
            given = ", ".join(sorted(arguments)) or "nothing"
            raise TypeError(
                f"the optimizer factory {name} cannot be built from the "
                f"arguments given ({given}): {error}. Pass its learning rate as "
                "learning_rate=... and its other arguments in hyperparams={...}."
            ) from None
    schedule, rate = None, None
    if callable(learning_rate):
        check_schedule(learning_rate)
        schedule = learning_rate
    elif learning_rate is not None:
        rate = _number(learning_rate, dtype, "learning_rate")
    traced, static = {}, []
    for key, value in sorted(hyperparams.items()):
        if _is_float(value):
            _check_finite(value, f"hyperparams[{key!r}]")
            traced[key] = _number(value, dtype, f"hyperparams[{key!r}]")
        elif isinstance(value, (jax.Array, np.ndarray, np.generic)):
            raise TypeError(
                f"hyperparams[{key!r}] is an array of {value.dtype}: only floats "
                "are traced. Pass a float (or a float array), or a Python int or "
                "bool for a setting that is compiled in."
            )
        else:
            static.append((key, value))
    rule = Rule(None, factory, schedule, None, tuple(static))
    return rule, rate, traced


def transformation(
    rule: Rule, learning_rate: Any, hyperparams: dict[str, Any] | None
) -> dict[str, Any]:
    """The keyword arguments of `_step.guarded_update` for this rule.

    A factory is built here, inside the run, by `optax.inject_hyperparams`,
    with the traced learning rate and hyperparameters.
    """
    if rule.transformation is not None:
        return {"optimizer": rule.transformation}
    if rule.factory is not None:
        arguments = dict(rule.static_hyperparams)
        arguments.update(hyperparams or {})
        if learning_rate is not None:
            arguments["learning_rate"] = learning_rate
        elif rule.schedule is not None:
            arguments["learning_rate"] = rule.schedule
        # Everything static is passed as it is, not as a schedule or an array.
        static = [key for key, _ in rule.static_hyperparams]
        build = optax.inject_hyperparams(rule.factory, static_args=static)
        return {"optimizer": build(**arguments)}
    return {
        "learning_rate": rule.line_search or rule.schedule or learning_rate,
    }


def check_schedule(schedule: Callable) -> None:
    """A schedule must map a step count to one real rate."""
    try:
        out = jax.eval_shape(schedule, jax.ShapeDtypeStruct((), jnp.int32))
    except Exception as error:
        raise TypeError(
            "learning_rate, a schedule, must be a function of the step count "
            f"(a 0-d int32) returning the rate; calling it failed: {error}"
        ) from None
    shape, dtype = getattr(out, "shape", None), getattr(out, "dtype", None)
    if shape != () or dtype is None or not jnp.issubdtype(dtype, jnp.floating):
        raise ValueError(
            "learning_rate, a schedule, must return one real rate for a step "
            f"count; it returned {_validate.describe(out)}."
        )


def with_hyperparams(rule: Rule, opt_state: Any, fresh: Any) -> Any:
    """A resumed factory state, with the hyperparameters of this call.

    `optax.inject_hyperparams` keeps the numbers in the optimizer state; a
    run that resumes from an earlier state uses the numbers it was given now.
    """
    if rule.factory is None or opt_state is None:
        return opt_state
    return opt_state._replace(hyperparams=fresh.hyperparams)


def _number(value: Any, dtype: Any, name: str) -> Any:
    """`value` in `dtype` (as given when `dtype` is None), checked in it."""
    if dtype is None:
        return value
    check_representable(value, dtype, name)
    if isinstance(value, (int, float, np.ndarray, np.generic)):
        # A number on the host stays there until the compiled call takes it:
        # making a device array of it costs more than the call's own dispatch.
        return np.asarray(value, jnp.dtype(dtype))
    return jnp.asarray(value, dtype)


def check_representable(value: Any, dtype: Any, name: str) -> None:
    """A `ValueError` if a concrete number rounds to 0 or overflows in `dtype`."""
    if not _validate.is_concrete(value):
        return
    given = np.asarray(value, dtype=np.float64).ravel()
    with np.errstate(over="ignore", under="ignore"):
        got = given.astype(jnp.dtype(dtype)).astype(np.float64)
    lost = (given != 0) & np.isfinite(given) & ((got == 0) | ~np.isfinite(got))
    if lost.any():
        k = int(np.flatnonzero(lost)[0])
        dtype = jnp.dtype(dtype)
        raise ValueError(
            f"{name} = {given[k]:g} cannot be represented in {dtype}, the dtype of "
            f"the params it updates: it becomes {got[k]:g}. Use a value within "
            f"{dtype}'s range, or params of a wider dtype."
        )


def _is_float(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, float):
        return True
    if isinstance(value, (jax.Array, np.ndarray, np.generic)):
        return bool(jnp.issubdtype(value.dtype, jnp.floating))
    return False


def _check_finite(value: Any, name: str) -> None:
    if _validate.is_concrete(value) and np.ndim(value) == 0:
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"{name} must be finite; got {number}.")
