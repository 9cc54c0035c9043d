"""What a run tells the host while it runs: the user's `callback` and the progress bar.

`Reporter.hook` is a hook of the loop: after every chunk that starts a period
(an evaluation) it sends the numbers of the period's first step to the host
with `jax.debug.callback`, from inside the compiled loop, once for all lanes
and only when there is something to say. `fit` calls `Reporter.end` once the
loop is over. With neither a `callback` nor `progress=True` there is no hook
and the compiled loop is unchanged.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._loop import Clock, Hook, Report

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


class Reporter(NamedTuple):
    """The host's consumers of a run's evaluations; static, hashable.

    Attributes:
        callback: the user's `callback(Evaluation)`, or None.
        progress: show a progress bar.
        num_steps: the run's budget of updates.
    """

    callback: Callable[[Evaluation], Any] | None
    progress: bool
    num_steps: int

    def hook(self, periods: int) -> Hook:
        """The loop's hook: tells the host about each evaluation (traced)."""
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
                lane=_lane(lanes),
            )
            due = jnp.any(sent.starts & sent.going) & (
                jnp.any(sent.bar) | (self.callback is not None)
            )
            _send(self._on_evaluation(), sent, due)
            return state, carry

        return Hook(after=after)

    def end(self, ended: dict[str, jax.Array]) -> None:
        """Tells the host where the run stopped (traced); closes the bar."""
        if not self.progress:
            return
        lanes = jnp.shape(ended["steps_taken"])
        _send(self._on_end(), _Ended(**ended, lane=_lane(lanes)), jnp.ones((), bool))

    def _on_evaluation(self) -> Callable[[_Sent], None]:
        def on_host(sent: _Sent) -> None:
            lanes = np.ndim(sent.lane) > 0
            sent = _Sent(*(np.atleast_1d(x) for x in sent))
            evaluated = sent.starts & sent.going
            if self.callback is not None:
                for k in np.flatnonzero(evaluated):
                    self.callback(
                        Evaluation(
                            step=int(sent.step[k]),
                            loss=float(sent.loss[k]),
                            grad_norm=float(sent.grad_norm[k]),
                            validation_loss=float(sent.validation_loss[k]),
                            lane=int(sent.lane[k]) if lanes else None,
                            num_steps=self.num_steps,
                        )
                    )
            shown = evaluated & sent.bar
            if self.progress and shown.any():
                first = int(np.flatnonzero(shown)[0])
                _BAR.show(
                    self.num_steps,
                    int(sent.step[first]),
                    float(sent.loss[first]),
                    going=int(evaluated.sum()) if lanes else None,
                    lanes=evaluated.size if lanes else None,
                )

        return on_host

    def _on_end(self) -> Callable[[_Ended], None]:
        def on_host(ended: _Ended) -> None:
            lanes = np.ndim(ended.lane) > 0
            ended = _Ended(*(np.atleast_1d(x) for x in ended))
            if lanes:
                done = int(ended.steps_taken.max())
                status = _lanes_status(ended)
                usable = ended.final_loss[~ended.diverged]
                loss = float(usable.min()) if usable.size else math.nan
            else:
                done = int(ended.steps_taken[0])
                status = _status(ended, 0)
                loss = float(ended.final_loss[0])
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


def _status(ended: _Ended, k: int) -> str:
    for flag in ("converged", "diverged", "stalled", "stopped_early"):
        if getattr(ended, flag)[k]:
            return flag.replace("_", " ")
    return "done"


def _lanes_status(ended: _Ended) -> str:
    flags = ("converged", "diverged", "stalled", "stopped_early")
    stopped = np.zeros_like(ended.converged)
    counts = []
    for flag in flags:
        stopped |= getattr(ended, flag)
        if getattr(ended, flag).any():
            counts.append(f"{int(getattr(ended, flag).sum())} {flag.replace('_', ' ')}")
    if not stopped.all():
        counts.insert(0, f"{int((~stopped).sum())} done")
    return ", ".join(counts)


class _Bars:
    """The bar of the run in progress, opened at its first evaluation.

    Runs report one after another, so one bar at a time is kept.
    """

    def __init__(self) -> None:
        self.bar: Any = None

    def show(
        self, total: int, step: int, loss: float, going: int | None, lanes: int | None
    ) -> None:
        if self.bar is None or step == 0:
            if self.bar is not None:
                self.bar.close()
            self.bar = _new_bar(total)
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
    return f"{x:.6g}" if not math.isnan(x) else "nan"


def _new_bar(total: int) -> Any:
    try:
        return _TqdmBar(total)
    except ImportError:
        return _PlainBar(total)
