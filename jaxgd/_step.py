"""One update of gradient descent: the building block that `fit` scans."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from . import _checks, _params, _rules

# Why a run stopped, in `StepState.status`. An interrupted run raises
# KeyboardInterrupt and returns nothing; a paused step (one the loop runs past
# the end of a period or of the run) applies nothing and records NaN.
RUNNING, CONVERGED, DIVERGED, STALLED, STOPPED_EARLY, INTERRUPTED, PAUSED = range(7)


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

    $$
    \theta \leftarrow \theta - \eta \nabla_\theta L(\theta),
    $$

    with `optimizer`, it is that optax transformation (an object, or a factory
    built with `learning_rate` and `hyperparams`); with `learning_rate="auto"`
    each $\eta$ is chosen by a backtracking line search. The update is
    guarded as `fit`'s is: a non-finite loss, gradient or updated params sets
    `diverged`, a gradient norm <= `tol` sets `converged`, a search that finds
    no decrease sets `stalled`, and from then on every update is a no-op that
    reports NaN. `fit` runs this very update in its loop.

    Params may be a model: only floating-point arrays (or the leaves
    `trainable` selects) are trained. A model with leaves that are not arrays
    (an equinox `Module`'s activation) crosses `jax.jit` only with
    `equinox.filter_jit`; to scan it yourself, split it with
    `arrays, static = eqx.partition(model, eqx.is_array)` and make the step of
    `lambda arrays, *data: loss(eqx.combine(arrays, static), *data)` (the
    "Optimizers and models" page of the documentation runs it).

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
    _checks.function(loss, "loss", "loss(params, *data)")
    _checks.tol(tol)
    _checks.flag(has_aux, "has_aux")
    # Numbers stay as given: the params' dtype is not known yet.
    rule, rate, numbers = _rules.prepare(learning_rate, optimizer, hyperparams)
    step = build(
        loss,
        _rules.build(rule, rate, numbers),
        tol=tol,
        has_aux=has_aux,
        trainable=trainable,
    )

    def update(state: StepState, *data: Any) -> tuple[StepState, StepInfo]:
        trained, frozen, constants = _params.split(state.params, trainable)
        _checks.loss_output(
            _params.objective(loss, frozen, constants),
            trained,
            data,
            has_aux=has_aux,
        )
        return step.update(state, *data)

    return Step(step.init, update)


def build(
    loss: Callable[..., Any],
    transformation: optax.GradientTransformation,
    *,
    tol: Any = None,
    has_aux: bool = False,
    trainable: Any = None,
) -> Step:
    """The one guarded update, for `make_step` and `fit`'s loop.

    The arguments are those of `make_step`, already checked, with the rule
    built into an optax transformation. Everything a run knows about one
    update is decided here: the loss and gradient, the rule's update, and
    whether it is applied (a non-finite loss or params, `tol`, a search that
    found no decrease, a run that has stopped or a step the loop pauses).
    """

    def init(params: Any, opt_state: Any = None) -> StepState:
        trained, frozen, constants = _params.split(params, trainable)
        if opt_state is None:
            opt_state = transformation.init(trained)
        else:
            _check_opt_state(opt_state, jax.eval_shape(transformation.init, trained))
        return StepState(
            params=_params.combine(trained, frozen, constants),
            opt_state=opt_state,
            steps_taken=jnp.zeros((), jnp.int32),
            status=jnp.full((), RUNNING, jnp.int32),
            trial_evals=jnp.zeros((), jnp.int32),
        )

    def update(state: StepState, *data: Any) -> tuple[StepState, StepInfo]:
        trained, frozen, constants = _params.split(state.params, trainable)
        objective = _params.objective(loss, frozen, constants)
        if has_aux:
            (value, aux), grads = jax.value_and_grad(objective, has_aux=True)(
                trained, *data
            )
        else:
            value, grads = jax.value_and_grad(objective)(trained, *data)
            aux = None
        _, grad_norm = squared_norm(grads)
        stopped = state.status != RUNNING
        finite = jnp.isfinite(value)
        if tol is None:
            converging = jnp.zeros((), bool)
        else:
            converging = finite & (grad_norm <= tol)
        # The rule sees a NaN loss where its update will not be applied, so
        # that a line search searches nothing there.
        going = ~stopped & ~converging
        updates, opt_state = _rules.update(
            transformation,
            grads,
            state.opt_state,
            trained,
            value=jnp.where(going, value, jnp.nan),
            value_fn=lambda p: _value(objective(p, *data), has_aux),
        )
        params = optax.apply_updates(trained, updates)
        record = _record_dtype(value)
        observed = _rules.observe(opt_state, record)
        stalling = going & finite & ~observed.found
        # A step that converges applies no update, so it cannot diverge. A
        # gradient with a NaN or an infinity makes the updated params so; its
        # norm alone could overflow on a finite gradient.
        diverging = ~finite | (~converging & ~_checks.finite(params))
        apply = ~stopped & ~diverging & ~converging & ~stalling

        def keep(new: Any, old: Any) -> Any:
            return jax.tree.map(lambda n, o: jnp.where(apply, n, o), new, old)

        # Nested selects, not `jnp.select`: its argmax over the conditions is
        # a reduction, one more kernel in every step.
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
            trial_evals=state.trial_evals + observed.trials,
        )
        info = StepInfo(
            loss=jnp.where(stopped, jnp.nan, value).astype(record),
            grad_norm=jnp.where(stopped, jnp.nan, grad_norm),
            step_size=jnp.where(apply, observed.step_size, jnp.nan),
            aux=jax.tree.map(
                lambda a: jnp.where(stopped, jnp.nan, a).astype(_record_dtype(a)), aux
            ),
        )
        return new_state, info

    return Step(init, update)


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
        aux=jax.tree.map(lambda a: jnp.full(a.shape, jnp.nan, _record_dtype(a)), aux),
    )


def _record_dtype(value: Any) -> Any:
    """The dtype of the loss's (and aux's) records: at least float32, so NaN fits."""
    dtype = value.dtype if hasattr(value, "dtype") else jnp.asarray(value).dtype
    return jnp.result_type(jnp.float32, dtype)


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
