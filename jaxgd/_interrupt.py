"""Ctrl-C during a long compiled run: the loop asks the host whether to stop.

While XLA runs a compiled loop, Python cannot act on Ctrl-C: the signal
waits until the whole run is over. A run that can be interrupted asks the
host, before each chunk of steps, whether Ctrl-C was pressed (one
`io_callback`, which costs tens of microseconds, so only long runs and runs
with a progress bar ask). `watching` catches Ctrl-C for the duration of the
call and `wait` keeps the main thread in Python while the run goes on, so
that the signal is seen at once; once asked, the loop skips its remaining
chunks and the call raises `KeyboardInterrupt`.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import jax
import numpy as np
from jax.experimental import io_callback

# Runs of at least this many steps can be interrupted even without progress=True.
LONG_RUN_STEPS = 100_000
# Ask about this often, in seconds of steps, as guessed from the data's size.
ASK_EVERY_S = 0.2
# A step reads its data and params at least once: a guess of its time.
BYTES_PER_S = 5e9
MIN_STEP_S = 1e-6

_requested = threading.Event()


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


def every(chunk: int, *arrays: Any) -> int:
    """How many chunks of `chunk` steps to run between two questions.

    A question costs tens of microseconds, a step of a small problem about
    one: asking before every chunk would slow small runs, and asking seldom
    would leave large ones deaf for minutes. The time of a step is guessed
    from the bytes it reads, and the host is asked about every `ASK_EVERY_S`.
    """
    size = sum(
        getattr(x, "size", 0) * getattr(getattr(x, "dtype", None), "itemsize", 0)
        for x in jax.tree.leaves(arrays)
    )
    step_s = max(MIN_STEP_S, size / BYTES_PER_S)
    return int(min(64, max(1, ASK_EVERY_S // (chunk * step_s))))


def request() -> None:
    """Asks the next run that can be interrupted to stop, or not to start.

    The command line's Ctrl-C, which code on the way can lose (`jaxgd.cli`).
    """
    _requested.set()


def forget() -> None:
    """Drops a request that no run took up."""
    _requested.clear()


def requested() -> jax.Array:
    """Inside the loop: whether Ctrl-C was pressed (a 0-d bool)."""
    return io_callback(
        lambda: np.bool_(_requested.is_set()),
        jax.ShapeDtypeStruct((), bool),
        ordered=False,
    )


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
    try:
        yield
    except BaseException:
        forget()
        raise
    finally:
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
