"""`find_learning_rate` against the stability bound of gradient descent."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import regression

import jaxgd
from jaxgd import datasets, linear


@pytest.mark.slow
@pytest.mark.parametrize(
    ("n_features", "n_outputs", "scale", "seed"),
    [
        pytest.param(3, 1, 1.0, 0, id="standard"),
        pytest.param(3, 2, 3.0, 1, id="two-outputs-wide"),
        pytest.param(2, 1, 0.1, 2, id="narrow"),
        pytest.param(5, 1, 10.0, 3, id="five-features-wide"),
    ],
)
def test_suggestion_for_mse_is_below_max_learning_rate_within_a_factor_4(
    n_features, n_outputs, scale, seed
):
    X, y = regression(24, n_features, n_outputs, seed=seed)
    X = scale * X
    params = linear.init(jax.random.key(seed), n_features, n_outputs)
    limit = linear.max_learning_rate(X, out_features=n_outputs)
    finding = jaxgd.find_learning_rate(linear.mse, params, X, y)
    assert limit / 4 < finding.suggestion < limit
    assert finding.suggestion == 0.5 * finding.largest_stable
    # Below 2 / L every step decreases the loss: all those rates are stable,
    # down to where 50 steps no longer move the loss beyond rounding.
    rates = finding.learning_rates
    assert finding.stable[(rates >= limit / 100) & (rates < limit)].all()
    assert not finding.stable[rates > 2 * limit].any()
    assert finding.largest_stable == rates[np.flatnonzero(finding.stable)[-1]]


def test_on_a_parabola_the_largest_stable_rate_is_the_last_below_two_over_h():
    """On h x^2 / 2 a rate below 2/h shrinks x every step; above it x grows."""
    h = 3.7
    finding = jaxgd.find_learning_rate(
        lambda x: 0.5 * h * jnp.sum(x**2),
        jnp.array([1.0, -0.5]),
        num=40,
        num_steps=20,
        safety=0.25,
    )
    rates = finding.learning_rates
    np.testing.assert_allclose(rates, np.geomspace(1e-6, 10.0, 40))
    assert finding.largest_stable == rates[rates < 2 / h].max()
    assert finding.suggestion == 0.25 * finding.largest_stable
    assert not finding.stable[rates > 2 / h].any()


@pytest.mark.slow
def test_logistic_regression_is_stable_below_its_safe_bound():
    data = datasets.load("breast_cancer")
    X = (data.X[:80] - data.X.mean(axis=0)) / data.X.std(axis=0)
    X, y = jnp.asarray(X, jnp.float32), jnp.asarray(data.y[:80], jnp.float32)
    params = linear.init(jax.random.key(0), X.shape[1], 1)
    bound = linear.max_learning_rate(X, "bce")
    finding = jaxgd.find_learning_rate(linear.bce, params, X, y, num=32)
    rates = finding.learning_rates
    assert finding.largest_stable >= rates[rates < bound].max()


@pytest.mark.slow
def test_the_evidence_is_the_sweep_and_plots(tmp_path):
    plot = pytest.importorskip("jaxgd.plot")
    X, y = regression(16)
    params = linear.init(jax.random.key(0), 3, 1)
    finding = jaxgd.find_learning_rate(
        linear.mse, params, X, y, lower=1e-3, upper=1e3, num=12, num_steps=10
    )
    assert finding.result.final_loss.shape == (12,)
    assert finding.result.losses.shape == (12, 10)
    assert bool(finding.result.diverged[-1])  # 1000 is far past the bound
    figure = plot.lr_sweep(
        finding.learning_rates,
        finding.result,
        max_learning_rate=linear.max_learning_rate(X),
    )
    labels = [line.get_label() for line in figure.axes[0].lines]
    # Rates past the bound diverged, or grew on their way to it in 10 steps.
    assert "final loss" in labels and "diverged or grew" in labels


# --- no stable rate, bad options -------------------------------------------------


def test_a_range_entirely_too_large_says_to_lower_it():
    with pytest.raises(
        ValueError,
        match=r"no learning rate decreased the loss reliably: even the smallest, "
        r"lower=3, made it rise or diverge. Pass a smaller lower",
    ):
        jaxgd.find_learning_rate(
            lambda x: x**2, jnp.array(1.0), lower=3.0, upper=10.0, num=4
        )


def test_params_at_the_minimum_decrease_nothing():
    with pytest.raises(
        ValueError,
        match=r"no learning rate in \[1e-06, 10\] decreased the loss in "
        r"num_steps=5 steps without a rise",
    ):
        jaxgd.find_learning_rate(
            lambda x: (x - 2.0) ** 2 + 1.0, jnp.array(2.0), num=4, num_steps=5
        )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("dtype", "shape", "seed"),
    [
        pytest.param(jnp.float32, (32, 3), 0, id="float32-32x3"),
        pytest.param(jnp.float32, (100, 5), 0, id="float32-100x5"),
        pytest.param(jnp.float64, (32, 3), 2, id="float64-32x3"),
    ],
)
def test_at_the_least_squares_minimiser_it_says_so(dtype, shape, seed):
    """Data a line fits exactly, from linear.solve's params: the loss starts at
    rounding level, where its ups and downs are noise. It once returned a
    suggestion up to hundreds of times below the bound; now the documented
    error."""
    with jax.enable_x64(dtype == jnp.float64):
        X = 3 * jax.random.normal(jax.random.key(seed), shape, dtype) + 1
        W = jax.random.normal(jax.random.key(seed + 10), (shape[1], 1), dtype)
        y = X @ W + 0.5
        params = linear.solve(X, y)
        assert float(linear.mse(params, X, y)) < 1e-10
        with pytest.raises(
            ValueError,
            match=r"no learning rate in \[1e-06, 10\] decreased the loss in "
            r"num_steps=50 steps without a rise.*check that the params are not "
            r"already at a minimum",
        ):
            jaxgd.find_learning_rate(linear.mse, params, X, y)


@pytest.mark.parametrize("start", [jnp.nan, jnp.inf])
def test_a_loss_that_is_not_finite_at_the_start_is_named(start):
    with pytest.raises(
        ValueError,
        match=rf"the loss at the initial params is {start}; find_learning_rate "
        r"needs a finite loss to start from: check params and data",
    ):
        jaxgd.find_learning_rate(lambda x: jnp.sum(x**2), jnp.array([1.0, start]))


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"lower": 0.0}, ValueError, r"lower must be positive and finite; got 0.0"),
        ({"upper": float("inf")}, ValueError, r"upper must be positive and finite"),
        (
            {"lower": 1.0, "upper": 0.5},
            ValueError,
            r"upper must be > lower; got lower=1.0, upper=0.5",
        ),
        ({"num": 1}, ValueError, r"num must be >= 2; got 1"),
        ({"num_steps": 0}, ValueError, r"num_steps must be >= 1; got 0"),
        ({"safety": 1.5}, ValueError, r"safety must be in \(0, 1\]; got 1.5"),
        ({"safety": 0.0}, ValueError, r"safety must be positive and finite"),
        ({"lower": "1e-6"}, TypeError, r"lower must be a number; got str '1e-6'"),
        ({"num": 8.0}, TypeError, r"num must be an int; got float 8.0"),
    ],
)
def test_bad_options(options, error, message):
    with pytest.raises(error, match=message):
        jaxgd.find_learning_rate(lambda x: x**2, jnp.array(1.0), **options)
