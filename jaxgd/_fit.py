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
from ._step import (
    GradientDescentState,
    StepState,
    all_finite,
    apply_optimizer,
    global_norm,
    gradient_descent,
    make_step,
)


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


def run(config: Config, inputs: Inputs, *, lanes: bool = False) -> FitResult:
    """The traced body of `fit`: initial state, loop, final loss.

    With `lanes`, for a run that `sweep` or `multistart` vmaps, the steps run
    in one scan instead of chunks (see `CHUNK`).
    """
    _validate.check_loss_output(config.loss, inputs.params, inputs.data)
    chunk = None if lanes else CHUNK
    if config.line_search is None:
        loop = _loop(config, inputs)
    else:
        loop = _line_search_loop(config, inputs, chunk)
    report = _progress.reporter_or_none(config.progress, config.num_steps)

    def one_step(carry: Any, t: jax.Array, batch: tuple) -> tuple:
        carry, record = loop.body(carry, t, batch)
        if report is not None:
            report(t, record.loss)
        trace = carry.params if config.record_params else None
        return carry, (record, trace)

    if config.batch_size is None:
        carry, (records, trace) = _chunked_scan(
            lambda carry, t: one_step(carry, t, inputs.data),
            loop.init,
            config.num_steps,
            chunk,
        )
    else:
        carry, (records, trace) = _mini_batch(
            one_step, loop.init, inputs.data, inputs.key, config
        )
    end, step_sizes = loop.finish(carry, records)

    trajectory = None
    if config.record_params:
        trajectory = jax.tree.map(
            lambda first, rest: jnp.concatenate([first[None], rest]),
            inputs.params,
            trace,
        )
    final_loss = config.loss(end.params, *inputs.data)
    return FitResult(
        params=end.params,
        losses=records.loss,
        grad_norms=records.grad_norm,
        final_loss=final_loss.astype(jnp.result_type(jnp.float32, final_loss)),
        steps_taken=end.steps_taken,
        converged=end.converged,
        diverged=end.diverged,
        trajectory=trajectory,
        opt_state=end.opt_state,
        step_sizes=step_sizes,
        loss_evals=end.loss_evals,
        stalled=end.stalled,
    )


class _Record(NamedTuple):
    """What the loop keeps of every step; NaN from the step after the stop."""

    loss: jax.Array
    grad_norm: jax.Array
    step_size: jax.Array | None


class _Loop(NamedTuple):
    """A loop for `_chunked_scan` or `_mini_batch`: its carry, body and outcome.

    The carry has the current `params`; `finish(carry, records)` gives the
    final `StepState` and the step sizes.
    """

    init: Any
    body: Callable[[Any, jax.Array, tuple], tuple[Any, _Record]]
    finish: Callable[[Any, _Record], tuple[StepState, jax.Array]]


class _Carry(NamedTuple):
    params: Any
    opt_state: Any  # None for plain gradient descent at a constant rate
    steps_taken: jax.Array


def _loop(config: Config, inputs: Inputs) -> _Loop:
    """The loop of every run without a line search, as lean as the contract allows.

    It carries the params, the optimizer state and the count of updates
    applied, nothing more: a run is still going at step `t` exactly when
    `t` updates have been applied, and why it stopped is read afterwards from
    the recorded loss and gradient norm of the step that stopped it. Each step
    is `make_step`'s update (the same arithmetic and the same stops, which a
    test checks against a Python loop of it), without its flags. Plain
    gradient descent at a constant rate carries no optimizer state: its count
    is the number of updates applied.
    """
    if config.optimizer_factory is not None:
        transformation = config.optimizer_factory(inputs.learning_rate)
    elif config.optimizer is not None:
        transformation = config.optimizer
    else:
        transformation = gradient_descent(config.schedule or inputs.learning_rate)
    # The initial state, and the check of a given opt_state, as make_step's.
    start = make_step(config.loss, optimizer=transformation).init(
        inputs.params, inputs.opt_state
    )
    counts_only = config.optimizer is None and config.optimizer_factory is None
    carries_state = not (counts_only and config.schedule is None)
    tol = inputs.tol if config.use_tol else None

    def body(carry: _Carry, t: jax.Array, batch: tuple) -> tuple[_Carry, _Record]:
        value, grads = jax.value_and_grad(config.loss)(carry.params, *batch)
        grad_norm = global_norm(grads)
        opt_state = carry.opt_state if carries_state else start.opt_state
        params, new_state = apply_optimizer(
            transformation, config.loss, carry.params, opt_state, value, grads, batch
        )
        going = (carry.steps_taken == t) & (t < config.num_steps)
        apply = going & jnp.isfinite(value) & jnp.isfinite(grad_norm)
        if tol is not None:
            apply &= ~(grad_norm <= tol)
        apply &= all_finite(params)

        def keep(new: Any, old: Any) -> Any:
            return jax.tree.map(lambda n, o: jnp.where(apply, n, o), new, old)

        carry = _Carry(
            params=keep(params, carry.params),
            opt_state=keep(new_state, carry.opt_state) if carries_state else None,
            steps_taken=carry.steps_taken + apply.astype(jnp.int32),
        )
        record = _Record(
            loss=jnp.where(going, value, jnp.nan).astype(
                jnp.result_type(jnp.float32, value)
            ),
            grad_norm=jnp.where(going, grad_norm, jnp.nan),
            step_size=None,
        )
        return carry, record

    def finish(carry: _Carry, records: _Record) -> tuple[StepState, jax.Array]:
        taken = carry.steps_taken
        stopped = taken < config.num_steps
        converged = jnp.zeros((), bool)
        if tol is not None and config.num_steps:
            # The stopping step recorded its loss and gradient norm.
            last = jnp.minimum(taken, config.num_steps - 1)
            value, grad_norm = records.loss[last], records.grad_norm[last]
            converged = (
                stopped
                & jnp.isfinite(value)
                & jnp.isfinite(grad_norm)
                & (grad_norm <= tol)
            )
        if carries_state:
            opt_state = carry.opt_state
        else:
            count = start.opt_state.count
            limit = jnp.iinfo(jnp.int32).max
            opt_state = GradientDescentState(
                jnp.where(count > limit - taken, limit, count + taken)
            )
        if counts_only:
            rates = _rates(config, inputs, start.opt_state.count)
        else:
            rates = jnp.nan
        applied = jnp.arange(config.num_steps) < taken
        end = StepState(
            params=carry.params,
            opt_state=opt_state,
            steps_taken=taken,
            converged=converged,
            diverged=stopped & ~converged,
            stalled=jnp.zeros((), bool),
            loss_evals=taken + stopped.astype(jnp.int32),
        )
        return end, jnp.where(applied, rates, jnp.nan).astype(records.loss.dtype)

    init = _Carry(
        start.params, start.opt_state if carries_state else None, start.steps_taken
    )
    return _Loop(init, body, finish)


def _rates(config: Config, inputs: Inputs, count: jax.Array) -> jax.Array:
    """The rate of each update of plain gradient descent, from opt_state count."""
    if config.schedule is None:
        return inputs.learning_rate
    return jax.vmap(config.schedule)(
        count + jnp.arange(config.num_steps, dtype=jnp.int32)
    )


def _line_search_loop(config: Config, inputs: Inputs, chunk: int | None) -> _Loop:
    """The loop of a line search: `make_step`'s update and state, as they are."""
    step = make_step(config.loss, learning_rate=config.line_search, tol=inputs.tol)

    padded = _steps_run(config.num_steps, chunk) > config.num_steps

    def body(state: StepState, t: jax.Array, batch: tuple) -> tuple:
        new, info = step.update(state, *batch)
        if padded and config.batch_size is None:  # steps past the end change nothing
            new = jax.tree.map(
                lambda n, o: jnp.where(t < config.num_steps, n, o), new, state
            )
        return new, _Record(info.loss, info.grad_norm, info.step_size)

    def finish(state: StepState, records: _Record) -> tuple[StepState, jax.Array]:
        return state, records.step_size

    start = step.init(inputs.params, inputs.opt_state)
    return _Loop(start, body, finish)


# A single run goes through its steps in chunks of at most this many, each a
# scan writing its own short history: measured on XLA:CPU, a step of a
# 100 x 1 least-squares fit runs 2.4x faster that way than in one scan of 10,000
# steps, and larger problems run as fast either way. Vmapped over lanes, each
# chunk's history is copied out lane-major, transposed, and one scan is
# faster (1.5x for 1,024 scalar lanes), so `sweep` and `multistart` use one.
CHUNK = 128


def _chunking(num_steps: int, chunk: int | None) -> tuple[int, int]:
    """The number of chunks and their length: equal, at most `chunk` steps each."""
    if chunk is None or num_steps <= chunk:
        return 1, num_steps
    chunks = -(-num_steps // chunk)
    return chunks, -(-num_steps // chunks)


def _steps_run(num_steps: int, chunk: int | None) -> int:
    """How many steps `_chunked_scan` runs: num_steps, or up to a chunk count more."""
    chunks, size = _chunking(num_steps, chunk)
    return chunks * size


def _chunked_scan(
    body: Callable, state: Any, num_steps: int, chunk: int | None
) -> tuple:
    """`lax.scan(body, state, arange(num_steps))`, in chunks of <= `chunk` steps.

    The chunks are equal, so the last may run past `num_steps`, by fewer steps
    than there are chunks (under 1% of them): `body(state, t)` must leave the
    state as it is for `t >= num_steps`, and what it returns for those steps
    is dropped.
    """
    chunks, size = _chunking(num_steps, chunk)
    steps = jnp.arange(size, dtype=jnp.int32)
    if chunks == 1:
        return jax.lax.scan(body, state, steps)

    def one_chunk(state: Any, first: jax.Array) -> tuple:
        return jax.lax.scan(body, state, first + steps)

    starts = size * jnp.arange(chunks, dtype=jnp.int32)
    state, ys = jax.lax.scan(one_chunk, state, starts)
    ys = jax.tree.map(
        lambda y: y.reshape((chunks * size, *y.shape[2:]))[:num_steps], ys
    )
    return state, ys


def _mini_batch(
    one_step: Callable, state: Any, data: tuple, key: jax.Array, config: Config
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

    def epoch(state: Any, e: jax.Array, updates: int):
        order = jax.random.permutation(jax.random.fold_in(key, e), n)

        def body(state: Any, i: jax.Array):
            rows = jax.lax.dynamic_slice_in_dim(order, i * batch_size, batch_size)
            batch = jax.tree.map(lambda a: jnp.take(a, rows, axis=0), data)
            return one_step(state, e * per_epoch + i, batch)

        return jax.lax.scan(body, state, jnp.arange(updates, dtype=jnp.int32))

    full, rest = divmod(config.num_steps, per_epoch)
    state, ys = jax.lax.scan(
        lambda s, e: epoch(s, e, per_epoch), state, jnp.arange(full, dtype=jnp.int32)
    )
    ys = jax.tree.map(lambda y: y.reshape((full * per_epoch, *y.shape[2:])), ys)
    if rest:
        state, tail = epoch(state, jnp.asarray(full, jnp.int32), rest)
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
    `tol` sets `converged` likewise (that step applies no update, so it never
    also diverges), and a line search that finds no decrease
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
