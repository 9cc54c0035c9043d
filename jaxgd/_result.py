"""The result of a run: `FitResult`, and `DivergenceError` for runs that blew up."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import numpy as np

from . import _rules
from ._checks import describe


class DivergenceError(RuntimeError):
    """Raised by `FitResult.raise_if_diverged` when a run met a non-finite value."""


class FitResult(NamedTuple):
    """Everything a run of `jaxgd.fit` produced.

    A `FitResult` is a pytree, so it passes through `jax.jit` and `jax.vmap`;
    `jaxgd.sweep` and `jaxgd.multistart` return a batched one, whose every
    array leaf (params, opt_state, trajectory and aux included) has a leading
    lane axis. `num_lanes` says how many lanes it has, and `lane(i)` takes
    one lane, or a batch of some lanes.

    A `FitResult` is a NamedTuple: `result[3]` is its fourth field
    (`final_loss`), not lane 3, and `len(result)` is its number of fields.
    Use `result.lane(3)` for a lane.

    Attributes:
        params: final parameters, same structure and dtypes as the input. When
            the run diverged these are the last finite parameters.
        losses: `(num_steps,)` loss at the params before update `t` (the batch
            loss for mini-batches); NaN after the run stopped.
        grad_norms: `(num_steps,)` global L2 norm of the gradient at step `t`;
            NaN after the run stopped.
        final_loss: loss at the returned params on the full data.
        steps_taken: number of updates applied (int32).
        converged: `tol` was reached.
        diverged: a non-finite loss, gradient or update was met.
        trajectory: params with a leading axis of `num_steps + 1` (the initial
            params first) when `record_params=True`, else None.
        opt_state: final optimizer state; pass it back as `fit(...,
            opt_state=...)` to resume.
        step_sizes: `(num_steps,)` the step size of update `t`: the learning
            rate (a schedule's value at `t`), or the step the line search
            accepted with `learning_rate="auto"`; NaN where no update was
            applied (after the run stopped, and at the step that stopped it)
            and for every step of an `optimizer=` run.
        loss_evals: evaluations of the loss by the run's updates (int32): one
            per update attempted, plus every trial point of the line search;
            steps after the run stopped and the evaluations an optax optimizer
            makes on its own (`optax.lbfgs`'s line search) are not counted.
        stalled: the line search found no decrease in `max_tries` trials, so
            the run stopped there with the params kept: the loss cannot be
            lowered along the gradient at its float precision (or is not
            smooth there). Always False without a line search.
        validation_losses: with `validation_data`, `(ceil(num_steps / k),)`
            the validation loss at the params before updates 0, k, 2k, ...
            (`k = validation_every`); NaN from the first evaluation after the
            run stopped. None without `validation_data`.
        best_step: with `validation_data`, the number of updates applied at
            the lowest validation loss (int32); None without.
        stopped_early: `patience` evaluations in a row brought no new lowest
            validation loss, so the run stopped before the update at the
            last of them (bool). Distinct from `converged`, `diverged` and
            `stalled`.
        aux: with `has_aux=True`, the loss's aux at the params before update
            `t`, each leaf with a leading axis of `num_steps` and in a
            floating dtype; NaN after the run stopped. None without.
        pruned: per lane, under a `search=`: the search stopped this lane at
            the end of a rung (bool). None without a search that prunes.
        lineage: under `jaxgd.population_based`, a `Lineage(source,
            hyperparams)`: the lane each lane went on from at each exploit,
            and the numbers it used, period by period. None otherwise.

    `repr` shows shapes and the run's outcome in a few lines; the arrays are
    one attribute away.
    """

    params: Any
    losses: jax.Array
    grad_norms: jax.Array
    final_loss: jax.Array
    steps_taken: jax.Array
    converged: jax.Array
    diverged: jax.Array
    trajectory: Any
    opt_state: Any
    step_sizes: jax.Array
    loss_evals: jax.Array
    stalled: jax.Array
    validation_losses: jax.Array | None
    best_step: jax.Array | None
    stopped_early: jax.Array
    aux: Any = None
    pruned: jax.Array | None = None
    lineage: Any = None

    def __repr__(self) -> str:
        return _summary(self)

    @property
    def num_lanes(self) -> int | None:
        """The number of lanes of a batched result; None for a single run.

        A result of `jaxgd.fit` is a single run (its `final_loss` is a
        scalar); one of `jaxgd.sweep`, `jaxgd.multistart` or
        `jaxgd.cross_validate` has the lanes along the first axis of every
        array leaf.
        """
        shape = np.shape(self.final_loss)
        return int(shape[0]) if shape else None

    def lane(self, index: Any) -> FitResult:
        """One lane of a batched result, or a batch of some of its lanes.

        Every array leaf (params, opt_state, trajectory, aux, the histories)
        is indexed along its leading lane axis; leaves that are not arrays
        (an equinox model's functions, say) and fields that are None stay as
        they are. Lane `i` of `jaxgd.sweep(..., learning_rates=rates)` is the
        result of `jaxgd.fit(..., learning_rate=rates[i])` with the same other
        arguments (up to rounding: the lanes are computed together). The
        result itself may be traced (inside `jit`), the index may not.

        Args:
            index: an int, the lane (negative counts from the end, as in
                Python); or a sequence or 1-D array of ints, the lanes to keep
                in that order; or a 1-D boolean array of `num_lanes` flags,
                the lanes to keep (e.g. `~result.diverged`).

        Returns:
            For an int, the `FitResult` of that lane, without the lane axis,
            as `jaxgd.fit` returns it; otherwise a batched `FitResult` of the
            lanes chosen.

        Raises:
            ValueError: if the result is not batched, or a lane is out of
                range, or a boolean index is not one flag per lane.
            TypeError: if `index` is not an int, a sequence of ints or a 1-D
                integer or boolean array, or is traced.

        Examples:
            >>> import jax.numpy as jnp, jaxgd
            >>> result = jaxgd.sweep(lambda x: x**2, jnp.array(1.0),
            ...                      learning_rates=jnp.array([0.1, 0.2, 0.3]),
            ...                      num_steps=5)
            >>> result.num_lanes
            3
            >>> result.lane(1).losses.shape, result.lane([0, 2]).num_lanes
            ((5,), 2)
        """
        count = self.num_lanes
        if count is None:
            raise ValueError(
                "lane needs a batched FitResult, from jaxgd.sweep, "
                "jaxgd.multistart or jaxgd.cross_validate; this one is of a "
                "single run (its final_loss is a scalar): it has no lanes."
            )
        where = _lane_index(index, count)
        return jax.tree.map(
            lambda x: x[where] if isinstance(x, (jax.Array, np.ndarray)) else x, self
        )

    def raise_if_diverged(self) -> FitResult:
        """Raises `DivergenceError` if the run (or any lane of a batch) diverged.

        The message names the step, the loss there and what to try next.

        Returns:
            This result unchanged, so that calls can be chained:
            `params = fit(...).raise_if_diverged().params`.

        Raises:
            DivergenceError: if `diverged` is true for the run or for any lane.
            TypeError: if called on traced values (inside `jit` or `vmap`).
        """
        if isinstance(self.diverged, jax.core.Tracer):
            raise TypeError(
                "raise_if_diverged needs concrete values; call it on the result "
                "outside jax.jit / jax.vmap."
            )
        diverged = np.asarray(self.diverged)
        if diverged.ndim == 0:
            if diverged:
                raise DivergenceError(_explain(self))
            return self
        lanes = np.flatnonzero(diverged.reshape(-1))
        if lanes.size:
            shown = ", ".join(str(int(i)) for i in lanes[:10])
            more = f" and {lanes.size - 10} more" if lanes.size > 10 else ""
            first = int(lanes[0])
            lane = jax.tree.map(
                lambda x: np.asarray(x).reshape((-1, *np.shape(x)[diverged.ndim :]))[
                    first
                ],
                self,
            )
            raise DivergenceError(
                f"{lanes.size} of {diverged.size} lanes diverged (lanes "
                f"{shown}{more}). Lane {first}: {_explain(lane)}"
            )
        return self


def _lane_index(index: Any, count: int) -> Any:
    """`index` checked against `count` lanes: an int, or a 1-D int array."""
    if isinstance(index, jax.core.Tracer):
        # JAX clamps an index out of range: a wrong lane, silently.
        raise TypeError(
            "lane needs the value of index, to check it against the lanes: take "
            "the lane outside jit, or pass a Python int; got a traced "
            f"{describe(index)}."
        )
    if isinstance(index, (bool, np.bool_)):
        raise TypeError(
            f"lane takes an int or an array of ints; got {describe(index)}."
        )
    try:
        lanes = np.asarray(index)
    except (TypeError, ValueError):
        lanes = np.asarray(None)
    one = lanes.ndim == 0 and lanes.dtype.kind in "iu"
    if not one and (
        lanes.ndim != 1 or not (lanes.dtype.kind in "iub" or lanes.size == 0)
    ):
        raise TypeError(
            "lane takes an int, a sequence of ints, or a 1-D array of ints or "
            f"of one boolean per lane; got {describe(index)}."
        )
    if lanes.dtype.kind == "b":
        if lanes.shape != (count,):
            raise ValueError(
                f"a boolean lane index needs one flag per lane, {count}; got "
                f"{lanes.size}."
            )
        return np.flatnonzero(lanes)
    lanes = lanes.astype(np.int64)
    outside = lanes[(lanes < -count) | (lanes >= count)]
    if outside.size:
        raise ValueError(
            f"lane {int(outside[0])} is out of range: this result has {count} "
            f"lanes (0 to {count - 1}, or -{count} to -1 from the end)."
        )
    return int(lanes) if one else lanes


class _Text(str):
    """A string that shows as itself inside a container's repr."""

    def __repr__(self) -> str:
        return str(self)


def _shape(x: Any) -> str:
    shape = getattr(x, "shape", None)
    if shape is None:
        return _Text(type(x).__name__)
    dtype = getattr(x, "dtype", "")
    return _Text(f"{dtype}{list(shape)}")


def _brief(x: Any, limit: int = 6) -> str:
    """A scalar's value, or a short run of an array's values, or its shape."""
    try:
        values = np.asarray(x)
    except Exception:  # a tracer, under jit or vmap
        return _shape(x)
    if values.ndim == 0:
        return (
            f"{values.item():.6g}" if values.dtype.kind == "f" else str(values.item())
        )
    if values.size <= limit:
        return np.array2string(values, precision=6, separator=", ")
    return _shape(x)


def _summary(result: FitResult) -> str:
    """A few lines: the outcome, then the shape of every history."""
    lines = [
        f"final_loss={_brief(result.final_loss)}",
        f"steps_taken={_brief(result.steps_taken)}",
        f"converged={_brief(result.converged)}",
        f"diverged={_brief(result.diverged)}",
        f"stalled={_brief(result.stalled)}",
        f"stopped_early={_brief(result.stopped_early)}",
    ]
    if result.best_step is not None:
        lines.append(f"best_step={_brief(result.best_step)}")
    lines.append(f"loss_evals={_brief(result.loss_evals)}")
    shapes = jax.tree.map(_shape, result.params)
    text = str(shapes) if not isinstance(shapes, str) else shapes
    if len(text) > 300:
        leaves = jax.tree.leaves(result.params)
        text = f"{type(result.params).__name__} of {len(leaves)} leaves"
    lines.append(f"params={text}")
    for name in ("losses", "grad_norms", "step_sizes", "validation_losses"):
        value = getattr(result, name)
        if value is not None:
            lines.append(f"{name}={_shape(value)}")
    for name in ("trajectory", "aux"):
        value = getattr(result, name)
        if value is not None:
            lines.append(f"{name}=<{len(jax.tree.leaves(value))} leaves>")
    lines.append(f"opt_state=<{type(result.opt_state).__name__}>")
    return "FitResult(\n    " + ",\n    ".join(lines) + ",\n)"


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def _explain(result: FitResult) -> str:
    """Says where one run diverged and what to try next."""
    step = int(result.steps_taken)
    losses = np.asarray(result.losses, dtype=np.float64)
    grad_norms = np.asarray(result.grad_norms, dtype=np.float64)
    loss = losses[step] if step < losses.size else math.nan
    grad_norm = grad_norms[step] if step < grad_norms.size else math.nan
    if not math.isfinite(loss):
        what = f"the loss is {_fmt(loss)}"
    elif not math.isfinite(grad_norm):
        what = f"the loss is {_fmt(loss)} but the gradient norm is {_fmt(grad_norm)}"
    else:
        what = (
            f"the update from loss {_fmt(loss)} (gradient norm {_fmt(grad_norm)}) "
            "gave non-finite params"
        )

    if step == 0 and not (math.isfinite(loss) and math.isfinite(grad_norm)):
        return (
            f"fit diverged at step 0: {what} at the initial params, before any "
            "update, so the learning rate is not the cause. Check the data and "
            "the initial params for NaN or inf (e.g. jnp.isfinite(X).all()), and "
            "the loss for log(0), 0/0 or overflow."
        )
    history = (
        f" (it was {_fmt(losses[0])} at step 0 and {_fmt(losses[step - 1])} at "
        f"step {step - 1})"
        if step > 0
        else ""
    )
    advice = _rules.advice(result.opt_state)
    return (
        f"fit diverged at step {step}: {what}{history}; params are the last "
        f"finite ones, from before step {step}. {advice}"
    )
