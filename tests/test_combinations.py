"""Options combine: every combination of the loop's options against one reference.

The matrix is entry point (fit, sweep, multistart) x budget x stop (none,
tol, validation with patience and restore_best) x records (record_params,
history_every, has_aux, batch_size) x host (a long interruptible run or a
progress bar, a callback, a checkpoint: a run stopped halfway and resumed)
x transformation (the user's jit, vmap, grad, or the lanes placed with
`devices=`; on the suite's one device, see test_devices.py for four).

The reference is written from the documentation alone: a scan of
`make_step`'s update over the steps (its records, its params), the mini-batch
rule (epoch e is the permutation of `fold_in(key, e)`, cut into batches of
`batch_size` rows), and the validation rule (the validation loss before
updates 0, k, 2k, ..., patience, the params and optimizer state at the lowest
loss), period by period in Python. Each lane of `sweep` and `multistart` is
the reference run of its own rate or start.
"""

import functools
import itertools
import math
import os
import tempfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import jaxgd
from jaxgd import linear

RATES = (0.1, 0.9)  # the second is 1.5 x linear.max_learning_rate(X): it diverges
_rng = np.random.default_rng(7)
X = jnp.asarray(_rng.normal(size=(12, 2)), jnp.float32)
Y = jnp.asarray(
    X @ np.array([[1.5], [-0.5]]) + 0.1 * _rng.normal(size=(12, 1)), jnp.float32
)
X_VAL = jnp.asarray(_rng.normal(size=(6, 2)), jnp.float32)
Y_VAL = jnp.asarray(X_VAL @ np.array([[1.0], [0.0]]), jnp.float32)
START = {"W": jnp.array([[0.3], [0.2]]), "b": jnp.array([0.1])}
STARTS = {
    "W": jnp.array([[[0.3], [0.2]], [[-2.0], [4.0]]]),
    "b": jnp.array([[0.1], [3.0]]),
}


def mse(params, X, y):
    return linear.mse(params, X, y)


def mse_aux(params, X, y):
    residual = linear.predict(params, X) - y
    return jnp.mean(residual**2), {"residual": residual[:2, 0], "n": jnp.float32(1)}


class Case:
    """One combination, as keyword arguments of the public API."""

    def __init__(self, entry, budget, stop, records, host, transform):
        self.entry, self.budget, self.stop = entry, budget, stop
        self.records, self.host, self.transform = records, host, transform

    def __repr__(self):
        return (
            f"{self.entry}-{self.budget}-{self.stop}-{'+'.join(self.records) or 'none'}"
            f"-{self.host}-{self.transform}"
        )

    def options(self):
        options = {"num_steps": self.budget}
        if self.stop == "tol":
            options["tol"] = 1e-3
        elif self.stop == "validation":
            options.update(
                validation_data=(X_VAL, Y_VAL),
                validation_every=max(1, self.budget // 8),
                patience=2,
                restore_best=True,
            )
        if "record_params" in self.records:
            options["record_params"] = True
        if "history_every" in self.records:
            options["history_every"] = 3
        if "has_aux" in self.records:
            options["has_aux"] = True
        if "batch_size" in self.records:
            options.update(batch_size=4, key=jax.random.key(3))
        if self.host == "progress":
            options["progress"] = True
        return options

    @property
    def loss(self):
        return mse_aux if "has_aux" in self.records else mse


class _Stopped(Exception):
    pass


def run(case, seen):
    """The call the user makes, under the user's transformation.

    With a checkpoint, a run without transformation is first stopped halfway
    (its callback raises), then resumed from its checkpoint.
    """
    if case.host != "checkpoint":
        options = case.options()
        if case.host == "callback":
            options["callback"] = seen.append
        return _run(case, options)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "run.npz")
        options = {**case.options(), "checkpoint": path, "checkpoint_every": 1e-9}
        if case.transform == "none":

            def stop(info):
                if info.step >= case.budget // 2:
                    raise _Stopped

            try:
                _run(case, {**options, "callback": stop})
            except _Stopped:
                pass
            if os.path.exists(path):  # a run of one chunk writes only at its end
                options["resume"] = path
        return _run(case, options)


def _run(case, options):
    if case.transform == "devices":
        options["devices"] = jax.devices()[:1]
    if case.entry == "fit":

        def call(rate, start):
            return jaxgd.fit(case.loss, start, X, Y, learning_rate=rate, **options)

        if case.transform == "vmap":
            return jax.vmap(call, in_axes=(0, None))(jnp.array(RATES), START)
        if case.transform == "jit":
            return jax.jit(call)(RATES[0], START)
        return call(RATES[0], START)
    if case.entry == "sweep":

        def call(rates):
            return jaxgd.sweep(case.loss, START, X, Y, learning_rates=rates, **options)

        rates = jnp.array(RATES)
    else:

        def call(starts):
            return jaxgd.multistart(
                case.loss, starts, X, Y, learning_rate=RATES[0], **options
            )

        rates = STARTS
    return jax.jit(call)(rates) if case.transform == "jit" else call(rates)


def lanes(case):
    """`(learning_rate, start)` of each lane, or of the one run."""
    if case.entry == "sweep" or (case.entry == "fit" and case.transform == "vmap"):
        return [(rate, START) for rate in RATES]
    if case.entry == "multistart":
        return [(RATES[0], jax.tree.map(lambda x, k=k: x[k], STARTS)) for k in range(2)]
    return [(RATES[0], START)]


def reference(case, rate, start):
    """The documented behaviour, from `make_step` and the rules above."""
    options = case.options()
    num_steps, every_k = case.budget, options.get("history_every", 1)
    step = jaxgd.make_step(
        case.loss,
        learning_rate=rate,
        tol=options.get("tol"),
        has_aux=options.get("has_aux", False),
    )
    batch_size = options.get("batch_size")

    def rows(t):
        if batch_size is None:
            return X, Y
        per_epoch = X.shape[0] // batch_size
        epoch, i = jnp.divmod(t, per_epoch)
        order = jax.random.permutation(
            jax.random.fold_in(options["key"], epoch), X.shape[0]
        )
        taken = jax.lax.dynamic_slice_in_dim(order, i * batch_size, batch_size)
        return X[taken], Y[taken]

    @functools.partial(jax.jit, static_argnums=2)
    def steps(state, t0, k):
        def body(state, t):
            state, info = step.update(state, *rows(t))
            return state, (info, state.params)

        return jax.lax.scan(body, state, t0 + jnp.arange(k))

    def value(params, X, y):
        out = case.loss(params, X, y)
        return float(out[0] if isinstance(out, tuple) else out)

    state = step.init(start)
    # The params after each step, a chunk at a time, the initial ones first.
    infos, params_after = [], [jax.tree.map(lambda x: x[None], start)]
    validation = "validation_data" in options
    every = options["validation_every"] if validation else num_steps
    best_loss, best_step, since, best = math.inf, 0, 0, (state.params, state.opt_state)
    vals, stopped_early, t = [], False, 0
    while t < num_steps:
        k = min(every, num_steps - t)
        if validation:
            if not stopped_early and not (
                state.converged or state.diverged or state.stalled
            ):
                loss = value(state.params, X_VAL, Y_VAL)
                vals.append(loss)
                if loss < best_loss:
                    best_loss, best_step, since = loss, int(state.steps_taken), 0
                    best = (state.params, state.opt_state)
                else:
                    since += 1
                stopped_early = since >= options["patience"]
            else:
                vals.append(math.nan)
        if stopped_early:
            # No more updates: NaN records, the params as they are.
            infos.append(jax.tree.map(lambda x, k=k: _nan_rows(x, k), infos[-1]))
            params_after.append(
                jax.tree.map(
                    lambda x, k=k: jnp.broadcast_to(x, (k, *x.shape)), state.params
                )
            )
        else:
            state, (info, params) = steps(state, t, k)
            infos.append(info)
            params_after.append(params)
        t += k
    records = jax.tree.map(lambda *xs: jnp.concatenate(xs), *infos)
    params, opt_state = state.params, state.opt_state
    if validation and options.get("restore_best"):
        params, opt_state = best
    trajectory = None
    if options.get("record_params"):
        trajectory = jax.tree.map(
            lambda *xs: jnp.concatenate(xs)[::every_k], *params_after
        )
    return {
        "params": params,
        "opt_state": opt_state,
        "losses": records.loss[::every_k],
        "grad_norms": records.grad_norm[::every_k],
        "step_sizes": records.step_size[::every_k],
        "aux": None
        if records.aux is None
        else jax.tree.map(lambda a: a[::every_k], records.aux),
        "trajectory": trajectory,
        "final_loss": value(params, X, Y),
        "steps_taken": int(state.steps_taken),
        "converged": bool(state.converged),
        "diverged": bool(state.diverged),
        "stalled": False,
        "stopped_early": stopped_early,
        "loss_evals": int(state.loss_evals),
        "validation_losses": np.array(vals, np.float32) if validation else None,
        "best_step": best_step if validation else None,
    }


def _nan_rows(x, k):
    return jnp.full((k, *x.shape[1:]), jnp.nan, x.dtype)


def assert_equal_to_reference(case, result, lane, want):
    def got(name):
        value = getattr(result, name)
        if lane is None or value is None:
            return value
        return jax.tree.map(lambda x: x[lane], value)

    for name in ("steps_taken", "converged", "diverged", "stalled", "stopped_early"):
        assert bool(got(name) == want[name]), (case, lane, name, got(name), want[name])
    assert int(got("loss_evals")) == want["loss_evals"], (case, lane, "loss_evals")
    for name in ("best_step",):
        if want[name] is None:
            assert got(name) is None
        else:
            assert int(got(name)) == want[name], (case, lane, name)
    for name in (
        "losses",
        "grad_norms",
        "step_sizes",
        "aux",
        "trajectory",
        "validation_losses",
        "params",
        "opt_state",
    ):
        if want[name] is None:
            assert got(name) is None, (case, lane, name)
            continue
        for a, b in zip(
            jax.tree.leaves(got(name)), jax.tree.leaves(want[name]), strict=True
        ):
            a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
            assert a.shape == b.shape, (case, lane, name, a.shape, b.shape)
            np.testing.assert_allclose(
                a,
                b,
                rtol=2e-5,
                atol=1e-6,
                equal_nan=True,
                err_msg=f"{case} {lane} {name}",
            )
    np.testing.assert_allclose(
        float(got("final_loss")), want["final_loss"], rtol=2e-5, atol=1e-6
    )


def check(case):
    seen = []
    result = run(case, seen)
    jax.effects_barrier()
    batched = case.entry != "fit" or case.transform == "vmap"
    for k, (rate, start) in enumerate(lanes(case)):
        want = reference(case, rate, start)
        assert_equal_to_reference(case, result, k if batched else None, want)
    if case.host == "callback":
        check_callback(case, result, seen, batched)


def check_callback(case, result, seen, batched):
    """Every evaluation the callback saw is the run's record there."""
    assert seen and seen[0].step == 0
    every = case.options().get("validation_every")
    for info in seen:
        k = info.lane if batched and case.transform != "vmap" else 0
        if case.transform == "vmap":
            continue  # under the user's vmap, lanes are not named
        losses = np.asarray(result.losses if not batched else result.losses[k])
        every_k = case.options().get("history_every", 1)
        if info.step < case.budget and info.step % every_k == 0:
            np.testing.assert_allclose(
                info.loss, losses[info.step // every_k], rtol=1e-6, equal_nan=True
            )
        if every is not None:
            values = (
                result.validation_losses if not batched else result.validation_losses[k]
            )
            np.testing.assert_allclose(
                info.validation_loss, values[info.step // every], rtol=1e-6
            )


def check_gradient(case):
    """d final_loss / d learning rate through the whole run, against differences."""
    options = case.options()
    options.pop("progress", None)
    with jax.enable_x64(True):
        start = jax.tree.map(lambda x: x.astype(jnp.float64), START)
        data = (X.astype(jnp.float64), Y.astype(jnp.float64))
        if "validation_data" in options:
            options["validation_data"] = tuple(
                a.astype(jnp.float64) for a in options["validation_data"]
            )

        def final(rate):
            return jaxgd.fit(
                case.loss, start, *data, learning_rate=rate, **options
            ).final_loss

        rate, h = 0.05, 1e-6
        exact = jax.grad(final)(rate)
        numeric = (final(rate + h) - final(rate - h)) / (2 * h)
        np.testing.assert_allclose(
            exact, numeric, rtol=1e-4, atol=1e-8, err_msg=repr(case)
        )


def check_refused(case):
    """Under the user's vmap or grad, a checkpoint is refused, and says why."""
    message = (
        r"checkpoint and resume hold one run on the host: they cannot be used "
        r"under jax.vmap or jax.grad of fit"
    )
    with (
        tempfile.TemporaryDirectory() as folder,
        pytest.raises(ValueError, match=message),
    ):
        if case.transform == "vmap":
            run(case, [])
        else:
            path = os.path.join(folder, "run.npz")
            options = {**case.options(), "checkpoint": path}
            jax.grad(
                lambda rate: (
                    jaxgd.fit(
                        case.loss, START, X, Y, learning_rate=rate, **options
                    ).final_loss
                )
            )(0.05)


def check_case(case):
    if case.host == "checkpoint" and case.transform in ("vmap", "grad"):
        check_refused(case)
        return
    try:
        if case.transform == "grad":
            check_gradient(case)
        else:
            check(case)
    except (ValueError, TypeError) as error:  # a documented refusal names its argument
        pytest.fail(f"{case} raised {type(error).__name__}: {error}")


ENTRIES = ("fit", "sweep", "multistart")
STOPS = ("none", "tol", "validation")
RECORDS = ("record_params", "history_every", "has_aux", "batch_size")
HOSTS = ("none", "progress", "callback", "checkpoint")
TRANSFORMS = ("none", "jit", "vmap", "grad")


def _quick_cases():
    """Every stop with every record, each entry, budget and host."""
    budgets = itertools.cycle((1, 127, 128, 129))
    hosts = itertools.cycle(HOSTS[:3])
    entries = itertools.cycle(ENTRIES)
    pairs = (("record_params", "has_aux"), ("history_every", "batch_size"), ())
    return [
        Case(next(entries), next(budgets), stop, records, next(hosts), "none")
        for stop, records in itertools.product(STOPS, pairs)
    ] + [Case("fit", 300, "validation", ("batch_size",), "checkpoint", "none")]


def _transformed_cases():
    """Every record and a callback, under each of the user's transformations."""
    return [
        Case("fit", 129, "validation", RECORDS, "callback", "jit"),
        Case("fit", 129, "validation", RECORDS, "callback", "vmap"),
        Case("sweep", 129, "validation", RECORDS, "callback", "jit"),
        Case("fit", 129, "validation", ("batch_size",), "none", "grad"),
        Case("multistart", 300, "tol", RECORDS, "checkpoint", "none"),
        Case("fit", 129, "validation", RECORDS, "checkpoint", "jit"),
        Case("fit", 129, "validation", RECORDS, "checkpoint", "vmap"),
        Case("fit", 129, "validation", ("batch_size",), "checkpoint", "grad"),
    ]


@pytest.mark.parametrize("case", _quick_cases(), ids=repr)
def test_each_option_with_each_other_equals_the_reference(case):
    check_case(case)


@pytest.mark.slow
@pytest.mark.parametrize("case", _transformed_cases(), ids=repr)
def test_the_options_under_jit_vmap_and_grad_equal_the_reference(case):
    check_case(case)


@pytest.mark.slow
@pytest.mark.parametrize("entry", ["sweep", "multistart"])
def test_lanes_placed_on_a_device_equal_the_reference(entry):
    check_case(
        Case(
            entry,
            129,
            "validation",
            ("history_every", "has_aux"),
            "callback",
            "devices",
        )
    )


LONG = (99_999, 100_001, 131_073, 1_000_000)


@pytest.mark.slow
@pytest.mark.parametrize(
    "entry, budget",
    [*zip(itertools.cycle(ENTRIES), LONG), ("sweep", 1_000_000)],
    ids=str,
)
def test_long_budgets_equal_the_reference(entry, budget):
    # Past 100,000 steps a run is interruptible: the loop asks the host;
    # past 131,072 steps the chunks are grouped.
    stop = "validation" if budget != 1_000_000 else "tol"
    check_case(
        Case(entry, budget, stop, ("history_every", "has_aux"), "callback", "none")
    )


@pytest.mark.slow
@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
@given(
    entry=st.sampled_from(ENTRIES),
    budget=st.sampled_from((1, 2, 127, 128, 129, 300, 1_025)),
    stop=st.sampled_from(STOPS),
    records=st.sets(st.sampled_from(RECORDS)),
    host=st.sampled_from(HOSTS),
    transform=st.sampled_from(TRANSFORMS),
)
def test_any_combination_equals_the_reference(
    entry, budget, stop, records, host, transform
):
    if transform == "vmap" and entry != "fit":
        transform = "jit"
    if transform == "grad":
        entry, host = "fit", "none"
    check_case(Case(entry, budget, stop, tuple(sorted(records)), host, transform))
