"""The one loop of every run: the steps in chunks, a chunk skipped once all is done.

A run of `num_steps` updates is a `lax.scan` over chunks of at most `CHUNK`
steps, each chunk itself a `lax.scan` of the one guarded update of `_step`.
Before a chunk runs, a `lax.cond` asks whether the run is still going (under
`sweep` and `multistart`: whether any lane is, a sum over the named lane
axis); when nothing is, the chunk is skipped, so a run that stops at step `s`
costs `s` steps plus at most one chunk. A `cond` inside a `scan`, unlike a
`while_loop`, can be differentiated in reverse mode, and the steps of every
chunk are rematerialised (`jax.checkpoint`): the backward pass keeps one state
per chunk and recomputes the steps of one chunk at a time.

Each chunk writes its records (the loss, the gradient norm, and the params,
step sizes or aux where asked) into history buffers carried by the loop, at
the chunk's place, and with `history_every=k` only those of steps 0, k, 2k,
...; a skipped chunk leaves them NaN. Under a lane axis the
histories of all lanes are kept together, step by step (a step's records of
every lane side by side), as the steps produce them; each lane takes its own
column once the loop is over. Kept lane by lane instead, every chunk would
transpose its records into place. Evaluations happen at the
start of a period of steps: before updates 0, k, 2k, ... with a validation
set (`validation_every=k`), else at the start of every chunk. There the
validation loss is recorded, the best params kept and patience counted, and
the host is told (the user's `callback` and the progress bar). A period
longer than a chunk is split into equal chunks; the few steps that then fall
past the end of a period or of the run are not `active`: they apply nothing,
and the next period's records overwrite theirs.

Under the user's own `jax.vmap` the predicate of each `cond` is batched, and
JAX runs both branches and selects: the results are the same, only the
saving is lost.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from . import _interrupt, _report, _validate
from ._step import INTERRUPTED, RUNNING, STOPPED_EARLY, StepInfo, StepState

# The longest chunk. Short scans run faster on XLA:CPU and a stopped run
# wastes less; benchmarks/RESULTS.md has the measurements behind the value.
CHUNK = 128
# Chunks in a group, skipped together; runs of more chunks are grouped.
GROUP = 1024


class Validation(NamedTuple):
    """What to watch on a validation set; `loss(params)` closes over its data."""

    loss: Callable[[Any], jax.Array]
    every: int
    patience: int | None
    restore_best: bool


class Watch(NamedTuple):
    """The loop's own state for validation and early stopping."""

    best_loss: jax.Array
    best_step: jax.Array
    since_best: jax.Array  # evaluations in a row without a new lowest loss
    best: Any  # (params, opt_state) at the lowest loss, with restore_best


class History(NamedTuple):
    """The records of a run: one entry per step (per evaluation for validation)."""

    infos: StepInfo  # fields that are not recorded are None
    trajectory: Any  # the initial params, then the params after each update
    validation: jax.Array | None
    written: jax.Array  # steps covered by chunks, run or skipped one by one


class Blocks(NamedTuple):
    """Which histories take each chunk's records as one block, in place."""

    infos: bool
    trajectory: bool


class _Records(NamedTuple):
    """What one chunk recorded (NaN where it was skipped)."""

    infos: StepInfo
    trajectory: Any
    validation: jax.Array | None  # at the start of a period
    going: jax.Array  # whether the run was going when the chunk began


class Outcome(NamedTuple):
    """What the loop hands back to `fit`."""

    state: StepState
    infos: StepInfo  # every recorded field (num_steps,)
    trajectory: Any  # (num_steps + 1, ...) or None
    validation_losses: jax.Array | None
    watch: Watch | None


class Layout(NamedTuple):
    """How `num_steps` are cut: `periods` periods of `per_period` chunks."""

    period: int
    chunk: int
    per_period: int
    periods: int


def layout(num_steps: int, every: int | None) -> Layout:
    """Equal chunks of at most `CHUNK` steps; a period is `every` steps, or a chunk."""
    if every is None:
        chunks = -(-num_steps // CHUNK)
        size = -(-num_steps // chunks)
        return Layout(size, size, 1, chunks)
    per_period = -(-every // CHUNK)
    return Layout(every, -(-every // per_period), per_period, -(-num_steps // every))


class _Carry(NamedTuple):
    state: StepState
    watch: Watch | None
    order: jax.Array | None  # the current epoch's permutation, with mini-batches


def iterate(
    update: Callable[..., tuple[StepState, StepInfo]],
    state: StepState,
    data: tuple,
    *,
    num_steps: int,
    skipped: StepInfo,
    batch_size: int | None = None,
    key: jax.Array | None = None,
    validation: Validation | None = None,
    reporter: _report.Reporter | None = None,
    record_params: bool = False,
    history_every: int = 1,
    interruptible: int = 0,
    lane_axis: str | None = None,
) -> Outcome:
    """Runs `update(state, batch, active)` for `num_steps` steps.

    Args:
        update: the guarded update of `_step.guarded_update`.
        state: the initial `StepState`.
        data: the data arrays, whole.
        num_steps: updates to run.
        skipped: the `StepInfo` of a step that did not run (NaN), with None in
            the fields not to record.
        batch_size: mini-batches of this many rows, a fresh permutation of
            axis 0 every epoch (with `key`); None for full batches.
        key: the key of the permutations.
        validation: what to evaluate on a validation set, or None.
        reporter: the host's consumers of each evaluation, or None.
        record_params: also return the params after every update.
        history_every: keep the records of steps 0, k, 2k, ... only (and the
            params after 0, k, 2k, ... updates).
        interruptible: before every this many chunks, ask the host whether
            Ctrl-C was pressed, and stop if it was; 0 never asks.
        lane_axis: the name of the vmapped lane axis of `sweep` and
            `multistart`, over which "still going" is reduced.

    Returns:
        The `Outcome`.
    """
    batch, order = _batches(data, batch_size, key)
    watch = None if validation is None else _initial_watch(validation, state)
    lanes = _Lanes(lane_axis)
    if num_steps == 0:
        history = _initial_history(
            skipped, state, validation, _lengths(0, 1), 0, record_params, lanes
        )
        return _outcome(_Carry(state, watch, order), history, lanes, 0)
    plan = layout(num_steps, None if validation is None else validation.every)
    chunks = plan.periods * plan.per_period
    # The steps the chunks cover, from 0: at least `num_steps`.
    reach = (plan.periods - 1) * plan.period + plan.per_period * plan.chunk
    # With every step kept, a chunk's records are one block of the histories,
    # written in place; the histories then reach as far as the chunks do and
    # are cut to `num_steps` after the loop. The trajectory is cut only where
    # that costs no copy, when the chunks end exactly at `num_steps`.
    blocks = history_every == 1 and chunks <= GROUP
    in_place = Blocks(infos=blocks, trajectory=blocks and reach == num_steps)
    records, params = _lengths(num_steps, history_every)
    history = _initial_history(
        skipped,
        state,
        validation,
        (reach if in_place.infos else records, params),
        plan.periods,
        record_params,
        lanes,
    )

    def going(carry: _Carry) -> jax.Array:
        return carry.state.status == RUNNING

    def any_lane(flag: jax.Array) -> jax.Array:
        if lane_axis is None:
            return flag
        return jax.lax.psum(flag.astype(jnp.int32), lane_axis) > 0

    def steps(carry: _Carry, q: jax.Array) -> tuple[_Carry, tuple]:
        """The steps of chunk `q`, after the evaluation that starts a period."""
        period, position = jnp.divmod(q, plan.per_period)
        value = None
        if validation is not None:
            if plan.per_period == 1:
                carry, value = _evaluate(validation, carry)
            else:
                carry, value = jax.lax.cond(
                    position == 0,
                    lambda c: _evaluate(validation, c),
                    lambda c: (c, jnp.full((), jnp.nan, c.watch.best_loss.dtype)),
                    carry,
                )

        def body(carry: _Carry, i: jax.Array) -> tuple[_Carry, tuple]:
            within = position * plan.chunk + i
            t = period * plan.period + within
            active = True
            if plan.chunk * plan.per_period > plan.period:
                active = within < plan.period
            if plan.periods * plan.period > num_steps:
                active = (t < num_steps) & active
            order, rows = batch(carry.order, t)
            state, info = update(carry.state, rows, active)
            info = StepInfo(
                *(None if s is None else x for x, s in zip(info, skipped, strict=True))
            )
            params = state.params if record_params else None
            return _Carry(state, carry.watch, order), (info, params)

        carry, records = jax.lax.scan(
            body, carry, jnp.arange(plan.chunk, dtype=jnp.int32)
        )
        return carry, (records, value)

    steps = jax.checkpoint(steps, prevent_cse=False)

    def run(carry: _Carry, q: jax.Array) -> tuple[_Carry, _Records]:
        was_going = going(carry)
        carry, ((infos, trajectory), value) = steps(carry, q)
        return carry, _Records(infos, trajectory, value, was_going)

    def skip(carry: _Carry, q: jax.Array) -> tuple[_Carry, _Records]:
        del q
        trajectory = None
        if record_params:
            trajectory = jax.tree.map(
                lambda p: jnp.broadcast_to(p, (plan.chunk, *p.shape)),
                carry.state.params,
            )
        value = None
        if validation is not None:
            value = jnp.full((), jnp.nan, carry.watch.best_loss.dtype)
        infos = jax.tree.map(lambda x: jnp.full((plan.chunk,), x), skipped)
        return carry, _Records(infos, trajectory, value, jnp.zeros((), bool))

    def chunk(loop: tuple[_Carry, History], q: jax.Array) -> tuple:
        carry, history = loop
        if chunks == 1:
            carry, records = run(carry, q)
        else:
            if interruptible:
                due = any_lane(going(carry))
                if interruptible > 1:
                    due &= q % interruptible == 0
                carry = _ask_host(carry, due)
            proceed = any_lane(going(carry))
            if chunks % GROUP and chunks > GROUP:  # the last group runs past the end
                proceed &= q < chunks
            carry, records = jax.lax.cond(proceed, run, skip, carry, q)
        # The histories are written here, not in `run`: passed through a
        # `cond`, they would be copied by the branch that skips.
        period, position = jnp.divmod(q, plan.per_period)
        start = period * plan.period + position * plan.chunk
        steps = start + jnp.arange(plan.chunk, dtype=jnp.int32)
        history = History(
            written=steps[-1] + 1,
            infos=_keep(
                history.infos,
                records.infos,
                steps,
                history_every,
                lanes,
                in_place.infos,
            ),
            trajectory=_keep(
                history.trajectory,
                records.trajectory,
                steps + 1,
                history_every,
                lanes,
                in_place.trajectory,
            ),
            validation=None
            if records.validation is None
            else history.validation.at[period].set(
                jnp.where(
                    position == 0,
                    lanes.gather(records.validation, 0),
                    history.validation[period],
                )
            ),
        )
        if reporter is not None:
            reporter.evaluation(
                starts=position == 0,
                period=period,
                periods=plan.periods,
                step=period * plan.period,
                going=records.going,
                info=jax.tree.map(lambda x: x[0], records.infos),
                validation_loss=records.validation,
                lane_axis=lane_axis,
            )
        return (carry, history), None

    loop = (_Carry(state, watch, order), history)
    if chunks == 1:
        (carry, history), _ = chunk(loop, jnp.zeros((), jnp.int32))
    elif chunks <= GROUP:
        (carry, history), _ = jax.lax.scan(
            chunk, loop, jnp.arange(chunks, dtype=jnp.int32)
        )
    else:
        # A long budget: groups of chunks, a group skipped whole once the run
        # has stopped, so that what is left of a budget of billions of steps
        # costs thousands of skips, not millions.
        within = jnp.arange(GROUP, dtype=jnp.int32)

        def group(loop: tuple, g: jax.Array) -> tuple:
            return jax.lax.scan(chunk, loop, g * GROUP + within)[0], None

        def group_or_skip(loop: tuple, g: jax.Array) -> tuple:
            proceed = any_lane(going(loop[0]))
            return jax.lax.cond(proceed, group, lambda loop, g: (loop, None), loop, g)

        groups = -(-chunks // GROUP)
        (carry, history), _ = jax.lax.scan(
            group_or_skip, loop, jnp.arange(groups, dtype=jnp.int32)
        )
    return _outcome(carry, history, lanes, num_steps, history_every)


class _Lanes(NamedTuple):
    """Histories of all lanes at once under a lane axis; of the run itself else."""

    axis: str | None

    def gather(self, x: jax.Array, axis: int) -> jax.Array:
        """A lane's records -> all lanes', the lanes at `axis`."""
        if self.axis is None:
            return x
        return jax.lax.all_gather(x, self.axis, axis=axis)

    def own(self, history: jax.Array) -> jax.Array:
        """All lanes' records -> this lane's, from the lanes on axis 1."""
        if self.axis is None:
            return history
        return _column(history, jax.lax.axis_index(self.axis))

    def shape(self, steps: int, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The shape of a history of `steps` records of `shape`."""
        if self.axis is None:
            return (steps, *shape)
        return (steps, jax.lax.axis_size(self.axis), *shape)


@jax.custom_batching.custom_vmap
def _column(history: jax.Array, lane: jax.Array) -> jax.Array:
    """Column `lane` of `history` (its axis 1)."""
    return jnp.take(history, lane, axis=1)


@_column.def_vmap
def _columns(
    axis_size: int, in_batched: list, history: jax.Array, lane: jax.Array
) -> tuple[jax.Array, bool]:
    # Batched over the lane axis, `lane` is `axis_index`, 0, 1, 2, ...: every
    # lane's column is `history` with its axis 1 first, one transpose, where
    # JAX's rule for `take` would gather the entries one by one.
    del axis_size, lane
    history_batched, lane_batched = in_batched
    if history_batched or not lane_batched:
        raise NotImplementedError("_column is batched over its lane axis only")
    return jnp.moveaxis(history, 1, 0), True


def _ask_host(carry: _Carry, due: jax.Array) -> _Carry:
    """Stops the run (every lane) if Ctrl-C was pressed; asks only when `due`."""
    stop = jax.lax.cond(due, _interrupt.requested, lambda: jnp.zeros((), bool))
    state = carry.state
    status = jnp.where(stop & (state.status == RUNNING), INTERRUPTED, state.status)
    return carry._replace(state=state._replace(status=status.astype(jnp.int32)))


def _initial_history(
    skipped: StepInfo,
    state: StepState,
    validation: Validation | None,
    lengths: tuple[int, int],
    periods: int,
    record_params: bool,
    lanes: _Lanes,
) -> History:
    """Histories of NaN: `lengths` entries of records and of params.

    The trajectory's first entry is the initial params.
    """
    records, params = lengths
    trajectory = None
    if record_params:
        trajectory = jax.tree.map(
            lambda p: (
                jnp.zeros(lanes.shape(params, p.shape), p.dtype)
                .at[0]
                .set(lanes.gather(p, 0))
            ),
            state.params,
        )
    values = None
    if validation is not None:
        dtype = _validation_dtype(validation, state.params)
        values = jnp.full(lanes.shape(periods, ()), jnp.nan, dtype)
    return History(
        infos=jax.tree.map(
            lambda x: jnp.full(lanes.shape(records, x.shape), x, x.dtype), skipped
        ),
        trajectory=trajectory,
        validation=values,
        written=jnp.zeros((), jnp.int32),
    )


def _lengths(num_steps: int, every: int) -> tuple[int, int]:
    """Entries of the records and of the params kept of `num_steps` steps."""
    return -(-num_steps // every), num_steps // every + 1


def _keep(
    history: Any,
    records: Any,
    steps: jax.Array,
    every: int,
    lanes: _Lanes,
    block: bool,
) -> Any:
    """`history` with the records of `steps` that are multiples of `every`.

    The others, and steps past the end of the history, are dropped; a chunk
    that ran past the end of a period is overwritten by the next period's.
    With `block`, `steps` are consecutive and all inside the history: one
    block written in place.
    """

    def write(h: jax.Array, x: jax.Array) -> jax.Array:
        if block:
            return jax.lax.dynamic_update_slice_in_dim(
                h, lanes.gather(x, 1), steps[0], axis=0
            )
        index = (
            steps // every
            if every == 1
            else jnp.where(steps % every == 0, steps // every, h.shape[0])
        )
        return h.at[index].set(lanes.gather(x, 1), mode="drop", indices_are_sorted=True)

    return jax.tree.map(write, history, records)


def _outcome(
    carry: _Carry, history: History, lanes: _Lanes, num_steps: int, every: int = 1
) -> Outcome:
    """This lane's histories, of the steps up to `num_steps`.

    The params after the steps of groups skipped whole are those the run
    stopped with: the trajectory's entries past what the chunks wrote.
    """
    records, params = _lengths(num_steps, every)
    trajectory = None
    if history.trajectory is not None:
        after = every * jnp.arange(params, dtype=jnp.int32)
        stopped = after > history.written
        trajectory = jax.tree.map(
            lambda h, p: jnp.where(
                stopped.reshape((-1,) + (1,) * p.ndim), p, lanes.own(h)
            ),
            history.trajectory,
            carry.state.params,
        )
    validation_losses = None
    if history.validation is not None:
        validation_losses = lanes.own(history.validation)
    return Outcome(
        state=carry.state,
        infos=jax.tree.map(lambda h: lanes.own(h[:records]), history.infos),
        trajectory=trajectory,
        validation_losses=validation_losses,
        watch=carry.watch,
    )


def _batches(
    data: tuple, batch_size: int | None, key: jax.Array | None
) -> tuple[Callable[[Any, jax.Array], tuple[Any, tuple]], jax.Array | None]:
    """`batch(order, t) -> (order, data of step t)` and the initial `order`.

    Mini-batch SGD: epoch `e` is the permutation of axis 0 drawn from
    `fold_in(key, e)`, cut into `n // batch_size` batches of exactly
    `batch_size` rows; the `n % batch_size` rows left at the end of a
    permutation wait for a later epoch. The permutation is drawn at the first
    step of its epoch and carried through the epoch's other steps.
    """
    if batch_size is None:
        return (lambda order, t: (order, data)), None
    n = _validate.num_samples(data)
    per_epoch = n // batch_size

    def batch(order: jax.Array, t: jax.Array) -> tuple[jax.Array, tuple]:
        epoch, i = jnp.divmod(t, per_epoch)
        order = jax.lax.cond(
            i == 0,
            lambda: jax.random.permutation(jax.random.fold_in(key, epoch), n),
            lambda: order,
        )
        rows = jax.lax.dynamic_slice_in_dim(order, i * batch_size, batch_size)
        return order, jax.tree.map(lambda a: jnp.take(a, rows, axis=0), data)

    return batch, jnp.arange(n)


def _initial_watch(validation: Validation, state: StepState) -> Watch:
    dtype = _validation_dtype(validation, state.params)
    best = (state.params, state.opt_state) if validation.restore_best else None
    return Watch(
        best_loss=jnp.full((), jnp.inf, dtype),
        best_step=jnp.zeros((), jnp.int32),
        since_best=jnp.zeros((), jnp.int32),
        best=best,
    )


def _validation_dtype(validation: Validation, params: Any) -> Any:
    out = jax.eval_shape(validation.loss, params)
    return jnp.result_type(jnp.float32, out.dtype)


def _evaluate(validation: Validation, carry: _Carry) -> tuple[_Carry, jax.Array]:
    """The validation loss at the params before the next update, and patience.

    A new lowest loss (strictly lower; NaN never is) keeps the step and, with
    `restore_best`, the params and optimizer state; `patience` evaluations in
    a row without one stop the run before the next update. A run that has
    stopped evaluates nothing: its record is NaN.
    """
    state, watch = carry.state, carry.watch
    going = state.status == RUNNING
    value = validation.loss(state.params).astype(watch.best_loss.dtype)
    improved = going & (value < watch.best_loss)
    since_best = jnp.where(improved, 0, watch.since_best + going.astype(jnp.int32))
    status = state.status
    if validation.patience is not None:
        out_of_patience = going & (since_best >= validation.patience)
        status = jnp.where(out_of_patience, STOPPED_EARLY, status).astype(jnp.int32)
    best = watch.best
    if best is not None:
        best = jax.tree.map(
            lambda new, old: jnp.where(improved, new, old),
            (state.params, state.opt_state),
            best,
        )
    watch = Watch(
        best_loss=jnp.where(improved, value, watch.best_loss),
        best_step=jnp.where(improved, state.steps_taken, watch.best_step),
        since_best=since_best.astype(jnp.int32),
        best=best,
    )
    carry = carry._replace(state=state._replace(status=status), watch=watch)
    return carry, jnp.where(going, value, jnp.nan)
