"""The least-squares fast path: `linear.stats` + `linear.mse_stats` equal `mse`."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import regression

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
    X, y = regression(
        n_samples, n_features, n_outputs, dtype, seed, offset=offset, noise=noise
    )
    return X, y, linear.init(jax.random.key(seed), n_features, n_outputs, dtype)


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


@pytest.mark.slow
@pytest.mark.parametrize("shape", [(40, 1, 1), (64, 5, 3), (7, 12, 2)])
def test_value_and_gradient_equal_mse(shape):
    X, y, params = problem(*shape)
    stats = linear.stats(X, y)
    value, grads = jax.jit(jax.value_and_grad(linear.mse_stats))(params, stats)
    want_value, want_grads = jax.jit(jax.value_and_grad(linear.mse))(params, X, y)
    np.testing.assert_allclose(value, want_value, rtol=1e-5)
    assert_tree_allclose(grads, want_grads, rtol=1e-4, atol=1e-6)
    assert value.dtype == jnp.float32
    assert jax.tree.map(lambda p: p.dtype, grads) == jax.tree.map(
        lambda p: p.dtype, params
    )


@pytest.mark.slow
def test_second_derivatives_equal_mse(x64):
    """The quadratic term's own derivative rule (one product with the Gram
    matrix per gradient) gives every derivative of the plain expression."""
    X, y, params = problem(30, 4, 2, jnp.float64)
    stats = linear.stats(X, y)
    assert_tree_allclose(
        jax.jit(jax.hessian(linear.mse_stats))(params, stats),
        jax.jit(jax.hessian(linear.mse))(params, X, y),
        rtol=1e-9,
        atol=1e-12,
    )
    tangent = jax.tree.map(
        lambda p: np.linspace(-1.0, 1.0, p.size).reshape(p.shape), params
    )

    @jax.jit
    def directional(p, t):
        _, got = jax.jvp(lambda p: linear.mse_stats(p, stats), (p,), (t,))
        _, want = jax.jvp(lambda p: linear.mse(p, X, y), (p,), (t,))
        return got, want

    np.testing.assert_allclose(*directional(params, tangent), rtol=1e-10)
    # In the statistics: the loss is linear in the Gram matrix, with weight
    # D D^T / (N m) for D = W - anchor.
    d_stats = jax.jit(jax.grad(linear.mse_stats, argnums=1))(params, stats)
    D = params["W"] - stats.anchor
    np.testing.assert_allclose(d_stats.gram, D @ D.T / (30 * 2), rtol=1e-12)


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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
    stats = linear.stats(X, y)
    value, grads = jax.jit(jax.value_and_grad(linear.mse_stats))(params, stats)
    want_value, want_grads = jax.jit(jax.value_and_grad(linear.mse))(params, X, y)
    np.testing.assert_allclose(value, want_value, rtol=1e-10)
    assert_tree_allclose(grads, want_grads, rtol=1e-8, atol=1e-12)


@pytest.mark.slow
def test_the_anchor_is_least_squares_column_by_column(x64):
    """The anchor solves the centred problem: exactly for full-rank features,
    of unit spread or of spreads from 1e-3 to 1e3; for collinear features it
    is one of the minimisers (the loss does not tell them apart); a target
    column of zeros gets zero weights."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 6)) * np.array([1.0, 1e3, 1e-3, 1.0, 10.0, 0.1])
    y = np.stack([rng.normal(size=50), np.zeros(50), X @ rng.normal(size=6)], 1)
    s = linear.stats(X, y)
    Xc, yc = X - X.mean(axis=0), y - y.mean(axis=0)
    want = np.linalg.lstsq(Xc, yc, rcond=None)[0]
    np.testing.assert_allclose(s.anchor, want, rtol=1e-9, atol=1e-14)
    np.testing.assert_array_equal(s.anchor[:, 1], 0.0)
    collinear = np.hstack([X[:, :3], X[:, :1] + X[:, 1:2]])
    s = linear.stats(collinear, y)
    Xc = collinear - collinear.mean(axis=0)
    best = np.sum((yc - Xc @ np.linalg.lstsq(Xc, yc, rcond=None)[0]) ** 2, axis=0)
    np.testing.assert_allclose(s.anchor_sse, best, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(s.anchor_grad, 0, atol=1e-6)


@pytest.mark.slow
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


@pytest.mark.slow
def test_fit_runs_the_same_iterates_float64(x64):
    X, y, params = problem(200, 4, 2, jnp.float64)
    rate = 0.9 * linear.max_learning_rate(X, out_features=2)
    kwargs = dict(learning_rate=rate, num_steps=300)
    fast = jaxgd.fit(linear.mse_stats, params, linear.stats(X, y), **kwargs)
    direct = jaxgd.fit(linear.mse, params, X, y, **kwargs)
    assert_tree_allclose(fast.params, direct.params, rtol=1e-10)
    np.testing.assert_allclose(fast.losses, direct.losses, rtol=1e-10)
    assert fast.params["W"].dtype == jnp.float64


@pytest.mark.slow
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


@pytest.mark.slow
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
    with pytest.raises(ValueError, match=r"y.shape=\(4,\)"):
        linear.stats(X, jnp.ones(4))
    with pytest.raises(ValueError, match=r"as many rows as X; got X.shape=\(5, 2\), "):
        linear.stats(X, jnp.ones((4, 1)))
    with pytest.raises(ValueError, match=r"at least one sample; got X.shape=\(0, 2\)"):
        linear.stats(jnp.ones((0, 2)), jnp.ones((0, 1)))


@pytest.mark.slow
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


# --- statistics over chunks of rows ------------------------------------------


def offset_problem(seed=0):
    """Rows far from zero mean, on spreads from 1e-2 to 1e3, two outputs."""
    rng = np.random.default_rng(seed)
    spread = np.array([1.0, 10.0, 1e3, 1e-2])
    X = rng.normal(size=(500, 4)) * spread + [5.0, -100.0, 3e3, 0.5]
    y = X @ (rng.normal(size=(4, 2)) / spread[:, None]) + rng.normal(size=(500, 2))
    return X, y


def assert_same_stats(got, want, X, y, rtol=1e-12):
    """Equal fields; those that are zero up to rounding against what rounded."""
    size = {
        "x_mean": np.max(np.abs(X)),
        "xc_mean": np.max(np.abs(X)),
        "yc_mean": np.max(np.abs(y)),
        "anchor_grad": np.max(np.abs(want.gram)) * np.max(np.abs(want.anchor)),
    }
    for field, value in want._asdict().items():
        np.testing.assert_allclose(
            getattr(got, field),
            value,
            rtol=rtol,
            atol=rtol * size.get(field, 0.0),
            err_msg=field,
        )


@pytest.mark.slow
@pytest.mark.parametrize("sizes", [[500], [137] * 3 + [89], [1, 250, 249]])
def test_chunks_give_the_statistics_of_all_their_rows(x64, sizes):
    X, y = offset_problem()
    cuts = np.cumsum([0, *sizes])
    chunks = [(X[a:b], y[a:b]) for a, b in itertools.pairwise(cuts)]
    whole, merged = linear.stats(X, y), linear.stats(iter(chunks))
    assert_same_stats(merged, whole, X, y)
    params = linear.init(jax.random.key(2), 4, 2, jnp.float64)
    value, grads = jax.jit(jax.value_and_grad(linear.mse_stats))(params, merged)
    want_value, want_grads = jax.jit(jax.value_and_grad(linear.mse))(params, X, y)
    np.testing.assert_allclose(value, want_value, rtol=1e-12)
    assert_tree_allclose(grads, want_grads, rtol=1e-10)


def test_chunks_without_rows_and_of_the_wrong_kind(x64):
    X, y = offset_problem()
    empty = (X[:0], y[:0])
    assert_same_stats(linear.stats([empty, (X, y), empty]), linear.stats(X, y), X, y)
    with pytest.raises(ValueError, match=r"the chunks hold none"):
        linear.stats([empty])
    with pytest.raises(ValueError, match=r"chunk 1 must be an \(X, y\) pair"):
        linear.stats([(X, y), X])
    with pytest.raises(
        ValueError, match=r"chunk 1 has 3 features, 2 outputs and dtype float64, "
    ):
        linear.stats([(X, y), (X[:, :3], y)])
    with pytest.raises(ValueError, match=r"or one iterable of \(X, y\) chunks"):
        linear.stats(X)
    with pytest.raises(TypeError, match=r"across_processes must be a bool; got 1"):
        linear.stats(X, y, across_processes=1)


def test_one_process_across_processes_changes_nothing(x64):
    X, y = offset_problem()
    assert_same_stats(
        linear.stats(X, y, across_processes=True), linear.stats(X, y), X, y, 0
    )


@pytest.mark.slow
def test_solve_from_statistics_is_least_squares(x64):
    X, y = offset_problem()
    want = linear.solve(X, y)
    for stats in (
        linear.stats(X, y),
        linear.stats([(X[:200], y[:200]), (X[200:], y[200:])]),
    ):
        got = linear.solve(stats)
        assert_tree_allclose(got, want, rtol=1e-9)
        np.testing.assert_allclose(
            linear.mse_stats(got, stats), linear.mse(want, X, y), rtol=1e-12
        )
    with pytest.raises(ValueError, match=r"solve takes the Stats of the data alone"):
        linear.solve(stats, y)
    with pytest.raises(ValueError, match=r'loss="bce" needs the rows X and y'):
        linear.solve(stats, loss="bce")


@pytest.mark.slow
def test_bound_and_standardization_from_statistics(x64):
    X, y = offset_problem()
    stats = linear.stats(X, y)
    for loss in ("mse", "sse", "bce"):
        np.testing.assert_allclose(
            linear.max_learning_rate(stats, loss, 2),
            linear.max_learning_rate(X, loss, 2),
            rtol=1e-10,
        )
    Z, scaling = linear.standardize(X)
    stats_z, scaling_z = linear.standardize(stats)
    np.testing.assert_allclose(scaling_z.mean, scaling.mean, rtol=1e-14)
    np.testing.assert_allclose(scaling_z.scale, scaling.scale, rtol=1e-12)
    assert_same_stats(stats_z, linear.stats(Z, y), Z, y, rtol=1e-10)
