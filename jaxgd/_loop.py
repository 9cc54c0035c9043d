"""The one loop of every run: chunks of steps, a chunk skipped once all is done.

A run of `num_steps` updates is a `lax.scan` over chunks of at most `CHUNK`
steps, each chunk itself a `lax.scan` of the one update. Before a chunk runs,
a `lax.cond` asks whether any lane is still going; when none is, the chunk is
skipped, so a run that stops at step `s` costs `s` steps plus at most one
chunk. A `cond` inside a `scan`, unlike a `while_loop`, can be differentiated
in reverse mode, and the steps of every chunk are rematerialised
(`jax.checkpoint`): the backward pass keeps one state per chunk and recomputes
the steps of one chunk at a time. Runs of more than `GROUP` chunks scan over
groups of chunks, a group skipped whole once nothing is going.

**Lanes.** `sweep` and `multistart` hand the loop one state whose every leaf
has a leading lane axis, and an update vmapped over it: "still going" is
`any` over the lanes' statuses, a plain scalar, so the loop's own decisions
(skip a chunk, ask the host) are never batched. The loop knows no more of
lanes than the shape of the status.

**Periods and hooks.** The steps are cut into periods (`every` steps, by
default a chunk), a period into equal chunks. Everything a feature does
happens at chunk boundaries, through a `Hook`: `before` runs at the start of
a chunk that runs (validation at the start of a period, a search's rung),
`after` after every chunk (the callback and the progress bar, the question
to the host about Ctrl-C). A hook's `before` may return a record, kept once
per period. A feature that is off has no hook and adds nothing to the
program. The few steps that fall past the end of a period or of the run are
paused: they apply nothing, and the next period's records overwrite theirs.

**Histories.** Each chunk writes its records (a `StepInfo` per step, and the
params with `record_params`) into history buffers carried by the loop, with
`history_every=k` only those of steps 0, k, 2k, ...; a skipped chunk leaves
them NaN. The histories keep the steps first and the lanes second, as the
steps produce them; each lane takes its own row once the loop is over.

Under the user's own `jax.vmap` the predicate of each `cond` is batched, and
JAX runs both branches and selects: the results are the same, only the
saving is lost.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from ._step import PAUSED, RUNNING, StepInfo, StepState

# The longest chunk. Short scans run faster on XLA:CPU and a stopped run
# wastes less; benchmarks/RESULTS.md has the measurements behind the value.
CHUNK = 128
# Chunks in a group, skipped together; runs of more chunks are grouped.
GROUP = 1024

# `update(state, extra, t) -> (state, extra, info)`: the step of the run, with
# the carry of what wraps it (mini-batches) and the index of the step.
Update = Callable[[StepState, Any, jax.Array], tuple[StepState, Any, StepInfo]]


class Plan(NamedTuple):
    """How `num_steps` are cut: `periods` periods of `per_period` chunks."""

    period: int
    chunk: int
    per_period: int
    periods: int


def plan(num_steps: int, every: int | None = None) -> Plan:
    """Equal chunks of at most `CHUNK` steps; a period is `every` steps, or a chunk."""
    if every is None:
        chunks = -(-num_steps // CHUNK)
        size = -(-num_steps // chunks)
        return Plan(size, size, 1, chunks)
    per_period = -(-every // CHUNK)
    return Plan(every, -(-every // per_period), per_period, -(-num_steps // every))


class Clock(NamedTuple):
    """Where a chunk is in the run.

    Attributes:
        period: the period it belongs to.
        step: the index of its first step.
        starts: whether it starts a period: a 0-d bool, or True when every
            chunk does.
        index: the index of the chunk in the run (past the last chunk in a
            resumed run's tail, whose chunks are all skipped).
    """

    period: jax.Array
    step: jax.Array
    starts: Any
    index: jax.Array


class Report(NamedTuple):
    """What a chunk did, as the hooks' `after` sees it.

    Attributes:
        going: per lane, whether it was going when the chunk began.
        first: the records of the chunk's first step (NaN where skipped).
        records: what each hook's `before` returned, by name.
        loop: the loop's carry `(state, extra, carries, history)` as the
            hooks before this one left it: what the next chunk starts from
            when this hook is the last (a checkpoint writes it).
    """

    going: jax.Array
    first: StepInfo
    records: dict[str, Any]
    loop: tuple | None = None


class Hook(NamedTuple):
    """A feature of the run, plugged in at chunk boundaries.

    Attributes:
        init: `init(state) -> carry`, the hook's own carry through the loop.
        before: `before(state, carry, clock) -> (state, carry, record)`, at the
            start of every chunk that runs; `record` is None or an array of one
            value per lane, kept once per period. None: nothing to do there.
        after: `after(state, carry, clock, report) -> (state, carry)`, after
            every chunk, run or skipped. None: nothing to do there.
        record: the shape and dtype of one lane's record (an array of NaN),
            or None.
        host: its carry is the host's bookkeeping (when to ask it next),
            not part of the run: a checkpoint leaves it out, and a resumed
            run starts it afresh.
    """

    init: Callable[[StepState], Any] = lambda state: None
    before: Callable[..., tuple[StepState, Any, Any]] | None = None
    after: Callable[..., tuple[StepState, Any]] | None = None
    record: jax.Array | None = None
    host: bool = False


class Outcome(NamedTuple):
    """What the loop hands back: lanes first, then steps."""

    state: StepState
    extra: Any
    carries: dict[str, Any]
    infos: StepInfo  # every record, (..., ceil(num_steps / history_every))
    trajectory: Any  # (..., num_steps // history_every + 1, ...) or None
    records: dict[str, Any]  # each hook's records, (..., periods)


class Resume(NamedTuple):
    """Where a run starts: a chunk, and the loop's carry at its start.

    Attributes:
        chunk: the index of the first chunk to run (0-d int32, traced).
        loop: `(state, extra, carries, history)`, as `begin` makes it or a
            hook's `Report.loop` saw it.
    """

    chunk: jax.Array
    loop: tuple


class _History(NamedTuple):
    infos: StepInfo
    trajectory: Any
    records: dict[str, Any]
    written: jax.Array  # steps covered by chunks, run or skipped one by one


def begin(
    state: StepState,
    extra: Any,
    *,
    num_steps: int,
    skipped: StepInfo,
    hooks: dict[str, Hook],
    every: int | None = None,
    record_params: bool = False,
    history_every: int = 1,
) -> tuple:
    """The loop's carry before its first chunk: `(state, extra, carries, history)`.

    The arguments are those of `iterate`.
    """
    carries = {name: hook.init(state) for name, hook in hooks.items()}
    if num_steps == 0:
        history = _initial_history(skipped, state, hooks, (0, 1), 0, record_params)
        return state, extra, carries, history
    p, reach, in_place = _layout(num_steps, every, history_every)
    records, params = _lengths(num_steps, history_every)
    history = _initial_history(
        skipped,
        state,
        hooks,
        (reach if in_place[0] else records, params),
        p.periods,
        record_params,
    )
    return state, extra, carries, history


def _layout(
    num_steps: int, every: int | None, history_every: int
) -> tuple[Plan, int, tuple[bool, bool]]:
    """The plan, the steps the chunks cover, and which histories are blocks."""
    p = plan(num_steps, every)
    chunks = p.periods * p.per_period
    # The steps the chunks cover, from 0: at least `num_steps`.
    reach = (p.periods - 1) * p.period + p.per_period * p.chunk
    # With every step kept, a chunk's records are one block of the histories,
    # written in place; the histories then reach as far as the chunks do and
    # are cut to `num_steps` after the loop. The trajectory is cut only where
    # that costs no copy, when the chunks end exactly at `num_steps`.
    blocks = history_every == 1 and chunks <= GROUP
    return p, reach, (blocks, blocks and reach == num_steps)


def iterate(
    update: Update,
    state: StepState,
    extra: Any,
    *,
    num_steps: int,
    skipped: StepInfo,
    hooks: dict[str, Hook],
    carries: dict[str, Any] | None = None,
    first_step: int = 0,
    every: int | None = None,
    record_params: bool = False,
    history_every: int = 1,
    resume: Resume | None = None,
) -> Outcome:
    """Runs `update` for `num_steps` steps, in chunks, with `hooks`.

    Args:
        update: the step of the run, `update(state, extra, t)`.
        state: the initial `StepState`, with leading lane axes if any.
        extra: the initial carry of `update` (mini-batches' permutation).
        num_steps: updates to run.
        skipped: one lane's `StepInfo` of a step that did not run (NaN).
        hooks: the features of the run, by name.
        carries: the hooks' carries to start from, by name (a run that goes
            on, under a search); by default each hook's `init`.
        first_step: the index of the first step, for a run that goes on: the
            update and the hooks see the steps from there; the histories
            start there.
        every: the steps of a period, or None for a chunk.
        record_params: also keep the params after every update.
        history_every: keep the records of steps 0, k, 2k, ... only (and the
            params after 0, k, 2k, ... updates).
        resume: start at this chunk with this carry, instead of at chunk 0
            with the carry `begin` makes of `state` and `extra`. The chunk is
            traced, so a run from the start (chunk 0) and a run resumed
            anywhere are one compiled program: the chunks run as `start + i`
            for `i` below the number of chunks, those past the last one
            skipped and their records dropped.

    Returns:
        The `Outcome`.
    """
    lanes = jnp.shape(state.status)
    if resume is not None:
        loop = resume.loop
    else:
        loop = begin(
            state,
            extra,
            num_steps=num_steps,
            skipped=skipped,
            hooks=hooks,
            every=every,
            record_params=record_params,
            history_every=history_every,
        )
        if carries is not None:  # a run that goes on from another
            loop = (loop[0], loop[1], carries, loop[3])
    if num_steps == 0:
        state, extra, carries, history = loop
        return _outcome(state, extra, carries, history, 0, 1)
    p, _, in_place = _layout(num_steps, every, history_every)
    chunks = p.periods * p.per_period
    past_period = p.chunk * p.per_period > p.period
    past_run = p.periods * p.period > num_steps

    def clock(q: jax.Array) -> Clock:
        period, position = jnp.divmod(q, p.per_period)
        starts = True if p.per_period == 1 else position == 0
        step = first_step + period * p.period + position * p.chunk
        return Clock(period, step, starts, q)

    def run(loop: tuple, q: jax.Array) -> tuple:
        state, extra, carries = loop
        when = clock(q)
        carries, records = dict(carries), {}
        for name, hook in hooks.items():
            if hook.before is not None:
                state, carries[name], records[name] = hook.before(
                    state, carries[name], when
                )

        def body(carry: tuple, i: jax.Array) -> tuple:
            state, extra = carry
            t = when.step + i
            if past_period or past_run:
                within = q % p.per_period * p.chunk + i
                active = (within < p.period) if past_period else True
                active = (t < first_step + num_steps) & active if past_run else active
                paused = jnp.where(active, state.status, PAUSED)
                new, extra, info = update(state._replace(status=paused), extra, t)
                new = new._replace(status=jnp.where(active, new.status, state.status))
            else:
                new, extra, info = update(state, extra, t)
            return (new, extra), (info, new.params if record_params else None)

        (state, extra), (infos, trajectory) = jax.lax.scan(
            body, (state, extra), jnp.arange(p.chunk, dtype=jnp.int32)
        )
        return (state, extra, carries), (infos, trajectory, records)

    run = jax.checkpoint(run, prevent_cse=False)

    def skip(loop: tuple, q: jax.Array) -> tuple:
        del q
        state = loop[0]
        trajectory = None
        if record_params:
            trajectory = jax.tree.map(
                lambda x: jnp.broadcast_to(x, (p.chunk, *x.shape)), state.params
            )
        infos = jax.tree.map(
            lambda x: jnp.broadcast_to(x, (p.chunk, *lanes, *x.shape)), skipped
        )
        records = {
            name: None
            if hook.record is None
            else jnp.broadcast_to(hook.record, (*lanes, *hook.record.shape))
            for name, hook in hooks.items()
            if hook.before is not None
        }
        return loop, (infos, trajectory, records)

    # Chunks past the last: in the last of several groups, or at the end of
    # a resumed run. They are skipped, and their records dropped.
    past_end = resume is not None or (chunks % GROUP and chunks > GROUP)

    def chunk(loop: tuple, q: jax.Array) -> tuple:
        state, extra, carries, history = loop
        if resume is not None:
            q = q + resume.chunk
        going = state.status == RUNNING
        if chunks == 1 and resume is None:
            inner, out = run((state, extra, carries), q)
        else:
            if past_end:
                going &= q < chunks
            inner, out = jax.lax.cond(
                jnp.any(going), run, skip, (state, extra, carries), q
            )
        state, extra, carries = inner
        infos, trajectory, records = out
        when = clock(q)
        steps = when.step - first_step + jnp.arange(p.chunk, dtype=jnp.int32)
        # The histories are written here, not in `run`: passed through a
        # `cond`, they would be copied by the branch that skips.
        # A block written in place would be clamped into the histories, not
        # dropped, past their end: a resumed run's chunk past the last keeps
        # what is there.
        inside = None if resume is None else q < chunks
        history = _History(
            infos=_keep(
                history.infos, infos, steps, history_every, in_place[0], inside
            ),
            trajectory=_keep(
                history.trajectory,
                trajectory,
                steps + 1,
                history_every,
                in_place[1],
                inside,
            ),
            records={
                name: None
                if kept is None
                else kept.at[when.period].set(
                    jnp.where(when.starts, records[name], kept[when.period])
                )
                for name, kept in history.records.items()
            },
            written=steps[-1] + 1,
        )
        report = Report(going, jax.tree.map(lambda x: x[0], infos), records)
        carries = dict(carries)
        for name, hook in hooks.items():
            if hook.after is not None:
                report = report._replace(loop=(state, extra, dict(carries), history))
                state, carries[name] = hook.after(state, carries[name], when, report)
        return (state, extra, carries, history), None

    if chunks == 1 and resume is None:
        loop, _ = chunk(loop, jnp.zeros((), jnp.int32))
    elif chunks <= GROUP:
        loop, _ = jax.lax.scan(chunk, loop, jnp.arange(chunks, dtype=jnp.int32))
    else:
        # A long budget: groups of chunks, a group skipped whole once the run
        # has stopped, so that what is left of a budget of billions of steps
        # costs thousands of skips, not millions.
        within = jnp.arange(GROUP, dtype=jnp.int32)

        def group(loop: tuple, g: jax.Array) -> tuple:
            return jax.lax.scan(chunk, loop, g * GROUP + within)[0], None

        def group_or_skip(loop: tuple, g: jax.Array) -> tuple:
            going = jnp.any(loop[0].status == RUNNING)
            return jax.lax.cond(going, group, lambda loop, g: (loop, None), loop, g)

        groups = -(-chunks // GROUP)
        loop, _ = jax.lax.scan(group_or_skip, loop, jnp.arange(groups, dtype=jnp.int32))
    state, extra, carries, history = loop
    return _outcome(state, extra, carries, history, num_steps, history_every)


def _initial_history(
    skipped: StepInfo,
    state: StepState,
    hooks: dict[str, Hook],
    lengths: tuple[int, int],
    periods: int,
    record_params: bool,
) -> _History:
    """Histories of NaN: `lengths` entries of records and of params.

    The trajectory's first entry is the initial params.
    """
    lanes = jnp.shape(state.status)
    records, params = lengths
    trajectory = None
    if record_params:
        trajectory = jax.tree.map(
            lambda x: jnp.zeros((params, *x.shape), x.dtype).at[0].set(x),
            state.params,
        )
    return _History(
        infos=jax.tree.map(
            lambda x: jnp.full((records, *lanes, *x.shape), x, x.dtype), skipped
        ),
        trajectory=trajectory,
        records={
            name: jnp.full((periods, *lanes, *hook.record.shape), hook.record)
            for name, hook in hooks.items()
            if hook.record is not None
        },
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
    block: bool,
    within: jax.Array | None = None,
) -> Any:
    """`history` with the records of `steps` that are multiples of `every`.

    The others, and steps past the end of the history, are dropped; a chunk
    that ran past the end of a period is overwritten by the next period's.
    With `block`, `steps` are consecutive and all inside the history (or,
    when `within` is given and false, all past its end): one block written
    in place.
    """

    def write(h: jax.Array, x: jax.Array) -> jax.Array:
        if block:
            if within is not None:
                there = jax.lax.dynamic_slice_in_dim(h, steps[0], x.shape[0])
                x = jnp.where(within, x, there)
            return jax.lax.dynamic_update_slice_in_dim(h, x, steps[0], axis=0)
        index = (
            steps // every
            if every == 1
            else jnp.where(steps % every == 0, steps // every, h.shape[0])
        )
        return h.at[index].set(x, mode="drop", indices_are_sorted=True)

    return jax.tree.map(write, history, records)


def _outcome(
    state: StepState,
    extra: Any,
    carries: dict[str, Any],
    history: _History,
    num_steps: int,
    every: int,
) -> Outcome:
    """The histories of the steps up to `num_steps`, lanes first.

    The params after the steps of groups skipped whole are those the run
    stopped with: the trajectory's entries past what the chunks wrote.
    """
    lanes = len(jnp.shape(state.status))
    records, params = _lengths(num_steps, every)

    def lanes_first(h: jax.Array) -> jax.Array:
        return jnp.moveaxis(h, 0, lanes) if lanes else h

    trajectory = None
    if history.trajectory is not None:
        stopped = every * jnp.arange(params, dtype=jnp.int32) > history.written
        trajectory = jax.tree.map(
            lambda h, x: lanes_first(
                jnp.where(stopped.reshape((-1,) + (1,) * x.ndim), x, h)
            ),
            history.trajectory,
            state.params,
        )
    return Outcome(
        state=state,
        extra=extra,
        carries=carries,
        infos=jax.tree.map(lambda h: lanes_first(h[:records]), history.infos),
        trajectory=trajectory,
        records={name: lanes_first(h) for name, h in history.records.items()},
    )
