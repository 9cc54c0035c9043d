"""`fit`: check the arguments, build the one step, run the one loop, and report."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from . import (
    _batches,
    _checkpoint,
    _checks,
    _interrupt,
    _loop,
    _params,
    _report,
    _rules,
    _search,
    _sharding,
    _step,
    _watch,
)
from ._result import FitResult


class Config(NamedTuple):
    """Everything static about a run: what a new value of it recompiles."""

    loss: Callable[..., jax.Array]
    rule: _rules.Rule
    constants: _params.Constants
    has_aux: bool
    num_steps: int
    batch_size: int | None
    use_tol: bool
    record_params: bool
    history_every: int
    validation_every: int | None
    patience: int | None
    restore_best: bool
    reporter: _report.Reporter | None
    interruptible: bool  # the loop asks the host whether Ctrl-C was pressed
    checkpointed: bool = False  # the loop writes checkpoints, or resumes
    search: Any = None  # a search of `_search`, its key taken out
    # `devices=` of a sweep: the lane axis's sharding (`_sharding.lane_sharding`).
    lane_sharding: Any = None


class Inputs(NamedTuple):
    """Everything traced about a run: new values of it never recompile.

    `params` are the trained leaves of the params, `frozen` their other arrays
    (each a pytree of the params' structure with None at the other leaves).
    """

    params: Any
    frozen: Any
    data: tuple[Any, ...]
    learning_rate: jax.Array | None
    hyperparams: dict[str, jax.Array] | None
    key: jax.Array | None
    tol: jax.Array | None
    opt_state: Any
    validation_data: tuple[Any, ...] | None
    loss_hyperparams: dict[str, jax.Array] | None = None
    search_key: jax.Array | None = None
    checkpoint: _checkpoint.Start | None = None


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
    hyperparams: Any = None,
    trainable: Any = None,
    has_aux: Any = False,
    history_every: Any = 1,
    search: Any = None,
    loss_hyperparams: Any = None,
    checkpoint: Any = None,
    checkpoint_every: Any = None,
    resume: Any = None,
) -> tuple[Config, Inputs]:
    """Validates the arguments of `fit` and splits them into static and traced."""
    _checks.function(loss, "loss", "loss(params, *data)")
    num_steps = _checks.count(
        num_steps, "num_steps", minimum=0, maximum=_checks.MAX_STEPS
    )
    history_every = _checks.count(history_every, "history_every", minimum=1)
    for name, flag in (
        ("record_params", record_params),
        ("progress", progress),
        ("restore_best", restore_best),
        ("has_aux", has_aux),
    ):
        _checks.flag(flag, name)
    trained, frozen, constants = _params.split(params, trainable)
    float_dtype = _rules.float_dtype(trained)
    rule, learning_rate, hyperparams = _rules.prepare(
        learning_rate, optimizer, hyperparams, float_dtype, params=trained
    )
    _checks.tol(tol)
    loss_hyperparams = _checks.loss_hyperparams(
        loss, loss_hyperparams, float_dtype, positional=1 + len(data)
    )
    batch_size = _checks.batching(batch_size, key, data)
    _sharding.check_data_sharding(data)
    search_key = None
    if search is not None:
        validation_every = _search.check(
            search,
            num_steps=num_steps,
            has_validation=validation_data is not None,
            validation_every=validation_every,
            history_every=history_every,
        )
    if isinstance(search, _search.PopulationBased):
        search, search_key = search._replace(key=None), search.key
    validation_data, validation_every, patience = _checks.validation(
        data,
        validation_data=validation_data,
        validation_every=validation_every,
        patience=patience,
        restore_best=restore_best,
        num_steps=num_steps,
        batch_size=batch_size,
    )
    if validation_data is not None:
        _sharding.check_data_sharding(validation_data, "validation_data")
    if callback is not None:
        _checks.function(
            callback, "callback", "callback(info) called at every evaluation"
        )
    traced = (
        params,
        data,
        learning_rate,
        hyperparams,
        key,
        tol,
        opt_state,
        loss_hyperparams,
    )
    reporter = None
    if callback is not None or progress:
        reporter = _report.Reporter(
            callback,
            progress,
            num_steps,
            stops=_report.can_stop(traced, validation_data),
        )
    interruptible = _interrupt.wanted(num_steps, progress, traced, validation_data)
    start = _checkpoint.prepare(checkpoint, checkpoint_every, resume)
    if start is not None and search is not None:
        raise ValueError(
            "checkpoint and resume do not go with search= yet: a search's rungs "
            "are loops of their own; checkpoint a sweep without search, or run "
            "the search without checkpoint."
        )
    config = Config(
        loss=loss,
        rule=rule,
        constants=constants,
        has_aux=has_aux,
        num_steps=num_steps,
        batch_size=batch_size,
        use_tol=tol is not None,
        record_params=record_params,
        history_every=history_every,
        validation_every=validation_every,
        patience=patience,
        restore_best=restore_best,
        reporter=reporter,
        interruptible=interruptible,
        search=search,
        checkpointed=start is not None,
    )
    inputs = Inputs(
        params=trained,
        frozen=frozen,
        data=tuple(data),
        learning_rate=learning_rate,
        hyperparams=hyperparams,
        key=key,
        tol=None if tol is None else jnp.asarray(tol, float_dtype),
        opt_state=opt_state,
        validation_data=validation_data,
        loss_hyperparams=loss_hyperparams,
        search_key=search_key,
        checkpoint=start,
    )
    return config, inputs


def run(
    config: Config, inputs: Inputs, axes: Inputs | None = None, initial: bool = False
) -> Any:
    """The traced body of `fit`, `sweep` and `multistart`: step, loop, result.

    It trains the trained leaves of the params; `finish` puts the model back
    together outside the compiled program. With `axes` (which fields of
    `inputs` carry a leading lane axis: 0, or None where shared), the run has
    lanes: the step is vmapped over them inside the one loop, which stops when
    its last lane does.

    A run that writes checkpoints or resumes starts its loop from the chunk
    and carry of `inputs.checkpoint`; with `initial`, `run` returns the
    carry a fresh run starts from instead (a checkpoint's part of it), made
    by its own program, so that a fresh run and a resumed one are the same
    compiled loop.
    """
    lanes = axes is not None
    # What differs from lane to lane once the lanes' states are made: the
    # frozen leaves of the params and the numbers the rule is built with.
    consts = (
        inputs.frozen,
        inputs.learning_rate,
        inputs.hyperparams,
        inputs.loss_hyperparams,
    )
    const_axes = axes and (
        axes.frozen,
        axes.learning_rate,
        axes.hyperparams,
        axes.loss_hyperparams,
    )
    shared = (None,) * len(inputs.data)

    def over_lanes(fn: Callable, *in_axes: Any) -> Callable:
        return jax.vmap(fn, in_axes=in_axes) if lanes else fn

    def one_lane(tree: Any, axis: int | None) -> Any:
        return _one_lane(tree, axis) if lanes else tree

    def objective(frozen: Any, keywords: dict[str, Any] | None) -> Callable:
        return _params.objective(
            _with_keywords(config.loss, keywords), frozen, config.constants
        )

    def value_of(params: Any, consts: tuple, *data: Any) -> jax.Array:
        out = objective(consts[0], consts[3])(params, *data)
        return jnp.asarray(out[0] if config.has_aux else out)

    # The loss of every lane at its params, on the given data.
    value_lanes = over_lanes(value_of, 0, const_axes, *shared)

    def step_of(consts: tuple) -> _step.Step:
        frozen, learning_rate, hyperparams, keywords = consts
        return _step.build(
            objective(frozen, keywords),
            _rules.build(config.rule, learning_rate, hyperparams),
            tol=inputs.tol if config.use_tol else None,
            has_aux=config.has_aux,
        )

    def start(params: Any, opt_state: Any, consts: tuple) -> _step.StepState:
        step = step_of(consts)
        state = step.init(params)
        if opt_state is None:
            return state
        return step.init(params, _rules.resume(config.rule, opt_state, state.opt_state))

    # Checked here, where the loop is traced, and so once per compilation:
    # a call that reuses the compiled loop skips the abstract evaluation.
    params = one_lane(inputs.params, axes and axes.params)
    frozen = one_lane(inputs.frozen, axes and axes.frozen)
    keywords = one_lane(inputs.loss_hyperparams, axes and axes.loss_hyperparams)
    value, aux = _checks.loss_output(
        objective(frozen, keywords), params, inputs.data, has_aux=config.has_aux
    )
    if inputs.validation_data is not None:
        checked, _ = _checks.loss_output(
            objective(frozen, keywords),
            params,
            inputs.validation_data,
            what="validation_data",
            has_aux=config.has_aux,
        )
    lane_update = over_lanes(
        lambda state, consts, *rows: step_of(consts).update(state, *rows),
        0,
        const_axes,
        *shared,
    )

    def hooks_of(consts: tuple, ids: jax.Array | None) -> dict[str, _loop.Hook]:
        """The features of the run as hooks of the loop, by name."""
        hooks = {}
        if inputs.validation_data is not None:
            hooks["validation"] = _watch.hook(
                lambda params: value_lanes(params, consts, *inputs.validation_data),
                dtype=jnp.result_type(jnp.float32, checked.dtype),
                patience=config.patience,
                restore_best=config.restore_best,
            )
        if config.reporter is not None:
            periods = _loop.plan(config.num_steps, config.validation_every).periods
            hooks["report"] = config.reporter.hook(periods, ids)
        if config.interruptible:
            hooks["interrupt"] = _interrupt.hook()
        if config.checkpointed:  # the last hook: it writes what the others left
            chunks = 0
            if config.num_steps:
                plan = _loop.plan(config.num_steps, config.validation_every)
                chunks = plan.periods * plan.per_period
            hooks["checkpoint"] = _checkpoint.hook(
                chunks, dict(hooks), inputs.checkpoint.run
            )
        return hooks

    loop_options = {
        "skipped": _step.nan_info(value, aux, params),
        "every": config.validation_every,
        "record_params": config.record_params,
        "history_every": config.history_every,
    }

    def go(
        state: _step.StepState,
        extra: Any,
        carries: dict[str, Any] | None,
        consts: tuple,
        ids: jax.Array | None,
        first_step: int,
        num_steps: int,
        resume: _loop.Resume | None = None,
    ) -> _loop.Outcome:
        """The one loop, on lanes built with `consts` (`ids` in the run)."""
        # Each device runs its share of the lanes (under `devices=`).
        sharding = config.lane_sharding
        state = _sharding.constrain_lanes(state, sharding)
        carries = _sharding.constrain_lanes(carries, sharding, jnp.size(state.status))
        update, _ = _batches.feed(
            lambda state, *rows: lane_update(state, consts, *rows),
            inputs.data,
            config.batch_size,
            inputs.key,
        )
        return _loop.iterate(
            update,
            state,
            extra,
            num_steps=num_steps,
            hooks=hooks_of(consts, ids),
            carries=carries,
            first_step=first_step,
            resume=resume,
            **loop_options,
        )

    start_axes = (axes.params, axes.opt_state, const_axes) if lanes else ()
    state = over_lanes(start, *start_axes)(inputs.params, inputs.opt_state, consts)
    extra = _batches.feed(None, inputs.data, config.batch_size, inputs.key)[1]
    pruned = lineage = None
    if config.search is None:
        resume = None
        if config.checkpointed:
            hooks = hooks_of(consts, None)
            fresh = _loop.begin(
                state, extra, num_steps=config.num_steps, hooks=hooks, **loop_options
            )
            if initial:
                return _checkpoint.kept(fresh, hooks)
            resume = _checkpoint.resume_from(inputs.checkpoint, fresh, hooks)
        out = go(state, extra, None, consts, None, 0, config.num_steps, resume)
    else:
        out, pruned, lineage = _search.run(
            config.search,
            go,
            state,
            extra,
            consts,
            const_axes,
            lambda params, consts: value_lanes(params, consts, *inputs.validation_data),
            inputs.search_key,
            num_steps=config.num_steps,
            validation_every=config.validation_every,
            history_every=config.history_every,
        )
    end = out.state
    params, opt_state = end.params, end.opt_state
    watch = out.carries.get("validation")
    if config.restore_best:
        params, opt_state = watch.best
    final_loss = value_lanes(params, consts, *inputs.data)
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
            }
        )
    result = FitResult(
        params=params,
        losses=out.infos.loss,
        grad_norms=out.infos.grad_norm,
        final_loss=final_loss,
        steps_taken=end.steps_taken,
        converged=end.converged,
        diverged=end.diverged,
        trajectory=out.trajectory,
        opt_state=opt_state,
        step_sizes=out.infos.step_size,
        loss_evals=end.loss_evals,
        stalled=end.stalled,
        validation_losses=out.records.get("validation"),
        best_step=None if watch is None else watch.best_step,
        stopped_early=end.stopped_early,
        aux=out.infos.aux,
        pruned=pruned,
        lineage=lineage,
    )
    return _sharding.constrain_lanes(result, config.lane_sharding)


def lane_losses(config: Config, inputs: Inputs, axes: Inputs | None) -> Callable:
    """`losses(params, *data)`: the loss of every lane at its trained params.

    The params are those `run` returns (the trained leaves, with the lane
    axis of `axes`); a scalar without lanes.
    """

    def value_of(params: Any, frozen: Any, keywords: Any, *data: Any) -> jax.Array:
        loss = _with_keywords(config.loss, keywords)
        out = _params.objective(loss, frozen, config.constants)(params, *data)
        return jnp.asarray(out[0] if config.has_aux else out)

    def losses(params: Any, *data: Any) -> jax.Array:
        args = (params, inputs.frozen, inputs.loss_hyperparams, *data)
        if axes is None:
            return value_of(*args)
        in_axes = (0, axes.frozen, axes.loss_hyperparams) + (None,) * len(data)
        return jax.vmap(value_of, in_axes=in_axes)(*args)

    return losses


def _with_keywords(loss: Callable, keywords: dict[str, Any] | None) -> Callable:
    """`loss(params, *data, **keywords)` as a function of params and data."""
    if not keywords:
        return loss

    def with_keywords(params: Any, *data: Any) -> Any:
        return loss(params, *data, **keywords)

    with_keywords.__name__ = getattr(loss, "__name__", "loss")
    return with_keywords


def _one_lane(tree: Any, axes: Any) -> Any:
    """Lane 0 of `tree`, whose leaves carry a lane axis where `axes` is 0."""
    return jax.tree.map(
        lambda axis, sub: sub if axis is None else jax.tree.map(lambda x: x[0], sub),
        axes,
        tree,
        is_leaf=lambda x: x is None,
    )


def finish(
    result: FitResult, config: Config, frozen: Any, lanes: bool = False
) -> FitResult:
    """The model put back together: the trained leaves with the others.

    `frozen` are the params' other arrays, with the lane axis under `sweep`
    and `multistart` (`lanes`); they get the trajectory's step axis too, so
    that every array leaf of the result has the same leading axes.
    """
    if _params.is_plain(config.constants):
        return result
    params = _params.combine(result.params, frozen, config.constants)
    trajectory = result.trajectory
    if trajectory is not None:
        at = 1 if lanes else 0

        def along_steps(x: jax.Array) -> jax.Array:
            x = jnp.expand_dims(x, at)
            shape = list(x.shape)
            shape[at] = config.num_steps // config.history_every + 1
            return jnp.broadcast_to(x, shape)

        trajectory = _params.combine(
            trajectory, jax.tree.map(along_steps, frozen), config.constants
        )
    return result._replace(params=params, trajectory=trajectory)


def execute(compiled: Callable, config: Config, *args: Any) -> FitResult:
    """`compiled(config, *args)`, stopped by Ctrl-C when the run allows it.

    A run whose callback raised stops, and that exception is raised here,
    once every callback of the run has run.
    """
    if config.checkpointed:
        *axes, inputs = args
        axes = axes[0] if axes else None
        start = _checkpoint.start(
            lambda: _initial(config, axes, inputs),
            {
                "num_steps": config.num_steps,
                "batch_size": config.batch_size,
                "history_every": config.history_every,
                "validation_every": config.validation_every,
                "patience": config.patience,
                "restore_best": config.restore_best,
                "use_tol": config.use_tol,
                "record_params": config.record_params,
                "has_aux": config.has_aux,
            },
            inputs,
        )
        args = (*args[:-1], inputs._replace(checkpoint=start))
    reporter = config.reporter
    if reporter is not None and reporter.stops:
        _report.start()
    if not config.interruptible:
        result = compiled(config, *args)
    else:
        _interrupt.raise_if_requested(0, config.num_steps)  # asked before it started
        with _interrupt.watching():
            result = compiled(config, *args)
            _interrupt.wait(result)
    if reporter is not None and reporter.stops:
        # On several devices a callback may still be running on the host.
        jax.block_until_ready(result)
        jax.effects_barrier()
        _report.raise_if_failed()
    if config.interruptible:
        # Cross-validation's program returns its scores beside the result.
        ran = result if isinstance(result, FitResult) else result[0]
        _interrupt.raise_if_requested(ran.steps_taken, config.num_steps)
    return result


def check_memory(config: Config, inputs: Inputs, lanes: int = 1) -> None:
    """Refuses a run whose histories would not fit in the memory available.

    The records of every kept step (loss, gradient norm, step size, aux) and
    the trajectory, times the lanes, against the free memory of the device
    (or of the machine, on the CPU).
    """
    kept = -(-config.num_steps // config.history_every)
    dtype = jnp.result_type(jnp.float32, *jax.tree.leaves(inputs.params))
    per_step = 3 * jnp.dtype(dtype).itemsize
    if config.has_aux:
        objective = _params.objective(config.loss, inputs.frozen, config.constants)
        _, aux = _checks.loss_output(
            objective, inputs.params, inputs.data, has_aux=True
        )
        per_step += sum(max(leaf.size, 1) * 8 for leaf in jax.tree.leaves(aux))
    need = kept * per_step
    if config.record_params:
        size = sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(inputs.params))
        need += (config.num_steps // config.history_every + 1) * size
    need *= lanes
    available = _checks.available_memory()
    if available is None or need <= available:
        return
    fits = max(1, available // 4)
    every = config.history_every * max(2, -(-need // fits))
    raise ValueError(
        f"the histories of this run need {_checks.bytes_text(need)} ("
        f"{kept:,} kept steps"
        + (f" of {lanes} lanes" if lanes > 1 else "")
        + f"), more than the {_checks.bytes_text(available)} of memory "
        f"available: pass history_every={every:,} to keep every {every:,}th "
        "step"
        + (", drop record_params" if config.record_params else "")
        + ", or run fewer num_steps."
    )


@functools.partial(jax.jit, static_argnums=0)
def _run_jit(config: Config, inputs: Inputs) -> FitResult:
    return run(config, inputs)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _initial(config: Config, axes: Inputs | None, inputs: Inputs) -> tuple:
    return run(config, inputs, axes, initial=True)


def fit(
    loss: Callable[..., jax.Array],
    params: Any,
    *data: Any,
    learning_rate: Any = None,
    optimizer: Any = None,
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
    hyperparams: dict[str, Any] | None = None,
    trainable: Any = None,
    has_aux: bool = False,
    history_every: int = 1,
    loss_hyperparams: dict[str, Any] | None = None,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: float | None = None,
    resume: str | os.PathLike | None = None,
) -> FitResult:
    r"""Minimises `loss` by gradient descent in one compiled loop.

    With `learning_rate` every step is

    $$
    \theta_{t+1} = \theta_t - \eta_t \nabla_\theta L(\theta_t),
    $$

    with `optimizer` it is that optax transformation.

    **Optimizers, and what recompiles.** `optimizer=optax.adam(1e-2)`, an
    optax object, is used as it is: its numbers are part of it, so every new
    object compiles the loop anew (seconds for a small network).
    `optimizer=optax.adam, learning_rate=1e-2, hyperparams={"b1": 0.9}`, the
    factory, is built inside the compiled loop with the learning rate and
    every float of `hyperparams` traced: new values never recompile, and
    `jaxgd.sweep` can give every lane its own. Python bools, ints and strings
    in `hyperparams` are static; a function is a schedule of the step count
    (as `optax.inject_hyperparams` takes it), unless the factory's argument
    takes another kind of function (adamw's `mask`), which is static too.

    **Models as params.** Params may be any pytree: an equinox `Module`, the
    state of a flax nnx model, containers with functions, strings or Python
    ints among the arrays. Floating-point arrays are trained (or the leaves
    `trainable` selects), every other leaf passes through untouched, and
    `params` comes back as the same type. With
    `learning_rate="auto"` each $\eta_t$ is chosen by an Armijo
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

    **Checkpoints.** With `checkpoint=path` the loop writes its whole state
    to `path` at the end of a chunk once `checkpoint_every` seconds have
    passed since the last write, and at the end of the run: the params, the
    optimizer state, the mini-batches' permutation, the validation's best
    (and its params), the histories and the step reached, in one `.npz`
    file replaced atomically (a kill at any moment leaves the previous
    checkpoint or the new one). `fit(..., resume=path)` with the same other
    arguments continues from it: the result's params, optimizer state and
    histories are those of the uninterrupted run, bit for bit, and a run
    killed (even by SIGKILL) loses at most `checkpoint_every` seconds of work
    and one chunk. Pass both (`checkpoint=path, resume=path`) to keep
    writing. The file of a finished run stays: resuming it returns the
    result at once. A run stopped by Ctrl-C or by its callback writes
    nothing from then on, and can be resumed from its last checkpoint.
    Under `jax.jit` the file of `resume` is read when `fit` is traced; under
    `jax.vmap` and `jax.grad` of `fit` checkpoints are refused (use
    `jaxgd.sweep`, whose lanes share one checkpoint).

    **Differentiable.** `jax.grad` through `fit` (e.g. of a validation loss
    with respect to the learning rate) runs the backward pass chunk by chunk,
    recomputing each chunk's steps (`jax.checkpoint`): it keeps one state per
    chunk, not one per step, so 100,000 steps fit in memory. With
    `optimizer=optax.adam` (and its kin) the derivative is NaN whenever an
    entry of the gradient is exactly 0 (a feature column of zeros, say):
    optax's default `eps_root=0` puts $\sqrt{v}$ at $v = 0$ in the
    derivative. `hyperparams={"eps_root": 1e-12}` makes it finite.

    Args:
        loss: `loss(params, *data) -> scalar`, a pure function.
        params: initial parameters, any pytree of floating arrays.
        *data: arrays passed to `loss` after params, e.g. `X: (n_samples,
            n_features)`, `y: (n_samples, n_outputs)`; may be empty.
        learning_rate: plain gradient descent with this step size: a float, a
            0-d array or an optax schedule `count -> rate`; or `"auto"` (or
            `jaxgd.backtracking(...)` for its options) to choose the step of
            every update by a line search. With `batch_size`, the search uses
            the mini-batch's loss. With an optimizer factory, its learning
            rate (a number, traced, or a schedule).
        optimizer: an `optax.GradientTransformation` (instead of
            `learning_rate`), or an optax factory such as `optax.adam` (with
            `learning_rate` and `hyperparams`).
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
            previous `FitResult`. With an optimizer factory, the run uses the
            `learning_rate` and `hyperparams` of this call.
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
            `validation_data` it is called at the start of every chunk of at
            most 128 steps (`validation_loss` is NaN), so not at the last
            step. Like `loss`, it is static: pass the same function object
            to reuse the compiled loop. An exception it raises stops the run
            and is raised by `fit` itself, once.
        hyperparams: with an optimizer factory, its other arguments by name,
            e.g. `{"b1": 0.9}`; the floats among them are traced.
        trainable: which leaves of the params to train: a predicate
            `leaf -> bool` (e.g. `equinox.is_inexact_array`) or a pytree of
            bools with the params' structure (or a prefix of it), as
            `optax.masked` takes. By default every floating-point array (and
            Python float); an integer or boolean array is then an error.
        has_aux: `loss` returns `(value, aux)`, with aux a pytree of numbers
            (scalars or small arrays): `FitResult.aux` holds it at every step.
        history_every: keep the records of steps 0, k, 2k, ... only (`k =
            history_every`): `losses`, `grad_norms`, `step_sizes` and `aux`
            have `ceil(num_steps / k)` entries, the trajectory the params after
            0, k, 2k, ... updates. A run of a billion steps then needs
            kilobytes; one whose histories would not fit in the memory
            available is refused before it starts.
        loss_hyperparams: keyword arguments of the loss, by name: the run
            minimises `loss(params, *data, **loss_hyperparams)`, on the
            validation data too. Their values are traced (a new value never
            recompiles); Python numbers become arrays of the params' floating
            dtype. Under `sweep`, one value per lane: a regularisation path
            in one program.
        checkpoint: a file to write the run's state to, as it runs (see
            **Checkpoints**); its folder must exist and be writable.
        checkpoint_every: seconds between two checkpoints (a positive
            number; 60 by default); only with `checkpoint`.
        resume: a file written by `checkpoint=` of the same call, to continue
            from (see **Checkpoints**).

    Returns:
        A `FitResult`.

    Raises:
        ValueError: for bad shapes, counts or concrete values, naming the
            argument and what was received; for a `resume` file written by
            another run (what differs is named).
        FileNotFoundError: when there is no file at `resume`.
        TypeError: for arguments of the wrong kind (an integer params leaf, a
            non-scalar or integer loss, an optimizer that is not optax's).

    Examples:
        The chapter's one-dimensional ball, rolling down $y = (x - 3)^2$:

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
        hyperparams=hyperparams,
        trainable=trainable,
        has_aux=has_aux,
        history_every=history_every,
        loss_hyperparams=loss_hyperparams,
        checkpoint=checkpoint,
        checkpoint_every=checkpoint_every,
        resume=resume,
    )
    check_memory(config, inputs)
    return finish(execute(_run_jit, config, inputs), config, inputs.frozen)
