"""Many runs in one compilation: `sweep`, `multistart`, and `best` to pick a lane.

`sweep` vmaps the run of `fit` over learning rates, `multistart` over initial
params; each is one compiled call whose lanes never affect one another, and
whose loop stops when its last lane stops.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from . import _linesearch, _validate
from ._fit import Config, Inputs, prepare, run
from ._result import FitResult

# Which fields of `Inputs` carry the lane axis.
_SWEEP_AXES = Inputs(
    params=None,
    data=None,
    learning_rate=0,
    key=None,
    tol=None,
    opt_state=None,
    validation_data=None,
)
_MULTISTART_AXES = _SWEEP_AXES._replace(params=0, learning_rate=None, opt_state=0)
# The name of the lanes' axis, over which the loop asks "is any lane going?".
_LANES = "lanes"


@functools.partial(jax.jit, static_argnums=(0, 1))
def _run_lanes(config: Config, axes: Inputs, inputs: Inputs) -> FitResult:
    lanes = functools.partial(run, config, lane_axis=_LANES)
    return jax.vmap(lanes, in_axes=(axes,), axis_name=_LANES)(inputs)


def sweep(
    loss: Callable[..., jax.Array],
    params: Any,
    *data: Any,
    learning_rates: Any,
    optimizer: Callable[[jax.Array], optax.GradientTransformation] | None = None,
    **fit_kwargs: Any,
) -> FitResult:
    r"""Runs `fit` once per learning rate, all lanes in one compiled, vmapped loop.

    Every lane starts from the same `params` (and `opt_state`, if given) and
    sees the same data (and mini-batches, for a shared `key`). Lanes are
    independent: a diverged lane is flagged in `diverged` and frozen, and never
    stops the others.

    Args:
        loss: `loss(params, *data) -> scalar`.
        params: initial parameters, shared by every lane.
        *data: data arrays, shared by every lane.
        learning_rates: `(n_rates,)` learning rates, e.g.
            `jnp.logspace(-3, 0, 16)`.
        optimizer: optional factory `rate -> optax.GradientTransformation`
            (e.g. `optax.adam`) to sweep that optimizer's learning rate instead
            of plain gradient descent.
        **fit_kwargs: any other keyword argument of `jaxgd.fit`.

    Returns:
        A `FitResult` whose every leaf has a leading axis of `n_rates`.

    Raises:
        ValueError: if `learning_rates` is not a non-empty 1-D array of
            positive finite values, if a line search (`"auto"`) is asked for,
            or for any bad argument `fit` rejects.
        TypeError: if `optimizer` is an optax transformation rather than a
            factory of one, or `learning_rate` is passed.

    Examples:
        >>> import jax.numpy as jnp, jaxgd
        >>> result = jaxgd.sweep(lambda x: x**2, jnp.array(1.0),
        ...                      learning_rates=jnp.array([0.1, 0.5, 1.5]),
        ...                      num_steps=100)
        >>> result.diverged.tolist(), result.final_loss[1].item()
        ([False, False, True], 0.0)
    """
    if any(
        _linesearch.is_line_search(rate)
        for rate in (learning_rates, fit_kwargs.get("learning_rate"))
    ):
        raise ValueError(
            "sweep runs one lane per given learning rate, so it cannot take a "
            "line search (learning_rate='auto'), which chooses the rate itself: "
            "call jaxgd.fit(..., learning_rate='auto'), or jaxgd.multistart(..., "
            "learning_rate='auto') for several starting points."
        )
    if "learning_rate" in fit_kwargs:
        raise TypeError(
            "sweep takes learning_rates (a 1-D array), not learning_rate; for one "
            "learning rate call jaxgd.fit."
        )
    if optimizer is not None and (
        isinstance(optimizer, optax.GradientTransformation) or not callable(optimizer)
    ):
        raise TypeError(
            "sweep's optimizer must be a factory rate -> optax.GradientTransformation"
            f" (e.g. optax.adam), so each lane gets its own rate; got "
            f"{_validate.describe(optimizer)}."
        )
    rates = _check_learning_rates(learning_rates)
    # The arguments are checked as those of the first lane's fit.
    config, inputs = prepare(
        loss,
        params,
        data,
        learning_rate=rates[0] if optimizer is None else None,
        optimizer=None,
        optimizer_factory=optimizer,
        **fit_kwargs,
    )
    dtype = (
        inputs.learning_rate.dtype
        if optimizer is None
        else jnp.result_type(jnp.float32, *jax.tree.leaves(inputs.params))
    )
    inputs = inputs._replace(learning_rate=jnp.asarray(rates, dtype))
    return _run_lanes(config, _SWEEP_AXES, inputs)


def multistart(
    loss: Callable[..., jax.Array],
    params_batch: Any,
    *data: Any,
    **fit_kwargs: Any,
) -> FitResult:
    """Runs `fit` from K initial params at once: the chapter's many balls on one curve.

    Args:
        loss: `loss(params, *data) -> scalar`.
        params_batch: initial parameters whose every leaf has a leading axis of
            the same length K; lane k starts from the k-th slice.
        *data: data arrays, shared by every lane.
        **fit_kwargs: any keyword argument of `jaxgd.fit`. An `opt_state`, if
            given, is batched like `params_batch`. With
            `learning_rate="auto"` every lane searches its own step sizes.

    Returns:
        A `FitResult` whose every leaf has a leading axis of K.

    Raises:
        ValueError: if the leaves of `params_batch` disagree on the leading
            axis or have none, or for any bad argument `fit` rejects.

    Examples:
        >>> import jax.numpy as jnp, jaxgd
        >>> starts = jnp.array([-2.0, 0.5, 3.0])
        >>> result = jaxgd.multistart(lambda x: (x - 1.0) ** 2, starts,
        ...                           learning_rate=0.25, num_steps=60)
        >>> [round(x, 4) for x in result.params.tolist()]
        [1.0, 1.0, 1.0]
    """
    lanes = _lane_count(params_batch)
    first = jax.tree.map(lambda x: x[0], params_batch)
    config, inputs = prepare(loss, first, data, **fit_kwargs)
    params = _validate.check_params(params_batch)
    if inputs.opt_state is not None:
        _lane_count(inputs.opt_state, name="opt_state", expected=lanes)
    return _run_lanes(config, _MULTISTART_AXES, inputs._replace(params=params))


def best(result: FitResult, *, by: str = "loss") -> tuple[int, FitResult]:
    """The best lane of a sweep or multistart: the lowest loss among usable lanes.

    `by="loss"` ranks the lanes by `final_loss`, `by="validation"` by the lowest
    validation loss each lane reached (the one of its `best_step`, whose params
    `restore_best=True` returns). Lanes that diverged, or whose loss is not
    finite, are never picked. Lanes that tie pick the first, the lowest index:
    with a sweep over increasing rates, the smallest rate that reached the loss.

    Args:
        result: a batched `FitResult` from `sweep` or `multistart`.
        by: `"loss"` or `"validation"`.

    Returns:
        `(index, lane)`: the lane's index and its `FitResult`, without the lane
        axis.

    Raises:
        ValueError: if `result` has no lane axis, `by` is unknown or asks for
            validation losses that the run did not record, or no lane is
            usable.
        TypeError: if `result` is not a `FitResult`.

    Examples:
        >>> import jax.numpy as jnp, jaxgd
        >>> result = jaxgd.sweep(lambda x: x**2, jnp.array(1.0),
        ...                      learning_rates=jnp.array([0.01, 0.4, 1.5]),
        ...                      num_steps=20)
        >>> index, lane = jaxgd.best(result)
        >>> index
        1
    """
    if not isinstance(result, FitResult):
        raise TypeError(
            f"best needs the FitResult of a sweep or multistart; got "
            f"{_validate.describe(result)}."
        )
    if by not in ("loss", "validation"):
        raise ValueError(f"by must be 'loss' or 'validation'; got {by!r}.")
    final = np.asarray(result.final_loss, dtype=np.float64)
    if final.ndim != 1:
        raise ValueError(
            "best needs a batched FitResult (from sweep or multistart) whose "
            f"final_loss has shape (lanes,); got shape {final.shape}."
        )
    if by == "loss":
        scores = final
    else:
        if result.validation_losses is None:
            raise ValueError(
                "best(..., by='validation') needs the validation losses of a run "
                "with validation_data; this one has none."
            )
        values = np.asarray(result.validation_losses, dtype=np.float64)
        finite = np.where(np.isfinite(values), values, np.inf)
        scores = finite.min(axis=1, initial=np.inf)
    usable = np.isfinite(scores) & ~np.asarray(result.diverged)
    if not usable.any():
        raise ValueError(
            f"every one of the {final.size} lanes diverged or ended with a "
            f"non-finite {'validation ' if by == 'validation' else ''}loss; try "
            "smaller learning rates."
        )
    index = int(np.argmin(np.where(usable, scores, np.inf)))
    return index, jax.tree.map(lambda x: x[index], result)


def _check_learning_rates(learning_rates: Any) -> jax.Array:
    if isinstance(learning_rates, (list, tuple)):
        learning_rates = np.asarray(learning_rates, dtype=float)
    shape = np.shape(learning_rates)
    if len(shape) != 1 or shape[0] == 0:
        raise ValueError(
            "learning_rates must be a non-empty 1-D array; got "
            f"{_validate.describe(learning_rates)}."
        )
    if _validate.is_concrete(learning_rates):
        values = np.asarray(learning_rates, dtype=np.float64)
        bad = [float(v) for v in values if not (math.isfinite(v) and v > 0)]
        if bad:
            raise ValueError(
                f"learning_rates must all be positive and finite; got {bad[:5]}."
            )
    return learning_rates


def _lane_count(
    tree: Any, name: str = "params_batch", expected: int | None = None
) -> int:
    sizes = {}
    for path, leaf in jax.tree.flatten_with_path(tree)[0]:
        shape = np.shape(leaf)
        where = name + jax.tree_util.keystr(path)
        if not shape:
            raise ValueError(
                f"every leaf of {name} needs a leading lane axis; {where} is a scalar."
            )
        sizes[where] = shape[0]
    if not sizes:
        raise ValueError(f"{name} has no array leaves.")
    counts = set(sizes.values())
    if expected is not None:
        counts.add(expected)
    if len(counts) > 1:
        listed = ", ".join(f"{where}: {size}" for where, size in sizes.items())
        wanted = f" (expected {expected})" if expected is not None else ""
        raise ValueError(
            f"the leaves of {name} disagree on the leading (lane) axis{wanted}: "
            f"{listed}."
        )
    return counts.pop()
