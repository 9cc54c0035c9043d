"""Ctrl-C during a long compiled run: the loop asks the host whether to stop.

While XLA runs a compiled loop, Python cannot act on Ctrl-C. A run that can
be interrupted carries a hook that asks the host between chunks (one
`io_callback`) whether Ctrl-C was pressed. A question costs about as much as
a chunk of a small problem, so the host answers with the number of chunks to
run before the next question, aiming at `ASK_EVERY_S` between questions.
`watching` catches Ctrl-C for the duration of the call; since the compiled
call may hold the main thread (XLA:CPU runs it there), where alone Python
runs signal handlers, the signal is also written to a pipe
(`signal.set_wakeup_fd`) that the host's answer reads. Once asked, the loop
skips its remaining chunks and the call raises `KeyboardInterrupt`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import io_callback

from ._loop import Clock, Hook, Report
from ._step import INTERRUPTED, RUNNING, StepState

# Runs of at least this many steps can be interrupted even without progress=True.
LONG_RUN_STEPS = 100_000
# The time between two questions to the host, in seconds.
ASK_EVERY_S = 0.1
# The chunks between two questions grow at most this many times per question.
GROWTH = 8

_requested = threading.Event()
_asked = [0.0]  # the time of the last question, or of the run's start
_pipe: list[int | None] = [None]  # where signals are written as they arrive


def wanted(num_steps: int, progress: bool, *inputs: Any) -> bool:
    """Whether a call can be interrupted.

    It can when the run is long or watched (`progress=True`), and the call
    comes from the main thread with concrete values (not under `jit` or
    `vmap`).
    """
    if not (progress or num_steps >= LONG_RUN_STEPS):
        return False
    if threading.current_thread() is not threading.main_thread():
        return False
    return not any(isinstance(x, jax.core.Tracer) for x in jax.tree.leaves(inputs))


def hook() -> Hook:
    """The loop's hook: after every `every` chunks, asks whether to stop.

    Its carry is `(left, every)`: the chunks left before the next question,
    and the number the host last asked for.
    """

    def init(state: StepState) -> tuple:
        del state
        return jnp.ones((), jnp.int32), jnp.ones((), jnp.int32)

    def after(state: StepState, carry: tuple, clock: Clock, report: Report) -> tuple:
        del clock, report
        left, every = carry
        going = state.status == RUNNING
        due = jnp.any(going) & (left <= 1)
        stop, every = jax.lax.cond(
            due, _ask, lambda every: (jnp.zeros((), bool), every), every
        )
        status = jnp.where(stop & going, INTERRUPTED, state.status)
        left = jnp.where(due, every, left - 1)
        return state._replace(status=status), (left, every)

    return Hook(init=init, after=after, host=True)


def _ask(every: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Inside the loop: whether Ctrl-C was pressed, and the chunks to the next ask."""
    return io_callback(
        _answer,
        (jax.ShapeDtypeStruct((), bool), jax.ShapeDtypeStruct((), jnp.int32)),
        every,
        ordered=False,
    )


def _answer(every: np.ndarray) -> tuple[np.bool_, np.int32]:
    if _pipe[0] is not None:
        try:
            if signal.SIGINT in os.read(_pipe[0], 512):
                _requested.set()
        except (BlockingIOError, OSError):
            pass
    now = time.monotonic()
    elapsed, _asked[0] = now - _asked[0], now
    every = int(every)
    target = every * ASK_EVERY_S / max(elapsed, 1e-9)
    following = int(min(every * GROWTH, max(1.0, target), 2**30))
    return np.bool_(_requested.is_set()), np.int32(following)


def request() -> None:
    """Asks the next run that can be interrupted to stop, or not to start.

    The command line's Ctrl-C, which code on the way can lose (`jaxgd.cli`).
    """
    _requested.set()


def forget() -> None:
    """Drops a request that no run took up."""
    _requested.clear()


@contextlib.contextmanager
def watching() -> Iterator[None]:
    """Ctrl-C asks the run to stop (a second one interrupts at once).

    A request left by a run that ended in an error is dropped.
    """
    previous = signal.getsignal(signal.SIGINT)

    def ask(signum: int, frame: Any) -> None:
        _requested.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    signal.signal(signal.SIGINT, ask)
    read, write = os.pipe()
    os.set_blocking(read, False)
    os.set_blocking(write, False)
    woken = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
    _pipe[0], _asked[0] = read, time.monotonic()
    try:
        yield
    except BaseException:
        forget()
        raise
    finally:
        signal.set_wakeup_fd(woken)
        _pipe[0] = None
        os.close(read)
        os.close(write)
        signal.signal(signal.SIGINT, previous)


def wait(result: Any) -> None:
    """Waits for `result` in Python, so that Ctrl-C is seen while it runs."""
    leaves = [x for x in jax.tree.leaves(result) if isinstance(x, jax.Array)]
    while not all(x.is_ready() for x in leaves):
        time.sleep(0.01)


def raise_if_requested(steps_taken: Any, num_steps: int) -> None:
    """`KeyboardInterrupt` if Ctrl-C stopped the run; says where."""
    if _requested.is_set():
        _requested.clear()
        done = int(np.max(np.asarray(steps_taken)))
        raise KeyboardInterrupt(
            f"interrupted: the run stopped at step {done:,} of {num_steps:,}"
        )
