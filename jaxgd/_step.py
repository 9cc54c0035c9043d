"""One update of gradient descent: the building block that `fit` scans."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from . import _linesearch, _optimizer, _params, _shapes, _validate


class GradientDescentState(NamedTuple):
    """Optimizer state of plain gradient descent (`learning_rate=`).

    Attributes:
        count: with a learning-rate schedule, the number of updates applied so
            far (0-d int32), at which the schedule is evaluated; None at a
            constant rate, which needs no count (as `optax.sgd`'s state).
    """

    count: jax.Array | None


# Why a run stopped, in `StepState.status`; an interrupted run raises
# KeyboardInterrupt and returns nothing.
RUNNING, CONVERGED, DIVERGED, STALLED, STOPPED_EARLY, INTERRUPTED = range(6)


class StepState(NamedTuple):
    """What one update carries to the next.

    Attributes:
        params: current parameters.
        opt_state: current optimizer state.
        steps_taken: updates applied so far (0-d int32).
        status: why the run stopped (0-d int32): 0 while it runs, then one of
            `converged`, `diverged`, `stalled` or `stopped_early`, read as
            the properties of the same names.
        trial_evals: evaluations of the loss at the line search's trial
            points so far (0-d int32); always 0 without a line search.

    Properties:
        converged: the gradient norm reached `tol`.
        diverged: a non-finite loss, gradient or update was met.
        stalled: the line search found no decrease; never without one.
        stopped_early: `fit`'s `patience` ran out on a validation set.
        loss_evals: evaluations of the loss so far: one per update
            attempted, plus the trial points of the line search.
    """

    params: Any
    opt_state: Any
    steps_taken: jax.Array
    status: jax.Array
    trial_evals: jax.Array

    @property
    def converged(self) -> jax.Array:
        return self.status == CONVERGED

    @property
    def diverged(self) -> jax.Array:
        return self.status == DIVERGED

    @property
    def stalled(self) -> jax.Array:
        return self.status == STALLED

    @property
    def stopped_early(self) -> jax.Array:
        return self.status == STOPPED_EARLY

    @property
    def loss_evals(self) -> jax.Array:
        # The update that stopped the run evaluated the loss; early stopping
        # happens before an update, which then evaluates nothing.
        stopping = (
            (self.status == CONVERGED)
            | (self.status == DIVERGED)
            | (self.status == STALLED)
        )
        return self.steps_taken + stopping.astype(jnp.int32) + self.trial_evals


class StepInfo(NamedTuple):
    """What one update observed, NaN once the run has stopped.

    Attributes:
        loss: loss at the params before the update.
        grad_norm: global L2 norm of the gradient at those params.
        step_size: the step size of this update: the learning rate (or the
            schedule's value), or the step the line search accepted; NaN when
            no update was applied, and always NaN with an `optimizer`.
        aux: with `has_aux=True`, the loss's aux at those params, each leaf
            in a floating dtype (NaN once stopped); None without.
    """

    loss: jax.Array
    grad_norm: jax.Array
    step_size: jax.Array
    aux: Any = None


class Step(NamedTuple):
    """A pair of pure functions, in the spirit of an optax transformation.

    Attributes:
        init: `init(params, opt_state=None) -> StepState`.
        update: `update(state, *data) -> (StepState, StepInfo)`.
    """

    init: Callable[..., StepState]
    update: Callable[..., tuple[StepState, StepInfo]]


def gradient_descent(learning_rate: Any) -> optax.GradientTransformation:
    r"""Plain gradient descent as an optax transformation.

    .. math:: \theta_{t+1} = \theta_t - \eta_t \nabla L(\theta_t)

    `learning_rate` is a scalar or a schedule `count -> rate`; only a schedule
    counts the updates. The rate is cast to the widest floating dtype of the
    gradients (at least float32), so a Python float keeps full precision for
    float64 params.
    """
    scheduled = callable(learning_rate)

    def init(params: Any) -> GradientDescentState:
        del params
        return GradientDescentState(
            count=jnp.zeros((), jnp.int32) if scheduled else None
        )

    def update(
        grads: Any, state: GradientDescentState, params: Any = None
    ) -> tuple[Any, GradientDescentState]:
        del params
        dtype = jnp.result_type(jnp.float32, *jax.tree.leaves(grads))
        rate = rate_at(learning_rate, state.count, dtype)
        updates = jax.tree.map(lambda g: -rate * g, grads)
        if scheduled:
            state = GradientDescentState(optax.safe_int32_increment(state.count))
        return updates, state

    return optax.GradientTransformation(init, update)


def rate_at(learning_rate: Any, count: jax.Array, dtype: Any) -> jax.Array:
    """The learning rate of update `count`: the scalar, or the schedule's value."""
    rate = learning_rate(count) if callable(learning_rate) else learning_rate
    return jnp.asarray(rate, dtype)


def global_norm(tree: Any) -> jax.Array:
    """L2 norm of all leaves together, in at least float32.

    See `squared_norm`, which returns the sum of squares with it.
    """
    return squared_norm(tree)[1]


def squared_norm(tree: Any) -> tuple[jax.Array, jax.Array]:
    """`(sum of squares, norm)` of all leaves together, in at least float32.

    The sum of squares of a finite gradient overflows from a norm of about
    1.8e19 in float32 (1.3e154 in float64): the norm is then infinite, and the
    update goes on (divergence is judged by the loss and the updated params,
    not by the norm). An infinite or NaN gradient has an infinite or NaN norm.

    The square root is guarded so that its derivative at a zero gradient is 0,
    not NaN: `jax.grad` through a converged run stays finite.
    """
    leaves = jax.tree.leaves(tree)
    dtype = jnp.result_type(jnp.float32, *leaves)
    squares = sum(jnp.sum(jnp.square(x.astype(dtype))) for x in leaves)
    positive = squares > 0
    norm = jnp.where(positive, jnp.sqrt(jnp.where(positive, squares, 1)), squares)
    return squares, norm


def apply_optimizer(
    transformation: optax.GradientTransformation,
    loss: Callable[..., jax.Array],
    params: Any,
    opt_state: Any,
    value: jax.Array,
    grads: Any,
    data: tuple,
) -> tuple[Any, Any]:
    """One update of `transformation`: the new params and optimizer state.

    An optimizer that wants more than the gradient
    (`GradientTransformationExtraArgs`) gets the extra arguments its `update`
    names, by the names optax uses: `value` (the loss), `grad`, `value_fn` and
    `obj_fn` (the loss as a function of the params; `optax.lbfgs`, optax's line
    searches, `optax.contrib.sophia`) and `grad_fn` (the gradient as a function
    of the params and a batch index; `optax.contrib.sam`). An `update` that
    takes `**kwargs` gets all of them but `grad_fn` (and `obj_fn` when it
    refuses it); one that names none gets none.
    """
    if not isinstance(transformation, optax.GradientTransformationExtraArgs):
        updates, opt_state = transformation.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    def value_fn(p: Any) -> jax.Array:
        return loss(p, *data)

    extras = {
        "value": value,
        "grad": grads,
        "value_fn": value_fn,
        "obj_fn": value_fn,
        "grad_fn": lambda p, _: jax.grad(value_fn)(p),
    }
    accepted = _accepted(transformation.update, extras)
    try:
        updates, new_state = transformation.update(grads, opt_state, params, **accepted)
    except TypeError as error:
        # optax's line searches pass what they do not use on to `value_fn`,
        # which refuses `obj_fn`: those get the other three.
        if "obj_fn" not in str(error) or "obj_fn" not in accepted:
            raise
        del accepted["obj_fn"]
        updates, new_state = transformation.update(grads, opt_state, params, **accepted)
    return optax.apply_updates(params, updates), new_state


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


def make_step(
    loss: Callable[..., jax.Array],
    *,
    learning_rate: Any = None,
    optimizer: Any = None,
    tol: Any = None,
    hyperparams: dict[str, Any] | None = None,
    trainable: Any = None,
    has_aux: bool = False,
) -> Step:
    r"""Builds one pure update of gradient descent, the step that `fit` scans.

    With `learning_rate`, one update is plain gradient descent

    .. math:: \theta \leftarrow \theta - \eta \nabla_\theta L(\theta),

    with `optimizer`, it is that optax transformation (an object such as
    `optax.adam(1e-3)`, or a factory such as `optax.adam` built with
    `learning_rate` and `hyperparams`). With `learning_rate="auto"` (or
    `jaxgd.backtracking(...)`) the step size :math:`\eta` of each update is
    chosen by a backtracking line search. Either way the update is guarded: a
    non-finite loss, gradient or updated params sets `diverged` and keeps the
    params; a gradient norm <= `tol` sets `converged` and keeps them too (so
    such a step never also diverges); a line search that finds no decrease
    sets `stalled`; once any is set every later update is a no-op that
    reports NaN. One `update` equals one step of `jaxgd.fit` with the same
    arguments: `fit` runs this very update in its loop.

    Params may be a model: only floating-point arrays (or the leaves
    `trainable` selects) are trained, the other leaves pass through. A model
    with leaves that are not arrays (an equinox `Module`'s activation) cannot
    cross `jax.jit` as it is: jit `update` with `equinox.filter_jit`.

    Args:
        loss: `loss(params, *data) -> scalar` (or `(scalar, aux)` with
            `has_aux`).
        learning_rate: step size of plain gradient descent: a float, a 0-d
            array, an optax schedule `count -> rate`, or `"auto"` /
            `jaxgd.backtracking(...)` for a line search; or the learning rate
            of an optimizer factory.
        optimizer: an `optax.GradientTransformation`, or an optax factory
            such as `optax.adam`.
        tol: stop once the global L2 norm of the gradient is <= tol.
        hyperparams: with a factory, its other arguments by name.
        trainable: which leaves of the params to train: a predicate
            `leaf -> bool` or a pytree of bools; by default every
            floating-point array.
        has_aux: `loss` returns `(value, aux)`; `StepInfo.aux` holds the aux.

    Returns:
        A `Step(init, update)`: `init(params, opt_state=None) -> StepState` and
        `update(state, *data) -> (StepState, StepInfo)`, both pure.

    Raises:
        ValueError: if not exactly one rule is given, or a concrete
            `learning_rate` is not positive and finite.
        TypeError: if `optimizer` is neither an optax transformation nor a
            factory.

    Examples:
        >>> import jax, jax.numpy as jnp, jaxgd
        >>> step = jaxgd.make_step(lambda x: jnp.sum(x**2), learning_rate=0.25)
        >>> state, info = jax.jit(step.update)(step.init(jnp.array([2.0])))
        >>> state.params, info.loss
        (Array([1.], dtype=float32), Array(4., dtype=float32))
    """
    if not callable(loss):
        raise TypeError(
            f"loss must be a function loss(params, *data); got "
            f"{_validate.describe(loss)}."
        )
    _validate.check_tol(tol)
    if not isinstance(has_aux, bool):
        raise TypeError(f"has_aux must be a bool; got {has_aux!r}.")
    # Numbers stay as given: the params' dtype is not known yet.
    rule, rate, numbers = _optimizer.prepare(learning_rate, optimizer, hyperparams)
    guarded = guarded_update(
        loss,
        tol=tol,
        trainable=trainable,
        has_aux=has_aux,
        **_optimizer.transformation(rule, rate, numbers),
    )

    def update(state: StepState, *data: Any) -> tuple[StepState, StepInfo]:
        trained, frozen, constants = _params.split(state.params, trainable)
        _validate.check_loss_output(
            _params.objective(loss, frozen, constants),
            trained,
            data,
            has_aux=has_aux,
        )
        return guarded.update(state, data)

    return Step(guarded.init, update)


class Guarded(NamedTuple):
    """The one guarded update, as `fit`'s loop uses it.

    Attributes:
        init: `init(params, opt_state=None) -> StepState`.
        update: `update(state, data, active=True) -> (StepState, StepInfo)`,
            `make_step`'s update with `data` as a tuple. A step that is not
            `active` (the loop passes False for the steps it runs past the end
            of a run) applies nothing, evaluates nothing and reports NaN.
        step_sizes: `step_sizes(opt_state, num_steps, dtype, every=1)`, the
            step size of updates 0, every, 2 every, ... of the next
            `num_steps` from `opt_state` when the rule fixes them in advance
            (a rate, a schedule; NaN for an optimizer), None when only running
            finds them (a line search): then `StepInfo.step_size` is the
            record to keep.
    """

    init: Callable[..., StepState]
    update: Callable[..., tuple[StepState, StepInfo]]
    step_sizes: Callable[..., jax.Array | None]


def guarded_update(
    loss: Callable[..., jax.Array],
    *,
    learning_rate: Any = None,
    optimizer: optax.GradientTransformation | None = None,
    tol: Any = None,
    trainable: Any = None,
    has_aux: bool = False,
    lane_axis: str | None = None,
) -> Guarded:
    """Builds the one guarded update, for `make_step` and `fit`'s loop.

    The arguments are those of `make_step`, already checked: the rule is a
    learning rate (or a line search), or an optax object. Under `sweep` and
    `multistart`, `lane_axis` names their lanes' axis.
    """
    line_search = _linesearch.line_search_or_none(learning_rate)
    if line_search is not None:
        init_opt_state = functools.partial(_linesearch.init, line_search)
    else:
        if optimizer is None:
            transformation = gradient_descent(learning_rate)
        else:
            transformation = optimizer
        init_opt_state = transformation.init

    def init(params: Any, opt_state: Any = None) -> StepState:
        trained, frozen, constants = _params.split(params, trainable)
        expected = jax.eval_shape(init_opt_state, trained)
        if opt_state is None:
            opt_state = init_opt_state(trained)
        else:
            _check_opt_state(opt_state, expected)
        return StepState(
            params=_params.combine(trained, frozen, constants),
            opt_state=opt_state,
            steps_taken=jnp.zeros((), jnp.int32),
            status=jnp.full((), RUNNING, jnp.int32),
            trial_evals=jnp.zeros((), jnp.int32),
        )

    def update(
        state: StepState, data: tuple, active: Any = True
    ) -> tuple[StepState, StepInfo]:
        trained, frozen, constants = _params.split(state.params, trainable)
        objective = _params.objective(loss, frozen, constants)
        if has_aux:
            (value, aux), grads = jax.value_and_grad(objective, has_aux=True)(
                trained, *data
            )
        else:
            value, grads = jax.value_and_grad(objective)(trained, *data)
            aux = None
        squares, grad_norm = squared_norm(grads)
        stopped = state.status != RUNNING
        if active is not True:
            stopped |= ~active
        # A gradient with a NaN or an infinity makes the updated params so; its
        # norm alone could overflow on a finite gradient.
        finite = jnp.isfinite(value)
        converging = (
            finite & (grad_norm <= tol) if tol is not None else jnp.zeros((), bool)
        )
        record = _record_dtype(value)
        stalling = jnp.zeros((), bool)
        tries = jnp.zeros((), jnp.int32)
        if line_search is not None:
            searching = ~stopped & finite & ~converging
            step_size, found, tries, opt_state = _linesearch.search(
                line_search,
                lambda p: _value(objective(p, *data), has_aux),
                trained,
                value,
                grads,
                squares,
                state.opt_state,
                searching,
            )
            stalling = searching & ~found
            params = _linesearch.take_step(trained, grads, step_size)
        else:
            params, opt_state = apply_optimizer(
                transformation,
                lambda p, *d: _value(objective(p, *d), has_aux),
                trained,
                state.opt_state,
                value,
                grads,
                data,
            )
            step_size = (
                rate_at(learning_rate, state.opt_state.count, record)
                if optimizer is None
                else jnp.full((), jnp.nan, record)
            )

        # A step that converges applies no update, so it cannot diverge.
        diverging = ~finite | (~converging & ~_shapes.finite(params))
        apply = ~stopped & ~diverging & ~converging & ~stalling

        def keep(new: Any, old: Any) -> Any:
            return jax.tree.map(lambda n, o: jnp.where(apply, n, o), new, old)

        status = jnp.where(
            stopped,
            state.status,
            jnp.where(
                converging,
                CONVERGED,
                jnp.where(diverging, DIVERGED, jnp.where(stalling, STALLED, RUNNING)),
            ),
        )
        new_state = StepState(
            params=_params.combine(keep(params, trained), frozen, constants),
            opt_state=keep(opt_state, state.opt_state),
            steps_taken=state.steps_taken + apply.astype(jnp.int32),
            status=status.astype(jnp.int32),
            trial_evals=state.trial_evals + tries,
        )
        info = StepInfo(
            loss=jnp.where(stopped, jnp.nan, value).astype(record),
            grad_norm=jnp.where(stopped, jnp.nan, grad_norm),
            step_size=jnp.where(apply, step_size.astype(record), jnp.nan),
            aux=jax.tree.map(
                lambda a: jnp.where(stopped, jnp.nan, a).astype(_aux_dtype(a)), aux
            ),
        )
        return new_state, info

    def step_sizes(
        opt_state: Any, num_steps: int, dtype: Any, every: int = 1
    ) -> jax.Array | None:
        kept = -(-num_steps // every)
        if line_search is not None:
            return None
        if optimizer is not None:
            return jnp.full((kept,), jnp.nan, dtype)
        if callable(learning_rate):
            counts = opt_state.count + every * jnp.arange(kept, dtype=jnp.int32)
            return jax.vmap(lambda c: rate_at(learning_rate, c, dtype))(counts)
        return jnp.full((kept,), learning_rate, dtype)

    return Guarded(init, update, step_sizes)


def nan_info(value: Any, aux: Any, params: Any) -> StepInfo:
    """The `StepInfo` of a step that did not run: NaN, in the dtypes of `update`'s.

    `value` and `aux` are the shapes and dtypes of the loss's outputs, `params`
    the trained params.
    """
    record = _record_dtype(value)
    norm = jnp.result_type(jnp.float32, *jax.tree.leaves(params))
    return StepInfo(
        loss=jnp.full((), jnp.nan, record),
        grad_norm=jnp.full((), jnp.nan, norm),
        step_size=jnp.full((), jnp.nan, record),
        aux=jax.tree.map(lambda a: jnp.full(a.shape, jnp.nan, _aux_dtype(a)), aux),
    )


def _record_dtype(value: Any) -> Any:
    """The dtype of the loss's records: its own dtype, at least float32."""
    dtype = value.dtype if hasattr(value, "dtype") else jnp.asarray(value).dtype
    return jnp.result_type(jnp.float32, dtype)


def _aux_dtype(aux: Any) -> Any:
    """Aux is recorded as floats, so that a stopped step can be NaN."""
    return jnp.result_type(jnp.float32, aux.dtype)


def _value(out: Any, has_aux: bool) -> jax.Array:
    return out[0] if has_aux else out


def _check_opt_state(opt_state: Any, expected: Any) -> None:
    got_leaves, got_tree = jax.tree.flatten(opt_state)
    want_leaves, want_tree = jax.tree.flatten(expected)
    if got_tree != want_tree:
        raise ValueError(
            "opt_state does not match the optimizer's state for these params: "
            f"expected structure {want_tree}, got {got_tree}. Pass the opt_state "
            "of a previous fit with the same optimizer and params."
        )
    for got, want in zip(got_leaves, want_leaves, strict=True):
        if jnp.shape(got) != want.shape:
            raise ValueError(
                "opt_state does not match the optimizer's state for these params: "
                f"a leaf has shape {jnp.shape(got)}, expected {want.shape}."
            )
        dtype = jnp.asarray(got).dtype if not hasattr(got, "dtype") else got.dtype
        if dtype != want.dtype:
            raise TypeError(
                "opt_state does not match the optimizer's state for these params: "
                f"a leaf of shape {want.shape} has dtype {dtype}, expected "
                f"{want.dtype}."
            )
