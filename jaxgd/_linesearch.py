"""Automatic step size: an Armijo backtracking line search inside the compiled loop.

The rule is in `backtracking`'s docstring. The search is a bounded
`lax.while_loop`: under `vmap` every lane searches its own step, and a lane
that finds no decrease in `max_tries` trials stops (`stalled`), never loops.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from . import _checks


class Backtracking(NamedTuple):
    """Options of the backtracking line search; make them with `jaxgd.backtracking`.

    Attributes:
        initial: the step the first search tries.
        shrink: factor in (0, 1) applied to a step that fails the Armijo test.
        grow: factor >= 1 applied to a step accepted at its first try, to start
            the next search.
        c: the Armijo constant in (0, 1): the decrease demanded, as a fraction
            of what the gradient promises.
        max_tries: trials per update before the search gives up.
    """

    initial: float
    shrink: float
    grow: float
    c: float
    max_tries: int


class BacktrackingState(NamedTuple):
    """Optimizer state of the line search (`learning_rate="auto"`).

    Attributes:
        step_size: the step the next search tries first.
        accepted: the step the last search accepted (NaN before any, and
            where it found none).
        tries: the trial losses the last search evaluated (0-d int32).
        found: whether the last search found a decrease (0-d bool).
    """

    step_size: jax.Array
    accepted: jax.Array
    tries: jax.Array
    found: jax.Array


def backtracking(
    *,
    initial: float = 1.0,
    shrink: float = 0.5,
    grow: float = 2.0,
    c: float = 0.5,
    max_tries: int = 30,
) -> Backtracking:
    r"""Options for `fit(..., learning_rate=jaxgd.backtracking(...))`.

    Every update takes the first step size $\alpha$ of
    $\alpha_0, \alpha_0 s, \alpha_0 s^2, \dots$ (at most `max_tries` of
    them) that satisfies the Armijo condition

    $$
    L(\theta - \alpha g) \le L(\theta) - c\,\alpha\,\lVert g \rVert^2.
    $$

    $\alpha_0$ is `initial` for the first update, then the step accepted
    by the previous update, times `grow` when that one was accepted at its
    first try. `learning_rate="auto"` is `backtracking()`.

    With `c = 1/2` the accepted step never overshoots the minimum along the
    gradient of a quadratic (it is at most the exact line-search step), so the
    loss falls steadily even on ill-conditioned problems; smaller `c` accepts
    longer, bolder steps.

    Args:
        initial: the step the first search tries, > 0.
        shrink: the factor a rejected step is multiplied by, in (0, 1).
        grow: the factor a step accepted at its first try is multiplied by to
            start the next search, >= 1 (1 never grows).
        c: the Armijo constant, in (0, 1).
        max_tries: trials per update, >= 1. A search that finds no decrease in
            this many trials stops the run with `stalled` set: at the float
            precision floor of the loss, or where it is not smooth.

    Returns:
        A `Backtracking`, hashable: its values are compiled into the loop.

    Raises:
        TypeError: if an option is not a Python number (`max_tries`: an int).
        ValueError: if an option is out of its range.

    Examples:
        A timid first step grows until it reaches the bottom of the parabola,
        where the gradient vanishes:

        >>> import jax.numpy as jnp, jaxgd
        >>> result = jaxgd.fit(lambda x: (x - 3.0) ** 2, jnp.array(0.0),
        ...                    learning_rate=jaxgd.backtracking(initial=0.125),
        ...                    num_steps=10, tol=1e-6)
        >>> float(result.params), result.step_sizes[:4].tolist()
        (3.0, [0.125, 0.25, 0.5, nan])
    """
    return Backtracking(
        initial=_option(initial, "initial", above=0.0),
        shrink=_option(shrink, "shrink", above=0.0, below=1.0),
        grow=_option(grow, "grow", at_least=1.0),
        c=_option(c, "c", above=0.0, below=1.0),
        max_tries=_checks.count(max_tries, "max_tries", minimum=1),
    )


def is_line_search(learning_rate: Any) -> bool:
    """True for `"auto"` and for a `Backtracking`."""
    if isinstance(learning_rate, str):
        return learning_rate == "auto"
    return isinstance(learning_rate, Backtracking)


def line_search_or_none(learning_rate: Any) -> Backtracking | None:
    """The line search that `learning_rate` asks for, checked; None for a rate."""
    if not is_line_search(learning_rate):
        return None
    if isinstance(learning_rate, Backtracking):
        return backtracking(**learning_rate._asdict())
    return backtracking()


def transformation(
    options: Backtracking,
) -> optax.GradientTransformationExtraArgs:
    """The line search as an optax transformation of the gradient.

    Its `update(grads, state, params, *, value, value_fn)` searches along
    `-grads` from `params`, where `value` is the loss at `params` and
    `value_fn` the loss as a function of the params; a `value` that is not
    finite searches nothing (the step passes NaN for an update it will not
    apply). The new state says what the search did.

    The step size is a piecewise constant function of the inputs, so it is
    held constant for `jax.grad` (the loss values inside the search are
    `stop_gradient`-ed); the update `-step * grads` stays differentiable.
    """

    def init(params: Any) -> BacktrackingState:
        dtype = jnp.result_type(jnp.float32, *jax.tree.leaves(params))
        return BacktrackingState(
            step_size=jnp.asarray(options.initial, dtype),
            accepted=jnp.full((), jnp.nan, dtype),
            tries=jnp.zeros((), jnp.int32),
            found=jnp.ones((), bool),
        )

    def update(
        grads: Any,
        state: BacktrackingState,
        params: Any,
        *,
        value: jax.Array,
        value_fn: Callable[[Any], jax.Array],
        **extra: Any,
    ) -> tuple[Any, BacktrackingState]:
        del extra
        step0 = jax.lax.stop_gradient(state.step_size)
        dtype = jnp.result_type(step0, value)
        leaves = jax.tree.leaves(grads)
        squares = sum(jnp.sum(jnp.square(g.astype(dtype))) for g in leaves)
        # The sum of squares itself: the square of the norm would round.
        promised = jax.lax.stop_gradient(options.c * squares)
        start = jax.lax.stop_gradient(value.astype(dtype))
        searching = jnp.isfinite(start)

        def accepts(step: jax.Array) -> jax.Array:
            trial = jax.lax.stop_gradient(value_fn(take_step(params, grads, step)))
            return jnp.isfinite(trial) & (trial <= start - step * promised)

        def undecided(carry: tuple) -> jax.Array:
            _, tries, found = carry
            return searching & ~found & (tries < options.max_tries)

        def attempt(carry: tuple) -> tuple:
            step, tries, _ = carry
            found = accepts(step)
            return jnp.where(found, step, step * options.shrink), tries + 1, found

        step, tries, found = jax.lax.while_loop(
            undecided, attempt, (step0, jnp.zeros((), jnp.int32), jnp.zeros((), bool))
        )
        # The cap keeps a step that keeps growing (a loss unbounded below) finite.
        grown = jnp.minimum(step * options.grow, jnp.finfo(step.dtype).max)
        following = jnp.where(tries == 1, grown, step)
        updates = jax.tree.map(lambda g: -step * g, grads)
        return updates, BacktrackingState(
            step_size=jnp.where(searching, following, state.step_size),
            accepted=jnp.where(found, step, jnp.nan),
            tries=tries,
            found=found | ~searching,
        )

    return optax.GradientTransformationExtraArgs(init, update)


def take_step(params: Any, grads: Any, step: jax.Array) -> Any:
    """`params - step * grads`, in the params' dtypes."""
    return optax.apply_updates(params, jax.tree.map(lambda g: -step * g, grads))


def _option(value: Any, name: str, **bounds: float) -> float:
    """An option of the search, a Python number: it is compiled into the loop."""
    what = "a Python number (the line search's options are compiled into the loop)"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be {what}; got {_checks.describe(value)}.")
    return float(_checks.number(value, name, what=what, **bounds))
