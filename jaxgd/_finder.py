"""`find_learning_rate`: one short compiled sweep that picks a constant rate."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks
from ._result import FitResult
from ._sweep import sweep


class LearningRateFinding(NamedTuple):
    """What `find_learning_rate` found, with the sweep behind it.

    Attributes:
        suggestion: `safety * largest_stable`, a constant learning rate to use.
        largest_stable: the largest rate of the sweep that decreased the loss
            reliably (see `find_learning_rate`).
        learning_rates: `(num,)` the log-spaced rates of the sweep.
        stable: `(num,)` bool, the rates that decreased the loss reliably
            below the first rate whose loss rose.
        result: the sweep's `FitResult`, one lane per rate; its `final_loss`
            is the evidence, drawn by `plot.lr_sweep(finding.learning_rates,
            finding.result)`.
    """

    suggestion: float
    largest_stable: float
    learning_rates: np.ndarray
    stable: np.ndarray
    result: FitResult


def find_learning_rate(
    loss: Callable[..., jax.Array],
    params: Any,
    *data: Any,
    lower: float = 1e-6,
    upper: float = 10.0,
    num: int = 64,
    num_steps: int = 50,
    safety: float = 0.5,
) -> LearningRateFinding:
    r"""Finds the largest constant learning rate that still decreases the loss.

    Runs `num_steps` of plain, full-batch gradient descent from `params` for
    each of `num` log-spaced rates in `[lower, upper]`, all in one compiled
    `jaxgd.sweep`. A rate decreases the loss *reliably* when its run did not
    diverge, its loss never rose from one step to the next by more than a
    tolerance for rounding, and its final loss is below the initial one by
    more than that tolerance: $\sqrt{\epsilon}$ of the initial loss, or
    twice the largest change that moving every param by 4 units in its last
    place makes, whichever is larger. Started at a minimiser, the loss sits at
    that rounding floor and nothing decreases it reliably, which is an error
    (below), not a suggestion. Below $2 / L$ for an
    $L$-smooth loss every step decreases it, so the first rise marks the
    edge of stability. The largest stable rate is the largest rate that
    decreased the loss reliably with every smaller rate of the sweep free of
    rises too; the suggestion is `safety` times it. For `jaxgd.linear.mse`,
    with the default `num` and `safety` and `linear.max_learning_rate` inside
    the range, it lies below that bound and within a factor 4 of it.

    The analysis runs on the host: call it outside `jit`. If `largest_stable`
    is `upper`, the edge lies beyond the range: pass a larger `upper`.

    Args:
        loss: `loss(params, *data) -> scalar`.
        params: initial parameters, shared by every rate.
        *data: data arrays passed to `loss`.
        lower: the smallest rate tried, > 0.
        upper: the largest rate tried, > `lower`.
        num: how many rates, >= 2.
        num_steps: updates per rate, >= 1.
        safety: the fraction of the largest stable rate suggested, in (0, 1].

    Returns:
        A `LearningRateFinding`.

    Raises:
        ValueError: if an option is out of range, the loss at `params` is not
            finite, or no rate of the range decreased the loss reliably (the
            message says which way to move the range, or that the params may
            already be at a minimum).
        TypeError: if an option is not a number, or for any bad argument that
            `jaxgd.sweep` rejects.

    Examples:
        >>> import jax.numpy as jnp, jaxgd
        >>> from jaxgd import linear
        >>> X = jnp.array([[1.0], [-1.0]])
        >>> y = jnp.array([[2.0], [0.5]])
        >>> params = {"W": jnp.zeros((1, 1)), "b": jnp.zeros(1)}
        >>> finding = jaxgd.find_learning_rate(linear.mse, params, X, y)
        >>> limit = linear.max_learning_rate(X)
        >>> limit / 4 < finding.suggestion < limit
        True
    """
    lower = float(_checks.positive(lower, "lower"))
    upper = float(_checks.positive(upper, "upper"))
    if not upper > lower:
        raise ValueError(f"upper must be > lower; got lower={lower}, upper={upper}.")
    num = _checks.count(num, "num", minimum=2)
    num_steps = _checks.count(num_steps, "num_steps", minimum=1)
    safety = float(_checks.positive(safety, "safety"))
    if safety > 1:
        raise ValueError(f"safety must be in (0, 1]; got {safety}.")

    rates = np.geomspace(lower, upper, num)
    result = sweep(loss, params, *data, learning_rates=rates, num_steps=num_steps)
    history = np.concatenate(
        [np.asarray(result.losses), np.asarray(result.final_loss)[:, None]], axis=1
    ).astype(np.float64)
    start = history[0, 0]
    if not math.isfinite(start):
        raise ValueError(
            f"the loss at the initial params is {start}; find_learning_rate needs "
            "a finite loss to start from: check params and data for NaN, "
            "infinities or values out of the loss's domain."
        )
    eps = np.finfo(np.asarray(result.final_loss).dtype).eps
    # A change of the loss is evidence only when it is larger than both a
    # relative tolerance for rounding and what moving the params by a few
    # units in their last place changes: at a minimiser the loss already sits
    # at that floor, and its ups and downs there are rounding, not progress.
    floor = _rounding_floor(loss, params, data, eps)
    slack = max(math.sqrt(eps) * abs(start), 2 * floor)
    with np.errstate(invalid="ignore"):  # inf - inf in a lane that diverged
        rises = np.diff(history, axis=1) > slack
    never_rose = (
        ~np.asarray(result.diverged)
        & np.isfinite(history).all(axis=1)
        & ~rises.any(axis=1)
    )
    decreased = history[:, -1] < start - slack
    stable = np.logical_and.accumulate(never_rose) & decreased
    if not stable.any():
        raise ValueError(_explain_none(rates, never_rose, num_steps))
    largest = float(rates[np.flatnonzero(stable)[-1]])
    return LearningRateFinding(
        suggestion=safety * largest,
        largest_stable=largest,
        learning_rates=rates,
        stable=stable,
        result=result,
    )


def _rounding_floor(
    loss: Callable[..., jax.Array], params: Any, data: tuple, eps: float
) -> float:
    """How much the loss changes when every param moves by a few units of rounding.

    The largest change of the loss over a few random moves of each param by
    4 units in its last place (relative), all evaluated in one compiled call
    together with the loss at `params` itself.
    """
    leaves, treedef = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.key(0), len(leaves))
    moved = []
    for key, leaf in zip(keys, leaves, strict=True):
        leaf = jnp.asarray(leaf)
        signs = jax.random.rademacher(key, (_MOVES, *leaf.shape), leaf.dtype)
        signs = jnp.concatenate([jnp.zeros_like(signs[:1]), signs])  # unmoved
        moved.append(leaf[None] * (1 + 4 * eps * signs))
    in_axes = (0,) + (None,) * len(data)
    values = jax.jit(jax.vmap(loss, in_axes=in_axes))(
        jax.tree.unflatten(treedef, moved), *data
    )
    values = np.asarray(values, np.float64)
    changes = np.abs(values[1:] - values[0])
    changes = changes[np.isfinite(changes)]
    return float(changes.max()) if changes.size else 0.0


# How many random moves of the params `_rounding_floor` tries.
_MOVES = 8


def _explain_none(rates: np.ndarray, never_rose: np.ndarray, num_steps: int) -> str:
    if not never_rose[0]:
        return (
            f"no learning rate decreased the loss reliably: even the smallest, "
            f"lower={rates[0]:.3g}, made it rise or diverge. Pass a smaller lower, "
            "or standardise the features."
        )
    return (
        f"no learning rate in [{rates[0]:.3g}, {rates[-1]:.3g}] decreased the loss "
        f"in num_steps={num_steps} steps without a rise. Pass a larger upper or "
        "more num_steps, or check that the params are not already at a minimum."
    )
