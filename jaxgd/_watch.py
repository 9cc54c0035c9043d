"""Validation, patience and `restore_best`: a hook of the loop.

At the start of every period (before updates 0, k, 2k, ... with
`validation_every=k`) the hook evaluates the validation loss at the params of
every lane still going, keeps the lowest (strictly lower; NaN never is), the
number of updates applied there and, with `restore_best`, the params and
optimizer state there, and counts the evaluations since: `patience` of them
in a row without a new lowest loss stop the lane before its next update. A
lane that has stopped evaluates nothing: its record is NaN.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from ._loop import Clock, Hook
from ._step import RUNNING, STOPPED_EARLY, StepState


class Watch(NamedTuple):
    """The hook's carry, one entry per lane."""

    best_loss: jax.Array
    best_step: jax.Array
    since_best: jax.Array  # evaluations in a row without a new lowest loss
    best: Any  # (params, opt_state) at the lowest loss, with restore_best


def hook(
    value: Callable[[Any], jax.Array],
    *,
    dtype: Any,
    patience: int | None,
    restore_best: bool,
) -> Hook:
    """The validation hook.

    Args:
        value: `value(params) -> loss`, the validation loss of every lane.
        dtype: the dtype of its records.
        patience: evaluations without a new lowest loss before a stop, or None.
        restore_best: keep the params and optimizer state at the lowest loss.
    """

    def init(state: StepState) -> Watch:
        lanes = jnp.shape(state.status)
        return Watch(
            best_loss=jnp.full(lanes, jnp.inf, dtype),
            best_step=jnp.zeros(lanes, jnp.int32),
            since_best=jnp.zeros(lanes, jnp.int32),
            best=(state.params, state.opt_state) if restore_best else None,
        )

    def evaluate(state: StepState, watch: Watch) -> tuple:
        going = state.status == RUNNING
        loss = value(state.params).astype(dtype)
        improved = going & (loss < watch.best_loss)
        since_best = jnp.where(improved, 0, watch.since_best + going)
        status = state.status
        if patience is not None:
            out_of_patience = going & (since_best >= patience)
            status = jnp.where(out_of_patience, STOPPED_EARLY, status)
        best = watch.best
        if best is not None:
            best = jax.tree.map(
                lambda new, old: jnp.where(_along(improved, new), new, old),
                (state.params, state.opt_state),
                best,
            )
        watch = Watch(
            best_loss=jnp.where(improved, loss, watch.best_loss),
            best_step=jnp.where(improved, state.steps_taken, watch.best_step),
            since_best=since_best.astype(jnp.int32),
            best=best,
        )
        state = state._replace(status=status.astype(jnp.int32))
        return state, watch, jnp.where(going, loss, jnp.nan)

    def before(state: StepState, watch: Watch, clock: Clock) -> tuple:
        if clock.starts is True:
            return evaluate(state, watch)

        def wait(state: StepState, watch: Watch) -> tuple:
            return state, watch, jnp.full(jnp.shape(state.status), jnp.nan, dtype)

        return jax.lax.cond(clock.starts, evaluate, wait, state, watch)

    return Hook(init, before, None, jnp.full((), jnp.nan, dtype))


def _along(flag: jax.Array, x: jax.Array) -> jax.Array:
    """`flag` (one per lane) shaped to select among `x`'s lanes."""
    return flag.reshape(flag.shape + (1,) * (jnp.ndim(x) - flag.ndim))
