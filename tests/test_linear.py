"""`jaxgd.linear`: the chapter's model, its closed form and its stability bound."""

import os
import subprocess
import sys

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import assert_tree_allclose, regression

import jaxgd
from jaxgd import datasets, linear


@pytest.mark.slow
def test_init_is_uniform_in_plus_minus_one_over_sqrt_n():
    params = linear.init(jax.random.key(0), 16, 200)
    assert params["W"].shape == (16, 200) and params["b"].shape == (200,)
    assert params["W"].dtype == jnp.float32
    for leaf in (params["W"], params["b"]):
        assert float(jnp.abs(leaf).max()) <= 0.25
        # A uniform law on [-1/4, 1/4] has variance 1/48.
        np.testing.assert_allclose(jnp.var(leaf), 1 / 48, rtol=0.2)
    assert linear.init(jax.random.key(0), 2, 3, jnp.bfloat16)["b"].dtype == (
        jnp.bfloat16
    )


def test_predict_sse_mse_against_numpy():
    X, y = regression(n_samples=20, n_features=4, n_outputs=3)
    params = linear.init(jax.random.key(2), 4, 3)
    Xn, yn = np.asarray(X, np.float64), np.asarray(y, np.float64)
    Wn, bn = np.asarray(params["W"], np.float64), np.asarray(params["b"], np.float64)
    predictions = Xn @ Wn + bn
    np.testing.assert_allclose(linear.predict(params, X), predictions, rtol=1e-5)
    np.testing.assert_allclose(
        linear.sse(params, X, y), np.sum((yn - predictions) ** 2), rtol=1e-5
    )
    np.testing.assert_allclose(
        linear.mse(params, X, y), np.mean((yn - predictions) ** 2), rtol=1e-5
    )


def _plain_mse(params, X, y):
    return jnp.mean(jnp.square(y - (X @ params["W"] + params["b"][None, :])))


@pytest.mark.slow
def test_predict_derivatives_equal_those_of_a_plain_product(x64):
    # On the CPU, predict's derivative in (W, b) multiplies by an explicit
    # [X, 1]^T; every derivative must still be that of X @ W + b.
    X, y = regression(n_samples=30, n_features=4, n_outputs=2, dtype=jnp.float64)
    params = linear.init(jax.random.key(2), 4, 2, jnp.float64)
    for derivative in (jax.grad, jax.jacfwd, jax.hessian):
        assert_tree_allclose(
            jax.jit(derivative(linear.mse))(params, X, y),
            jax.jit(derivative(_plain_mse))(params, X, y),
            rtol=1e-12,
        )
    for argnums in (1, (0, 1)):
        assert_tree_allclose(
            jax.jit(jax.grad(linear.mse, argnums))(params, X, y),
            jax.jit(jax.grad(_plain_mse, argnums))(params, X, y),
            rtol=1e-12,
        )
    # Only W, only b: the other's tangent is a symbolic zero.
    for name in ("W", "b"):

        def of_one(loss, name=name):
            return jax.jit(jax.hessian(lambda v: loss({**params, name: v}, X, y)))

        assert_tree_allclose(
            of_one(linear.mse)(params[name]),
            of_one(_plain_mse)(params[name]),
            rtol=1e-12,
        )
    tangents = (jax.tree.map(jnp.ones_like, params), jnp.ones_like(X))
    assert_tree_allclose(
        jax.jvp(lambda p, X: linear.predict(p, X), (params, X), tangents),
        jax.jvp(lambda p, X: X @ p["W"] + p["b"][None, :], (params, X), tangents),
        rtol=1e-12,
    )
    # Mixed precision: float32 inputs, float64 weights.
    X32 = X.astype(jnp.float32)
    assert_tree_allclose(
        jax.jit(jax.grad(linear.mse))(params, X32, y),
        jax.jit(jax.grad(_plain_mse))(params, X32, y),
        rtol=1e-12,
    )
    if jax.default_backend() == "cpu":
        gradient = jax.make_jaxpr(jax.grad(linear.mse))(params, X, y)
        assert "optimization_barrier" in str(gradient)


@pytest.mark.slow
def test_predict_under_vmap_equals_a_loop(x64):
    """Batched over params (a sweep's or a multistart's lanes) or over data.

    On the CPU the product is laid out so that the lanes come first; values
    and gradients must be those of a Python loop of single calls.
    """
    X, y = regression(n_samples=30, n_features=4, n_outputs=3, dtype=jnp.float64)
    lanes = jax.vmap(lambda k: linear.init(k, 4, 3, jnp.float64))(
        jax.random.split(jax.random.key(5), 6)
    )
    value_and_grad = jax.jit(jax.value_and_grad(linear.mse))
    batched = jax.jit(jax.vmap(value_and_grad, in_axes=(0, None, None)))(lanes, X, y)
    predictions = jax.vmap(linear.predict, in_axes=(0, None))(lanes, X)
    for k in range(6):
        lane = jax.tree.map(lambda a, k=k: a[k], lanes)
        # atol: a gradient entry near 0 is a difference of terms of order 1.
        assert_tree_allclose(
            jax.tree.map(lambda a, k=k: a[k], batched),
            value_and_grad(lane, X, y),
            rtol=1e-12,
            atol=1e-14,
        )
        np.testing.assert_allclose(
            predictions[k],
            np.asarray(X) @ np.asarray(lane["W"]) + np.asarray(lane["b"]),
            rtol=1e-12,
        )
    first = jax.tree.map(lambda a: a[0], lanes)
    Xs, ys = jnp.stack([X, 2 * X]), jnp.stack([y, -y])
    batched = jax.vmap(value_and_grad, in_axes=(None, 0, 0))(first, Xs, ys)
    for k in range(2):
        assert_tree_allclose(
            jax.tree.map(lambda a, k=k: a[k], batched),
            value_and_grad(first, Xs[k], ys[k]),
            rtol=1e-12,
        )


def test_bce_is_the_cross_entropy_of_the_sigmoid_and_stable(x64):
    X = jnp.array([[0.5], [-1.0], [2.0], [40.0], [-40.0]], jnp.float64)
    y = jnp.array([[1.0], [0.0], [0.0], [1.0], [1.0]], jnp.float64)
    params = {"W": jnp.array([[1.5]], jnp.float64), "b": jnp.array([0.25])}
    z = np.asarray(X[:, 0]) * 1.5 + 0.25
    p = 1 / (1 + np.exp(-z))
    labels = np.asarray(y[:, 0])
    expected = np.array(
        [-np.log(q) if t else -np.log1p(-q) for q, t in zip(p, labels, strict=True)]
    )
    np.testing.assert_allclose(linear.bce(params, X, y), expected.mean(), rtol=1e-12)
    # Saturated logits: sigmoid rounds to 0 or 1, the logit form stays exact.
    huge = {"W": jnp.array([[1e4]]), "b": jnp.array([0.0])}
    z = 1e4 * np.asarray(X[:, 0])
    exact = np.where(labels == 1, np.logaddexp(0, -z), np.logaddexp(0, z))
    np.testing.assert_allclose(linear.bce(huge, X, y), exact.mean(), rtol=1e-12)


@pytest.mark.slow
def test_bce_derivatives_equal_those_of_logaddexp(x64):
    # bce's softplus has a derivative rule of its own (one exponential for the
    # value and the sigmoid); its first and second derivatives must be those
    # of log(1 + e^z), at zero and far out in both tails included.
    z = jnp.array([-800.0, -30.0, -1.0, -1e-8, 0.0, 1e-8, 1.0, 30.0, 800.0])
    X = jnp.ones((z.size, 1))
    y = jnp.linspace(0.0, 1.0, z.size)[:, None]
    params = {"W": jnp.ones((1, 1)), "b": jnp.zeros(1)}

    def plain(params, X, y):
        logits = (X * z[:, None]) @ params["W"] + params["b"][None, :]
        return jnp.mean(jnp.logaddexp(0.0, logits) - y * logits)

    def ours(params, X, y):
        return linear.bce({"W": params["W"], "b": params["b"]}, X * z[:, None], y)

    np.testing.assert_allclose(ours(params, X, y), plain(params, X, y), rtol=1e-14)
    for derivative in (jax.grad, jax.hessian):
        assert_tree_allclose(
            jax.jit(derivative(ours))(params, X, y),
            jax.jit(derivative(plain))(params, X, y),
            rtol=1e-10,
            atol=1e-12,  # entries that cancel to zero
        )
    assert jax.grad(jax.grad(linear._softplus))(0.0) == 0.25
    assert linear._softplus(jnp.inf) == jnp.inf and linear._softplus(-jnp.inf) == 0


def test_solve_is_least_squares(x64):
    X, y = regression(n_samples=30, n_features=4, n_outputs=2, dtype=jnp.float64)
    params = linear.solve(X, y)
    A = np.hstack([np.asarray(X), np.ones((30, 1))])
    theta = np.linalg.lstsq(A, np.asarray(y), rcond=None)[0]
    np.testing.assert_allclose(params["W"], theta[:-1], rtol=1e-10)
    np.testing.assert_allclose(params["b"], theta[-1], rtol=1e-10)
    # The normal equations: the gradient vanishes at the solution.
    grads = jax.jit(jax.grad(linear.sse))(params, X, y)
    assert max(float(np.abs(g).max()) for g in jax.tree.leaves(grads)) < 1e-10


@pytest.mark.slow
@pytest.mark.parametrize(("loss", "m"), [("mse", 1), ("mse", 3), ("sse", 2)])
def test_max_learning_rate_is_exact(x64, loss, m):
    """At 0.99x of the bound gradient descent converges, at 1.01x it diverges."""
    X, y = regression(n_samples=40, n_features=3, n_outputs=m, dtype=jnp.float64)
    X = X * jnp.array([[1.0, 3.0, 0.3]])  # unequal curvatures
    loss_fn = {"mse": linear.mse, "sse": linear.sse}[loss]
    bound = linear.max_learning_rate(X, loss=loss, out_features=m)
    params = linear.init(jax.random.key(1), 3, m, jnp.float64)
    optimum = loss_fn(linear.solve(X, y), X, y)

    below = jaxgd.fit(loss_fn, params, X, y, learning_rate=0.99 * bound, num_steps=4000)
    above = jaxgd.fit(loss_fn, params, X, y, learning_rate=1.01 * bound, num_steps=4000)
    np.testing.assert_allclose(below.final_loss, optimum, rtol=1e-6)
    assert not bool(below.diverged)
    excess = np.asarray(above.losses) - float(optimum)
    assert excess[-1] > 1e3 * excess[0]  # the top mode grows as 1.02^t
    # 2 / lambda_max of the Hessian, computed independently.
    flat, unravel = jax.flatten_util.ravel_pytree(params)
    hessian = jax.jit(jax.hessian(lambda v: loss_fn(unravel(v), X, y)))(flat)
    np.testing.assert_allclose(
        bound, 2 / np.linalg.eigvalsh(np.asarray(hessian))[-1], rtol=1e-10
    )


@pytest.mark.slow
def test_max_learning_rate_for_bce_is_a_safe_bound(x64):
    X, _ = regression(n_samples=50, n_features=3, dtype=jnp.float64)
    bound = linear.max_learning_rate(X, loss="bce")
    params = linear.init(jax.random.key(1), 3, 1, jnp.float64)
    flat, unravel = jax.flatten_util.ravel_pytree(params)
    y = (X[:, :1] > 0).astype(jnp.float64)
    tightest = np.inf
    hessian_at = jax.jit(jax.hessian(lambda v: linear.bce(unravel(v), X, y)))
    for scale in (0.0, 0.3, 3.0):
        hessian = hessian_at(flat * scale)
        tightest = min(tightest, 2 / np.linalg.eigvalsh(np.asarray(hessian))[-1])
    assert bound <= tightest * (1 + 1e-12)
    np.testing.assert_allclose(bound, tightest, rtol=1e-10)  # sharp at z = 0
    result = jaxgd.fit(
        linear.bce, params, X, y, learning_rate=0.99 * bound, num_steps=300
    )
    assert np.all(np.diff(np.asarray(result.losses)) <= 0)


def test_gradient_descent_on_sse_follows_the_chapter_update():
    """W <- W - eta dL/dW, b <- b - eta dL/db with dL/dW = -2 X^T (y - f)."""
    X, y = regression(n_samples=10, n_features=2, n_outputs=2)
    params = linear.init(jax.random.key(3), 2, 2)
    rate = 0.01
    result = jaxgd.fit(linear.sse, params, X, y, learning_rate=rate, num_steps=1)
    residual = y - linear.predict(params, X)
    expected = {
        "W": params["W"] + rate * 2 * X.T @ residual,
        "b": params["b"] + rate * 2 * residual.sum(axis=0),
    }
    assert_tree_allclose(result.params, expected, rtol=1e-5)


# --- standardize, the exact optimum of bce, accuracy -------------------------


def unscaled(seed=0, n=200):
    """Features of very different sizes and places, as in a real table."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3)) * [1e3, 1.0, 1e-2] + [3e3, -5.0, 0.5]
    y = X @ np.array([[2e-3], [-1.5], [40.0]]) + 7.0 + rng.normal(size=(n, 1))
    return X, y


def test_standardize_and_map_back_is_least_squares_in_original_units(x64):
    X, y = unscaled()
    Z, scaling = linear.standardize(X)
    np.testing.assert_allclose(scaling.mean, X.mean(axis=0), rtol=1e-14)
    np.testing.assert_allclose(scaling.scale, X.std(axis=0), rtol=1e-14)
    np.testing.assert_allclose(Z, (X - X.mean(axis=0)) / X.std(axis=0), atol=1e-13)
    back = scaling.unscale(linear.solve(Z, y))
    A = np.hstack([X, np.ones((len(X), 1))])
    theta = np.linalg.lstsq(A, y, rcond=None)[0]
    np.testing.assert_allclose(back["W"], theta[:-1], rtol=1e-9)
    np.testing.assert_allclose(back["b"], theta[-1], rtol=1e-9)
    # Any params, not only the optimum: the same predictions.
    params = {"W": jnp.array([[0.5], [-2.0], [3.0]]), "b": jnp.array([1.0])}
    np.testing.assert_allclose(
        linear.predict(scaling.unscale(params), X),
        linear.predict(params, Z),
        rtol=1e-10,
    )


def test_standardize_bad_input():
    with pytest.raises(ValueError, match=r"column 1 of X has the same value"):
        linear.standardize(jnp.array([[1.0, 5.0], [2.0, 5.0]]))
    with pytest.raises(ValueError, match=r"needs at least one sample"):
        linear.standardize(jnp.zeros((0, 2)))
    with pytest.raises(ValueError, match=r"X must be 2-D"):
        linear.standardize(jnp.zeros(3))
    _, scaling = linear.standardize(jnp.array([[1.0], [2.0]]))
    with pytest.raises(ValueError, match=r"params do not fit this standardization"):
        scaling.unscale({"W": jnp.zeros((2, 1)), "b": jnp.zeros(1)})


def bce_gradient_and_hessian(theta, X, y):
    """The float64 reference: the derivatives of mean bce, written out."""
    A = np.hstack([X, np.ones((len(X), 1))])
    p = 1 / (1 + np.exp(-(A @ theta)))
    return A.T @ (p - y[:, 0]) / len(X), (A * (p * (1 - p))[:, None]).T @ A / len(X)


@pytest.mark.parametrize("scaled", [True, False])
def test_solve_bce_is_the_minimiser(x64, scaled):
    """Gradient 0 and a positive-definite Hessian: the minimiser of a convex
    loss, on standardized breast-cancer data and on its raw columns."""
    data = datasets.load("breast_cancer")
    X = linear.standardize(data.X)[0] if scaled else data.X
    params = linear.solve(X, data.y, loss="bce")
    assert params["W"].dtype == jnp.float64
    theta = np.concatenate([np.ravel(params["W"]), np.ravel(params["b"])])
    grad, hessian = bce_gradient_and_hessian(theta, np.asarray(X), data.y)
    assert np.linalg.norm(grad) < 1e-8
    assert np.linalg.eigvalsh(hessian)[0] > 0
    grads = jax.jit(jax.grad(linear.bce))(params, X, data.y)
    assert max(float(np.max(np.abs(g))) for g in grads.values()) < 1e-8
    # Gradient descent from there does not find a lower loss.
    result = jaxgd.fit(linear.bce, params, X, data.y, learning_rate=1.0, num_steps=50)
    assert float(result.final_loss) >= float(linear.bce(params, X, data.y)) - 1e-14


def test_solve_bce_columns_and_soft_labels(x64):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(100, 2))
    y = np.stack([(X[:, 0] + rng.normal(size=100) > 0), rng.uniform(size=100)], 1)
    params = linear.solve(X, y.astype(float), loss="bce")
    for j in range(2):
        theta = np.append(np.asarray(params["W"])[:, j], params["b"][j])
        grad, _ = bce_gradient_and_hessian(theta, X, y[:, [j]].astype(float))
        assert np.linalg.norm(grad) < 1e-10


@pytest.mark.parametrize(
    ("X", "y"),
    [
        pytest.param(
            [[0.0], [1.0], [2.0], [3.0]], [[0.0], [0.0], [1.0], [1.0]], id="complete"
        ),
        pytest.param(
            [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [2.0, 1.0], [0.0, 1.0]],
            [[0.0], [0.0], [1.0], [1.0], [0.0]],
            id="two-features",
        ),
        pytest.param(
            [[0.0], [1.0], [1.0], [2.0], [3.0]],
            [[0.0], [0.0], [1.0], [1.0], [1.0]],
            id="quasi-complete",
        ),
    ],
)
def test_solve_bce_refuses_separable_classes(x64, X, y):
    with pytest.raises(
        ValueError, match=r"the classes are linearly separable: .* no finite minimiser"
    ):
        linear.solve(jnp.array(X), jnp.array(y), loss="bce")


def test_solve_bce_bad_input():
    X = jnp.array([[0.0], [1.0], [2.0]])
    with pytest.raises(ValueError, match=r"needs labels in \[0, 1\]; y holds values"):
        linear.solve(X, jnp.array([[0.0], [2.0], [1.0]]), loss="bce")
    with pytest.raises(ValueError, match=r"solve needs finite X; X holds NaN or inf"):
        linear.solve(X.at[1, 0].set(jnp.inf), jnp.array([[0.0], [1.0], [0.0]]), "bce")
    with pytest.raises(ValueError, match=r"loss must be one of"):
        linear.solve(X, X, loss="mae")
    with pytest.raises(ValueError, match=r"solve needs X and y"):
        linear.solve(X)


def test_accuracy_counts_logits_on_the_side_of_the_label():
    X = jnp.array([[-2.0], [-0.5], [0.0], [0.5], [2.0]])
    y = jnp.array([[0.0], [1.0], [0.0], [1.0], [0.0]])
    params = {"W": jnp.array([[1.0]]), "b": jnp.array([0.0])}
    # logits -2, -0.5, 0, 0.5, 2: right, wrong, right (0 predicts 0), right, wrong
    assert linear.accuracy(params, X, y) == 3 / 5
    assert linear.accuracy(params, X, y[:, 0]) == 3 / 5  # one output: 1-D y
    with pytest.raises(ValueError, match=r"y must have the predictions' shape"):
        linear.accuracy(params, X, y[:4, 0])

        linear.accuracy(params, X, y[:, 0])


# --- the bound from the smaller Gram matrix, and data it cannot take --------------


def reference_bound(X, loss="mse", m=1):
    """2 / lambda_max of the Hessian, from numpy's eigvalsh of A^T A in float64."""
    X = np.asarray(X, np.float64)
    A = np.hstack([X, np.ones((len(X), 1))])
    top = np.linalg.eigvalsh(A.T @ A)[-1]
    scale = 1.0 if loss == "sse" else len(X) * m
    return 2 * scale / ({"mse": 2.0, "sse": 2.0, "bce": 0.25}[loss] * top)


@pytest.mark.slow
@pytest.mark.parametrize("shape", [(30, 4), (5, 40), (6, 5)], ids=str)
@pytest.mark.parametrize(("loss", "m"), [("mse", 1), ("sse", 2), ("bce", 3)])
def test_max_learning_rate_equals_eigvalsh_tall_and_wide(x64, shape, loss, m):
    """lambda_max(A^T A) = lambda_max(A A^T): wide data give the same bound."""
    X = np.random.default_rng(0).normal(size=shape) * [1.0] * shape[1] + 0.5
    expected = reference_bound(X, loss, m)
    bound = linear.max_learning_rate(jnp.asarray(X), loss=loss, out_features=m)
    np.testing.assert_allclose(bound, expected, rtol=1e-10)
    y = np.ones((shape[0], 1))
    from_stats = linear.max_learning_rate(linear.stats(X, y), loss, m)
    np.testing.assert_allclose(from_stats, expected, rtol=1e-9)


@pytest.mark.slow
def test_max_learning_rate_of_many_features_from_statistics(x64):
    """Statistics of 1,500 features: the Gram matrix is large, the bound exact."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 1500)) + 2.0
    stats = linear.stats(X, rng.normal(size=(40, 1)))
    np.testing.assert_allclose(
        linear.max_learning_rate(stats), reference_bound(X), rtol=1e-9
    )


def test_max_learning_rate_of_values_whose_squares_overflow():
    """The bound is exact where A^T A itself overflows: 1e20 in float32."""
    X = np.random.default_rng(2).normal(size=(8, 3)) * [1e20, 1.0, 1e19]
    bound = linear.max_learning_rate(jnp.asarray(X, jnp.float32))
    np.testing.assert_allclose(
        bound, reference_bound(np.asarray(X, np.float32)), rtol=1e-5
    )
    assert 0 < bound < 1e-39


def test_max_learning_rate_too_small_for_a_float_is_an_error(x64):
    X = jnp.array([[1e200, 1.0], [-3e200, 2.0]])
    np.testing.assert_allclose(
        linear.max_learning_rate(X / 1e100) * 1e-200,
        reference_bound(np.asarray(X / 1e100)) * 1e-200,
        rtol=1e-10,
    )
    with pytest.raises(
        ValueError,
        match=r"max_learning_rate is below the smallest float: X holds values as "
        r"large as 3e\+200",
    ):
        linear.max_learning_rate(X)


def test_max_learning_rate_refuses_empty_and_non_finite_data():
    with pytest.raises(
        ValueError,
        match=r"max_learning_rate needs at least one sample; got X.shape=\(0, 3\)",
    ):
        linear.max_learning_rate(jnp.zeros((0, 3)))
    for bad in (jnp.nan, jnp.inf, -jnp.inf):
        X = jnp.ones((4, 2)).at[2, 1].set(bad)
        with pytest.raises(
            ValueError,
            match=r"max_learning_rate needs finite X; X holds NaN or infinity in 1 "
            rf"of its 8 values \(the first: X\[2, 1\] = {bad}\)",
        ):
            linear.max_learning_rate(X)
    stats = linear.stats(jnp.ones((4, 2)), jnp.ones((4, 1)))
    with pytest.raises(
        ValueError,
        match=r"max_learning_rate needs finite statistics; these hold NaN or "
        r"infinity: gram",
    ):
        linear.max_learning_rate(stats._replace(gram=stats.gram.at[0, 0].set(jnp.inf)))
    with pytest.raises(TypeError, match=r"returns a Python float, so it needs the"):
        jax.jit(linear.max_learning_rate)(jnp.ones((4, 2)))


def test_solve_refuses_non_finite_data_at_once():
    """An infinity once made least squares spin forever in LAPACK's SVD."""
    X, y = jnp.ones((4, 2)), jnp.arange(4.0)[:, None]
    with pytest.raises(
        ValueError,
        match=r"solve needs finite X; X holds NaN or infinity in 1 of its 8 values "
        r"\(the first: X\[0, 0\] = inf\)",
    ):
        linear.solve(X.at[0, 0].set(jnp.inf), y)
    with pytest.raises(ValueError, match=r"solve needs finite y; y holds NaN"):
        linear.solve(X, y.at[3, 0].set(jnp.nan))
    with pytest.raises(
        ValueError, match=r"solve needs at least one sample; got X.shape=\(0, 2\)"
    ):
        linear.solve(jnp.zeros((0, 2)), jnp.zeros((0, 1)))
    stats = linear.stats(X, y)
    with pytest.raises(ValueError, match=r"solve needs finite statistics; .*: x_mean"):
        linear.solve(stats._replace(x_mean=stats.x_mean.at[0].set(jnp.nan)))


@pytest.mark.slow
def test_solve_under_jit_returns_nan_for_non_finite_data_without_hanging():
    """Under jit the values are unknown at trace time: NaN params, not a hang."""
    script = (
        "import jax, jax.numpy as jnp\n"
        "from jaxgd import linear\n"
        "X = jnp.ones((4, 2)).at[0, 0].set(jnp.inf)\n"
        "params = jax.jit(linear.solve)(X, jnp.ones((4, 1)))\n"
        "print(bool(jnp.isnan(params['W']).all() & jnp.isnan(params['b']).all()))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
        check=False,
    )
    assert (done.returncode, done.stdout) == (0, "True\n"), done.stderr
    X, y = regression(n_samples=12, n_features=2)
    assert_tree_allclose(jax.jit(linear.solve)(X, y), linear.solve(X, y), rtol=1e-5)


def test_solve_bce_under_jit_is_a_clear_error():
    X, y = jnp.array([[0.0], [1.0], [2.0]]), jnp.array([[0.0], [1.0], [0.0]])
    with pytest.raises(TypeError, match=r"runs Newton's method on the host"):
        jax.jit(lambda X, y: linear.solve(X, y, loss="bce"))(X, y)


def test_stats_refuse_non_finite_data_and_overflowing_sums(x64):
    X, y = np.ones((4, 2)), np.arange(4.0)[:, None]
    X[1, 1] = np.nan
    with pytest.raises(ValueError, match=r"stats needs finite X; X holds NaN"):
        linear.stats(X, y)
    with pytest.raises(ValueError, match=r"stats needs finite chunk 1's X"):
        linear.stats([(np.ones((2, 2)), y[:2]), (X[:2], y[:2])])
    big = np.array([[1.0, 2.0], [1e200, 1.0], [3.0, 0.0]])
    with pytest.raises(
        ValueError,
        match=r"stats overflow float64: the sums of squares of column 0 of X are "
        r"past the largest float",
    ):
        linear.stats(big, y[:3])
    with pytest.raises(ValueError, match=r"stats overflow float32: .* column 0 of y"):
        y = jnp.array([[1e20], [0.0], [3e20]], jnp.float32)
        linear.stats(jnp.ones((3, 1), jnp.float32), y)


def test_standardize_columns_of_any_magnitude(x64):
    """The spread is computed without squaring overflow or underflow."""
    for size in (1e200, 1e-200):
        X = jnp.array([[1.0, 1.0], [3.0, 2.0]]) * jnp.array([[size, 1.0]])
        Z, scaling = linear.standardize(X)
        np.testing.assert_allclose(Z, [[-1.0, -1.0], [1.0, 1.0]], rtol=1e-15)
        np.testing.assert_allclose(scaling.mean, [2 * size, 1.5], rtol=1e-15)
        np.testing.assert_allclose(scaling.scale, [size, 0.5], rtol=1e-15)
    with pytest.raises(ValueError, match=r"standardize needs finite X"):
        linear.standardize(jnp.array([[1.0], [jnp.inf]]))


@pytest.mark.parametrize("loss", [linear.mse, linear.bce, linear.accuracy])
def test_means_over_no_samples_are_refused(loss):
    params = {"W": jnp.zeros((2, 1)), "b": jnp.zeros(1)}
    with pytest.raises(
        ValueError, match=r"needs at least one sample; got X.shape=\(0, 2\)"
    ):
        loss(params, jnp.zeros((0, 2)), jnp.zeros((0, 1)))
    assert linear.sse(params, jnp.zeros((0, 2)), jnp.zeros((0, 1))) == 0.0


@pytest.mark.parametrize(
    "dtype", [jnp.float32, "float16", np.dtype("float16"), jnp.bfloat16]
)
def test_init_takes_any_spelling_of_a_floating_dtype(dtype):
    params = linear.init(jax.random.key(0), 2, 1, dtype)
    assert params["W"].dtype == params["b"].dtype == jnp.dtype(dtype)


@pytest.mark.parametrize(
    ("dtype", "shown"),
    [("int8", "'int8'"), (jnp.ones(3), "array of shape \\(3,\\)"), (bool, "<class")],
)
def test_init_refuses_what_is_not_a_floating_dtype(dtype, shown):
    with pytest.raises(
        TypeError, match=rf"dtype must be a floating dtype .*; got {shown}"
    ):
        linear.init(jax.random.key(0), 2, 1, dtype)
