"""Bad input: a clear error at call time that names the argument and the value."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import regression

import jaxgd
from jaxgd import linear

X, Y = regression(n_samples=16)
PARAMS = {"W": jnp.zeros((3, 1)), "b": jnp.zeros(1)}


def _fit(**kwargs):
    options = {"learning_rate": 0.1, "num_steps": 3} | kwargs
    return jaxgd.fit(linear.mse, PARAMS, X, Y, **options)


def test_loss_returning_a_vector():
    with pytest.raises(
        ValueError, match=r"loss must return a scalar; .* returned shape \(16, 1\)"
    ):
        jaxgd.fit(
            lambda p, X, y: linear.predict(p, X) - y, PARAMS, X, Y, learning_rate=0.1
        )


@pytest.mark.parametrize(
    ("loss", "dtype"),
    [
        (lambda x: jnp.sum(x).astype(jnp.int32), "int32"),
        (lambda x: jnp.sum(x) * (1 + 1j), "complex64"),
    ],
)
def test_loss_returning_integer_or_complex(loss, dtype):
    with pytest.raises(
        TypeError, match=f"loss must return a real floating-point scalar; .*{dtype}"
    ):
        jaxgd.fit(loss, jnp.ones(2), learning_rate=0.1)


def test_loss_returning_not_an_array():
    with pytest.raises(TypeError, match=r"loss must return a scalar array; .*tuple"):
        jaxgd.fit(lambda x: (x, x), jnp.ones(()), learning_rate=0.1)


def test_loss_that_is_not_callable():
    with pytest.raises(TypeError, match="loss must be a function"):
        jaxgd.fit("mse", PARAMS, X, Y, learning_rate=0.1)


def test_integer_leaf_in_params_names_its_path():
    params = {"W": jnp.zeros((3, 1)), "b": jnp.zeros(1, jnp.int32)}
    with pytest.raises(
        TypeError, match=r"params\['b'\] has dtype int32; gradient descent needs"
    ):
        jaxgd.fit(linear.mse, params, X, Y, learning_rate=0.1)
    with pytest.raises(TypeError, match=r"params\[1\]\['k'\] has dtype int32"):
        jaxgd.fit(lambda p: 0.0, (1.0, {"k": jnp.array(2)}), learning_rate=0.1)


@pytest.mark.parametrize("params", [{}, (), None, {"a": []}, {"n": 3, "name": "w"}])
def test_params_with_nothing_to_train(params):
    with pytest.raises(
        ValueError, match=r"params has nothing to train: no floating-point array"
    ):
        jaxgd.fit(lambda p: 0.0, params, learning_rate=0.1)


@pytest.mark.parametrize(
    ("num_steps", "error", "message"),
    [
        (-1, ValueError, r"num_steps must be >= 0; got -1"),
        (2.5, TypeError, r"num_steps must be an int; got float 2.5"),
        (True, TypeError, r"num_steps must be an int; got bool True"),
        ("10", TypeError, r"num_steps must be an int; got str '10'"),
    ],
)
def test_bad_num_steps(num_steps, error, message):
    with pytest.raises(error, match=message):
        _fit(num_steps=num_steps)


def test_both_or_neither_of_learning_rate_and_optimizer():
    with pytest.raises(ValueError, match=r"pass exactly one of .* both were given"):
        _fit(optimizer=optax.sgd(0.1))
    with pytest.raises(ValueError, match=r"pass exactly one of .* neither was given"):
        jaxgd.fit(linear.mse, PARAMS, X, Y)


@pytest.mark.parametrize(
    "rate", [0.0, -0.1, float("nan"), float("inf"), np.float32(-1)]
)
def test_bad_concrete_learning_rate(rate):
    with pytest.raises(ValueError, match="learning_rate must be positive and finite"):
        _fit(learning_rate=rate)


def test_learning_rate_of_the_wrong_kind():
    with pytest.raises(
        ValueError,
        match=r"learning_rate must be a scalar; got shape"
        r" \(2,\). To run several learning rates at once use jaxgd.sweep",
    ):
        _fit(learning_rate=jnp.array([0.1, 0.2]))
    with pytest.raises(TypeError, match="learning_rate must be a float, a 0-d array"):
        _fit(learning_rate="0.1")


def test_optimizer_that_is_not_optax():
    with pytest.raises(
        TypeError,
        match=r"optimizer must be an optax.GradientTransformation \(e.g. "
        r"optax.adam\(1e-3\)\) or an optax factory \(e.g. optax.adam, with "
        r"learning_rate=...\); got str 'adam'",
    ):
        jaxgd.fit(linear.mse, PARAMS, X, Y, optimizer="adam")


def test_a_factory_without_its_learning_rate():
    with pytest.raises(
        TypeError,
        match=r"the optimizer factory adam cannot be built from the arguments given "
        r"\(nothing\): missing a required argument: 'learning_rate'\. Pass its "
        r"learning rate as learning_rate=\.\.\.",
    ):
        jaxgd.fit(linear.mse, PARAMS, X, Y, optimizer=optax.adam)


def test_batching_errors():
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="batch_size needs a key"):
        _fit(batch_size=4)
    with pytest.raises(ValueError, match="key is only used to draw mini-batches"):
        _fit(key=key)
    with pytest.raises(ValueError, match="batch_size must be >= 1; got 0"):
        _fit(batch_size=0, key=key)
    with pytest.raises(ValueError, match="batch_size must be >= 1; got -2"):
        _fit(batch_size=-2, key=key)
    with pytest.raises(
        ValueError,
        match="batch_size must be at most the number of samples; got "
        "batch_size=17 for 16 samples",
    ):
        _fit(batch_size=17, key=key)
    with pytest.raises(
        ValueError,
        match=r"data arrays disagree on the number of samples \(axis 0\): "
        r"data\[0\].shape=\(16, 3\), data\[1\].shape=\(15, 1\)",
    ):
        jaxgd.fit(
            linear.mse, PARAMS, X, Y[:15], learning_rate=0.1, batch_size=4, key=key
        )
    with pytest.raises(ValueError, match="batch_size needs data arrays"):
        jaxgd.fit(
            lambda p: jnp.sum(p**2),
            jnp.ones(2),
            learning_rate=0.1,
            batch_size=1,
            key=key,
        )


@pytest.mark.parametrize(
    ("tol", "error", "message"),
    [
        (-1e-3, ValueError, r"tol must be >= 0; got -0.001"),
        (float("nan"), ValueError, r"tol must be >= 0; got nan"),
        (jnp.ones(2), TypeError, r"tol must be a non-negative real scalar"),
    ],
)
def test_bad_tol(tol, error, message):
    with pytest.raises(error, match=message):
        _fit(tol=tol)


def test_bad_flags_and_opt_state():
    with pytest.raises(TypeError, match="record_params must be a bool; got 1"):
        _fit(record_params=1)
    with pytest.raises(TypeError, match="progress must be a bool; got 'yes'"):
        _fit(progress="yes")
    state = optax.adam(0.1).init(PARAMS)
    with pytest.raises(ValueError, match="opt_state does not match the optimizer's"):
        jaxgd.fit(linear.mse, PARAMS, X, Y, optimizer=optax.sgd(0.1), opt_state=state)


def test_value_checks_are_skipped_under_jit_and_vmap():
    """Traced values cannot be checked; they never raise TracerBoolConversionError."""

    def run(rate, tol):
        return jaxgd.fit(
            linear.mse, PARAMS, X, Y, learning_rate=rate, tol=tol, num_steps=3
        ).final_loss

    jax.jit(run)(0.1, 1e-6)
    jax.vmap(run)(jnp.array([0.1, -0.1]), jnp.array([1e-6, 1e-6]))
    # A non-positive rate that only the run can see still runs: the loss grows.
    losses = jax.vmap(run)(jnp.array([0.1, -0.1]), jnp.array([0.0, 0.0]))
    assert float(losses[1]) > float(losses[0])


def test_shape_errors_are_raised_under_jit_and_vmap():
    with pytest.raises(ValueError, match="loss must return a scalar"):
        jax.jit(
            lambda x: jaxgd.fit(lambda p: p * 2.0, x, learning_rate=0.1).final_loss
        )(jnp.ones(3))
    with pytest.raises(ValueError, match="learning_rate must be a scalar"):
        jax.vmap(lambda r: _fit(learning_rate=r).final_loss)(jnp.ones((2, 3)))
    with pytest.raises(ValueError, match=r"y must have the predictions' shape"):
        jax.vmap(
            lambda y: jaxgd.fit(linear.mse, PARAMS, X, y, learning_rate=0.1).params
        )(jnp.ones((2, 15)))


def test_sweep_errors():
    with pytest.raises(
        ValueError,
        match=r"learning_rates must be a non-empty 1-D "
        r"array; got array of shape \(0,\)",
    ):
        jaxgd.sweep(linear.mse, PARAMS, X, Y, learning_rates=np.array([]))
    with pytest.raises(
        ValueError,
        match=r"non-empty 1-D array; got array of shape "
        r"\(2, 2\)",
    ):
        jaxgd.sweep(linear.mse, PARAMS, X, Y, learning_rates=jnp.ones((2, 2)))
    with pytest.raises(ValueError, match=r"non-empty 1-D array; got float 0.1"):
        jaxgd.sweep(linear.mse, PARAMS, X, Y, learning_rates=0.1)
    with pytest.raises(
        ValueError,
        match=r"learning_rates must all be positive and "
        r"finite; got \[-1.0, nan\]",
    ):
        jaxgd.sweep(linear.mse, PARAMS, X, Y, learning_rates=[0.1, -1.0, np.nan])
    with pytest.raises(
        TypeError, match=r"sweep takes learning_rates .* not learning_rate"
    ):
        jaxgd.sweep(linear.mse, PARAMS, X, Y, learning_rates=[0.1], learning_rate=0.1)
    with pytest.raises(TypeError, match="sweep's optimizer must be a factory"):
        jaxgd.sweep(
            linear.mse, PARAMS, X, Y, learning_rates=[0.1], optimizer=optax.adam(0.1)
        )


def test_multistart_and_best_errors():
    batch = {"W": jnp.zeros((4, 3, 1)), "b": jnp.zeros((5, 1))}
    with pytest.raises(
        ValueError,
        match=r"the leaves of params_batch disagree on "
        r"the leading \(lane\) axis: params_batch\['W'\]: 4, "
        r"params_batch\['b'\]: 5",
    ):
        jaxgd.multistart(linear.mse, batch, X, Y, learning_rate=0.1)
    with pytest.raises(ValueError, match=r"params_batch\['b'\] is a scalar"):
        jaxgd.multistart(
            lambda p: p["b"] ** 2, {"b": jnp.array(1.0)}, learning_rate=0.1
        )
    single = _fit()
    with pytest.raises(
        ValueError,
        match=r"best needs a batched FitResult .* got "
        r"shape \(\)",
    ):
        jaxgd.best(single)
    lanes = jaxgd.sweep(
        lambda x: x**2,
        jnp.array(1.0),
        learning_rates=jnp.array([1.5, 2.5]),
        num_steps=200,
    )
    with pytest.raises(ValueError, match="every one of the 2 lanes diverged"):
        jaxgd.best(lanes)


def test_raise_if_diverged_under_jit_is_a_clear_error():
    with pytest.raises(TypeError, match="raise_if_diverged needs concrete values"):
        jax.jit(lambda: _fit().raise_if_diverged().final_loss)()


def test_linear_shape_errors():
    with pytest.raises(
        ValueError,
        match=r"X must be 2-D \(n_samples, n_features\); "
        r"got X.shape=\(16,\)",
    ):
        linear.mse(PARAMS, X[:, 0], Y)
    with pytest.raises(
        ValueError,
        match=r"y must have the predictions' shape "
        r"\(n_samples, n_outputs\) = \(16, 1\); got y.shape=\(15,\) "
        r"for X.shape=\(16, 3\)\.",
    ):
        linear.sse(PARAMS, X, Y[:15, 0])
    with pytest.raises(ValueError, match=r"got y.shape=\(16, 2\)"):
        linear.bce(PARAMS, X, jnp.ones((16, 2)))
    with pytest.raises(ValueError, match=r"X has 2 features but W expects 3"):
        linear.predict(PARAMS, X[:, :2])
    with pytest.raises(
        ValueError,
        match=r'params must be a dict with keys "W" and '
        r'"b"; got \[\'w\'\]',
    ):
        linear.predict({"w": 1}, X)
    with pytest.raises(
        ValueError,
        match=r"y must be \(n_samples, n_outputs\), or \(n_samples,\) for one "
        r"output, with as many rows as X; got X.shape=\(16, 3\), y.shape=\(15,\)",
    ):
        linear.solve(X, Y[:15, 0])
    with pytest.raises(ValueError, match=r"X must be 2-D"):
        linear.max_learning_rate(X[0])
    with pytest.raises(
        ValueError,
        match=r"loss must be one of \['bce', 'mse', "
        r"'sse'\]; got 'mae'",
    ):
        linear.max_learning_rate(X, loss="mae")
    with pytest.raises(ValueError, match="in_features must be >= 1; got 0"):
        linear.init(jax.random.key(0), 0, 1)
    with pytest.raises(TypeError, match="dtype must be a floating dtype"):
        linear.init(jax.random.key(0), 2, 1, jnp.int32)


def test_one_kind_of_value_one_message():
    """A key, a choice, a count: each kind is refused in the same words wherever."""
    key_message = r"key must be one jax.random key, e.g. key=jax.random.key\(0\); got "
    with pytest.raises(TypeError, match=key_message + "int 0"):
        linear.init(0, 3, 1)
    with pytest.raises(TypeError, match=key_message + "int 0"):
        _fit(batch_size=4, key=0)
    with pytest.raises(TypeError, match=r"by must be 'loss' or 'validation'; got int"):
        jaxgd.best(_fit(), by=1)
    with pytest.raises(
        TypeError, match=r"loss must be one of \['bce', 'mse', 'sse'\]; got int 3\."
    ):
        linear.solve(X, Y, loss=3)
    with pytest.raises(ValueError, match=r"out_features must be >= 1; got 0\."):
        linear.max_learning_rate(X, out_features=0)
