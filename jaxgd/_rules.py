"""The update rule, decided here once: every rule is an optax transformation.

The four forms `fit` takes (`learning_rate` alone, a line search, an optax
object, an optax factory with traced numbers) are described in `fit`'s
docstring and in docs/architecture.md. `prepare` checks them at call time and
splits them into the static `Rule` and the traced numbers; `build` makes the
transformation inside the run. The numbers of a run live in its optimizer
state, so a lane of a sweep is just a state, and `observe` reads from a new
state what the update did. Nothing outside this module asks what kind of rule
a run has.
"""

from __future__ import annotations

import collections.abc
import functools
import inspect
import typing
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from . import _checks, _linesearch
from ._params import Static


class GradientDescentState(NamedTuple):
    """Optimizer state of plain gradient descent (`learning_rate=`).

    Attributes:
        count: updates applied so far (0-d int32), at which a schedule is
            evaluated.
        learning_rate: the rate of the last update (of the first, before any):
            the number given, or the schedule's value at its count.
    """

    count: jax.Array
    learning_rate: jax.Array


def gradient_descent(learning_rate: Any) -> optax.GradientTransformation:
    r"""Plain gradient descent as an optax transformation.

    $$\theta_{t+1} = \theta_t - \eta_t \nabla L(\theta_t)$$

    `learning_rate` is a scalar or a schedule `count -> rate`. The rate is
    kept in the state, in the widest floating dtype of the params (at least
    float32), so a Python float keeps full precision for float64 params and a
    lane of a sweep carries its own rate.
    """
    schedule = learning_rate if callable(learning_rate) else None

    def rate_at(count: jax.Array, dtype: Any) -> jax.Array:
        rate = schedule(count) if schedule is not None else learning_rate
        return jnp.asarray(rate, dtype)

    def init(params: Any) -> GradientDescentState:
        count = jnp.zeros((), jnp.int32)
        return GradientDescentState(count, rate_at(count, float_dtype(params)))

    def update(
        grads: Any, state: GradientDescentState, params: Any = None
    ) -> tuple[Any, GradientDescentState]:
        del params
        rate = state.learning_rate
        if schedule is not None:
            rate = rate_at(state.count, rate.dtype)
        updates = jax.tree.map(lambda g: -rate * g, grads)
        return updates, GradientDescentState(
            optax.safe_int32_increment(state.count), rate
        )

    return optax.GradientTransformation(init, update)


class Rule(NamedTuple):
    """Everything static about the update rule of a run.

    Attributes:
        transformation: an optax object, used as it is; or None.
        factory: an optax factory, built with the traced numbers; or None.
        schedule: a learning-rate schedule `count -> rate` (plain gradient
            descent, or the factory's rate); or None.
        line_search: the line search of `learning_rate="auto"`; or None.
        static_hyperparams: the factory's static arguments, as sorted
            `(name, Static(value))` pairs.
        schedules: the factory's hyperparameters given as schedules of the
            step count, as sorted `(name, schedule)` pairs.
        dtype: the dtype the factory's numbers are injected in, or None to
            take it from the numbers.
    """

    transformation: optax.GradientTransformation | None = None
    factory: Callable[..., optax.GradientTransformation] | None = None
    schedule: Callable[[jax.Array], jax.Array] | None = None
    line_search: _linesearch.Backtracking | None = None
    static_hyperparams: tuple[tuple[str, Static], ...] = ()
    schedules: tuple[tuple[str, Callable], ...] = ()
    dtype: Any = None


def float_dtype(tree: Any) -> Any:
    """The widest floating dtype of `tree`'s leaves, at least float32."""
    return jnp.result_type(jnp.float32, *jax.tree.leaves(tree))


def prepare(
    learning_rate: Any,
    optimizer: Any,
    hyperparams: Any,
    dtype: Any = None,
    params: Any = None,
) -> tuple[Rule, jax.Array | None, dict[str, jax.Array] | None]:
    """Checks the update rule; returns `(rule, learning_rate, hyperparams)`.

    The learning rate and the float hyperparameters come back as arrays of
    `dtype` (the params' floating dtype, at least float32), ready to be
    traced, or as they were given when `dtype` is None; a schedule or a line
    search goes into the static `Rule`. A factory's masks are checked against
    the (trained) `params` when they are given.

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
            f"learning_rate=...); got {_checks.describe(optimizer)}."
        )
    if hyperparams is not None and not is_factory:
        raise ValueError(
            "hyperparams go to an optimizer factory, e.g. optimizer=optax.adam, "
            "learning_rate=1e-2, hyperparams={'b1': 0.9}; got hyperparams with "
            + (
                f"the optax object {_checks.describe(optimizer)}, whose numbers "
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
        return Rule(transformation=optimizer), None, None
    if is_factory:
        return _prepare_factory(learning_rate, optimizer, hyperparams, dtype, params)
    if learning_rate is None:
        raise ValueError(
            "pass exactly one of learning_rate (plain gradient descent) and "
            "optimizer (an optax.GradientTransformation); neither was given."
        )
    line_search = _linesearch.line_search_or_none(learning_rate)
    if line_search is not None:
        return Rule(line_search=line_search), None, None
    _checks.learning_rate(learning_rate)
    if callable(learning_rate):
        _checks.schedule(learning_rate)
        return Rule(schedule=learning_rate), None, None
    return Rule(), _number(learning_rate, dtype, "learning_rate"), None


def _prepare_factory(
    learning_rate: Any, factory: Callable, hyperparams: Any, dtype: Any, params: Any
) -> tuple[Rule, jax.Array | None, dict[str, jax.Array] | None]:
    name = getattr(factory, "__name__", repr(factory))
    if hyperparams is None:
        hyperparams = {}
    if not isinstance(hyperparams, dict) or not all(
        isinstance(key, str) for key in hyperparams
    ):
        raise TypeError(
            "hyperparams must be a dict of the optimizer's arguments by name, "
            f"e.g. {{'b1': 0.9}}; got {_checks.describe(hyperparams)}."
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
        _checks.learning_rate(learning_rate)
        arguments["learning_rate"] = learning_rate
    signature = _signature(factory)
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
    parameters = {} if signature is None else dict(signature.parameters)
    schedule, rate = None, None
    if callable(learning_rate):
        _checks.schedule(learning_rate)
        schedule = learning_rate
    elif learning_rate is not None:
        rate = _number(learning_rate, dtype, "learning_rate")
    traced, static, schedules = {}, [], []
    for key, value in sorted(hyperparams.items()):
        where = f"hyperparams[{key!r}]"
        parameter = parameters.get(key)
        numeric = _takes_number(parameter)
        if callable(value) and _takes_schedule(parameter):
            _checks.schedule(value, where)
            schedules.append((key, value))
        elif key.endswith("mask") and not callable(value):
            _check_mask(value, where, params)
            static.append((key, Static(value)))
        elif _is_float(value) or (numeric and isinstance(value, (list, tuple))):
            traced[key] = _hyperparam_number(value, dtype, where)
        elif _checks.is_array(value):
            raise TypeError(
                f"{where} is an array of {value.dtype}: only floats "
                "are traced. Pass a float (or a float array), or a Python int or "
                "bool for a setting that is compiled in."
            )
        elif numeric and not _is_number_or_none(value, parameter):
            raise TypeError(
                f"{where} must be a number or a schedule, since {name}'s argument "
                f"{key} takes one; got {_checks.describe(value)}."
            )
        else:
            static.append((key, Static(value)))
    # optax.inject_hyperparams traces every number it is given, defaults
    # included; an integer sets a size or a period (lbfgs' memory_size, sam's
    # sync_period) that Python code reads, so it is compiled in.
    for key, parameter in parameters.items():
        default = parameter.default
        if (
            key not in arguments
            and isinstance(default, int)
            and not isinstance(default, bool)
        ):
            static.append((key, Static(default)))
    rule = Rule(
        factory=factory,
        schedule=schedule,
        static_hyperparams=tuple(sorted(static, key=lambda item: item[0])),
        schedules=tuple(schedules),
        dtype=None if dtype is None else jnp.dtype(dtype),
    )
    return rule, rate, traced


def _signature(factory: Callable) -> inspect.Signature | None:
    """The factory's signature, with its annotations evaluated where they can be."""
    try:
        return inspect.signature(factory, eval_str=True)
    except Exception:  # an annotation that names what is not importable here
        pass
    try:
        return inspect.signature(factory)
    except (TypeError, ValueError):  # no signature to check: the factory will say
        return None


def _annotation_kinds(parameter: inspect.Parameter | None) -> tuple | None:
    """The types a parameter's annotation allows, a union flattened; None if unknown."""
    if parameter is None or parameter.annotation is inspect.Parameter.empty:
        return None
    annotation = parameter.annotation
    if isinstance(annotation, str):
        return None
    return typing.get_args(annotation) or (annotation,)


def _is_function_type(kind: Any) -> bool:
    return typing.get_origin(kind) is collections.abc.Callable or kind in (
        collections.abc.Callable,
        typing.Callable,
    )


def _takes_schedule(parameter: inspect.Parameter | None) -> bool:
    """Whether a function given for `parameter` is a schedule of the step count.

    optax.inject_hyperparams takes every function as a schedule. A parameter
    annotated as taking a function other than a schedule (adamw's `mask`, a
    function of the params) takes it as a setting; a parameter whose
    annotation allows numbers and no function takes a schedule, as
    inject_hyperparams schedules any number. Without an annotation, optax's
    rule applies, unless the default is itself a function.
    """
    kinds = _annotation_kinds(parameter)
    if kinds is None:
        return parameter is None or not callable(parameter.default)
    functions = [kind for kind in kinds if _is_function_type(kind)]
    if functions:
        return any(kind == optax.Schedule for kind in functions)
    return float in kinds


def _takes_number(parameter: inspect.Parameter | None) -> bool:
    """Whether `parameter` takes a number (or a schedule), and nothing but."""
    kinds = _annotation_kinds(parameter)
    if kinds is None:
        if parameter is None:
            return False
        default = parameter.default
        return isinstance(default, float)
    return float in kinds and str not in kinds and typing.Any not in kinds


def _is_number_or_none(value: Any, parameter: inspect.Parameter | None) -> bool:
    if value is None:
        kinds = _annotation_kinds(parameter) or ()
        return type(None) in kinds or parameter.default is None
    return isinstance(value, (int, float))


def _check_mask(mask: Any, where: str, params: Any) -> None:
    """A mask of optax (adamw's `mask`, lars' `trust_ratio_mask`...).

    None, a bool, or a pytree of bools with the params' structure or a prefix
    of it (a function of the params returning one is checked by optax).
    """
    if mask is None:
        return
    leaves = jax.tree.leaves(mask)
    bad = [leaf for leaf in leaves if not _is_bool(leaf)]
    if bad:
        got = _checks.describe(mask)
        if leaves != [mask]:
            got += f", with a leaf {_checks.describe(bad[0])}"
        raise TypeError(
            f"{where} must be a bool, a pytree of bools with the params' "
            "structure (or a prefix of it), or a function of the params "
            f"returning one, as optax takes a mask; got {got}."
        )
    if params is None or _is_bool(mask):
        return
    try:
        jax.tree.map(lambda m, p: None, mask, params)
    except ValueError:
        raise ValueError(
            f"{where} must have the structure of the params (or a prefix of it), "
            f"as optax takes a mask: got {_checks.describe(mask)} for params "
            f"of structure {jax.tree.structure(params)}."
        ) from None


def _is_bool(leaf: Any) -> bool:
    if isinstance(leaf, (bool, np.bool_)):
        return True
    dtype = getattr(leaf, "dtype", None)
    return dtype is not None and np.dtype(dtype) == np.bool_


def _hyperparam_number(value: Any, dtype: Any, where: str) -> Any:
    """One float hyperparameter of a run, checked: a finite scalar."""
    if isinstance(value, (list, tuple)):
        try:
            value = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            raise TypeError(
                f"{where} must be a number or a schedule; got "
                f"{_checks.describe(value)}."
            ) from None
    if np.ndim(value) != 0:
        raise ValueError(
            f"{where} must be one number for the run; got "
            f"{_checks.describe(value)}. To give each run its own, pass a 1-D "
            "array to jaxgd.sweep(..., hyperparams=...), one value per lane."
        )
    _checks.finite_values(value, where)
    return _number(value, dtype, where)


def _returning_transformation(factory: Callable) -> Callable:
    """`factory`, refusing a result that is not an optax transformation."""

    @functools.wraps(factory)
    def checked(*args: Any, **kwargs: Any) -> optax.GradientTransformation:
        built = factory(*args, **kwargs)
        if not isinstance(built, optax.GradientTransformation):
            name = getattr(factory, "__name__", repr(factory))
            raise TypeError(
                f"optimizer={name} must be an optax factory, returning an "
                "optax.GradientTransformation when called with its arguments; "
                f"it returned {_checks.describe(built)}. Pass a factory such "
                "as optax.adam, or an optax object such as optax.adam(1e-3)."
            )
        return built

    return checked


def build(
    rule: Rule,
    learning_rate: Any,
    hyperparams: dict[str, Any] | None,
) -> optax.GradientTransformation:
    """The rule's transformation, with the (traced) numbers of this run."""
    if rule.transformation is not None:
        return rule.transformation
    if rule.line_search is not None:
        return _linesearch.transformation(rule.line_search)
    rate = learning_rate if rule.schedule is None else rule.schedule
    if rule.factory is None:
        return gradient_descent(rate)
    arguments = {key: value.value for key, value in rule.static_hyperparams}
    arguments.update(rule.schedules)
    arguments.update(hyperparams or {})
    if rate is not None:
        arguments["learning_rate"] = rate
    static = [key for key, _ in rule.static_hyperparams]
    # The numbers keep their own dtype (at least float32), never the params'
    # narrower one: b2 = 0.999 is 1.0 in bfloat16.
    dtype = rule.dtype
    if dtype is None:
        dtypes = [jnp.asarray(v).dtype for v in (hyperparams or {}).values()]
        if learning_rate is not None:
            dtypes.append(jnp.asarray(learning_rate).dtype)
        dtype = jnp.result_type(jnp.float32, *dtypes)
    factory = _returning_transformation(rule.factory)
    injected = optax.inject_hyperparams(
        factory, static_args=static, hyperparam_dtype=dtype
    )(**arguments)
    return _forwarding(injected, factory, arguments)


def _forwarding(
    injected: optax.GradientTransformationExtraArgs,
    factory: Callable,
    arguments: dict[str, Any],
) -> optax.GradientTransformationExtraArgs:
    """`injected`, passing on the extra arguments its inner update takes.

    optax.inject_hyperparams' update takes any keyword and hands them all to
    the transformation it builds, which may refuse some (`optax.contrib.sam`
    takes `grad_fn`, not `value`): the inner transformation is built as
    inject_hyperparams builds it, with the numbers of the state, and asked.
    """

    def update(
        updates: Any,
        state: Any,
        params: Any = None,
        *,
        value: Any = None,
        grad: Any = None,
        value_fn: Any = None,
        obj_fn: Any = None,
        grad_fn: Any = None,
    ) -> tuple[Any, Any]:
        given = {
            "value": value,
            "grad": grad,
            "value_fn": value_fn,
            "obj_fn": obj_fn,
            "grad_fn": grad_fn,
        }
        given = {key: extra for key, extra in given.items() if extra is not None}
        numbers = state.hyperparams
        inner = factory(
            **{key: v for key, v in arguments.items() if key not in numbers},
            **numbers,
        )
        accepted = {}
        if isinstance(inner, optax.GradientTransformationExtraArgs):
            accepted = _accepted(inner.update, given)
        return injected.update(updates, state, params, **accepted)

    return optax.GradientTransformationExtraArgs(injected.init, update)


def update(
    transformation: optax.GradientTransformation,
    grads: Any,
    state: Any,
    params: Any,
    *,
    value: jax.Array,
    value_fn: Callable[[Any], jax.Array],
) -> tuple[Any, Any]:
    """One update of `transformation`: `(updates, state)`.

    A transformation that wants more than the gradient
    (`GradientTransformationExtraArgs`) gets the extra arguments its `update`
    names, by the names optax uses: `value` (the loss), `grad`, `value_fn` and
    `obj_fn` (the loss as a function of the params; `optax.lbfgs`, optax's line
    searches, `optax.contrib.sophia`, jaxgd's own line search) and `grad_fn`
    (the gradient as a function of the params and a batch index;
    `optax.contrib.sam`). An `update` that takes `**kwargs` gets all of them
    but `grad_fn` (and `obj_fn` when it refuses it); one that names none gets
    none.
    """
    if not isinstance(transformation, optax.GradientTransformationExtraArgs):
        updates, new_state = transformation.update(grads, state, params)
        return updates, _like(new_state, state)
    extras = {
        "value": value,
        "grad": grads,
        "value_fn": value_fn,
        "obj_fn": value_fn,
        "grad_fn": lambda p, _: jax.grad(value_fn)(p),
    }
    accepted = _accepted(transformation.update, extras)
    try:
        updates, new_state = transformation.update(grads, state, params, **accepted)
    except TypeError as error:
        # optax's line searches pass what they do not use on to `value_fn`,
        # which refuses `obj_fn`: those get the other three.
        if "obj_fn" not in str(error) or "obj_fn" not in accepted:
            raise
        del accepted["obj_fn"]
        updates, new_state = transformation.update(grads, state, params, **accepted)
    return updates, _like(new_state, state)


def _like(new: Any, old: Any) -> Any:
    """`new` with the dtypes of `old`, leaf by leaf.

    A factory's numbers are injected in float32 (b2 = 0.999 is 1.0 in
    bfloat16), and multiplied into moments kept in the params' bfloat16 they
    promote them to float32: the state goes back to its own dtypes, as the
    optax object keeps them, so that it carries from one update to the next.
    """
    if jax.tree.structure(new) != jax.tree.structure(old):
        return new
    return jax.tree.map(
        lambda n, o: (
            n.astype(o.dtype)
            if hasattr(n, "dtype") and hasattr(o, "dtype") and n.dtype != o.dtype
            else n
        ),
        new,
        old,
    )


def _accepted(update: Callable, extras: dict[str, Any]) -> dict[str, Any]:
    """The extra arguments that `update` takes, by name."""
    try:
        parameters = inspect.signature(update).parameters.values()
    except (TypeError, ValueError):
        return {}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return {key: value for key, value in extras.items() if key != "grad_fn"}
    names = {p.name for p in parameters}
    return {key: value for key, value in extras.items() if key in names}


class Observed(NamedTuple):
    """What an update's new optimizer state says about that update."""

    step_size: jax.Array  # the rate or accepted step; NaN for an optimizer
    trials: jax.Array  # evaluations of the loss at trial points (int32)
    found: jax.Array  # False when a line search found no decrease


def numbers(state: Any) -> dict[str, jax.Array]:
    """The numbers a rule's state holds and its updates read, by name.

    Plain descent's rate, or the hyperparameters optax.inject_hyperparams
    keeps in its state; none for an optax object or the line search.
    """
    if isinstance(state, GradientDescentState):
        return {"learning_rate": state.learning_rate}
    return dict(getattr(state, "hyperparams", {}))


def with_numbers(state: Any, new: dict[str, jax.Array]) -> Any:
    """`state` holding the numbers `new` instead (see `numbers`)."""
    if isinstance(state, GradientDescentState):
        return state._replace(learning_rate=new["learning_rate"])
    return state._replace(hyperparams={**state.hyperparams, **new})


def observe(state: Any, dtype: Any) -> Observed:
    """Reads the step size and the line search's work from a new state."""
    if isinstance(state, GradientDescentState):
        step = state.learning_rate
        trials, found = jnp.zeros((), jnp.int32), jnp.ones((), bool)
    elif isinstance(state, _linesearch.BacktrackingState):
        step, trials, found = state.accepted, state.tries, state.found
    else:
        step = jnp.full((), jnp.nan, dtype)
        trials, found = jnp.zeros((), jnp.int32), jnp.ones((), bool)
    return Observed(step.astype(dtype), trials, found)


def advice(state: Any) -> str:
    """What to try after a run with this optimizer state diverged."""
    if isinstance(state, _linesearch.BacktrackingState):
        return (
            "The line search only accepts steps to a finite loss, so the loss or "
            "its gradient is non-finite at finite params: check the loss for "
            "log(0), 0/0, sqrt(0) or overflow."
        )
    if isinstance(state, GradientDescentState):
        return (
            "The step is too large: use a smaller learning_rate — halve it, or cut "
            "it to 10%. For jaxgd.linear losses, linear.max_learning_rate(X) gives "
            "the largest constant rate that converges."
        )
    return (
        "The steps are too large: lower the optimizer's learning rate (halve "
        "it, or cut it to 10%), or clip the gradients with "
        "optax.clip_by_global_norm."
    )


def resume(rule: Rule, given: Any, fresh: Any) -> Any:
    """A resumed state that runs with the numbers of this call.

    The numbers of a run live in its state (`GradientDescentState`'s rate,
    the hyperparameters `optax.inject_hyperparams` keeps); a run that resumes
    from an earlier state uses the numbers it was given now, and keeps the
    rest (counts, moments, the line search's next trial step).
    """
    if rule.transformation is not None or rule.line_search is not None:
        return given  # the step checks it against its own state
    if not isinstance(given, type(fresh)):
        raise ValueError(_resume_mismatch(rule, given, fresh))
    if isinstance(fresh, GradientDescentState):
        if rule.schedule is None:
            return given._replace(learning_rate=fresh.learning_rate)
        return given
    return given._replace(hyperparams=fresh.hyperparams)


def _resume_mismatch(rule: Rule, given: Any, fresh: Any) -> str:
    """Why `opt_state` cannot resume this run, and what to pass instead."""
    if rule.factory is None:
        now = "plain gradient descent (learning_rate=...), with a GradientDescentState"
    else:
        name = getattr(rule.factory, "__name__", repr(rule.factory))
        now = (
            f"the optimizer factory {name}, built with traced numbers by "
            "optax.inject_hyperparams, whose state holds those numbers "
            f"({type(fresh).__name__})"
        )
    if isinstance(given, GradientDescentState):
        source = "plain gradient descent (learning_rate=...)"
    elif hasattr(given, "hyperparams") and hasattr(given, "inner_state"):
        source = "an optimizer factory"
    else:
        source = "an optax object such as optax.adam(1e-3), or another optimizer"
    return (
        f"opt_state does not match the optimizer: it is a "
        f"{type(given).__name__}, the state of {source}, and this run uses "
        f"{now}. Resume with the optimizer the state comes from (the same "
        "optax object, or the same factory), or start without opt_state."
    )


def _number(value: Any, dtype: Any, name: str) -> Any:
    """`value` in `dtype` (as given when `dtype` is None), checked in it."""
    if dtype is None:
        return value
    _checks.representable(value, dtype, name)
    if isinstance(value, (int, float, np.ndarray, np.generic)):
        # A number on the host stays there until the compiled call takes it:
        # making a device array of it costs more than the call's own dispatch.
        return np.asarray(value, jnp.dtype(dtype))
    return jnp.asarray(value, dtype)


def _is_float(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, float):
        return True
    if _checks.is_array(value):
        return bool(jnp.issubdtype(value.dtype, jnp.floating))
    return False
