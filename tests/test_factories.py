"""Optimizer factories built as optax builds them: masks, schedules, integer
settings, narrow params, and clear errors for what cannot be built."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import assert_tree_allclose, optax_loop, regression

import jaxgd
from jaxgd import linear


def _params(dtype=jnp.float32):
    return linear.init(jax.random.key(1), 3, 1, dtype)


def _fit(dtype=jnp.float32, **options):
    X, y = regression(dtype=dtype)
    options = {"num_steps": 20, **options}
    return jaxgd.fit(linear.mse, _params(dtype), X, y, **options)


# --- settings that are not numbers ------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    "mask",
    [{"W": True, "b": False}, lambda p: {"W": True, "b": False}],
    ids=["pytree", "function"],
)
def test_a_mask_of_adamw_is_a_static_setting(x64, mask):
    X, y = regression(dtype=jnp.float64)
    result = _fit(
        jnp.float64,
        optimizer=optax.adamw,
        learning_rate=0.05,
        hyperparams={"mask": mask, "weight_decay": 0.5},
    )
    reference, losses, _ = optax_loop(
        linear.mse,
        _params(jnp.float64),
        (X, y),
        optax.adamw(0.05, weight_decay=0.5, mask=mask),
        20,
    )
    assert_tree_allclose(result.params, reference, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(result.losses, losses, rtol=1e-10)


def test_the_same_mask_again_reuses_the_compiled_run():
    traces = []

    def loss(params, X, y):
        traces.append(None)
        return linear.mse(params, X, y)

    X, y = regression()
    counts = []
    for decay in (0.1, 0.2):
        jaxgd.fit(
            loss,
            _params(),
            X,
            y,
            optimizer=optax.adamw,
            learning_rate=0.05,
            # A new dict each call, equal to the last.
            hyperparams={"mask": {"W": True, "b": False}, "weight_decay": decay},
            num_steps=3,
        )
        counts.append(len(traces))
    assert counts[0] > 0 and counts[1] == counts[0]


@pytest.mark.slow
def test_a_mask_in_a_sweep_is_shared_by_every_lane():
    X, y = regression()
    mask = {"W": True, "b": False}
    decays = jnp.array([0.1, 0.5])
    swept = jaxgd.sweep(
        linear.mse,
        _params(),
        X,
        y,
        optimizer=optax.adamw,
        learning_rate=0.05,
        hyperparams={"mask": mask, "weight_decay": decays},
        num_steps=10,
    )
    for k, decay in enumerate(decays.tolist()):
        one = _fit(
            optimizer=optax.adamw,
            learning_rate=0.05,
            hyperparams={"mask": mask, "weight_decay": decay},
            num_steps=10,
        )
        assert_tree_allclose(swept.lane(k).params, one.params, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "mask, error, message",
    [
        (
            "W",
            TypeError,
            r"hyperparams\['mask'\] must be a bool, a pytree of bools with the "
            r"params' structure \(or a prefix of it\), or a function of the params "
            r"returning one, as optax takes a mask; got str 'W'",
        ),
        (
            0.5,
            TypeError,
            r"hyperparams\['mask'\] must be a bool.*; got float 0.5",
        ),
        (
            {"W": 1.0, "b": True},
            TypeError,
            r"hyperparams\['mask'\] must be a bool.*; got dict .*, with a leaf "
            r"float 1.0",
        ),
        (
            {"W": True},
            ValueError,
            r"hyperparams\['mask'\] must have the structure of the params \(or a "
            r"prefix of it\), as optax takes a mask: got dict \{'W': True\} for "
            r"params of structure PyTreeDef\(\{'W': \*, 'b': \*\}\)",
        ),
    ],
    ids=["text", "number", "leaf", "structure"],
)
def test_a_mask_that_is_no_mask_of_the_params_is_named(mask, error, message):
    with pytest.raises(error, match=message):
        _fit(optimizer=optax.adamw, learning_rate=0.05, hyperparams={"mask": mask})


@pytest.mark.slow
def test_a_list_mask_in_a_sweep_is_a_setting_not_lanes():
    """A mask of list params is a list of bools: shared, never one per lane."""
    X, y = regression()

    def loss(params, X, y):
        return jnp.mean((X @ params[0] + params[1] - y) ** 2)

    params = [jnp.zeros((3, 1)), jnp.zeros(())]
    options = {
        "optimizer": optax.adamw,
        "hyperparams": {"mask": [True, False], "weight_decay": 0.5},
        "num_steps": 5,
    }
    rates = jnp.array([0.05, 0.1, 0.2])
    swept = jaxgd.sweep(loss, params, X, y, learning_rates=rates, **options)
    one = jaxgd.fit(loss, params, X, y, learning_rate=0.1, **options)
    assert_tree_allclose(swept.lane(1).params, one.params, rtol=1e-5, atol=1e-6)


# --- schedules of hyperparameters ---------------------------------------------------


@pytest.mark.slow
def test_a_schedule_of_b1_is_a_schedule_as_optax_takes_it(x64):
    X, y = regression(dtype=jnp.float64)
    b1 = optax.linear_schedule(0.9, 0.5, 10)
    result = _fit(
        jnp.float64, optimizer=optax.adam, learning_rate=0.05, hyperparams={"b1": b1}
    )
    reference, losses, _ = optax_loop(
        linear.mse,
        _params(jnp.float64),
        (X, y),
        optax.inject_hyperparams(optax.adam)(learning_rate=0.05, b1=b1),
        20,
    )
    assert_tree_allclose(result.params, reference, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(result.losses, losses, rtol=1e-10)
    assert result.opt_state.hyperparams["b1"] == pytest.approx(0.5)


def test_a_schedule_of_a_hyperparameter_works_in_make_step():
    step = jaxgd.make_step(
        lambda x: jnp.sum(x**2),
        optimizer=optax.adam,
        learning_rate=0.1,
        hyperparams={"b1": optax.linear_schedule(0.9, 0.5, 4)},
    )
    state = step.init(jnp.array([1.0, -2.0]))
    for _ in range(5):
        state, info = jax.jit(step.update)(state)
    assert state.opt_state.hyperparams["b1"] == pytest.approx(0.5)
    assert np.isfinite(info.loss)


def test_a_schedule_that_returns_no_number_is_named():
    with pytest.raises(
        ValueError,
        match=r"hyperparams\['b1'\], a schedule, must return one real value for a "
        r"step count; it returned array of shape \(2,\)",
    ):
        _fit(
            optimizer=optax.adam,
            learning_rate=0.05,
            hyperparams={"b1": lambda count: jnp.full(2, 0.9)},
        )


# --- integer settings are compiled in -----------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("hyperparams", [{}, {"memory_size": 3}], ids=str)
def test_lbfgs_as_a_factory_equals_its_object(hyperparams):
    """lbfgs' memory_size, an int (given or its default), sizes the state."""
    factory = _fit(optimizer=optax.lbfgs, hyperparams=hyperparams, num_steps=8)
    built = _fit(optimizer=optax.lbfgs(**hyperparams), num_steps=8)
    assert_tree_allclose(factory.params, built.params, rtol=1e-5, atol=1e-6)
    assert not factory.diverged


def test_sam_as_a_factory_equals_its_object():
    inner = {"optimizer": optax.sgd(0.05), "adv_optimizer": optax.sgd(0.01)}
    factory = _fit(optimizer=optax.contrib.sam, hyperparams=inner)
    built = _fit(optimizer=optax.contrib.sam(**inner))
    assert_tree_allclose(factory.params, built.params, rtol=1e-5, atol=1e-6)
    assert not factory.diverged


# --- narrow params ---------------------------------------------------------------


@pytest.mark.slow
def test_bfloat16_params_with_the_adam_factory_converge_like_its_object():
    """b2 = 0.999 is 1.0 in bfloat16: injected so, Adam's second moment never
    grows and the first step diverges. The numbers are injected in float32."""
    X, y = regression(dtype=jnp.bfloat16)
    params = _params(jnp.bfloat16)
    factory = jaxgd.fit(
        linear.mse,
        params,
        X,
        y,
        optimizer=optax.adam,
        learning_rate=0.05,
        num_steps=200,
    )
    built = jaxgd.fit(
        linear.mse, params, X, y, optimizer=optax.adam(0.05), num_steps=200
    )
    assert not factory.diverged and not built.diverged
    assert factory.params["W"].dtype == jnp.bfloat16
    assert jax.tree.map(lambda x: x.dtype, factory.opt_state.inner_state) == (
        jax.tree.map(lambda x: x.dtype, built.opt_state)
    )
    assert float(factory.final_loss) < 0.1 * float(factory.losses[0])
    np.testing.assert_allclose(factory.final_loss, built.final_loss, rtol=0.2)


def test_bfloat16_params_with_sgd_momentum_keep_their_state_dtypes():
    """The momentum, 0.999, is injected in float32 (in bfloat16 it is 1.0); the
    trace it multiplies stays in the params' bfloat16, as optax keeps it."""
    X, y = regression(dtype=jnp.bfloat16)
    result = jaxgd.fit(
        linear.mse,
        _params(jnp.bfloat16),
        X,
        y,
        optimizer=optax.sgd,
        learning_rate=0.01,
        hyperparams={"momentum": 0.999},
        num_steps=50,
    )
    assert not result.diverged and np.isfinite(result.losses).all()
    assert result.opt_state.hyperparams["momentum"].dtype == jnp.float32
    assert float(result.opt_state.hyperparams["momentum"]) == pytest.approx(0.999)
    assert result.opt_state.inner_state[0].trace["W"].dtype == jnp.bfloat16
    assert result.params["W"].dtype == jnp.bfloat16


# --- what cannot be built ------------------------------------------------------


def test_a_factory_that_returns_no_transformation_is_named():
    with pytest.raises(
        TypeError,
        match=r"optimizer=three must be an optax factory, returning an "
        r"optax.GradientTransformation .*; it returned int 3",
    ):

        def three(learning_rate):
            return 3

        _fit(optimizer=three, learning_rate=0.1)


def test_the_state_of_an_optax_object_does_not_resume_its_factory():
    state = _fit(optimizer=optax.adam(0.1), num_steps=3).opt_state
    with pytest.raises(
        ValueError,
        match=r"opt_state does not match the optimizer: it is a tuple, the state "
        r"of an optax object such as optax.adam\(1e-3\).*the optimizer factory "
        r"adam",
    ):
        _fit(optimizer=optax.adam, learning_rate=0.1, opt_state=state)


def test_the_state_of_a_factory_does_not_resume_plain_descent():
    state = _fit(optimizer=optax.adam, learning_rate=0.1, num_steps=3).opt_state
    with pytest.raises(
        ValueError,
        match=r"it is a InjectStatefulHyperparamsState, the state of an optimizer "
        r"factory, and this run uses plain gradient descent",
    ):
        _fit(learning_rate=0.1, opt_state=state)


def test_a_factory_resumes_its_own_state_with_the_numbers_of_the_call():
    first = _fit(optimizer=optax.adam, learning_rate=0.1, num_steps=3)
    again = _fit(
        optimizer=optax.adam,
        learning_rate=0.05,
        num_steps=3,
        opt_state=first.opt_state,
    )
    assert float(again.opt_state.hyperparams["learning_rate"]) == pytest.approx(0.05)
    assert int(again.opt_state.count) == 6


@pytest.mark.parametrize(
    "b1, error, message",
    [
        (
            jnp.array([0.9, 0.5]),
            ValueError,
            r"hyperparams\['b1'\] must be one number for the run; got array of "
            r"shape \(2,\).*jaxgd.sweep",
        ),
        (
            [0.9, 0.5],
            ValueError,
            r"hyperparams\['b1'\] must be one number for the run",
        ),
        (
            "0.9",
            TypeError,
            r"hyperparams\['b1'\] must be a number or a schedule, since adam's "
            r"argument b1 takes one; got str '0.9'",
        ),
        (
            {"a": 0.9},
            TypeError,
            r"hyperparams\['b1'\] must be a number or a schedule",
        ),
    ],
    ids=["array", "list", "text", "dict"],
)
def test_a_hyperparameter_of_fit_is_one_number(b1, error, message):
    with pytest.raises(error, match=message):
        _fit(optimizer=optax.adam, learning_rate=0.1, hyperparams={"b1": b1})


@pytest.mark.parametrize(
    "hyperparams, message",
    [
        (
            {"b1": [0.9, float("nan")]},
            r"hyperparams\['b1'\]\[1\] must be finite; got nan",
        ),
        (
            {"eps": [1e-8, 1e-300]},
            r"hyperparams\['eps'\]\[1\] = 1e-300 cannot be represented in float32",
        ),
        (
            {"b2": jnp.array([0.99, jnp.inf])},
            r"hyperparams\['b2'\]\[1\] must be finite",
        ),
    ],
    ids=["nan", "underflow", "inf"],
)
def test_every_lane_of_a_sweep_is_checked(hyperparams, message):
    X, y = regression()
    with pytest.raises(ValueError, match=message):
        jaxgd.sweep(
            linear.mse,
            _params(),
            X,
            y,
            optimizer=optax.adam,
            learning_rate=0.1,
            hyperparams=hyperparams,
            num_steps=3,
        )
