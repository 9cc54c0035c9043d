"""Optimizer factories with traced hyperparameters, models as params, metrics
from the loss, and a readable result."""

import equinox as eqx
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


def _lane(tree, k):
    return jax.tree.map(lambda x: x[k] if hasattr(x, "shape") else x, tree)


# --- optimizer factories: the numbers are traced ---------------------------------


@pytest.mark.parametrize(
    "factory, hyperparams",
    [
        (optax.adam, {"b1": 0.8, "b2": 0.95}),
        (optax.sgd, {"momentum": 0.7, "nesterov": True}),
        (optax.adamw, {"weight_decay": 0.05}),
    ],
)
def test_a_factory_equals_the_optax_loop_of_its_object(x64, factory, hyperparams):
    X, y = regression(dtype=jnp.float64)
    params = _params(jnp.float64)
    result = jaxgd.fit(
        linear.mse,
        params,
        X,
        y,
        optimizer=factory,
        learning_rate=0.02,
        hyperparams=hyperparams,
        num_steps=60,
    )
    reference, losses, _ = optax_loop(
        linear.mse, params, (X, y), factory(0.02, **hyperparams), 60
    )
    assert_tree_allclose(result.params, reference, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(result.losses, losses, rtol=1e-10)


@pytest.mark.slow
def test_new_rates_and_hyperparams_of_a_factory_never_recompile():
    traces = []

    def loss(params, X, y):
        traces.append(None)
        return linear.mse(params, X, y)

    X, y = regression()
    kwargs = dict(optimizer=optax.adam, num_steps=10)
    jaxgd.fit(
        loss, _params(), X, y, learning_rate=1e-2, hyperparams={"b1": 0.9}, **kwargs
    )
    first = len(traces)
    for rate, b1 in [(1e-3, 0.9), (3e-2, 0.5), (jnp.float32(0.1), jnp.array(0.7))]:
        jaxgd.fit(
            loss, _params(), X, y, learning_rate=rate, hyperparams={"b1": b1}, **kwargs
        )
    assert first > 0 and len(traces) == first
    # An optax object carries its numbers: each new one compiles anew.
    jaxgd.fit(loss, _params(), X, y, optimizer=optax.adam(1e-2), num_steps=10)
    objects = len(traces)
    jaxgd.fit(loss, _params(), X, y, optimizer=optax.adam(2e-2), num_steps=10)
    assert len(traces) > objects


@pytest.mark.slow
def test_resuming_a_factory_equals_one_run_and_takes_the_new_numbers():
    X, y = regression()
    kwargs = dict(optimizer=optax.adam, hyperparams={"b1": 0.8})
    whole = jaxgd.fit(
        linear.mse, _params(), X, y, learning_rate=0.05, num_steps=30, **kwargs
    )
    first = jaxgd.fit(
        linear.mse, _params(), X, y, learning_rate=0.05, num_steps=12, **kwargs
    )
    second = jaxgd.fit(
        linear.mse,
        first.params,
        X,
        y,
        learning_rate=0.05,
        num_steps=18,
        opt_state=first.opt_state,
        **kwargs,
    )
    assert_tree_allclose(second.params, whole.params, rtol=1e-6, atol=1e-7)
    slower = jaxgd.fit(
        linear.mse,
        first.params,
        X,
        y,
        learning_rate=0.001,
        num_steps=1,
        opt_state=first.opt_state,
        **kwargs,
    )
    np.testing.assert_allclose(slower.opt_state.hyperparams["learning_rate"], 0.001)


def test_make_step_takes_the_same_two_forms():
    X, y = regression()
    as_factory = jaxgd.make_step(
        linear.mse,
        optimizer=optax.sgd,
        learning_rate=0.1,
        hyperparams={"momentum": 0.9},
    )
    as_object = jaxgd.make_step(linear.mse, optimizer=optax.sgd(0.1, momentum=0.9))
    a, b = as_factory.init(_params()), as_object.init(_params())
    for _ in range(5):
        a, _ = jax.jit(as_factory.update)(a, X, y)
        b, _ = jax.jit(as_object.update)(b, X, y)
    assert_tree_allclose(a.params, b.params, rtol=1e-6)


@pytest.mark.slow
def test_a_sweep_over_rates_and_a_hyperparameter_is_one_compilation(x64):
    X, y = regression(dtype=jnp.float64)
    params = _params(jnp.float64)
    rates, b1s = (
        g.ravel()
        for g in jnp.meshgrid(
            jnp.array([0.01, 0.05]), jnp.array([0.5, 0.8, 0.95]), indexing="ij"
        )
    )
    traces = []

    def loss(params, X, y):
        traces.append(None)
        return linear.mse(params, X, y)

    result = jaxgd.sweep(
        loss,
        params,
        X,
        y,
        optimizer=optax.adam,
        learning_rates=rates,
        hyperparams={"b1": b1s, "b2": 0.99},
        num_steps=40,
    )
    assert result.losses.shape == (6, 40)
    compiled = len(traces)
    jaxgd.sweep(
        loss,
        params,
        X,
        y,
        optimizer=optax.adam,
        learning_rates=rates * 2,
        hyperparams={"b1": b1s / 2, "b2": 0.9},
        num_steps=40,
    )
    assert len(traces) == compiled
    for k in range(6):
        reference, losses, _ = optax_loop(
            linear.mse,
            params,
            (X, y),
            optax.adam(float(rates[k]), b1=float(b1s[k]), b2=0.99),
            40,
        )
        assert_tree_allclose(_lane(result.params, k), reference, rtol=1e-10)
        np.testing.assert_allclose(result.losses[k], losses, rtol=1e-10)
    index, _ = jaxgd.best(result)
    assert index == int(np.argmin(result.final_loss))


@pytest.mark.slow
def test_a_sweep_of_one_hyperparameter_at_a_shared_rate():
    X, y = regression()
    result = jaxgd.sweep(
        linear.mse,
        _params(),
        X,
        y,
        optimizer=optax.sgd,
        learning_rate=0.05,
        hyperparams={"momentum": jnp.array([0.0, 0.5, 0.9])},
        num_steps=30,
    )
    for k, momentum in enumerate([0.0, 0.5, 0.9]):
        single = jaxgd.fit(
            linear.mse,
            _params(),
            X,
            y,
            optimizer=optax.sgd,
            learning_rate=0.05,
            hyperparams={"momentum": momentum},
            num_steps=30,
        )
        assert_tree_allclose(_lane(result.params, k), single.params, rtol=1e-5)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (
            {"optimizer": optax.adam(0.1), "hyperparams": {"b1": 0.9}},
            ValueError,
            r"hyperparams go to an optimizer factory, e\.g\. optimizer=optax\.adam",
        ),
        (
            {"learning_rate": 0.1, "hyperparams": {"b1": 0.9}},
            ValueError,
            r"hyperparams go to an optimizer factory.*plain gradient descent",
        ),
        (
            {"optimizer": optax.adam, "learning_rate": 0.1, "hyperparams": [0.9]},
            TypeError,
            r"hyperparams must be a dict of the optimizer's arguments by name",
        ),
        (
            {
                "optimizer": optax.adam,
                "learning_rate": 0.1,
                "hyperparams": {"beta": 0.9},
            },
            TypeError,
            r"the optimizer factory adam cannot be built from the arguments given "
            r"\(beta, learning_rate\): got an unexpected keyword argument 'beta'",
        ),
        (
            {"optimizer": optax.adam, "learning_rate": "auto"},
            ValueError,
            r"learning_rate='auto' asks for a line search",
        ),
        (
            {
                "optimizer": optax.adam,
                "learning_rate": 0.1,
                "hyperparams": {"b1": float("nan")},
            },
            ValueError,
            r"hyperparams\['b1'\] must be finite; got nan",
        ),
        (
            {"optimizer": optax.adam(0.1), "learning_rate": 0.1},
            ValueError,
            r"both were given\. To give an optimizer its learning rate, pass the "
            r"factory",
        ),
    ],
)
def test_bad_optimizer_arguments_are_named(kwargs, error, message):
    X, y = regression()
    with pytest.raises(error, match=message):
        jaxgd.fit(linear.mse, _params(), X, y, num_steps=3, **kwargs)


def test_bad_sweep_lanes_are_named():
    X, y = regression()
    with pytest.raises(
        ValueError,
        match=r"the lanes' arrays disagree on the number of lanes: "
        r"learning_rates: 2, hyperparams\['b1'\]: 3",
    ):
        jaxgd.sweep(
            linear.mse,
            _params(),
            X,
            y,
            optimizer=optax.adam,
            learning_rates=jnp.array([0.1, 0.2]),
            hyperparams={"b1": jnp.array([0.1, 0.2, 0.3])},
        )
    with pytest.raises(ValueError, match=r"sweep needs something to vary"):
        jaxgd.sweep(
            linear.mse,
            _params(),
            X,
            y,
            optimizer=optax.adam,
            learning_rate=0.1,
            hyperparams={"b1": 0.9},
        )
    with pytest.raises(TypeError, match=r"sweep's optimizer must be a factory"):
        jaxgd.sweep(
            linear.mse,
            _params(),
            X,
            y,
            optimizer=optax.adam(0.1),
            learning_rates=jnp.array([0.1]),
        )


# --- models as params ------------------------------------------------------------


def _mlp(dtype=jnp.float64):
    return eqx.nn.MLP(
        3, 1, 8, 2, activation=jax.nn.tanh, dtype=dtype, key=jax.random.key(0)
    )


def _mlp_loss(model, X, y):
    return jnp.mean((jax.vmap(model)(X) - y) ** 2)


@pytest.mark.slow
def test_an_equinox_model_trains_as_the_partition_and_optax_loop(x64):
    X, y = regression(n_samples=32, dtype=jnp.float64)
    model = _mlp()
    result = jaxgd.fit(_mlp_loss, model, X, y, optimizer=optax.adam(1e-2), num_steps=50)
    assert isinstance(result.params, eqx.nn.MLP)
    assert result.params.activation is jax.nn.tanh

    trained, static = eqx.partition(model, eqx.is_inexact_array)
    optimizer = optax.adam(1e-2)
    state = optimizer.init(trained)

    @jax.jit
    def step(trained, state):
        value, grads = jax.value_and_grad(
            lambda t: _mlp_loss(eqx.combine(t, static), X, y)
        )(trained)
        updates, state = optimizer.update(grads, state, trained)
        return optax.apply_updates(trained, updates), state, value

    losses = []
    for _ in range(50):
        trained, state, value = step(trained, state)
        losses.append(value)
    reference = eqx.combine(trained, static)
    assert_tree_allclose(
        eqx.filter(result.params, eqx.is_array),
        eqx.filter(reference, eqx.is_array),
        rtol=1e-10,
        atol=1e-12,
    )
    np.testing.assert_allclose(result.losses, losses, rtol=1e-10)


@pytest.mark.slow
def test_a_model_in_a_sweep_and_a_multistart():
    X, y = regression(n_samples=32)
    model = _mlp(jnp.float32)
    result = jaxgd.sweep(
        _mlp_loss,
        model,
        X,
        y,
        learning_rates=jnp.array([0.01, 0.1]),
        num_steps=20,
        record_params=True,
    )
    index, lane = jaxgd.best(result)
    assert isinstance(lane.params, eqx.nn.MLP)
    single = jaxgd.fit(
        _mlp_loss, model, X, y, learning_rate=[0.01, 0.1][index], num_steps=20
    )
    assert_tree_allclose(
        eqx.filter(lane.params, eqx.is_array),
        eqx.filter(single.params, eqx.is_array),
        rtol=1e-5,
        atol=1e-6,
    )
    assert result.trajectory.layers[0].weight.shape == (2, 21, 8, 3)
    starts = eqx.filter_vmap(lambda k: eqx.nn.MLP(3, 1, 8, 2, key=k))(
        jax.random.split(jax.random.key(3), 3)
    )
    runs = jaxgd.multistart(_mlp_loss, starts, X, y, learning_rate=0.05, num_steps=10)
    assert runs.params.layers[0].weight.shape == (3, 8, 3)
    assert runs.final_loss.shape == (3,)


def test_frozen_leaves_pass_through_and_trainable_selects():
    X, y = regression()
    params = {
        "linear": _params(),
        "scale": jnp.array(2.0),
        "steps": jnp.array(3),  # an integer array: frozen, with trainable
        "name": "model",
        "activation": jnp.tanh,
    }

    def loss(p, X, y):
        assert p["name"] == "model" and p["activation"] is jnp.tanh
        return p["scale"] * linear.mse(p["linear"], X, y) + 0.0 * p["steps"]

    with pytest.raises(TypeError, match=r"params\['steps'\] has dtype int32"):
        jaxgd.fit(loss, params, X, y, learning_rate=0.1, num_steps=3)
    mask = {
        "linear": True,
        "scale": False,
        "steps": False,
        "name": False,
        "activation": False,
    }
    result = jaxgd.fit(
        loss, params, X, y, learning_rate=0.05, num_steps=40, trainable=mask
    )
    assert result.params["name"] == "model"
    assert float(result.params["scale"]) == 2.0 and int(result.params["steps"]) == 3
    reference = jaxgd.fit(
        lambda p, X, y: 2.0 * linear.mse(p, X, y),
        _params(),
        X,
        y,
        learning_rate=0.05,
        num_steps=40,
    )
    assert_tree_allclose(result.params["linear"], reference.params, rtol=1e-6)
    by_predicate = jaxgd.fit(
        loss,
        params,
        X,
        y,
        learning_rate=0.05,
        num_steps=40,
        trainable=lambda leaf: hasattr(leaf, "ndim") and leaf.ndim > 0,
    )
    assert_tree_allclose(by_predicate.params["linear"], reference.params, rtol=1e-6)
    with pytest.raises(TypeError, match=r"trainable selects params\['steps'\]"):
        jaxgd.fit(
            loss,
            params,
            X,
            y,
            learning_rate=0.1,
            num_steps=3,
            trainable={**mask, "steps": True},
        )


# --- metrics from the loss -------------------------------------------------------


@pytest.mark.slow
def test_aux_is_recorded_per_step_and_nan_after_the_stop():
    X, y = regression()

    def loss(params, X, y):
        residual = linear.predict(params, X) - y
        mae = jnp.mean(jnp.abs(residual))
        return jnp.mean(residual**2), {"mae": mae, "hits": jnp.sum(residual < 0.5)}

    result = jaxgd.fit(
        loss,
        _params(),
        X,
        y,
        learning_rate=0.1,
        num_steps=400,
        tol=1e-3,
        has_aux=True,
        record_params=True,
    )
    taken = int(result.steps_taken)
    assert result.converged and taken < 399
    assert result.aux["mae"].shape == (400,) and result.aux["hits"].dtype == jnp.float32
    steps = jax.tree.map(lambda t: t[: taken + 1], result.trajectory)
    expected = jax.vmap(lambda p: loss(p, X, y)[1])(steps)
    np.testing.assert_allclose(
        result.aux["mae"][: taken + 1], expected["mae"], rtol=1e-6
    )
    np.testing.assert_array_equal(result.aux["hits"][: taken + 1], expected["hits"])
    assert np.isnan(result.aux["mae"][taken + 1 :]).all()
    np.testing.assert_allclose(
        result.final_loss, loss(result.params, X, y)[0], rtol=1e-6
    )
    lanes = jaxgd.sweep(
        loss,
        _params(),
        X,
        y,
        learning_rates=jnp.array([0.05, 0.1]),
        num_steps=50,
        has_aux=True,
    )
    assert lanes.aux["mae"].shape == (2, 50)


def test_a_loss_with_aux_needs_has_aux():
    X, y = regression()
    with pytest.raises(TypeError, match=r"If it returns \(value, aux\), pass has_aux"):
        jaxgd.fit(
            lambda p, X, y: (linear.mse(p, X, y), {}),
            _params(),
            X,
            y,
            learning_rate=0.1,
        )
    with pytest.raises(TypeError, match=r"with has_aux=True, loss must return"):
        jaxgd.fit(linear.mse, _params(), X, y, learning_rate=0.1, has_aux=True)


# --- a readable result, one output's 1-D targets ---------------------------------


@pytest.mark.slow
def test_repr_fits_a_screen_and_names_the_outcome():
    X, y = regression()
    result = jaxgd.fit(
        linear.mse,
        _params(),
        X,
        y,
        learning_rate=0.1,
        num_steps=500,
        record_params=True,
    )
    text = repr(result)
    assert len(text) < 1_500
    assert "steps_taken=500" in text and "losses=float32[500]" in text
    lanes = jaxgd.sweep(
        _mlp_loss,
        _mlp(jnp.float32),
        X,
        y,
        learning_rates=jnp.logspace(-3, -1, 32),
        num_steps=500,
        record_params=True,
        validation_data=(X, y),
    )
    assert len(repr(lanes)) < 1_500


def test_one_output_takes_a_one_dimensional_target():
    X, y = regression()
    params = _params()
    for loss in (linear.sse, linear.mse):
        np.testing.assert_allclose(loss(params, X, y[:, 0]), loss(params, X, y))
    assert_tree_allclose(linear.solve(X, y[:, 0]), linear.solve(X, y), rtol=1e-6)
    labels = (y > y.mean()).astype(jnp.float32)
    np.testing.assert_allclose(
        linear.bce(params, X, labels[:, 0]), linear.bce(params, X, labels)
    )
    with pytest.raises(ValueError, match=r"got y.shape=\(64,\)"):
        linear.mse(linear.init(jax.random.key(0), 3, 2), X, y[:, 0])


def test_the_state_of_a_flax_nnx_model_trains_as_params():
    nnx = pytest.importorskip("flax.nnx")
    X, y = regression()
    model = nnx.Linear(3, 1, rngs=nnx.Rngs(0))
    graphdef, state = nnx.split(model)

    def loss(state, X, y):
        return jnp.mean((nnx.merge(graphdef, state)(X) - y) ** 2)

    result = jaxgd.fit(loss, state, X, y, learning_rate=0.1, num_steps=300)
    assert type(result.params) is type(state)
    nnx.update(model, result.params)
    fitted = linear.solve(X, y)
    np.testing.assert_allclose(model.kernel[...], fitted["W"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(model.bias[...], fitted["b"], rtol=1e-4, atol=1e-5)
