"""What each step sees of the data: all of it, or a mini-batch (an update wrapper).

Mini-batch SGD: epoch `e` is the permutation of axis 0 drawn from
`fold_in(key, e)`, cut into `n // batch_size` batches of exactly `batch_size`
rows; the `n % batch_size` rows left at the end of a permutation wait for a
later epoch. The permutation is drawn at the first step of its epoch and
carried through the epoch's other steps. Every lane of a sweep sees the same
batches: the rows are taken once, outside the lanes' update.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from . import _checks
from ._loop import Update


def feed(
    update: Callable[..., Any],
    data: tuple,
    batch_size: int | None,
    key: jax.Array | None,
) -> tuple[Update, jax.Array | None]:
    """The loop's `update(state, extra, t)` of `update(state, *data)`, and its carry."""
    if batch_size is None:

        def whole(state: Any, extra: None, t: jax.Array) -> tuple:
            del t
            state, info = update(state, *data)
            return state, extra, info

        return whole, None
    n = _checks.num_samples(data)
    per_epoch = n // batch_size

    def batched(state: Any, order: jax.Array, t: jax.Array) -> tuple:
        epoch, i = jnp.divmod(t, per_epoch)
        order = jax.lax.cond(
            i == 0,
            lambda: jax.random.permutation(jax.random.fold_in(key, epoch), n),
            lambda: order,
        )
        rows = jax.lax.dynamic_slice_in_dim(order, i * batch_size, batch_size)
        rows = jax.tree.map(lambda a: jnp.take(a, rows, axis=0), data)
        state, info = update(state, *rows)
        return state, order, info

    return batched, jnp.arange(n)
