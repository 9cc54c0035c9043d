r"""Searches: lanes that compete, the losers pruned at rungs.

**Successive halving.** With `eta` and `min_steps` $r$, rung $j$ ends after
$r\,\eta^j$ updates (cumulative), and the last rung runs to `num_steps`. At
the end of a rung, the validation loss of every lane still in the search is
taken at its params after that many updates (the value `validation_losses`
records there); the $\lfloor n / \eta \rfloor$ lanes with the lowest (at
least one) go on, ties to the lower index, lanes that diverged or whose loss
is not finite last. The others are pruned: their histories are NaN from the
rung's end, their `steps_taken` is where they were, their `pruned` flag is
set.

A rung is the one loop run on the lanes still in the search: the survivors
are gathered into a narrower batch, so pruned lanes cost nothing from then
on. The widths are fixed by the lane count and `eta`, so every rung has
static shapes and the whole search is one compiled program. Nothing of one
lane depends on another but the ranking: a lane that survives computes
exactly what it would alone.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from . import _checks, _rules, _sharding
from ._loop import Outcome
from ._step import StepState


class SuccessiveHalving(NamedTuple):
    """The settings of `jaxgd.successive_halving`."""

    eta: int
    min_steps: int

    def brackets(self, lanes: int, num_steps: int) -> list[tuple[int, int, int]]:
        """One bracket of every lane: `[(0, lanes, min_steps)]`."""
        del num_steps
        return [(0, lanes, self.min_steps)]


def _ends(min_steps: int, eta: int, num_steps: int) -> list[int]:
    """The steps at which the rungs end: r, r·eta, r·eta², …, `num_steps`."""
    ends, end = [], min_steps
    while end < num_steps:
        ends.append(end)
        end *= eta
    return [*ends, num_steps]


class Hyperband(NamedTuple):
    """The settings of `jaxgd.hyperband`."""

    eta: int
    min_steps: int

    def brackets(self, lanes: int, num_steps: int) -> list[tuple[int, int, int]]:
        """The brackets as `(first lane, end lane, min_steps)`, in lane order.

        Bracket `b` = 0, 1, ..., B halves from `min_steps · eta^b` updates,
        where `B` is the number of rungs before `num_steps` of bracket 0 (its
        last bracket prunes nothing). Bracket `b` takes a share of the lanes
        proportional to Hyperband's `ceil((B + 1) / (s + 1) · eta^s)`,
        `s = B - b`, rounded by largest remainder (ties to the earlier
        bracket); consecutive lanes, bracket 0 first. Brackets left without
        a lane are dropped.
        """
        last = len(_ends(self.min_steps, self.eta, num_steps)) - 1
        weights = [
            math.ceil((last + 1) / (last - b + 1) * self.eta ** (last - b))
            for b in range(last + 1)
        ]
        shares = [lanes * w / sum(weights) for w in weights]
        counts = [math.floor(x) for x in shares]
        by_remainder = sorted(
            range(len(shares)), key=lambda b: (counts[b] - shares[b], b)
        )
        for b in by_remainder[: lanes - sum(counts)]:
            counts[b] += 1
        brackets, first = [], 0
        for b, count in enumerate(counts):
            if count:
                brackets.append((first, first + count, self.min_steps * self.eta**b))
            first += count
        return brackets


def successive_halving(*, eta: int = 3, min_steps: int) -> SuccessiveHalving:
    r"""Successive halving: at every rung, keep the best 1/eta of the lanes.

    Pass it as `jaxgd.sweep(..., validation_data=..., search=...)` (or to
    `multistart`). Rung $j$ ends after $r\,\eta^j$ updates, $r$ =
    `min_steps`; the last rung runs to `num_steps`. At the end of a rung
    every lane still in the search is ranked by its validation loss there;
    the best $\lfloor n/\eta \rfloor$ (at least one) go on, ties to the lower
    lane index, lanes that diverged (or whose validation loss is not finite)
    last. The pruned lanes' histories are NaN from the end of their rung and
    `FitResult.pruned` flags them; a lane that goes on computes exactly what
    `jaxgd.fit` computes for its configuration alone. The lanes still in the
    search run as a narrower batch: the search costs about
    $n\,r\,(1 + (k - 1)\cdot$ the fraction kept$)$ lane-steps for $k$ rungs
    instead of $n$ times `num_steps`.

    `validation_every` defaults to `min_steps` under a search, and must divide
    it; so must `history_every`.

    Args:
        eta: the factor between rungs, an int >= 2: each rung keeps 1/eta of
            its lanes and runs eta times the updates of the one before.
        min_steps: the updates of the first rung, an int >= 1.

    Returns:
        The search, for `search=`.

    Raises:
        ValueError: if `eta` < 2 or `min_steps` < 1.
        TypeError: if either is not an int.

    Examples:
        >>> import jax.numpy as jnp, jaxgd
        >>> loss = lambda w, x, y: jnp.mean((x * w - y) ** 2)
        >>> x = jnp.linspace(-1.0, 1.0, 8)
        >>> result = jaxgd.sweep(loss, jnp.array(0.0), x, 2 * x,
        ...     learning_rates=jnp.array([0.001, 0.01, 0.1, 1.0]),
        ...     validation_data=(x, 2 * x), num_steps=40,
        ...     search=jaxgd.successive_halving(eta=2, min_steps=10))
        >>> result.pruned.tolist()
        [True, True, True, False]
    """
    eta = _checks.count(eta, "eta", minimum=2)
    min_steps = _checks.count(min_steps, "min_steps", minimum=1)
    return SuccessiveHalving(eta, min_steps)


def hyperband(*, eta: int = 3, min_steps: int) -> Hyperband:
    r"""Hyperband: brackets of successive halving that start at different rungs.

    Successive halving bets that a lane bad after `min_steps` stays bad;
    Hyperband hedges the bet. The lanes are split into brackets $b = 0, 1,
    \dots, B$: bracket $b$ runs `successive_halving(eta=eta,
    min_steps=min_steps * eta**b)` on its lanes, where $B$ is the number of
    rungs bracket 0 has before `num_steps`, so that the last bracket runs
    its lanes to the end unpruned. The brackets take consecutive lanes,
    bracket 0 first, in shares proportional to Hyperband's bracket sizes
    $\lceil (B + 1) / (s + 1) \cdot \eta^s \rceil$ with $s = B - b$,
    rounded by largest remainder; `search.brackets(lanes, num_steps)` lists them as
    `(first lane, end lane, min_steps)`. Every bracket is a successive
    halving of its own lanes, exactly, and all run in one program.

    Args:
        eta: the factor between rungs, an int >= 2.
        min_steps: the first rung of the most aggressive bracket, an int >= 1.

    Returns:
        The search, for `search=`.

    Raises:
        ValueError: if `eta` < 2 or `min_steps` < 1.
        TypeError: if either is not an int.

    Examples:
        >>> import jaxgd
        >>> jaxgd.hyperband(eta=3, min_steps=30).brackets(81, 2430)
        [(0, 46, 30), (46, 65, 90), (65, 73, 270), (73, 78, 810), (78, 81, 2430)]
    """
    eta = _checks.count(eta, "eta", minimum=2)
    min_steps = _checks.count(min_steps, "min_steps", minimum=1)
    return Hyperband(eta, min_steps)


class PopulationBased(NamedTuple):
    """The settings of `jaxgd.population_based`.

    `key` is taken out into the run's traced inputs; `names` are the
    numbers a sweep perturbs, `(where, name)` with `where` "rule" (the
    learning rate, an optimizer factory's hyperparameters) or "loss"
    (`loss_hyperparams`): those that vary across its lanes.
    """

    every: int
    fraction: float
    perturb: tuple[float, float]
    key: Any = None
    names: tuple[tuple[str, str], ...] = ()


class Lineage(NamedTuple):
    """Where each lane of a population-based search came from.

    Attributes:
        source: `(lanes, periods)` int32: the lane whose params and optimizer
            state lane `i` went on from at the start of period `p` (itself
            when it copied nothing; period 0 is the start).
        hyperparams: by name, `(lanes, periods)`: the numbers each lane used
            in each period, those a sweep varies across its lanes (the
            learning rate, an optimizer factory's hyperparameters, the
            loss's keyword arguments).
    """

    source: jax.Array
    hyperparams: dict[str, jax.Array]


def population_based(
    *,
    every: int,
    fraction: float = 0.25,
    perturb: tuple[float, float] = (0.8, 1.25),
    key: jax.Array,
) -> PopulationBased:
    r"""Population-based training: the worst lanes copy the best, then explore.

    Every `every` steps, the lanes are ranked by their validation loss (lanes
    that diverged last, ties to the lower index). Each of the
    $\lfloor$ `fraction` $\cdot n \rfloor$ worst lanes copies the params,
    optimizer state and watch of one of as many best lanes, drawn uniformly
    from `key` (exploit), and multiplies each number the sweep varies across
    its lanes (learning rate, a factory's hyperparameters, `loss_hyperparams`)
    by one of the two factors of `perturb`, drawn with equal chances
    (explore). `FitResult.lineage` holds which lane each lane came from and
    the numbers it used, period by period. With `fraction=0` nothing is
    copied, and the run equals the plain sweep.

    Args:
        every: the steps between two exploits, an int >= 1.
        fraction: the share of lanes replaced at each exploit, in [0, 0.5].
        perturb: the two factors of the explore step, positive and finite.
        key: a jax.random key for the draws.

    Returns:
        The search, for `search=`.

    Raises:
        ValueError: if a number is out of its range.
        TypeError: if an argument is of the wrong kind.

    Examples:
        >>> import jax, jax.numpy as jnp, jaxgd
        >>> loss = lambda w, x, y: jnp.mean((x * w - y) ** 2)
        >>> x = jnp.linspace(-1.0, 1.0, 8)
        >>> result = jaxgd.sweep(loss, jnp.array(0.0), x, 2 * x,
        ...     learning_rates=jnp.array([0.001, 0.01, 0.1, 0.3]),
        ...     validation_data=(x, 2 * x), num_steps=30,
        ...     search=jaxgd.population_based(every=10, fraction=0.25,
        ...                                   key=jax.random.key(0)))
        >>> result.lineage.source.tolist()
        [[0, 3, 0], [1, 1, 3], [2, 2, 2], [3, 3, 3]]
    """
    every = _checks.count(every, "every", minimum=1)
    if not _checks.is_real_number(fraction) or not 0 <= fraction <= 0.5:
        raise ValueError(
            f"fraction must be a number in [0, 0.5], the share of lanes replaced "
            f"at each exploit; got {_checks.describe(fraction)}."
        )
    if not (
        isinstance(perturb, (tuple, list))
        and len(perturb) == 2
        and all(_checks.is_real_number(f) for f in perturb)
        and all(math.isfinite(float(f)) and float(f) > 0 for f in perturb)
    ):
        raise ValueError(
            "perturb must be two positive finite factors, e.g. (0.8, 1.25); got "
            f"{_checks.describe(perturb)}."
        )
    _checks.prng_key(key)
    return PopulationBased(
        every, float(fraction), (float(perturb[0]), float(perturb[1])), key
    )


def check(
    search: Any,
    *,
    num_steps: int,
    has_validation: bool,
    validation_every: Any,
    history_every: int,
) -> int:
    """Checks `search=` against the run's other arguments; the validation period.

    Returns the `validation_every` to use: `min_steps` unless given.
    """
    if not isinstance(search, (SuccessiveHalving, Hyperband, PopulationBased)):
        raise TypeError(
            "search must be jaxgd.successive_halving(...), jaxgd.hyperband(...) or "
            f"jaxgd.population_based(...); got {_checks.describe(search)}."
        )
    r, what = (
        (search.every, "every")
        if isinstance(search, PopulationBased)
        else (search.min_steps, "min_steps")
    )
    if not has_validation:
        raise ValueError(
            "search ranks lanes by their validation loss, so it needs "
            f"validation_data; got search={search!r} without validation_data."
        )
    if num_steps < r:
        raise ValueError(
            f"num_steps must be at least the search's {what} ({r}), so that "
            f"its first rung ends inside the run; got num_steps={num_steps}."
        )
    if validation_every is None:
        return r
    for name, value in (
        ("validation_every", validation_every),
        ("history_every", history_every),
    ):
        value = _checks.count(value, name, minimum=1)
        if r % value:
            raise ValueError(
                f"{name} must divide the search's {what} ({r}), so that every "
                f"rung ends on a kept step; got {name}={value}."
            )
    return validation_every


# `go(state, extra, carries, consts, ids, first_step, num_steps) -> Outcome`:
# the one loop on some lanes (`ids`, their indices in the search) from a step.
Go = Callable[..., Outcome]


def run(
    search: SuccessiveHalving | Hyperband | PopulationBased,
    go: Go,
    state: StepState,
    extra: Any,
    consts: Any,
    const_axes: Any,
    rank: Callable[[Any, Any], jax.Array],
    key: jax.Array | None,
    *,
    num_steps: int,
    validation_every: int,
    history_every: int,
) -> tuple[Outcome, jax.Array | None, Lineage | None]:
    """Runs `search`: the whole search's outcome, `pruned` and `lineage`.

    `state` has a leading lane axis; `consts` are the numbers each lane is
    built with (lane axes where `const_axes` is 0), `rank(params, consts)`
    the validation loss of every lane, `key` the draws of a population-based
    search. The outcome is that of all lanes, as the loop gives it for one
    run: each lane's last state and carries, and its histories, NaN after
    its rung.
    """
    periods = dict(
        num_steps=num_steps,
        validation_every=validation_every,
        history_every=history_every,
    )
    if isinstance(search, PopulationBased):
        outcome, lineage = _population(
            search, go, state, extra, consts, const_axes, rank, key, **periods
        )
        return outcome, None, lineage
    outcome, pruned = _halving(
        search, go, state, extra, consts, const_axes, rank, **periods
    )
    return outcome, pruned, None


def _halving(
    search: SuccessiveHalving | Hyperband,
    go: Go,
    state: StepState,
    extra: Any,
    consts: Any,
    const_axes: Any,
    rank: Callable[[Any, Any], jax.Array],
    *,
    num_steps: int,
    validation_every: int,
    history_every: int,
) -> tuple[Outcome, jax.Array]:
    """Successive halving over each bracket of lanes; the outcome and `pruned`."""
    lanes = jnp.shape(state.status)[0]
    pruned = jnp.zeros(lanes, bool)
    reached = jnp.full(lanes, num_steps, jnp.int32)  # where each lane's run ends
    total = _start(state, lanes, num_steps, validation_every, history_every)
    for first, end, min_steps in search.brackets(lanes, num_steps):
        ids = jnp.arange(first, end, dtype=jnp.int32)
        total, pruned, reached = _halve(
            _ends(min_steps, search.eta, num_steps),
            search.eta,
            go,
            _take(state, ids),
            extra,
            _take_along(consts, const_axes, ids),
            const_axes,
            rank,
            ids,
            (total, pruned, reached),
            validation_every=validation_every,
            history_every=history_every,
        )
    return _ended(total, reached, history_every), pruned


def _halve(
    ends: list[int],
    eta: int,
    go: Go,
    state: StepState,
    extra: Any,
    consts: Any,
    const_axes: Any,
    rank: Callable[[Any, Any], jax.Array],
    ids: jax.Array,
    written: tuple[Outcome, jax.Array, jax.Array],
    *,
    validation_every: int,
    history_every: int,
) -> tuple[Outcome, jax.Array, jax.Array]:
    """Successive halving of the lanes `ids` with rungs ending at `ends`.

    `written` is the search's `(outcome, pruned, reached)` so far, with these
    lanes written in.
    """
    total, pruned, reached = written
    carries, start = None, 0
    for k, end in enumerate(ends):
        out = go(state, extra, carries, consts, ids, start, end - start)
        total = _write(total, out, ids, start, validation_every, history_every)
        if k == len(ends) - 1:
            break
        width = max(1, len(ids) // eta)
        keep = jnp.sort(_ranked(rank, out.state, consts)[:width])
        dropped = jnp.ones(len(ids), bool).at[keep].set(False)
        pruned = pruned.at[ids].set(dropped)
        reached = reached.at[ids].set(jnp.where(dropped, end, reached[ids]))
        state = _take(out.state, keep)
        carries = _take(out.carries, keep, len(ids))
        consts = _take_along(consts, const_axes, keep)
        extra, ids, start = out.extra, ids[keep], end
    return total, pruned, reached


def _population(
    search: PopulationBased,
    go: Go,
    state: StepState,
    extra: Any,
    consts: tuple,
    const_axes: Any,
    rank: Callable[[Any, Any], jax.Array],
    key: jax.Array,
    *,
    num_steps: int,
    validation_every: int,
    history_every: int,
) -> tuple[Outcome, Lineage]:
    """Runs a population-based search: its outcome and the lanes' lineage.

    `consts` are `(frozen, learning_rate, hyperparams, loss_hyperparams)`,
    as `_fit.run` builds the lanes with them.
    """
    lanes = jnp.shape(state.status)[0]
    ids = jnp.arange(lanes, dtype=jnp.int32)
    replaced = int(search.fraction * lanes)
    total = _start(state, lanes, num_steps, validation_every, history_every)
    ends = [*range(search.every, num_steps, search.every), num_steps]
    sources, used = [ids], [_numbers(search.names, state, consts)]
    carries, start = None, 0
    for p, end in enumerate(ends):
        out = go(state, extra, carries, consts, None, start, end - start)
        total = _write(total, out, ids, start, validation_every, history_every)
        if p == len(ends) - 1:
            break
        state, carries, extra, start = out.state, out.carries, out.extra, end
        source = ids
        if replaced:
            order = _ranked(rank, state, consts)
            pick, flip = jax.random.split(jax.random.fold_in(key, p))
            chosen = jax.random.randint(pick, (replaced,), 0, replaced)
            source = ids.at[order[lanes - replaced :]].set(order[chosen])
            state = _take(state, source)
            carries = _take(carries, source, lanes)
            consts = _take_along(consts, const_axes, source)
            draws = jax.random.randint(flip, (lanes, len(search.names)), 0, 2)
            factors = jnp.where(
                (source != ids)[:, None], jnp.asarray(search.perturb)[draws], 1.0
            )
            state, consts = _perturbed(search.names, state, consts, factors)
        sources.append(source)
        used.append(_numbers(search.names, state, consts))
    lineage = Lineage(
        source=jnp.stack(sources, axis=1),
        hyperparams={
            name: jnp.stack([u[name] for u in used], axis=1) for _, name in search.names
        },
    )
    return total, lineage


def _ranked(rank: Callable, state: StepState, consts: Any) -> jax.Array:
    """The lanes, best first, by validation loss.

    Ties go to the lower index; lanes that diverged, or whose loss is not
    finite, come last.
    """
    score = rank(state.params, consts)
    score = jnp.where(jnp.isfinite(score) & ~state.diverged, score, jnp.inf)
    return jnp.argsort(score, stable=True)


def _numbers(names: tuple, state: StepState, consts: tuple) -> dict[str, jax.Array]:
    """The numbers `names` of every lane: from the rule's state, or the loss's."""
    rule = _rules.numbers(state.opt_state)
    return {
        name: rule[name] if where == "rule" else consts[3][name]
        for where, name in names
    }


def _perturbed(
    names: tuple, state: StepState, consts: tuple, factors: jax.Array
) -> tuple[StepState, tuple]:
    """The lanes' numbers `names` times `factors` (one column per name)."""
    rule, loss = {}, dict(consts[3] or {})
    held = _rules.numbers(state.opt_state)
    for k, (where, name) in enumerate(names):
        value = held[name] if where == "rule" else loss[name]
        scaled = value * factors[:, k].reshape((-1,) + (1,) * (value.ndim - 1))
        (rule if where == "rule" else loss)[name] = scaled.astype(value.dtype)
    if rule:
        state = state._replace(opt_state=_rules.with_numbers(state.opt_state, rule))
    if consts[3] is not None:
        consts = (*consts[:3], loss)
    return state, consts


def _take_along(tree: Any, axes: Any, keep: jax.Array) -> Any:
    """The lanes `keep` of the parts of `tree` whose `axes` is 0 (not None)."""
    return jax.tree.map(
        lambda axis, sub: sub if axis is None else _take(sub, keep),
        axes,
        tree,
        is_leaf=lambda x: x is None,
    )


def _take(tree: Any, keep: jax.Array, width: int | None = None) -> Any:
    """The lanes `keep` of the leaves with a leading lane axis (of `width`)."""

    def take(x: jax.Array) -> jax.Array:
        if width is not None and (jnp.ndim(x) == 0 or jnp.shape(x)[0] != width):
            return x  # one value for all lanes: the interrupt's count
        return x[keep]

    return jax.tree.map(take, tree)


def _start(
    state: StepState,
    lanes: int,
    num_steps: int,
    validation_every: int,
    history_every: int,
) -> dict[str, Any]:
    """What the search has written before its first rung: the lanes' states."""
    return {
        "state": state,
        "lanes": lanes,
        "lengths": (
            -(-num_steps // history_every),
            -(-num_steps // validation_every),
            num_steps // history_every + 1,
        ),
    }


def _write(
    total: Outcome | dict[str, Any],
    out: Outcome,
    ids: jax.Array,
    start: int,
    validation_every: int,
    history_every: int,
) -> Outcome:
    """`total` with the lanes `ids` of a rung's `out`, from step `start` on.

    `total` holds every lane of the search: before the first rung, what
    `_start` gives; its histories are NaN until written (its trajectory
    zeros, every lane's first rung writing its start).
    """
    width = len(ids)

    def each_lane(x: Any) -> bool:
        return jnp.ndim(x) > 0 and jnp.shape(x)[0] == width

    if isinstance(total, dict):
        lanes, (kept, periods, points) = total["lanes"], total["lengths"]

        def full(x: jax.Array, length: int, fill: Any = jnp.nan) -> jax.Array:
            return jnp.full((lanes, length, *x.shape[2:]), fill, x.dtype)

        total = Outcome(
            state=total["state"],
            extra=out.extra,
            carries=jax.tree.map(
                lambda x: (
                    jnp.zeros((lanes, *x.shape[1:]), x.dtype) if each_lane(x) else x
                ),
                out.carries,
            ),
            infos=jax.tree.map(lambda x: full(x, kept), out.infos),
            trajectory=jax.tree.map(lambda x: full(x, points, 0), out.trajectory),
            records={k: full(x, periods) for k, x in out.records.items()},
        )

    def at(a: int) -> Callable:
        def put(whole: jax.Array, part: jax.Array) -> jax.Array:
            return whole.at[ids, a : a + part.shape[1]].set(part)

        return put

    return Outcome(
        state=jax.tree.map(lambda w, p: w.at[ids].set(p), total.state, out.state),
        extra=out.extra,
        carries=jax.tree.map(
            lambda w, p: w.at[ids].set(p) if each_lane(p) else p,
            total.carries,
            out.carries,
        ),
        infos=jax.tree.map(at(start // history_every), total.infos, out.infos),
        trajectory=jax.tree.map(
            at(start // history_every), total.trajectory, out.trajectory
        ),
        records={
            k: at(start // validation_every)(total.records[k], x)
            for k, x in out.records.items()
        },
    )


def _ended(total: Outcome, reached: jax.Array, history_every: int) -> Outcome:
    """The outcome, with each pruned lane's last params held in its trajectory.

    From the end of its rung on, as a stopped run's trajectory holds them.
    """
    if total.trajectory is None:
        return total
    params = total.state.params

    def hold(h: jax.Array, x: jax.Array) -> jax.Array:
        steps = history_every * jnp.arange(h.shape[1], dtype=jnp.int32)
        after = steps[None, :] > reached[:, None]
        after = after.reshape(after.shape + (1,) * (h.ndim - 2))
        return jnp.where(after, x[:, None], h)

    return total._replace(trajectory=jax.tree.map(hold, total.trajectory, params))


class CrossValidation(NamedTuple):
    """What `jaxgd.cross_validate` found.

    Attributes:
        results: the `FitResult` of every lane, configuration-major: lane
            `c * folds + j` is configuration `c` trained without fold `j`
            and validated on it.
        mean: `(configurations,)` each configuration's validation loss at its
            final params, averaged over the folds.
        std: `(configurations,)` its standard deviation over the folds
            (`ddof=0`).
        best: the configuration with the lowest `mean` (an int; ties go to
            the lower index, a non-finite mean never wins).
    """

    results: Any
    mean: jax.Array
    std: jax.Array
    best: int


def cross_validate(
    loss: Callable[..., jax.Array],
    params: Any,
    *data: Any,
    folds: int = 5,
    key: jax.Array | None = None,
    score: Callable[..., jax.Array] | None = None,
    devices: Any = None,
    **sweep_kwargs: Any,
) -> CrossValidation:
    r"""k-fold cross-validation of a sweep's configurations, in one program.

    Fold $j$ of $k$ is the rows $[jN/k, (j+1)N/k)$ (integer division) of the
    data, after a permutation drawn from `key` when one is given. Every
    configuration of the sweep (`learning_rates`, `hyperparams`,
    `loss_hyperparams`, as `jaxgd.sweep` takes them) is trained once per fold
    on the other rows, in their order, and validated on the fold:
    `validation_losses`, `patience` and `restore_best` watch the fold. The
    configurations of a fold are the lanes of one loop, and the $k$ loops
    are one compiled program.

    Args:
        loss: `loss(params, *data) -> scalar`.
        params: initial parameters, shared by every lane.
        *data: data arrays with the rows along their leading axis.
        folds: the number of folds, an int >= 2 and at most the rows.
        key: a PRNG key to permute the rows before they are cut, or None to
            cut them in order.
        score: `score(params, *data) -> scalar`, what `mean` and `std`
            average on each fold at the final params; by default the loss
            (with its `loss_hyperparams`). A penalised loss should be scored
            without its penalty, or the smallest penalty always looks best:
            for ridge regression, the mean squared error.
        devices: None, or a list of devices to split each fold's
            configurations over, as `sweep` splits its lanes; lane
            `c * folds + j` lives on the device of configuration `c`.
        **sweep_kwargs: the configurations and any other keyword argument of
            `jaxgd.sweep` but `validation_data` (each fold is its lanes'
            validation set) and `search`.

    Returns:
        A `CrossValidation(results, mean, std, best)`.

    Raises:
        ValueError: if `folds` is < 2 or more than the rows, or
            `validation_data` or `search` is given, `devices` does not divide
            the configurations, or for any bad argument `sweep` rejects.

    Examples:
        >>> import jax, jax.numpy as jnp, jaxgd
        >>> x = jnp.linspace(-1.0, 1.0, 20)
        >>> def ridge(w, x, y, l2):
        ...     return jnp.mean((x * w - y) ** 2) + l2 * w**2
        >>> cv = jaxgd.cross_validate(ridge, jnp.array(0.0), x, 3 * x,
        ...     learning_rate=0.5, loss_hyperparams={"l2": jnp.array([0.0, 1.0])},
        ...     num_steps=200, folds=4)
        >>> cv.results.num_lanes, cv.best
        (8, 0)
    """
    # Imported here: `_fit`, which `_sweep` imports, imports this module.
    from ._fit import check_memory, execute, finish
    from ._sweep import setup

    folds = _checks.count(folds, "folds", minimum=2)
    for name in ("validation_data", "search"):
        if sweep_kwargs.get(name) is not None:
            raise ValueError(
                f"cross_validate validates each lane on its own fold, so it takes "
                f"no {name}; got {name}={_checks.describe(sweep_kwargs[name])}."
            )
    for name in ("checkpoint", "resume"):
        if sweep_kwargs.get(name) is not None:
            raise ValueError(
                f"cross_validate does not take {name} yet: its folds are loops of "
                f"their own; got {name}={sweep_kwargs[name]!r}."
            )
    rows = _checks.num_samples(data)
    if folds > rows:
        raise ValueError(
            f"folds must be at most the number of rows ({rows}), so that every "
            f"fold holds one; got folds={folds}."
        )
    order = jnp.arange(rows) if key is None else jax.random.permutation(key, rows)
    splits = []
    for j in range(folds):
        a, b = j * rows // folds, (j + 1) * rows // folds
        train = jnp.concatenate([order[:a], order[b:]])
        splits.append(
            (
                tuple(jnp.take(x, train, axis=0) for x in data),
                tuple(jnp.take(x, order[a:b], axis=0) for x in data),
            )
        )
    config, inputs, axes, lanes = setup(
        loss,
        params,
        splits[0][0],
        learning_rates=sweep_kwargs.pop("learning_rates", None),
        optimizer=sweep_kwargs.pop("optimizer", None),
        hyperparams=sweep_kwargs.pop("hyperparams", None),
        loss_hyperparams=sweep_kwargs.pop("loss_hyperparams", None),
        search=None,
        validation_data=splits[0][1],
        **sweep_kwargs,
    )
    check_memory(config, inputs, lanes * folds)
    sharding = _sharding.lane_sharding(
        devices, lanes, "configurations (the lanes of each fold)"
    )
    config = config._replace(lane_sharding=sharding)
    if score is not None:
        _checks.function(score, "score", "score(params, *data)")
    result, losses = execute(_run_folds, config, axes, inputs, tuple(splits), score)
    frozen = jax.tree.map(
        lambda x: jnp.broadcast_to(x, (lanes * folds, *jnp.shape(x))), inputs.frozen
    )
    result = finish(result, config, frozen, lanes=True)
    losses = losses.reshape(lanes, folds)
    mean, std = jnp.mean(losses, axis=1), jnp.std(losses, axis=1)
    best = int(jnp.argmin(jnp.where(jnp.isnan(mean), jnp.inf, mean)))
    return CrossValidation(result, mean, std, best)


@functools.partial(jax.jit, static_argnums=(0, 1, 4))
def _run_folds(
    config: Any, axes: Any, inputs: Any, splits: tuple, score: Callable | None
) -> tuple:
    """Every fold's sweep, lanes configuration-major, and the fold's scores.

    The score (or loss) of each lane on its fold, at its final params.
    """
    from ._fit import lane_losses, run  # `_fit` imports this module

    results, losses = [], []
    for train, held_out in splits:
        fold = inputs._replace(data=train, validation_data=held_out)
        result = run(config, fold, axes)
        results.append(result)
        scored = (config, fold, axes)
        if score is not None:
            scored = (
                config._replace(loss=score, has_aux=False),
                fold._replace(loss_hyperparams=None),
                axes._replace(loss_hyperparams=None),
            )
        losses.append(lane_losses(*scored)(result.params, *held_out))

    def interleave(*xs: jax.Array) -> jax.Array:
        x = jnp.stack(xs, axis=1)  # (configurations, folds, ...)
        return x.reshape(-1, *x.shape[2:])

    return _sharding.constrain_lanes(
        (jax.tree.map(interleave, *results), interleave(*losses)),
        config.lane_sharding,
    )
