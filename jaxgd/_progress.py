"""A progress bar driven from inside the compiled loop.

The loop reports through `jax.debug.callback` about 100 times per run, so the
host is touched rarely and asynchronously; with `progress=False` no callback is
traced at all and the compiled loop is unchanged.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

REPORTS_PER_RUN = 100


class _PlainBar:
    """A one-line text bar on stderr, used when tqdm is not installed."""

    def __init__(self, total: int) -> None:
        self.total = total

    def show(self, done: int, loss: float) -> None:
        sys.stderr.write(f"\rjaxgd.fit: step {done}/{self.total}  loss {loss:.6g}")
        sys.stderr.flush()

    def close(self) -> None:
        sys.stderr.write("\n")
        sys.stderr.flush()


class _TqdmBar:
    def __init__(self, total: int) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=total, desc="jaxgd.fit", unit="step")

    def show(self, done: int, loss: float) -> None:
        self.bar.n = done
        self.bar.set_postfix(loss=f"{loss:.6g}", refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


def _new_bar(total: int) -> Any:
    try:
        return _TqdmBar(total)
    except ImportError:
        return _PlainBar(total)


def make_reporter(num_steps: int) -> Callable[[jax.Array, jax.Array], None]:
    """Returns `report(t, loss)`, to be called at every step inside the loop."""
    every = max(1, num_steps // REPORTS_PER_RUN)
    bars: dict[str, Any] = {}

    def on_host(t: np.ndarray, loss: np.ndarray) -> None:
        done = int(t) + 1
        if "bar" not in bars or int(t) == 0:
            bars["bar"] = _new_bar(num_steps)
        # Under vmap every lane reports; show the first lane's loss.
        bars["bar"].show(done, float(np.ravel(loss)[0]))
        if done == num_steps:
            bars.pop("bar").close()

    def report(t: jax.Array, loss: jax.Array) -> None:
        # A loop may run a few steps past the end, which change nothing.
        due = ((t % every == 0) | (t == num_steps - 1)) & (t < num_steps)
        jax.lax.cond(
            due,
            lambda: jax.debug.callback(on_host, t, loss),
            lambda: None,
        )

    return report


def reporter_or_none(progress: bool, num_steps: int) -> Callable | None:
    """The reporter for `progress=True`, None otherwise."""
    if not isinstance(progress, (bool, np.bool_)):
        raise TypeError(f"progress must be a bool; got {progress!r}.")
    return make_reporter(num_steps) if progress and num_steps > 0 else None
