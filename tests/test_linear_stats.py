"""The least-squares fast path: `linear.stats` + `linear.mse_stats` equal `mse`."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxgd
from jaxgd import linear


def problem(
    n_samples,
    n_features,
    n_outputs,
    dtype=jnp.float32,
    *,
    offset=0.5,
    noise=0.1,
    seed=0,
):
    key_x, key_w, key_e, key_p = jax.random.split(jax.random.key(seed), 4)
    X = jax.random.normal(key_x, (n_samples, n_features), dtype)
    W = jax.random.normal(key_w, (n_features, n_outputs), dtype)
    e = jax.random.normal(key_e, (n_samples, n_outputs), dtype)
    y = X @ W + offset + noise * e
    return X, y, linear.init(key_p, n_features, n_outputs, dtype)


def f64_mse(params, X, y):
    """The float64 reference loss, in numpy, for params with a leading step axis."""
    X, y = np.asarray(X, np.float64), np.asarray(y, np.float64)
    W = np.asarray(params["W"], np.float64)
    b = np.asarray(params["b"], np.float64)
    residual = y[None] - X[None] @ W - b[:, None, :]
    return np.mean(residual**2, axis=(1, 2))


def assert_tree_allclose(a, b, rtol, atol=0.0):
    jax.tree.map(
        lambda x, y: np.testing.assert_allclose(
            np.asarray(x, np.float64), np.asarray(y, np.float64), rtol=rtol, atol=atol
        ),
        a,
        b,
    )


@pytest.mark.parametrize("shape", [(40, 1, 1), (64, 5, 3), (7, 12, 2)])
def test_value_and_gradient_equal_mse(shape):
    X, y, params = problem(*shape)
    stats = linear.stats(X, y)
    value, grads = jax.value_and_grad(linear.mse_stats)(params, stats)
    want_value, want_grads = jax.value_and_grad(linear.mse)(params, X, y)
    np.testing.assert_allclose(value, want_value, rtol=1e-5)
    assert_tree_allclose(grads, want_grads, rtol=1e-4, atol=1e-6)
    assert value.dtype == jnp.float32
    assert jax.tree.map(lambda p: p.dtype, grads) == jax.tree.map(
        lambda p: p.dtype, params
    )


def test_second_derivatives_equal_mse(x64):
    """The quadratic term's own derivative rule (one product with the Gram
    matrix per gradient) gives every derivative of the plain expression."""
    X, y, params = problem(30, 4, 2, jnp.float64)
    stats = linear.stats(X, y)
    assert_tree_allclose(
        jax.hessian(linear.mse_stats)(params, stats),
        jax.hessian(linear.mse)(params, X, y),
        rtol=1e-9,
        atol=1e-12,
    )
    tangent = jax.tree.map(
        lambda p: jnp.linspace(-1.0, 1.0, p.size).reshape(p.shape), params
    )
    _, got = jax.jvp(lambda p: linear.mse_stats(p, stats), (params,), (tangent,))
    _, want = jax.jvp(lambda p: linear.mse(p, X, y), (params,), (tangent,))
    np.testing.assert_allclose(got, want, rtol=1e-10)
    # In the statistics: the loss is linear in the Gram matrix, with weight
    # D D^T / (N m) for D = W - anchor.
    d_stats = jax.grad(linear.mse_stats, argnums=1)(params, stats)
    D = params["W"] - stats.anchor
    np.testing.assert_allclose(d_stats.gram, D @ D.T / (30 * 2), rtol=1e-12)


def test_statistics_are_the_centred_moments(x64):
    X, y, _ = problem(30, 3, 2, jnp.float64, offset=7.0)
    stats = linear.stats(X, y)
    X, y = np.asarray(X), np.asarray(y)
    Xc, yc = X - X.mean(axis=0), y - y.mean(axis=0)
    np.testing.assert_allclose(stats.count, 30)
    np.testing.assert_allclose(stats.x_mean, X.mean(axis=0), rtol=1e-14)
    np.testing.assert_allclose(stats.y_mean, y.mean(axis=0), rtol=1e-14)
    np.testing.assert_allclose(stats.xc_mean, 0, atol=1e-14)
    np.testing.assert_allclose(stats.yc_mean, 0, atol=1e-14)
    np.testing.assert_allclose(stats.gram, Xc.T @ Xc, rtol=1e-12)
    np.testing.assert_allclose(stats.anchor, np.linalg.lstsq(Xc, yc)[0], rtol=1e-10)
    np.testing.assert_allclose(stats.anchor_grad, 0, atol=1e-10)
    residual = yc - Xc @ stats.anchor
    np.testing.assert_allclose(stats.anchor_sse, (residual**2).sum(0), rtol=1e-10)
    solved = linear.solve(X, y)
    np.testing.assert_allclose(
        solved["b"], stats.y_mean - stats.x_mean @ stats.anchor, rtol=1e-10
    )


@pytest.mark.parametrize("shift", [0.01, 1000.0])
def test_statistics_do_not_depend_on_where_the_features_sit(shift):
    """Far from zero mean, X'X - N x̄x̄' would cancel; the centred Gram must not.

    At 1000 the shifted float32 data has lost about 1e-4 of its spread to
    rounding, which the tolerances allow; cancellation would be off by 20.
    """
    X, y, params = problem(300, 3, 2)
    moved = linear.stats(X + shift, y)
    still = linear.stats(X, y)
    np.testing.assert_allclose(moved.x_mean, still.x_mean + shift, rtol=1e-6)
    np.testing.assert_allclose(moved.gram, still.gram, rtol=1e-3, atol=1e-2)
    np.testing.assert_allclose(moved.anchor, still.anchor, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(moved.anchor_sse, still.anchor_sse, rtol=1e-3)
    params_moved = {"W": params["W"], "b": params["b"] - shift * params["W"].sum(0)}
    np.testing.assert_allclose(
        linear.mse_stats(params_moved, moved),
        linear.mse_stats(params, still),
        rtol=1e-4,
    )


def rank_deficient(case):
    X, y, _ = problem(*case[1:], jnp.float64, offset=3.0)
    if case[0] == "repeated column":
        X = jnp.concatenate([X, X[:, :1]], axis=1)
    elif case[0] == "constant column":
        X = jnp.concatenate([X, jnp.full_like(X[:, :1], 2.0)], axis=1)
    return X, y


@pytest.mark.parametrize(
    "case",
    [
        ("one sample", 1, 2, 1),
        ("fewer samples than features", 3, 5, 2),
        ("repeated column", 20, 3, 2),
        ("constant column", 20, 3, 1),
    ],
)
def test_equals_mse_when_the_gram_is_singular(x64, case):
    X, y = rank_deficient(case)
    params = linear.init(jax.random.key(1), X.shape[1], y.shape[1], jnp.float64)
    value, grads = jax.value_and_grad(linear.mse_stats)(params, linear.stats(X, y))
    want_value, want_grads = jax.value_and_grad(linear.mse)(params, X, y)
    np.testing.assert_allclose(value, want_value, rtol=1e-10)
    assert_tree_allclose(grads, want_grads, rtol=1e-8, atol=1e-12)


def test_conjugate_gradients_solve_each_column_and_stop_at_rounding(x64):
    """The anchor's solver: exact for a full-rank G, minimum-norm for a
    singular one, a zero column stays zero, and stopping once the residual
    is at rounding level (here after at most 3 iterations, the number of
    distinct eigenvalues) gives what running all n iterations would."""
    rng = np.random.default_rng(0)
    Q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    G = Q @ np.diag([1.0, 1.0, 4.0, 4.0, 9.0, 9.0]) @ Q.T
    G = (G + G.T) / 2
    C = np.stack([rng.normal(size=6), np.zeros(6), rng.normal(size=6)], axis=1)
    for iterations in (3, 6):
        W = linear._conjugate_gradient(jnp.asarray(G), jnp.asarray(C), iterations)
        np.testing.assert_allclose(W, np.linalg.solve(G, C), rtol=1e-12, atol=1e-14)
    singular = Q @ np.diag([0.0, 0.0, 4.0, 4.0, 9.0, 9.0]) @ Q.T
    singular = (singular + singular.T) / 2
    # As for the statistics, whose X^T y lies in the range of X^T X.
    C = singular @ C
    W = linear._conjugate_gradient(jnp.asarray(singular), jnp.asarray(C), 6)
    np.testing.assert_allclose(W, np.linalg.pinv(singular) @ C, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("num_steps", [1, 300])
def test_fit_runs_the_same_iterates_float32(num_steps):
    X, y, params = problem(200, 4, 2)
    rate = 0.9 * linear.max_learning_rate(X, out_features=2)
    fast = jaxgd.fit(
        linear.mse_stats,
        params,
        linear.stats(X, y),
        learning_rate=rate,
        num_steps=num_steps,
    )
    direct = jaxgd.fit(
        linear.mse, params, X, y, learning_rate=rate, num_steps=num_steps
    )
    assert_tree_allclose(fast.params, direct.params, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(fast.losses, direct.losses, rtol=1e-3)
    np.testing.assert_allclose(fast.final_loss, direct.final_loss, rtol=1e-3)
    assert jax.tree.map(lambda p: p.dtype, fast.params) == jax.tree.map(
        lambda p: p.dtype, params
    )


def test_fit_runs_the_same_iterates_float64(x64):
    X, y, params = problem(200, 4, 2, jnp.float64)
    rate = 0.9 * linear.max_learning_rate(X, out_features=2)
    kwargs = dict(learning_rate=rate, num_steps=300)
    fast = jaxgd.fit(linear.mse_stats, params, linear.stats(X, y), **kwargs)
    direct = jaxgd.fit(linear.mse, params, X, y, **kwargs)
    assert_tree_allclose(fast.params, direct.params, rtol=1e-10)
    np.testing.assert_allclose(fast.losses, direct.losses, rtol=1e-10)
    assert fast.params["W"].dtype == jnp.float64


def test_loss_history_stays_accurate_near_the_optimum():
    """A large offset and little noise: y'y is 10^10 times the optimal loss.

    The expanded form y'y - 2<W, X'y> + <W, X'X W> has no digit left there in
    float32, and merely centred statistics keep only one (their error is
    about 20% here); the anchored ones stay at float32 accuracy.
    """
    X, y, params = problem(200, 3, 2, offset=100.0, noise=1e-3)
    rate = 0.9 * linear.max_learning_rate(X, out_features=2)
    fast = jaxgd.fit(
        linear.mse_stats,
        params,
        linear.stats(X, y),
        learning_rate=rate,
        num_steps=300,
        record_params=True,
    )
    steps = jax.tree.map(lambda p: p[:-1], fast.trajectory)
    reference = f64_mse(steps, X, y)
    assert reference[-1] < 1e-8 * np.mean(np.square(np.asarray(y, np.float64)))
    np.testing.assert_allclose(fast.losses, reference, rtol=1e-4)


def test_sweep_and_jit_over_statistics():
    X, y, params = problem(50, 3, 1)
    rates = jnp.array([0.01, 0.1, 0.5])
    fast = jaxgd.sweep(
        linear.mse_stats,
        params,
        linear.stats(X, y),
        learning_rates=rates,
        num_steps=50,
    )
    direct = jaxgd.sweep(linear.mse, params, X, y, learning_rates=rates, num_steps=50)
    assert_tree_allclose(fast.params, direct.params, rtol=1e-4, atol=1e-6)
    jitted = jax.jit(linear.stats)(X, y)
    assert_tree_allclose(jitted, linear.stats(X, y), rtol=1e-6, atol=1e-6)


def test_stats_shape_errors():
    X = jnp.ones((5, 2))
    with pytest.raises(ValueError, match=r"X must be 2-D .* got X.shape=\(5,\)"):
        linear.stats(jnp.ones(5), jnp.ones((5, 1)))
    with pytest.raises(
        ValueError, match=r"y.shape=\(5,\)\. Reshape it with y\[:, None\]"
    ):
        linear.stats(X, jnp.ones(5))
    with pytest.raises(ValueError, match=r"as many rows as X; got X.shape=\(5, 2\), "):
        linear.stats(X, jnp.ones((4, 1)))
    with pytest.raises(ValueError, match=r"at least one sample; got X.shape=\(0, 2\)"):
        linear.stats(jnp.ones((0, 2)), jnp.ones((0, 1)))


def test_mse_stats_errors_also_under_jit():
    X, y, params = problem(10, 3, 2)
    stats = linear.stats(X, y)
    wrong = linear.init(jax.random.key(0), 4, 2)
    message = r"W.shape=\(4, 2\), .* 3 features and 2 outputs, so W must be \(3, 2\)"
    with pytest.raises(ValueError, match=message):
        linear.mse_stats(wrong, stats)
    with pytest.raises(ValueError, match=message):
        jax.jit(linear.mse_stats)(wrong, stats)
    with pytest.raises(TypeError, match=r"stats must be the Stats of linear.stats"):
        linear.mse_stats(params, tuple(stats))
    with pytest.raises(
        ValueError, match=r'params must be a dict with keys "W" and "b"'
    ):
        linear.mse_stats({"W": params["W"]}, stats)


def test_mini_batches_of_statistics_are_refused():
    X, y, params = problem(10, 3, 1)
    with pytest.raises(ValueError, match=r"data\[0\]\.count is a scalar"):
        jaxgd.fit(
            linear.mse_stats,
            params,
            linear.stats(X, y),
            learning_rate=0.1,
            batch_size=5,
            key=jax.random.key(0),
        )
