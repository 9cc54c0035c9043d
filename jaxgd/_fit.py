"""`fit`: check the arguments, build the one step, run the one loop, and report."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from . import _linesearch, _loop, _report, _sharding, _validate
from ._result import FitResult
from ._step import guarded_update, nan_info


class Config(NamedTuple):
    """Everything static about a run: what a new value of it recompiles."""

    loss: Callable[..., jax.Array]
    optimizer: optax.GradientTransformation | None
    optimizer_factory: Callable[[jax.Array], optax.GradientTransformation] | None
    schedule: Callable[[jax.Array], jax.Array] | None
    line_search: _linesearch.Backtracking | None
    num_steps: int
    batch_size: int | None
    use_tol: bool
    record_params: bool
    validation_every: int | None
    patience: int | None
    restore_best: bool
    reporter: _report.Reporter | None


class Inputs(NamedTuple):
    """Everything traced about a run: new values of it never recompile."""

    params: Any
    data: tuple[Any, ...]
    learning_rate: jax.Array | None
    key: jax.Array | None
    tol: jax.Array | None
    opt_state: Any
    validation_data: tuple[Any, ...] | None


def prepare(
    loss: Callable[..., jax.Array],
    params: Any,
    data: tuple[Any, ...],
    *,
    learning_rate: Any = None,
    optimizer: Any = None,
    num_steps: Any = 1000,
    batch_size: Any = None,
    key: Any = None,
    tol: Any = None,
    record_params: Any = False,
    progress: Any = False,
    opt_state: Any = None,
    validation_data: Any = None,
    validation_every: Any = None,
    patience: Any = None,
    restore_best: Any = False,
    callback: Any = None,
    optimizer_factory: Any = None,
) -> tuple[Config, Inputs]:
    """Validates the arguments of `fit` and splits them into static and traced."""
    if not callable(loss):
        raise TypeError(
            f"loss must be a function loss(params, *data); got "
            f"{_validate.describe(loss)}."
        )
    num_steps = _validate.check_int(num_steps, "num_steps", minimum=0)
    for name, flag in (
        ("record_params", record_params),
        ("progress", progress),
        ("restore_best", restore_best),
    ):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be a bool; got {flag!r}.")
    params = _validate.check_params(params)
    float_dtype = jnp.result_type(jnp.float32, *jax.tree.leaves(params))
    schedule = None
    if optimizer_factory is None:
        _validate.check_one_of(learning_rate, optimizer)
    line_search = _linesearch.line_search_or_none(learning_rate)
    if optimizer is not None:
        _validate.check_optimizer(optimizer)
    elif line_search is not None:
        learning_rate = None
    elif callable(learning_rate):
        schedule, learning_rate = learning_rate, None
    elif learning_rate is not None:
        _validate.check_learning_rate(learning_rate)
        learning_rate = jnp.asarray(learning_rate, float_dtype)
    _validate.check_tol(tol)
    batch_size = _validate.check_batching(batch_size, key, data)
    _sharding.check_data_sharding(data)
    validation_data, validation_every, patience = _validate.check_validation(
        loss,
        params,
        data,
        validation_data=validation_data,
        validation_every=validation_every,
        patience=patience,
        restore_best=restore_best,
        num_steps=num_steps,
        batch_size=batch_size,
    )
    if validation_data is not None:
        _sharding.check_data_sharding(validation_data)
    if callback is not None and not callable(callback):
        raise TypeError(
            "callback must be a function callback(info) called at every "
            f"evaluation; got {_validate.describe(callback)}."
        )
    reporter = None
    if callback is not None or progress:
        reporter = _report.Reporter(callback, progress, num_steps)
    config = Config(
        loss=loss,
        optimizer=optimizer,
        optimizer_factory=optimizer_factory,
        schedule=schedule,
        line_search=line_search,
        num_steps=num_steps,
        batch_size=batch_size,
        use_tol=tol is not None,
        record_params=record_params,
        validation_every=validation_every,
        patience=patience,
        restore_best=restore_best,
        reporter=reporter,
    )
    inputs = Inputs(
        params=params,
        data=tuple(data),
        learning_rate=learning_rate,
        key=key,
        tol=None if tol is None else jnp.asarray(tol, float_dtype),
        opt_state=opt_state,
        validation_data=validation_data,
    )
    return config, inputs


def run(config: Config, inputs: Inputs, *, lane_axis: str | None = None) -> FitResult:
    """The traced body of `fit`: the step, the loop, the result.

    `sweep` and `multistart` vmap this same function over their lanes, under
    the axis name `lane_axis`, so that the loop stops when its last lane does.
    """
    value = _validate.check_loss_output(config.loss, inputs.params, inputs.data)
    if config.optimizer_factory is not None:
        rule = {"optimizer": config.optimizer_factory(inputs.learning_rate)}
    elif config.optimizer is not None:
        rule = {"optimizer": config.optimizer}
    else:
        rule = {
            "learning_rate": config.line_search
            or config.schedule
            or inputs.learning_rate
        }
    step = guarded_update(
        config.loss, tol=inputs.tol if config.use_tol else None, **rule
    )
    start = step.init(inputs.params, inputs.opt_state)
    skipped = nan_info(value.dtype, start.params)
    planned = step.step_sizes(start.opt_state, config.num_steps, skipped.loss.dtype)
    if planned is not None:  # known in advance: not recorded
        skipped = skipped._replace(step_size=None)
    validation = None
    if inputs.validation_data is not None:
        validation = _loop.Validation(
            loss=lambda params: config.loss(params, *inputs.validation_data),
            every=config.validation_every,
            patience=config.patience,
            restore_best=config.restore_best,
        )
    out = _loop.iterate(
        step.update,
        start,
        inputs.data,
        num_steps=config.num_steps,
        skipped=skipped,
        batch_size=config.batch_size,
        key=inputs.key,
        validation=validation,
        reporter=config.reporter,
        record_params=config.record_params,
        lane_axis=lane_axis,
    )
    end = out.state
    params, opt_state = end.params, end.opt_state
    if config.restore_best:
        params, opt_state = out.watch.best
    final_loss = config.loss(params, *inputs.data)
    final_loss = final_loss.astype(jnp.result_type(jnp.float32, final_loss))
    if config.reporter is not None:
        config.reporter.end(
            {
                "steps_taken": end.steps_taken,
                "final_loss": final_loss,
                "converged": end.converged,
                "diverged": end.diverged,
                "stalled": end.stalled,
                "stopped_early": end.stopped_early,
            },
            lane_axis,
        )
    step_sizes = out.infos.step_size
    if planned is not None:
        applied = jnp.arange(config.num_steps) < end.steps_taken
        step_sizes = jnp.where(applied, planned, jnp.nan)
    return FitResult(
        params=params,
        losses=out.infos.loss,
        grad_norms=out.infos.grad_norm,
        final_loss=final_loss,
        steps_taken=end.steps_taken,
        converged=end.converged,
        diverged=end.diverged,
        trajectory=out.trajectory,
        opt_state=opt_state,
        step_sizes=step_sizes,
        loss_evals=end.loss_evals,
        stalled=end.stalled,
        validation_losses=out.validation_losses,
        best_step=None if out.watch is None else out.watch.best_step,
        stopped_early=end.stopped_early,
    )


@functools.partial(jax.jit, static_argnums=0)
def _run_jit(config: Config, inputs: Inputs) -> FitResult:
    return run(config, inputs)


def fit(
    loss: Callable[..., jax.Array],
    params: Any,
    *data: Any,
    learning_rate: Any = None,
    optimizer: optax.GradientTransformation | None = None,
    num_steps: int = 1000,
    batch_size: int | None = None,
    key: jax.Array | None = None,
    tol: float | None = None,
    record_params: bool = False,
    progress: bool = False,
    opt_state: Any = None,
    validation_data: tuple[Any, ...] | None = None,
    validation_every: int | None = None,
    patience: int | None = None,
    restore_best: bool = False,
    callback: Callable[[_report.Evaluation], Any] | None = None,
) -> FitResult:
    r"""Minimises `loss` by gradient descent in one compiled loop.

    With `learning_rate` every step is

    .. math:: \theta_{t+1} = \theta_t - \eta_t \nabla_\theta L(\theta_t),

    with `optimizer` it is that optax transformation. With
    `learning_rate="auto"` each :math:`\eta_t` is chosen by an Armijo
    backtracking line search (see `jaxgd.backtracking`), inside the same
    compiled loop, and recorded in `step_sizes`. The whole loop is one
    `jax.jit`-compiled program of `num_steps` updates; the learning rate, the
    data values and the initial params are traced, so new values of the same shapes
    never recompile. A new `loss` function object (e.g. a fresh lambda) does.

    A step whose loss, gradient or updated params is non-finite sets
    `diverged` and applies no update, from that step on; a gradient norm <=
    `tol` sets `converged` likewise (that step applies no update, so it never
    also diverges), and a line search that finds no decrease
    sets `stalled`. Nothing raises inside the compiled loop:
    call `FitResult.raise_if_diverged()` to turn divergence into an error.

    **Stopping saves the time.** The steps run in chunks, and a chunk is
    skipped once the run has stopped (on `tol`, on divergence, on `patience`,
    or a stalled line search): a run that stops at step `s` of a budget of
    `num_steps` costs about `s` steps, not `num_steps`. Under `jaxgd.sweep`
    and `jaxgd.multistart` the loop stops when its last lane stops. Under your
    own `jax.vmap` of `fit`, the "still going?" test is per lane and JAX
    computes every chunk of every lane and selects: the results are the same,
    without the saving.

    **Validation.** With `validation_data`, `loss(params, *validation_data)`
    is evaluated at the params before updates 0, k, 2k, ... (`k =
    validation_every`) inside the same compiled loop, into
    `validation_losses`; `best_step` is the number of updates applied at the
    lowest of them. `patience=p` stops the run after p evaluations in a row
    without a new lowest validation loss (`stopped_early`), before the update
    at the last of them; `restore_best=True` returns the params and the
    optimizer state of `best_step` (and their `final_loss`), so
    `result.params` equals `fit(..., num_steps=result.best_step).params`;
    `steps_taken` still counts every update applied.

    **Differentiable.** `jax.grad` through `fit` (e.g. of a validation loss
    with respect to the learning rate) runs the backward pass chunk by chunk,
    recomputing each chunk's steps (`jax.checkpoint`): it keeps one state per
    chunk, not one per step, so 100,000 steps fit in memory.

    Args:
        loss: `loss(params, *data) -> scalar`, a pure function.
        params: initial parameters, any pytree of floating arrays.
        *data: arrays passed to `loss` after params, e.g. `X: (n_samples,
            n_features)`, `y: (n_samples, n_outputs)`; may be empty.
        learning_rate: plain gradient descent with this step size: a float, a
            0-d array or an optax schedule `count -> rate`; or `"auto"` (or
            `jaxgd.backtracking(...)` for its options) to choose the step of
            every update by a line search. With `batch_size`, the search uses
            the mini-batch's loss.
        optimizer: any `optax.GradientTransformation`, instead of
            `learning_rate`.
        num_steps: number of updates.
        batch_size: mini-batch SGD: each epoch draws a fresh permutation of
            axis 0 of every data array (the same for all of them) and takes
            `n_samples // batch_size` batches of exactly `batch_size` rows;
            the remainder of each permutation waits for the next epoch.
            `num_steps` counts updates, not epochs.
        key: a `jax.random` key for the permutations; required with
            `batch_size`.
        tol: stop once the global L2 norm of the gradient is <= tol.
        record_params: also return the params after every step.
        progress: show a progress bar (tqdm when installed), updated about 100
            times per run from inside the compiled loop; it stops where the
            run stops and says why.
        opt_state: optimizer state to resume from, e.g. the `opt_state` of a
            previous `FitResult`.
        validation_data: a tuple of arrays to pass to `loss` in place of
            `data`, as many as `data` (e.g. `(X_val, y_val)`).
        validation_every: evaluate the validation loss every this many
            updates, 1 <= k <= num_steps; by default every epoch: every
            update of full-batch descent, every `n_samples // batch_size`
            updates with mini-batches.
        patience: stop after this many evaluations in a row without a new
            lowest validation loss (>= 1); None never stops on validation.
        restore_best: return the params (and optimizer state) at the lowest
            validation loss instead of the last ones.
        callback: `callback(info)`, a host function called at every
            evaluation with a `jaxgd.Evaluation` (`step`, `loss`,
            `grad_norm`, `validation_loss`, `lane`, `num_steps`); without
            `validation_data` an evaluation is about every 1% of the run
            (`validation_loss` is NaN). Like `loss`, it is static: pass the
            same function object to reuse the compiled loop.

    Returns:
        A `FitResult`.

    Raises:
        ValueError: for bad shapes, counts or concrete values, naming the
            argument and what was received.
        TypeError: for arguments of the wrong kind (an integer params leaf, a
            non-scalar or integer loss, an optimizer that is not optax's).

    Examples:
        The chapter's one-dimensional ball, rolling down :math:`y = (x - 3)^2`:

        >>> import jax.numpy as jnp, jaxgd
        >>> result = jaxgd.fit(lambda x: (x - 3.0) ** 2, jnp.array(0.0),
        ...                    learning_rate=0.1, num_steps=100)
        >>> round(float(result.params), 4), result.losses.shape
        (3.0, (100,))

        Without choosing a rate: the line search finds the step to the bottom.

        >>> auto = jaxgd.fit(lambda x: (x - 3.0) ** 2, jnp.array(0.0),
        ...                  learning_rate="auto", num_steps=100, tol=1e-6)
        >>> float(auto.params), auto.step_sizes[0].item(), int(auto.loss_evals)
        (3.0, 0.5, 4)
    """
    config, inputs = prepare(
        loss,
        params,
        data,
        learning_rate=learning_rate,
        optimizer=optimizer,
        num_steps=num_steps,
        batch_size=batch_size,
        key=key,
        tol=tol,
        record_params=record_params,
        progress=progress,
        opt_state=opt_state,
        validation_data=validation_data,
        validation_every=validation_every,
        patience=patience,
        restore_best=restore_best,
        callback=callback,
    )
    return _run_jit(config, inputs)
