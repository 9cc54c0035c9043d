"""What a run tells the host while it runs: the user's `callback` and the progress bar.

`Reporter.hook`, after every chunk that starts a period (an evaluation),
sends the numbers of the period's first step to the host with
`jax.debug.callback`, once for all lanes and only when there is something to
say; `fit` calls `Reporter.end` once the loop is over. Off, there is no hook.

A callback's exception inside the compiled call would reach the caller as
XLA's runtime error, its type lost. In a call of concrete values
(`Reporter.stops`) the host keeps it instead and answers the loop's question
(an `io_callback`) with "stop", as at Ctrl-C; `fit` raises it once the call
is over (`raise_if_failed`). Under the user's `jit`, `vmap` or `grad` nothing
is left to raise it after the fact, and it stays XLA's error.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import io_callback

from ._loop import Clock, Hook, Report
from ._step import INTERRUPTED, RUNNING

# The progress bar is redrawn at about this many evaluations of a run.
BAR_UPDATES = 100


class Evaluation(NamedTuple):
    """What `fit(..., callback=...)` receives at every evaluation.

    Attributes:
        step: the number of updates applied so far; the numbers below are
            taken at the params before update `step`.
        loss: the (batch) loss there, `losses[step]`.
        grad_norm: the global L2 norm of the gradient there.
        validation_loss: the validation loss there; NaN without
            `validation_data`.
        lane: the lane's index under `sweep` and `multistart`, else None.
        num_steps: the run's budget of updates.
    """

    step: int
    loss: float
    grad_norm: float
    validation_loss: float
    lane: int | None
    num_steps: int


class _Sent(NamedTuple):
    """An evaluation as sent to the host: arrays, one entry per lane under lanes."""

    starts: jax.Array  # the chunk starts a period: an evaluation took place
    going: jax.Array  # the run was still going there
    bar: jax.Array  # the progress bar is due for a redraw
    step: jax.Array
    loss: jax.Array
    grad_norm: jax.Array
    validation_loss: jax.Array
    lane: jax.Array


class _Ended(NamedTuple):
    steps_taken: jax.Array
    final_loss: jax.Array
    converged: jax.Array
    diverged: jax.Array
    stalled: jax.Array
    stopped_early: jax.Array
    lane: jax.Array


# The exception the user's callback raised in the run in progress, if any.
_failure: list[BaseException | None] = [None]


def can_stop(*inputs: Any) -> bool:
    """Whether a call of these inputs can stop when its callback raises.

    It can when its values are concrete: under the user's `jit`, `vmap` or
    `grad` the caller gets tracers, and nothing is left to raise the
    callback's exception once the program runs.
    """
    return not any(isinstance(x, jax.core.Tracer) for x in jax.tree.leaves(inputs))


def start() -> None:
    """Forgets the exception of an earlier run's callback."""
    _failure[0] = None


def raise_if_failed() -> None:
    """Raises the exception the callback raised during the run, if any."""
    error, _failure[0] = _failure[0], None
    if error is not None:
        raise error


class Reporter(NamedTuple):
    """The host's consumers of a run's evaluations; static, hashable.

    Attributes:
        callback: the user's `callback(Evaluation)`, or None.
        progress: show a progress bar.
        num_steps: the run's budget of updates.
        stops: an exception in the callback stops the run and is kept for
            `raise_if_failed` (a call of concrete values; see `can_stop`).
    """

    callback: Callable[[Evaluation], Any] | None
    progress: bool
    num_steps: int
    stops: bool = False

    def hook(self, periods: int, ids: jax.Array | None = None) -> Hook:
        """The loop's hook: tells the host about each evaluation (traced).

        `ids` are the lanes' indices in the run, when the loop runs some of
        them (a search's rung); by default 0, 1, ...
        """
        stride = max(1, periods // BAR_UPDATES)

        def after(state: Any, carry: None, clock: Clock, report: Report) -> tuple:
            lanes = jnp.shape(report.going)
            bar = self.progress & (
                (clock.period % stride == 0) | (clock.period == periods - 1)
            )
            first = report.first
            validation_loss = report.records.get("validation")
            if validation_loss is None:
                validation_loss = jnp.full(lanes, jnp.nan, first.loss.dtype)
            sent = _Sent(
                starts=jnp.broadcast_to(clock.starts, lanes),
                going=report.going,
                bar=jnp.broadcast_to(bar, lanes),
                step=jnp.broadcast_to(clock.step, lanes),
                loss=first.loss,
                grad_norm=first.grad_norm,
                validation_loss=validation_loss,
                lane=_lane(lanes) if ids is None else ids,
            )
            due = jnp.any(sent.starts & sent.going) & (
                jnp.any(sent.bar) | (self.callback is not None)
            )
            if not (self.stops and self.callback is not None):
                _send(self._on_evaluation(), sent, due)
                return state, carry
            stop = _ask(self._on_evaluation(), sent, due)
            going = state.status == RUNNING
            status = jnp.where(stop & going, INTERRUPTED, state.status)
            return state._replace(status=status), carry

        return Hook(after=after, host=True)

    def end(self, ended: dict[str, jax.Array]) -> None:
        """Tells the host where the run stopped (traced); closes the bar."""
        if not self.progress:
            return
        lanes = jnp.shape(ended["steps_taken"])
        _send(self._on_end(), _Ended(**ended, lane=_lane(lanes)), jnp.ones((), bool))

    def _on_evaluation(self) -> Callable[[_Sent], bool]:
        """The host's side of an evaluation; returns whether the run must stop."""

        def on_host(sent: _Sent) -> bool:
            lanes = np.ndim(sent.lane) > 0
            sent = _Sent(*(np.atleast_1d(x) for x in sent))
            evaluated = sent.starts & sent.going
            failed = self.stops and _failure[0] is not None
            if self.callback is not None and not failed:
                for k in np.flatnonzero(evaluated):
                    info = Evaluation(
                        step=int(sent.step[k]),
                        loss=float(sent.loss[k]),
                        grad_norm=float(sent.grad_norm[k]),
                        validation_loss=float(sent.validation_loss[k]),
                        lane=int(sent.lane[k]) if lanes else None,
                        num_steps=self.num_steps,
                    )
                    try:
                        self.callback(info)
                    except BaseException as error:  # KeyboardInterrupt too
                        if not self.stops:
                            raise
                        _failure[0] = error
                        break
            shown = evaluated & sent.bar
            if self.progress and shown.any():
                # A lane stopped by patience at this evaluation took no step
                # there: its loss is NaN. The bar shows a lane's finite loss,
                # or where there is none the last finite one it showed.
                finite = shown & np.isfinite(sent.loss)
                first = int(np.flatnonzero(finite if finite.any() else shown)[0])
                _BAR.show(
                    self.num_steps,
                    int(sent.step[first]),
                    float(sent.loss[first]),
                    going=int(evaluated.sum()) if lanes else None,
                    lanes=evaluated.size if lanes else None,
                )
            return _failure[0] is not None

        return on_host

    def _on_end(self) -> Callable[[_Ended], None]:
        def on_host(ended: _Ended) -> None:
            lanes = np.ndim(ended.lane) > 0
            ended = _Ended(*(np.atleast_1d(x) for x in ended))
            if lanes:
                done = int(ended.steps_taken.max())
                status = _lanes_status(ended, self.num_steps)
                usable = ended.final_loss[~ended.diverged]
                loss = float(usable.min()) if usable.size else math.nan
            else:
                done = int(ended.steps_taken[0])
                status = _status(ended, 0, self.num_steps)
                loss = float(ended.final_loss[0])
            if _failure[0] is not None:
                status = f"stopped: the callback raised {type(_failure[0]).__name__}"
            _BAR.close(done, loss, status)

        return on_host


def _lane(lanes: tuple[int, ...]) -> jax.Array:
    if not lanes:
        return jnp.full((), -1, jnp.int32)
    return jnp.arange(lanes[0], dtype=jnp.int32)


def _send(on_host: Callable, sent: Any, due: jax.Array) -> None:
    """Calls `on_host(sent)` on the host when `due`; once for all lanes."""
    # Under the user's own vmap `due` is batched and both branches run: the
    # host function looks at the flags it is sent, not at `due`.
    jax.lax.cond(due, lambda: jax.debug.callback(on_host, sent), lambda: None)


def _ask(on_host: Callable[[Any], bool], sent: Any, due: jax.Array) -> jax.Array:
    """`on_host(sent)` on the host when `due`, which answers whether to stop."""

    def answer(sent: Any) -> np.bool_:
        return np.bool_(on_host(sent))

    def ask() -> jax.Array:
        return io_callback(answer, jax.ShapeDtypeStruct((), bool), sent, ordered=False)

    return jax.lax.cond(due, ask, lambda: jnp.zeros((), bool))


_FLAGS = ("converged", "diverged", "stalled", "stopped_early")


def _status(ended: _Ended, k: int, num_steps: int) -> str:
    for flag in _FLAGS:
        if getattr(ended, flag)[k]:
            return flag.replace("_", " ")
    # A run that nothing stopped applies every update: one that applied fewer
    # was interrupted (Ctrl-C).
    return "done" if ended.steps_taken[k] >= num_steps else "interrupted"


def _lanes_status(ended: _Ended, num_steps: int) -> str:
    stopped = np.zeros_like(ended.converged)
    counts = []
    for flag in _FLAGS:
        stopped |= getattr(ended, flag)
        if getattr(ended, flag).any():
            counts.append(f"{int(getattr(ended, flag).sum())} {flag.replace('_', ' ')}")
    running = ~stopped
    interrupted = running & (ended.steps_taken < num_steps)
    if (running & ~interrupted).any():
        counts.insert(0, f"{int((running & ~interrupted).sum())} done")
    if interrupted.any():
        counts.append(f"{int(interrupted.sum())} interrupted")
    return ", ".join(counts)


class _Bars:
    """The bar of the run in progress, opened at its first evaluation.

    Runs report one after another, so one bar at a time is kept.
    """

    def __init__(self) -> None:
        self.bar: Any = None
        self.loss = math.nan  # the last finite loss shown

    def show(
        self, total: int, step: int, loss: float, going: int | None, lanes: int | None
    ) -> None:
        if self.bar is None or step == 0:
            if self.bar is not None:
                self.bar.close()
            self.bar = _new_bar(total)
            self.loss = math.nan
        if math.isfinite(loss) or math.isnan(self.loss):
            self.loss = loss
        loss = self.loss
        extra = f"{going}/{lanes} lanes going" if lanes is not None else None
        self.bar.show(step, loss, extra)

    def close(self, done: int, loss: float, status: str) -> None:
        if self.bar is None:  # under the user's vmap every lane ends the run
            return
        self.bar.show(done, loss, status)
        self.bar.close()
        self.bar = None


_BAR = _Bars()


class _PlainBar:
    """A one-line text bar on stderr, used when tqdm is not installed."""

    def __init__(self, total: int) -> None:
        self.total = total

    def show(self, done: int, loss: float, extra: str | None) -> None:
        tail = f"  {extra}" if extra else ""
        sys.stderr.write(
            f"\rjaxgd.fit: step {done}/{self.total}  loss {_fmt(loss)}{tail}"
        )
        sys.stderr.flush()

    def close(self) -> None:
        sys.stderr.write("\n")
        sys.stderr.flush()


class _TqdmBar:
    def __init__(self, total: int) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=total, desc="jaxgd.fit", unit="step")

    def show(self, done: int, loss: float, extra: str | None) -> None:
        self.bar.n = done
        postfix = {"loss": _fmt(loss)}
        if extra:
            postfix["status"] = extra
        self.bar.set_postfix(postfix, refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def _new_bar(total: int) -> Any:
    try:
        return _TqdmBar(total)
    except ImportError:
        return _PlainBar(total)
