"""Many runs in one compilation: `sweep`, `multistart`, and `best` to pick a lane.

`sweep` runs `fit`'s run with lanes of learning rates and hyperparameters,
`multistart` with lanes of initial params: the one step is vmapped over the
lanes inside the one loop, so each is one compiled call whose lanes never
affect one another, and whose loop stops when its last lane stops.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from . import _checks, _linesearch, _params, _search, _sharding
from ._fit import Config, Inputs, check_memory, execute, finish, prepare, run
from ._result import FitResult

# Which fields of `Inputs` carry the lane axis.
_SWEEP_AXES = Inputs(
    params=None,
    frozen=None,
    data=None,
    learning_rate=0,
    hyperparams=0,
    key=None,
    tol=None,
    opt_state=None,
    validation_data=None,
    checkpoint=None,
)
_MULTISTART_AXES = _SWEEP_AXES._replace(
    params=0, frozen=0, learning_rate=None, hyperparams=None, opt_state=0
)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _run_lanes(config: Config, axes: Inputs, inputs: Inputs) -> FitResult:
    return run(config, inputs, axes)


def sweep(
    loss: Callable[..., jax.Array],
    params: Any,
    *data: Any,
    learning_rates: Any = None,
    optimizer: Any = None,
    hyperparams: dict[str, Any] | None = None,
    loss_hyperparams: dict[str, Any] | None = None,
    search: Any = None,
    devices: Any = None,
    **fit_kwargs: Any,
) -> FitResult:
    r"""Runs `fit` once per lane, all lanes in one compiled, vmapped loop.

    A lane is one learning rate of `learning_rates` and, with an optimizer
    factory, the same index of every 1-D array in `hyperparams`: a sweep over
    any hyperparameter, or a grid of them flattened (`jnp.meshgrid`). Every
    lane starts from the same `params` (and `opt_state`, if given) and sees
    the same data (and mini-batches, for a shared `key`). Lanes are
    independent: a diverged lane is flagged in `diverged` and frozen, and never
    stops the others; the loop stops when its last lane stops.

    Args:
        loss: `loss(params, *data) -> scalar`.
        params: initial parameters, shared by every lane.
        *data: data arrays, shared by every lane.
        learning_rates: `(n_lanes,)` learning rates, e.g.
            `jnp.logspace(-3, 0, 16)`: of plain gradient descent, or of the
            optimizer factory. With a factory it may be left out (then
            `learning_rate=` gives all lanes one rate, or the factory's default
            applies).
        optimizer: None for plain gradient descent, or an optax factory such
            as `optax.adam`, built in every lane with its own numbers.
        hyperparams: the factory's other arguments: a 1-D array of
            `n_lanes` values gives each lane its own (every lane's is
            checked: finite, and representable in the dtype it is injected
            in), a scalar is shared; schedules, bools, ints, strings and other
            settings (adamw's `mask`) are shared.
        loss_hyperparams: keyword arguments of the loss, by name, as in
            `fit`: an array with a leading axis of `n_lanes` gives each lane
            its own (`{"l2": jnp.logspace(-4, 0, 16)}`, a regularisation
            path), a scalar is shared. With them, plain gradient descent may
            take one `learning_rate` for every lane.
        search: None to run every lane to the end, or
            `jaxgd.successive_halving(...)` to prune lanes at rungs by their
            validation loss (needs `validation_data`); `FitResult.pruned`
            then flags the pruned lanes.
        devices: None to run on one device, or a list of devices (e.g.
            `jax.devices()`, with several processes the global devices) to
            split the lanes over: with `n_lanes` lanes on `D` devices, device
            `d` runs lanes `d*n_lanes/D` to `(d+1)*n_lanes/D - 1` and holds
            their results. Whether any lane is still going, and a search's
            ranking, are decided across the devices; the data are replicated.
            The results equal one device's (to float32 rounding where the
            compiler groups the arithmetic of fewer lanes otherwise). A
            search's rung whose lanes `D` does not divide runs replicated,
            every device computing all of its lanes.
        **fit_kwargs: any other keyword argument of `jaxgd.fit`. With
            `checkpoint=path` every lane is written to the one file, and
            `resume=path` continues all the lanes, bit for bit.

    Returns:
        A `FitResult` whose every array leaf has a leading axis of `n_lanes`
        (split over `devices`, when given).

    Raises:
        ValueError: if nothing varies across lanes, the lanes' arrays disagree
            on their length, a rate is not positive and finite, a line search
            (`"auto"`) is asked for, `devices` is empty, repeats a device or
            does not divide the lanes, or for any bad argument `fit` rejects.
        TypeError: if `optimizer` is an optax object rather than a factory, or
            `devices` is not a list of devices.

    Examples:
        >>> import jax.numpy as jnp, jaxgd
        >>> result = jaxgd.sweep(lambda x: x**2, jnp.array(1.0),
        ...                      learning_rates=jnp.array([0.1, 0.5, 1.5]),
        ...                      num_steps=100)
        >>> result.diverged.tolist(), result.final_loss[1].item()
        ([False, False, True], 0.0)
    """
    config, inputs, axes, lanes = setup(
        loss,
        params,
        data,
        learning_rates=learning_rates,
        optimizer=optimizer,
        hyperparams=hyperparams,
        loss_hyperparams=loss_hyperparams,
        search=search,
        **fit_kwargs,
    )
    config = config._replace(lane_sharding=_sharding.lane_sharding(devices, lanes))
    result = execute(_run_lanes, config, axes, inputs)
    frozen = jax.tree.map(
        lambda x: jnp.broadcast_to(x, (lanes, *jnp.shape(x))), inputs.frozen
    )
    return finish(result, config, frozen, lanes=True)


def setup(
    loss: Callable[..., jax.Array],
    params: Any,
    data: tuple,
    *,
    learning_rates: Any,
    optimizer: Any,
    hyperparams: Any,
    loss_hyperparams: Any,
    search: Any,
    **fit_kwargs: Any,
) -> tuple[Config, Inputs, Inputs, int]:
    """The checked arguments of a sweep: its config, inputs, lane axes and lanes."""
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
    if isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(
            "sweep's optimizer must be a factory such as optax.adam, so that each "
            "lane is built with its own numbers; got the optax object "
            f"{_checks.describe(optimizer)}, whose numbers are fixed."
        )
    lane_keywords = _lane_keywords(loss_hyperparams)
    if optimizer is None and "learning_rate" in fit_kwargs and not lane_keywords:
        raise TypeError(
            "sweep takes learning_rates (a 1-D array), not learning_rate; for one "
            "learning rate call jaxgd.fit."
        )
    if learning_rates is not None and "learning_rate" in fit_kwargs:
        raise TypeError(
            "pass learning_rates (one per lane) or learning_rate (shared), not both."
        )
    lanes, rates, numbers = _lanes_of(
        learning_rates, optimizer, hyperparams, lane_keywords
    )
    first = {key: _at(value, 0) for key, value in numbers.items()}
    shared_rate = fit_kwargs.pop("learning_rate", None)
    # The arguments are checked as those of the first lane's fit.
    config, inputs = prepare(
        loss,
        params,
        data,
        learning_rate=_at(rates, 0) if rates is not None else shared_rate,
        optimizer=optimizer,
        hyperparams=None if hyperparams is None else {**hyperparams, **first},
        loss_hyperparams={
            **loss_hyperparams,
            **{k: v[0] for k, v in lane_keywords.items()},
        }
        if isinstance(loss_hyperparams, dict)
        else loss_hyperparams,
        search=search,
        **fit_kwargs,
    )
    dtype = jnp.result_type(jnp.float32, *jax.tree.leaves(inputs.params))
    if rates is not None:
        _checks.representable(rates, dtype, "learning_rates")
        inputs = inputs._replace(learning_rate=jnp.asarray(rates, dtype))
    elif inputs.learning_rate is not None:
        inputs = inputs._replace(
            learning_rate=jnp.broadcast_to(inputs.learning_rate, (lanes,))
        )
    for key, values in numbers.items():
        # `prepare` saw lane 0 only: every lane is checked as it would be.
        where = f"hyperparams[{key!r}]"
        if _checks.is_real_number(values):
            _checks.finite_values(values, where)
            _checks.representable(values, dtype, where)
    if inputs.hyperparams is not None:
        inputs = inputs._replace(
            hyperparams={
                key: jnp.broadcast_to(
                    jnp.asarray(numbers.get(key, value), value.dtype), (lanes,)
                )
                for key, value in inputs.hyperparams.items()
            }
        )
    if inputs.loss_hyperparams is not None:
        keywords = {}
        for key, value in inputs.loss_hyperparams.items():
            if key in lane_keywords:
                # `prepare` saw lane 0 only: every lane is checked as it would be.
                value = _checks.loss_hyperparams(
                    loss, {key: lane_keywords[key]}, value.dtype
                )[key].astype(value.dtype)
            keywords[key] = jnp.broadcast_to(
                value, (lanes, *value.shape[key in lane_keywords :])
            )
        inputs = inputs._replace(loss_hyperparams=keywords)
    check_memory(config, inputs, lanes)
    axes = _SWEEP_AXES._replace(
        loss_hyperparams=None if inputs.loss_hyperparams is None else 0
    )
    if isinstance(config.search, _search.PopulationBased):
        # The numbers that vary across the lanes are those explored.
        names = [("rule", "learning_rate")] if rates is not None else []
        names += [("rule", key) for key in numbers]
        names += [("loss", key) for key in lane_keywords]
        config = config._replace(search=config.search._replace(names=tuple(names)))
    return config, inputs, axes, lanes


def multistart(
    loss: Callable[..., jax.Array],
    params_batch: Any,
    *data: Any,
    search: Any = None,
    devices: Any = None,
    **fit_kwargs: Any,
) -> FitResult:
    """Runs `fit` from K initial params at once: the chapter's many balls on one curve.

    Args:
        loss: `loss(params, *data) -> scalar`.
        params_batch: initial parameters whose every array leaf has a leading
            axis of the same length K; lane k starts from the k-th slice. Of a
            model, the other leaves are shared.
        *data: data arrays, shared by every lane.
        search: None, or `jaxgd.successive_halving(...)` to prune starts at
            rungs by their validation loss, as in `sweep`.
        devices: None, or a list of devices to split the K lanes over, as in
            `sweep`.
        **fit_kwargs: any keyword argument of `jaxgd.fit`. An `opt_state`, if
            given, is batched like `params_batch`. With
            `learning_rate="auto"` every lane searches its own step sizes.
            `checkpoint` and `resume` hold every lane in one file.

    Returns:
        A `FitResult` whose every array leaf has a leading axis of K.

    Raises:
        ValueError: if the array leaves of `params_batch` disagree on the
            leading axis or have none, K is 0, `devices` does not divide K,
            or for any bad argument `fit` rejects.
        TypeError: if `devices` is not a list of devices.

    Examples:
        >>> import jax.numpy as jnp, jaxgd
        >>> starts = jnp.array([-2.0, 0.5, 3.0])
        >>> result = jaxgd.multistart(lambda x: (x - 1.0) ** 2, starts,
        ...                           learning_rate=0.25, num_steps=60)
        >>> [round(x, 4) for x in result.params.tolist()]
        [1.0, 1.0, 1.0]
    """
    lanes = _lane_count(params_batch)
    config, inputs = prepare(
        loss,
        _params.index_arrays(params_batch, 0),
        data,
        search=search,
        **fit_kwargs,
    )
    trained, frozen, _ = _params.split(params_batch, fit_kwargs.get("trainable"))
    if inputs.opt_state is not None:
        _lane_count(inputs.opt_state, name="opt_state", expected=lanes)
    check_memory(config, inputs, lanes)
    config = config._replace(lane_sharding=_sharding.lane_sharding(devices, lanes))
    result = execute(
        _run_lanes,
        config,
        _MULTISTART_AXES,
        inputs._replace(params=trained, frozen=frozen),
    )
    return finish(result, config, frozen, lanes=True)


def best(result: FitResult, *, by: str = "loss") -> tuple[int, FitResult]:
    """The best lane of a sweep or multistart: the lowest loss among usable lanes.

    `by="loss"` ranks the lanes by `final_loss`, `by="validation"` by the lowest
    validation loss each lane reached (the one of its `best_step`, whose params
    `restore_best=True` returns). Lanes that diverged, or whose loss is not
    finite, are never picked; nor are the lanes a search pruned. Lanes that
    tie pick the first, the lowest index: with a sweep over increasing rates,
    the smallest rate that reached the loss.

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
            "result must be the FitResult of a sweep or multistart; got "
            f"{_checks.describe(result)}."
        )
    _checks.choice(by, "by", ("loss", "validation"))
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
    if result.pruned is not None:
        usable &= ~np.asarray(result.pruned)
    if not usable.any():
        raise ValueError(
            f"every one of the {final.size} lanes diverged or ended with a "
            f"non-finite {'validation ' if by == 'validation' else ''}loss; try "
            "smaller learning rates."
        )
    index = int(np.argmin(np.where(usable, scores, np.inf)))
    return index, _params.index_arrays(result, index)


def _lane_keywords(loss_hyperparams: Any) -> dict[str, Any]:
    """The loss's keyword arguments that vary by lane: those with an axis."""
    if not isinstance(loss_hyperparams, dict):
        return {}  # checked as fit's argument
    return {
        key: value
        for key, value in loss_hyperparams.items()
        if _checks.is_real_number(value) and np.ndim(value) >= 1
    }


def _lanes_of(
    learning_rates: Any, optimizer: Any, hyperparams: Any, keywords: dict[str, Any]
) -> tuple[int, Any, dict[str, Any]]:
    """The lane count, the rates and the hyperparameters that vary by lane."""
    numbers = {}
    if hyperparams is not None and optimizer is not None:
        if not isinstance(hyperparams, dict):
            raise TypeError(
                "hyperparams must be a dict of the optimizer's arguments by name, "
                f"e.g. {{'b1': jnp.array([0.8, 0.9])}}; got "
                f"{_checks.describe(hyperparams)}."
            )
        for key, value in hyperparams.items():
            if isinstance(value, (list, tuple)):
                try:
                    value = np.asarray(value)
                except ValueError:  # ragged: checked as the factory's argument
                    continue
            dtype = getattr(value, "dtype", None)
            if dtype is not None and not np.issubdtype(dtype, np.number):
                # Bools, text or objects (a mask of a list of params) are
                # settings, shared by every lane: checked as the factory's.
                continue
            if np.ndim(value) == 1:
                numbers[key] = value
            elif np.ndim(value) > 1:
                raise ValueError(
                    f"hyperparams[{key!r}] must be a scalar (shared by every lane) "
                    f"or a 1-D array (one value per lane); got "
                    f"{_checks.describe(value)}."
                )
    rates = None
    if learning_rates is not None:
        rates = _checks.positives(learning_rates, "learning_rates")
    shapes = {"learning_rates": np.shape(rates)} if rates is not None else {}
    shapes.update(
        {f"hyperparams[{key!r}]": np.shape(value) for key, value in numbers.items()}
    )
    shapes.update(
        {
            f"loss_hyperparams[{key!r}]": np.shape(value)
            for key, value in keywords.items()
        }
    )
    if not shapes:
        raise ValueError(
            "sweep needs something to vary across lanes: learning_rates (a 1-D "
            "array), with an optimizer factory a 1-D array in hyperparams, or an "
            "array in loss_hyperparams."
        )
    lanes = _checks.agree(
        shapes, "the lanes' arrays disagree on the number of lanes", sizes=True
    )
    if lanes == 0:
        raise ValueError("sweep needs at least one lane; got arrays of length 0.")
    return lanes, rates, numbers


def _at(values: Any, index: int) -> Any:
    return values[index]


def _lane_count(
    tree: Any, name: str = "params_batch", expected: int | None = None
) -> int:
    shapes = _checks.leading_shapes(
        tree,
        name,
        f"every leaf of {name} needs a leading lane axis; {{where}} is a scalar.",
        arrays_only=True,
    )
    if not shapes:
        raise ValueError(f"{name} has no array leaves.")
    wanted = f" (expected {expected})" if expected is not None else ""
    lanes = _checks.agree(
        shapes,
        f"the leaves of {name} disagree on the leading (lane) axis{wanted}",
        expected=expected,
        sizes=True,
    )
    if lanes == 0:
        raise ValueError(
            f"{name} has no lanes: its leaves have a leading axis of length 0; "
            "pass at least one starting point."
        )
    return lanes
