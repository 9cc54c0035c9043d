"""`fit`: the whole gradient-descent loop as one compiled `lax.scan`."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from . import _linesearch, _progress, _sharding, _validate
from ._result import FitResult
from ._step import StepState, make_step


class Config(NamedTuple):
    """Everything static about a run: what a new value of it recompiles."""

    loss: Callable[..., jax.Array]
    optimizer: optax.GradientTransformation | None
    optimizer_factory: Callable[[jax.Array], optax.GradientTransformation] | None
    schedule: Callable[[jax.Array], jax.Array] | None
    line_search: _linesearch.Backtracking | None
    num_steps: int
    batch_size: int | None
    use_tol: bool
    record_params: bool
    progress: bool


class Inputs(NamedTuple):
    """Everything traced about a run: new values of it never recompile."""

    params: Any
    data: tuple[Any, ...]
    learning_rate: jax.Array | None
    key: jax.Array | None
    tol: jax.Array | None
    opt_state: Any


def prepare(
    loss: Callable[..., jax.Array],
    params: Any,
    data: tuple[Any, ...],
    *,
    learning_rate: Any = None,
    optimizer: Any = None,
    num_steps: Any = 1000,
    batch_size: Any = None,
    key: Any = None,
    tol: Any = None,
    record_params: Any = False,
    progress: Any = False,
    opt_state: Any = None,
    optimizer_factory: Any = None,
) -> tuple[Config, Inputs]:
    """Validates the arguments of `fit` and splits them into static and traced."""
    if not callable(loss):
        raise TypeError(
            f"loss must be a function loss(params, *data); got "
            f"{_validate.describe(loss)}."
        )
    num_steps = _validate.check_int(num_steps, "num_steps", minimum=0)
    for name, flag in (("record_params", record_params), ("progress", progress)):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be a bool; got {flag!r}.")
    params = _validate.check_params(params)
    float_dtype = jnp.result_type(jnp.float32, *jax.tree.leaves(params))
    schedule = None
    if optimizer_factory is None:
        _validate.check_one_of(learning_rate, optimizer)
    line_search = _linesearch.line_search_or_none(learning_rate)
    if optimizer is not None:
        _validate.check_optimizer(optimizer)
    elif line_search is not None:
        learning_rate = None
    elif callable(learning_rate):
        schedule, learning_rate = learning_rate, None
    elif learning_rate is not None:
        _validate.check_learning_rate(learning_rate)
        learning_rate = jnp.asarray(learning_rate, float_dtype)
    _validate.check_tol(tol)
    batch_size = _validate.check_batching(batch_size, key, data)
    _sharding.check_data_sharding(data)
    config = Config(
        loss=loss,
        optimizer=optimizer,
        optimizer_factory=optimizer_factory,
        schedule=schedule,
        line_search=line_search,
        num_steps=num_steps,
        batch_size=batch_size,
        use_tol=tol is not None,
        record_params=record_params,
        progress=progress,
    )
    inputs = Inputs(
        params=params,
        data=tuple(data),
        learning_rate=learning_rate,
        key=key,
        tol=None if tol is None else jnp.asarray(tol, float_dtype),
        opt_state=opt_state,
    )
    return config, inputs


def run(config: Config, inputs: Inputs) -> FitResult:
    """The traced body of `fit`: initial state, scan, final loss."""
    if config.optimizer_factory is not None:
        step = make_step(
            config.loss,
            optimizer=config.optimizer_factory(inputs.learning_rate),
            tol=inputs.tol,
        )
    else:
        static_rate = config.line_search or config.schedule
        step = make_step(
            config.loss,
            learning_rate=inputs.learning_rate if static_rate is None else static_rate,
            optimizer=config.optimizer,
            tol=inputs.tol,
        )
    report = _progress.reporter_or_none(config.progress, config.num_steps)

    def one_step(state: StepState, t: jax.Array | None, batch: tuple) -> tuple:
        state, info = step.update(state, *batch)
        if report is not None:
            report(t, info.loss)
        trace = state.params if config.record_params else None
        if config.line_search is None:  # `_record` rebuilds it after the loop
            info = info._replace(step_size=None)
        return state, (info, trace)

    start = step.init(inputs.params, inputs.opt_state)
    if config.batch_size is None:
        state, (infos, trace) = _full_batch(one_step, start, inputs.data, config)
    else:
        state, (infos, trace) = _mini_batch(
            one_step, start, inputs.data, inputs.key, config
        )
    step_sizes, loss_evals = _record(config, inputs, start, state, infos)

    trajectory = None
    if config.record_params:
        trajectory = jax.tree.map(
            lambda first, rest: jnp.concatenate([first[None], rest]),
            inputs.params,
            trace,
        )
    final_loss = config.loss(state.params, *inputs.data)
    return FitResult(
        params=state.params,
        losses=infos.loss,
        grad_norms=infos.grad_norm,
        final_loss=final_loss.astype(jnp.result_type(jnp.float32, final_loss)),
        steps_taken=state.steps_taken,
        converged=state.converged,
        diverged=state.diverged,
        trajectory=trajectory,
        opt_state=state.opt_state,
        step_sizes=step_sizes,
        loss_evals=loss_evals,
        stalled=state.stalled,
    )


def _record(
    config: Config, inputs: Inputs, start: StepState, end: StepState, infos: Any
) -> tuple[jax.Array, jax.Array]:
    """The step sizes and the count of loss evaluations of a run.

    A line search records them from inside the loop. Any other run rebuilds
    them afterwards, so that the loop is as lean as before they existed: the
    updates applied are the first `steps_taken` (a run that stops stays
    stopped), each at the rate of its count, and every step attempted, those
    and the one that stopped the run, evaluates the loss once.
    """
    if config.line_search is not None:
        return infos.step_size, end.loss_evals
    if config.optimizer is not None or config.optimizer_factory is not None:
        rates = jnp.nan
    elif config.schedule is not None:
        counts = start.opt_state.count + jnp.arange(config.num_steps, dtype=jnp.int32)
        rates = jax.vmap(config.schedule)(counts)
    else:
        rates = inputs.learning_rate
    applied = jnp.arange(config.num_steps) < end.steps_taken
    step_sizes = jnp.where(applied, rates, jnp.nan).astype(infos.loss.dtype)
    stopped = end.converged | end.diverged
    return step_sizes, end.steps_taken + stopped.astype(jnp.int32)


def _full_batch(one_step: Callable, state: StepState, data: tuple, config: Config):
    if config.progress:
        return jax.lax.scan(
            lambda s, t: one_step(s, t, data), state, jnp.arange(config.num_steps)
        )
    return jax.lax.scan(
        lambda s, _: one_step(s, None, data), state, None, length=config.num_steps
    )


def _mini_batch(
    one_step: Callable, state: StepState, data: tuple, key: jax.Array, config: Config
):
    """Mini-batch SGD: a fresh permutation of axis 0 every epoch.

    An epoch is `n // batch_size` updates; the `n % batch_size` samples left at
    the end of each epoch's permutation are not used in that epoch (a fresh
    permutation draws them into the next), so every update sees exactly
    `batch_size` samples.
    """
    batch_size = config.batch_size
    n = _validate.num_samples(data)
    per_epoch = n // batch_size

    def epoch(state: StepState, e: jax.Array, updates: int):
        order = jax.random.permutation(jax.random.fold_in(key, e), n)

        def body(state: StepState, i: jax.Array):
            rows = jax.lax.dynamic_slice_in_dim(order, i * batch_size, batch_size)
            batch = jax.tree.map(lambda a: jnp.take(a, rows, axis=0), data)
            return one_step(state, e * per_epoch + i, batch)

        return jax.lax.scan(body, state, jnp.arange(updates))

    full, rest = divmod(config.num_steps, per_epoch)
    state, ys = jax.lax.scan(
        lambda s, e: epoch(s, e, per_epoch), state, jnp.arange(full)
    )
    ys = jax.tree.map(lambda y: y.reshape((full * per_epoch, *y.shape[2:])), ys)
    if rest:
        state, tail = epoch(state, jnp.asarray(full), rest)
        ys = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), ys, tail)
    return state, ys


@functools.partial(jax.jit, static_argnums=0)
def _run_jit(config: Config, inputs: Inputs) -> FitResult:
    return run(config, inputs)


def fit(
    loss: Callable[..., jax.Array],
    params: Any,
    *data: Any,
    learning_rate: Any = None,
    optimizer: optax.GradientTransformation | None = None,
    num_steps: int = 1000,
    batch_size: int | None = None,
    key: jax.Array | None = None,
    tol: float | None = None,
    record_params: bool = False,
    progress: bool = False,
    opt_state: Any = None,
) -> FitResult:
    r"""Minimises `loss` by gradient descent in one compiled `lax.scan`.

    With `learning_rate` every step is

    .. math:: \theta_{t+1} = \theta_t - \eta_t \nabla_\theta L(\theta_t),

    with `optimizer` it is that optax transformation. With
    `learning_rate="auto"` each :math:`\eta_t` is chosen by an Armijo
    backtracking line search (see `jaxgd.backtracking`), inside the same
    compiled loop, and recorded in `step_sizes`. The whole loop is one
    `jax.jit`-compiled scan of `num_steps` updates; the learning rate, the data
    values and the initial params are traced, so new values of the same shapes
    never recompile. A new `loss` function object (e.g. a fresh lambda) does.

    A step whose loss, gradient or updated params is non-finite sets
    `diverged` and applies no update, from that step on; a gradient norm <=
    `tol` sets `converged` likewise, and a line search that finds no decrease
    sets `stalled`. Nothing raises inside the compiled loop:
    call `FitResult.raise_if_diverged()` to turn divergence into an error.

    Args:
        loss: `loss(params, *data) -> scalar`, a pure function.
        params: initial parameters, any pytree of floating arrays.
        *data: arrays passed to `loss` after params, e.g. `X: (n_samples,
            n_features)`, `y: (n_samples, n_outputs)`; may be empty.
        learning_rate: plain gradient descent with this step size: a float, a
            0-d array or an optax schedule `count -> rate`; or `"auto"` (or
            `jaxgd.backtracking(...)` for its options) to choose the step of
            every update by a line search. With `batch_size`, the search uses
            the mini-batch's loss.
        optimizer: any `optax.GradientTransformation`, instead of
            `learning_rate`.
        num_steps: number of updates.
        batch_size: mini-batch SGD: each epoch draws a fresh permutation of
            axis 0 of every data array (the same for all of them) and takes
            `n_samples // batch_size` batches of exactly `batch_size` rows;
            the remainder of each permutation waits for the next epoch.
            `num_steps` counts updates, not epochs.
        key: a `jax.random` key for the permutations; required with
            `batch_size`.
        tol: stop once the global L2 norm of the gradient is <= tol.
        record_params: also return the params after every step.
        progress: show a progress bar (tqdm when installed), updated about 100
            times per run from inside the compiled loop.
        opt_state: optimizer state to resume from, e.g. the `opt_state` of a
            previous `FitResult`.

    Returns:
        A `FitResult`.

    Raises:
        ValueError: for bad shapes, counts or concrete values, naming the
            argument and what was received.
        TypeError: for arguments of the wrong kind (an integer params leaf, a
            non-scalar or integer loss, an optimizer that is not optax's).

    Examples:
        The chapter's one-dimensional ball, rolling down :math:`y = (x - 3)^2`:

        >>> import jax.numpy as jnp, jaxgd
        >>> result = jaxgd.fit(lambda x: (x - 3.0) ** 2, jnp.array(0.0),
        ...                    learning_rate=0.1, num_steps=100)
        >>> round(float(result.params), 4), result.losses.shape
        (3.0, (100,))

        Without choosing a rate: the line search finds the step to the bottom.

        >>> auto = jaxgd.fit(lambda x: (x - 3.0) ** 2, jnp.array(0.0),
        ...                  learning_rate="auto", num_steps=100, tol=1e-6)
        >>> float(auto.params), auto.step_sizes[0].item(), int(auto.loss_evals)
        (3.0, 0.5, 4)
    """
    config, inputs = prepare(
        loss,
        params,
        data,
        learning_rate=learning_rate,
        optimizer=optimizer,
        num_steps=num_steps,
        batch_size=batch_size,
        key=key,
        tol=tol,
        record_params=record_params,
        progress=progress,
        opt_state=opt_state,
    )
    return _run_jit(config, inputs)
