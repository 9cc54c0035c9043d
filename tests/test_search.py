"""Searches: successive halving equals an exhaustive sweep masked by its rule."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import regression

import jaxgd
from jaxgd import linear


def halving_rule(validation, ends, eta, every):
    """Successive halving, written from its documentation, on the validation
    losses of an exhaustive sweep: `{lane: the step its rung ended}`."""
    live, pruned = list(range(len(validation))), {}
    for end in ends[:-1]:
        score = {i: validation[i, end // every] for i in live}
        score = {i: s if np.isfinite(s) else np.inf for i, s in score.items()}
        ranked = sorted(live, key=lambda i: (score[i], i))
        kept = sorted(ranked[: max(1, len(live) // eta)])
        pruned.update({i: end for i in live if i not in kept})
        live = kept
    return pruned


def masked(exhaustive, pruned, every, history_every=1):
    """The exhaustive sweep's result with each pruned lane cut at its rung."""
    losses = np.array(exhaustive.losses)
    grad_norms = np.array(exhaustive.grad_norms)
    step_sizes = np.array(exhaustive.step_sizes)
    validation = np.array(exhaustive.validation_losses)
    steps = np.array(exhaustive.steps_taken)
    params = jax.tree.map(np.array, exhaustive.params)
    trajectory = jax.tree.map(np.array, exhaustive.trajectory)
    for lane, end in pruned.items():
        for history in (losses, grad_norms, step_sizes):
            history[lane, end // history_every :] = np.nan
        validation[lane, end // every :] = np.nan
        steps[lane] = min(steps[lane], end)
        for p, t in zip(
            jax.tree.leaves(params), jax.tree.leaves(trajectory), strict=True
        ):
            p[lane] = t[lane, end // history_every]
            t[lane, end // history_every :] = t[lane, end // history_every]
    return losses, grad_norms, step_sizes, validation, steps, params, trajectory


def assert_search_is_masked_sweep(result, exhaustive, pruned, every):
    flags = np.zeros(len(result.pruned), bool)
    flags[list(pruned)] = True
    np.testing.assert_array_equal(result.pruned, flags)
    losses, grad_norms, step_sizes, validation, steps, params, trajectory = masked(
        exhaustive, pruned, every
    )
    np.testing.assert_array_equal(result.steps_taken, steps)
    for got, want in (
        (result.losses, losses),
        (result.grad_norms, grad_norms),
        (result.step_sizes, step_sizes),
        (result.validation_losses, validation),
        *zip(jax.tree.leaves(result.params), jax.tree.leaves(params), strict=True),
        *zip(
            jax.tree.leaves(result.trajectory), jax.tree.leaves(trajectory), strict=True
        ),
    ):
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


def test_successive_halving_is_the_exhaustive_sweep_masked_by_its_rule(x64):
    """Nine rates, eta 3: rungs end at 10 and 30 of 90 steps; one rate
    diverges (ranked last), two are equal (the tie goes to the lower index)."""
    X, Y = regression(n_samples=60, dtype=jnp.float64)
    X, Y, X_val, Y_val = X[:40], Y[:40], X[40:], Y[40:]
    params = linear.init(jax.random.key(0), 3, 1, jnp.float64)
    rates = jnp.array([0.004, 0.3, 0.02, 0.01, 0.3, 0.6, 4.0, 0.05, 0.002])
    common = dict(
        learning_rates=rates,
        validation_data=(X_val, Y_val),
        num_steps=90,
        record_params=True,
    )
    search = jaxgd.successive_halving(eta=3, min_steps=10)
    result = jaxgd.sweep(linear.mse, params, X, Y, search=search, **common)
    exhaustive = jaxgd.sweep(linear.mse, params, X, Y, validation_every=10, **common)
    pruned = halving_rule(np.asarray(exhaustive.validation_losses), [10, 30, 90], 3, 10)
    assert len(pruned) == 8 and pruned[6] == 10  # the diverging rate goes first
    assert pruned[4] == 30 and 1 not in pruned  # the tie: lane 1 goes on
    assert_search_is_masked_sweep(result, exhaustive, pruned, 10)
    assert jaxgd.best(result, by="validation")[0] == 1


@pytest.mark.slow
def test_a_lane_that_goes_on_is_the_fit_of_its_configuration(x64):
    X, Y = regression(n_samples=40, dtype=jnp.float64)
    X, Y, X_val, Y_val = X[:30], Y[:30], X[30:], Y[30:]
    params = linear.init(jax.random.key(1), 3, 1, jnp.float64)
    rates = jnp.array([0.01, 0.1, 0.5, 0.03])
    result = jaxgd.sweep(
        linear.mse,
        params,
        X,
        Y,
        learning_rates=rates,
        validation_data=(X_val, Y_val),
        num_steps=40,
        search=jaxgd.successive_halving(eta=2, min_steps=5),
    )
    (winner,) = np.flatnonzero(~np.asarray(result.pruned))
    alone = jaxgd.fit(
        linear.mse,
        params,
        X,
        Y,
        learning_rate=rates[winner],
        validation_data=(X_val, Y_val),
        validation_every=5,
        num_steps=40,
    )
    lane = result.lane(int(winner))
    assert not lane.pruned and alone.pruned is None
    lane = lane._replace(pruned=None)
    for got, want in zip(jax.tree.leaves(lane), jax.tree.leaves(alone), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.slow
def test_halving_an_adam_grid_with_minibatches_is_the_masked_sweep(x64):
    """A learning rate x b1 grid of adam, mini-batches and history_every."""
    X, Y = regression(n_samples=64, dtype=jnp.float64)
    X, Y, X_val, Y_val = X[:48], Y[:48], X[48:], Y[48:]
    params = linear.init(jax.random.key(2), 3, 1, jnp.float64)
    rates, b1 = (
        g.ravel() for g in jnp.meshgrid(jnp.logspace(-3, -1, 4), jnp.array([0.5, 0.9]))
    )
    common = dict(
        learning_rates=rates,
        optimizer=optax.adam,
        hyperparams={"b1": b1},
        validation_data=(X_val, Y_val),
        num_steps=64,
        batch_size=8,
        key=jax.random.key(5),
        record_params=True,
    )
    result = jaxgd.sweep(
        linear.mse,
        params,
        X,
        Y,
        search=jaxgd.successive_halving(eta=2, min_steps=8),
        **common,
    )
    exhaustive = jaxgd.sweep(linear.mse, params, X, Y, validation_every=8, **common)
    pruned = halving_rule(
        np.asarray(exhaustive.validation_losses), [8, 16, 32, 64], 2, 8
    )
    assert_search_is_masked_sweep(result, exhaustive, pruned, 8)


@pytest.mark.parametrize(
    ("lanes", "min_steps", "num_steps", "brackets"),
    [
        # Bracket 0 has a rung at 2 before 4: two brackets, 2 lanes each.
        (4, 2, 4, [(0, 2, 2), (2, 4, 4)]),
        # Rungs at 4 and 12 before 36: three brackets, sized by largest
        # remainder of 12 * (9, 5, 3) / 17.
        pytest.param(
            12, 4, 36, [(0, 6, 4), (6, 10, 12), (10, 12, 36)], marks=pytest.mark.slow
        ),
    ],
)
def test_hyperband_is_a_halving_of_each_bracket(
    lanes, min_steps, num_steps, brackets, x64
):
    """Every bracket of lanes equals the successive halving of its own
    configurations, from its own first rung."""
    X, Y = regression(n_samples=40, dtype=jnp.float64)
    X, Y, X_val, Y_val = X[:30], Y[:30], X[30:], Y[30:]
    params = linear.init(jax.random.key(6), 3, 1, jnp.float64)
    rates = jnp.logspace(-3, -0.3, lanes)
    common = dict(validation_data=(X_val, Y_val), num_steps=num_steps)
    search = jaxgd.hyperband(eta=3 if lanes > 4 else 2, min_steps=min_steps)
    assert search.brackets(lanes, num_steps) == brackets
    result = jaxgd.sweep(
        linear.mse, params, X, Y, learning_rates=rates, search=search, **common
    )
    for first, end, start in brackets:
        alone = jaxgd.sweep(
            linear.mse,
            params,
            X,
            Y,
            learning_rates=rates[first:end],
            search=jaxgd.successive_halving(eta=search.eta, min_steps=start),
            validation_every=min_steps,
            **common,
        )
        part = result.lane(np.arange(first, end))
        for got, want in zip(
            jax.tree.leaves(part), jax.tree.leaves(alone), strict=True
        ):
            np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    assert not np.asarray(result.pruned)[brackets[-1][0] :].any()


@pytest.mark.slow
def test_halving_of_a_multistart():
    """Balls on a curve with two valleys, ranked by the curve's value."""

    def curve(x, scale):
        return jnp.sum(scale * (x**4 - 3 * x**2 + 0.5 * x))

    starts = jnp.linspace(-2.0, 2.0, 8)
    one = jnp.ones(())
    common = dict(learning_rate=0.01, validation_data=(one,), num_steps=60)
    result = jaxgd.multistart(
        curve, starts, one, search=jaxgd.successive_halving(min_steps=20), **common
    )
    exhaustive = jaxgd.multistart(curve, starts, one, validation_every=20, **common)
    pruned = halving_rule(np.asarray(exhaustive.validation_losses), [20, 60], 3, 20)
    assert len(pruned) == 6
    kept = ~np.asarray(result.pruned)
    np.testing.assert_allclose(result.params[kept], exhaustive.params[kept], rtol=1e-6)
    # The lowest valley's balls go on.
    assert (np.asarray(result.params)[kept] < 0).all()


def test_a_search_compiles_once():
    traces = []

    def loss(params, X, y):
        traces.append(None)
        return linear.mse(params, X, y)

    X, Y = regression(n_samples=16)
    params = linear.init(jax.random.key(3), 3, 1)
    search = jaxgd.successive_halving(eta=2, min_steps=4)
    for rates in (jnp.logspace(-3, -1, 4), jnp.logspace(-2, 0, 4)):
        jaxgd.sweep(
            loss,
            params,
            X,
            Y,
            learning_rates=rates,
            validation_data=(X, Y),
            num_steps=16,
            search=search,
        )
        if rates[0] < 0.005:
            first = len(traces)
    assert first > 0 and len(traces) == first


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (dict(eta=1, min_steps=3), ValueError, "eta must be"),
        (dict(eta=3, min_steps=0), ValueError, "min_steps must be"),
        (dict(eta=2.5, min_steps=3), TypeError, "eta must be"),
    ],
)
def test_bad_settings_name_the_argument(kwargs, error, message):
    with pytest.raises(error, match=message):
        jaxgd.successive_halving(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            dict(validation_data=None),
            ValueError,
            r"search ranks lanes by their validation loss, so it needs "
            r"validation_data; got search=SuccessiveHalving\(eta=2, min_steps=4\) "
            r"without validation_data\.",
        ),
        (
            dict(validation_every=3),
            ValueError,
            r"validation_every must divide the search's min_steps \(4\), so that "
            r"every rung ends on a kept step; got validation_every=3\.",
        ),
        (
            dict(history_every=8, validation_every=4),
            ValueError,
            r"history_every must divide the search's min_steps \(4\)",
        ),
        (
            dict(num_steps=3),
            ValueError,
            r"num_steps must be at least the search's min_steps \(4\), so that its "
            r"first rung ends inside the run; got num_steps=3\.",
        ),
        (
            dict(search="halving"),
            TypeError,
            r"search must be jaxgd.successive_halving\(...\), jaxgd.hyperband"
            r"\(...\) or jaxgd.population_based\(...\); got str 'halving'\.",
        ),
    ],
)
def test_a_search_that_cannot_run_is_refused(kwargs, error, message):
    X, Y = regression(n_samples=8)
    args = dict(
        learning_rates=jnp.array([0.1, 0.2]),
        validation_data=(X, Y),
        num_steps=16,
        search=jaxgd.successive_halving(eta=2, min_steps=4),
    )
    with pytest.raises(error, match=message):
        jaxgd.sweep(
            linear.mse, linear.init(jax.random.key(0), 3, 1), X, Y, **{**args, **kwargs}
        )


def ridge(params, X, y, l2):
    """Mean squared error plus an l2 penalty on the weights (not the bias)."""
    return linear.mse(params, X, y) + l2 * jnp.sum(params["W"] ** 2)


def ridge_solution(X, y, l2):
    """The closed form, on the host in float64: (A'A/n + l2 D) w = A'y/n."""
    X, y = np.asarray(X, np.float64), np.asarray(y, np.float64)
    A = np.hstack([X, np.ones((len(X), 1))])
    penalty = l2 * np.diag([1.0] * X.shape[1] + [0.0])
    w = np.linalg.solve(A.T @ A / len(X) + penalty, A.T @ y / len(X))
    return w[:-1], w[-1]


def test_a_regularisation_path_is_one_sweep(x64):
    X, Y = regression(n_samples=50, dtype=jnp.float64)
    params = linear.init(jax.random.key(0), 3, 1, jnp.float64)
    l2s = jnp.logspace(-3, 0, 6)
    result = jaxgd.sweep(
        ridge,
        params,
        X,
        Y,
        learning_rate=0.3,
        loss_hyperparams={"l2": l2s},
        num_steps=2000,
        tol=1e-12,
    )
    assert np.asarray(result.converged).all()
    for k, l2 in enumerate(np.asarray(l2s)):
        W, b = ridge_solution(X, Y, l2)
        np.testing.assert_allclose(result.params["W"][k], W, atol=1e-10)
        np.testing.assert_allclose(result.params["b"][k], b, atol=1e-10)


@pytest.mark.slow
def test_loss_hyperparams_are_the_losss_keyword_arguments():
    X, Y = regression(n_samples=20)
    params = linear.init(jax.random.key(1), 3, 1)
    with_keyword = jaxgd.fit(
        ridge, params, X, Y, learning_rate=0.1, loss_hyperparams={"l2": 0.5}
    )
    closed_over = jaxgd.fit(
        lambda p, X, y: ridge(p, X, y, jnp.float32(0.5)),
        params,
        X,
        Y,
        learning_rate=0.1,
    )
    for got, want in zip(
        jax.tree.leaves(with_keyword), jax.tree.leaves(closed_over), strict=True
    ):
        np.testing.assert_array_equal(got, want)
    # Combined with learning rates, lane k has the k-th of each.
    rates, l2s = jnp.array([0.05, 0.1]), jnp.array([0.5, 0.0])
    both = jaxgd.sweep(
        ridge,
        params,
        X,
        Y,
        learning_rates=rates,
        loss_hyperparams={"l2": l2s},
        num_steps=50,
    )
    alone = jaxgd.fit(
        ridge,
        params,
        X,
        Y,
        learning_rate=0.1,
        loss_hyperparams={"l2": 0.0},
        num_steps=50,
    )
    np.testing.assert_allclose(both.losses[1], alone.losses, rtol=1e-5)


def test_a_new_loss_hyperparameter_value_does_not_recompile():
    traces = []

    def loss(params, X, y, l2):
        traces.append(None)
        return ridge(params, X, y, l2)

    X, Y = regression(n_samples=12)
    params = linear.init(jax.random.key(2), 3, 1)
    for l2 in (jnp.array([0.1, 0.2]), jnp.array([1.0, 3.0])):
        jaxgd.sweep(
            loss,
            params,
            X,
            Y,
            learning_rate=0.1,
            loss_hyperparams={"l2": l2},
            num_steps=5,
        )
        if l2[0] < 0.5:
            first = len(traces)
    assert first > 0 and len(traces) == first


@pytest.mark.parametrize(
    ("loss_hyperparams", "rates", "error", "message"),
    [
        (
            {"l3": 0.1},
            None,
            ValueError,
            r"loss_hyperparams names 'l3', which the loss does not take as a "
            r"keyword argument; it takes \['l2'\]\.",
        ),
        (
            {"l2": "big"},
            None,
            TypeError,
            r"loss_hyperparams\['l2'\] must be a number or an array of numbers",
        ),
        (
            {"l2": jnp.array([0.1, jnp.nan])},
            None,
            ValueError,
            r"loss_hyperparams\['l2'\] must be finite",
        ),
        (
            {"l2": jnp.array([0.1, 0.2, 0.3])},
            jnp.array([0.1, 0.2]),
            ValueError,
            r"the lanes' arrays disagree on the number of lanes: learning_rates: "
            r"2, loss_hyperparams\['l2'\]: 3\.",
        ),
        (
            [0.1],
            jnp.array([0.1, 0.2]),
            TypeError,
            r"loss_hyperparams must be a dict of the loss's keyword arguments",
        ),
    ],
)
def test_bad_loss_hyperparams_name_the_argument(
    loss_hyperparams, rates, error, message
):
    X, Y = regression(n_samples=8)
    params = linear.init(jax.random.key(0), 3, 1)
    with pytest.raises(error, match=message):
        if rates is None and not isinstance(loss_hyperparams.get("l2"), jax.Array):
            jaxgd.fit(
                ridge,
                params,
                X,
                Y,
                learning_rate=0.1,
                loss_hyperparams=loss_hyperparams,
            )
        else:
            jaxgd.sweep(
                ridge,
                params,
                X,
                Y,
                learning_rates=rates if rates is not None else jnp.array([0.1, 0.2]),
                loss_hyperparams=loss_hyperparams,
            )


@pytest.mark.slow
def test_cross_validation_of_ridge_is_the_closed_form_on_every_fold(x64):
    """5 folds x 16 penalties: each lane is the ridge solution of its fold's
    training rows, and its fold's loss there is what `mean` averages."""
    X, Y = regression(n_samples=53, dtype=jnp.float64, noise=0.5)
    params = linear.init(jax.random.key(3), 3, 1, jnp.float64)
    l2s = jnp.logspace(-4, 0, 16)
    key = jax.random.key(7)
    cv = jaxgd.cross_validate(
        ridge,
        params,
        X,
        Y,
        folds=5,
        key=key,
        learning_rate=0.2,
        loss_hyperparams={"l2": l2s},
        num_steps=4000,
        tol=1e-12,
    )
    assert cv.results.num_lanes == 80
    order = np.asarray(jax.random.permutation(key, 53))
    losses = np.zeros((16, 5))
    for j in range(5):
        fold = order[j * 53 // 5 : (j + 1) * 53 // 5]
        train = np.setdiff1d(order, fold, assume_unique=True)
        for c, l2 in enumerate(np.asarray(l2s)):
            W, b = ridge_solution(X[train], Y[train], l2)
            lane = cv.results.lane(c * 5 + j)
            np.testing.assert_allclose(lane.params["W"], W, atol=1e-8)
            np.testing.assert_allclose(lane.params["b"], b, atol=1e-8)
            residual = np.asarray(X[fold]) @ W + b - np.asarray(Y[fold])
            losses[c, j] = np.mean(residual**2) + l2 * np.sum(W**2)
    np.testing.assert_allclose(cv.mean, losses.mean(axis=1), rtol=1e-8)
    np.testing.assert_allclose(cv.std, losses.std(axis=1), rtol=1e-6, atol=1e-12)
    assert cv.best == int(np.argmin(losses.mean(axis=1)))


def test_a_fold_is_a_fit_validated_on_it():
    X, Y = regression(n_samples=12)
    params = linear.init(jax.random.key(4), 3, 1)
    rates = jnp.array([0.05, 0.2])
    cv = jaxgd.cross_validate(
        linear.mse,
        params,
        X,
        Y,
        folds=3,
        learning_rates=rates,
        num_steps=30,
        patience=2,
        validation_every=5,
    )
    # Configuration 1 without fold 2 (rows 8 to 11).
    alone = jaxgd.fit(
        linear.mse,
        params,
        X[:8],
        Y[:8],
        learning_rate=rates[1],
        num_steps=30,
        validation_data=(X[8:], Y[8:]),
        patience=2,
        validation_every=5,
    )
    lane = cv.results.lane(1 * 3 + 2)
    np.testing.assert_allclose(lane.losses, alone.losses, rtol=1e-5)
    np.testing.assert_allclose(
        lane.validation_losses, alone.validation_losses, rtol=1e-5
    )
    assert int(lane.steps_taken) == int(alone.steps_taken)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(folds=1), r"folds must be"),
        (
            dict(folds=9),
            r"folds must be at most the number of rows \(8\), so that every fold "
            r"holds one; got folds=9\.",
        ),
        (
            dict(validation_data=(jnp.ones((2, 3)), jnp.ones((2, 1)))),
            r"cross_validate validates each lane on its own fold, so it takes no "
            r"validation_data",
        ),
    ],
)
def test_cross_validation_that_cannot_run_is_refused(kwargs, message):
    X, Y = regression(n_samples=8)
    with pytest.raises(ValueError, match=message):
        jaxgd.cross_validate(
            linear.mse,
            linear.init(jax.random.key(0), 3, 1),
            X,
            Y,
            learning_rates=jnp.array([0.1, 0.2]),
            **kwargs,
        )


def pbt_problem(dtype=jnp.float32):
    X, Y = regression(n_samples=40, dtype=dtype)
    return X[:30], Y[:30], X[30:], Y[30:], linear.init(jax.random.key(8), 3, 1, dtype)


def test_population_based_with_nothing_replaced_is_the_sweep():
    X, Y, X_val, Y_val, params = pbt_problem()
    common = dict(
        learning_rates=jnp.logspace(-3, -0.5, 6),
        validation_data=(X_val, Y_val),
        num_steps=30,
    )
    search = jaxgd.population_based(every=10, fraction=0.0, key=jax.random.key(0))
    result = jaxgd.sweep(linear.mse, params, X, Y, search=search, **common)
    plain = jaxgd.sweep(linear.mse, params, X, Y, validation_every=10, **common)
    np.testing.assert_array_equal(
        result.lineage.source, np.tile(np.arange(6), (3, 1)).T
    )
    for got, want in zip(
        jax.tree.leaves(result._replace(lineage=None)),
        jax.tree.leaves(plain),
        strict=True,
    ):
        np.testing.assert_array_equal(got, want)


def test_a_copied_lane_goes_on_from_its_sources_state_with_a_perturbed_rate():
    X, Y, X_val, Y_val, params = pbt_problem()
    rates = jnp.logspace(-3, -0.5, 8)
    result = jaxgd.sweep(
        linear.mse,
        params,
        X,
        Y,
        learning_rates=rates,
        validation_data=(X_val, Y_val),
        num_steps=30,
        record_params=True,
        search=jaxgd.population_based(
            every=10, fraction=0.25, perturb=(0.5, 2.0), key=jax.random.key(1)
        ),
    )
    source = np.asarray(result.lineage.source)
    used = np.asarray(result.lineage.hyperparams["learning_rate"])
    np.testing.assert_array_equal(used[:, 0], rates)
    copies = 0
    for p in (1, 2):
        # Two lanes copy one of the two best; recorded after the exploit, a
        # copy's validation loss is its source's.
        assert (source[:, p] != np.arange(8)).sum() == 2
        recorded = np.asarray(result.validation_losses)[:, p]
        for lane in range(8):
            src = source[lane, p]
            if src == lane:
                assert used[lane, p] == used[lane, p - 1]
                continue
            assert recorded[src] <= np.unique(recorded)[1]
            copies += 1
            assert used[lane, p] / used[src, p - 1] in (np.float32(0.5), 2.0)
            # It goes on from its source's params at the exploit, as a fit.
            start = {k: t[src, 10 * p] for k, t in result.trajectory.items()}
            alone = jaxgd.fit(
                linear.mse,
                start,
                X,
                Y,
                learning_rate=used[lane, p],
                num_steps=10,
            )
            np.testing.assert_allclose(
                result.losses[lane, 10 * p : 10 * p + 10], alone.losses, rtol=1e-5
            )
    assert copies == 4


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (dict(every=0), ValueError, "every must be"),
        (dict(fraction=0.7), ValueError, r"fraction must be a number in \[0, 0.5\]"),
        (dict(perturb=(0.8, -1.0)), ValueError, "perturb must be two positive"),
        (dict(key=0), TypeError, "key must be one jax.random key"),
    ],
)
def test_bad_population_settings_name_the_argument(kwargs, error, message):
    args = dict(every=10, key=jax.random.key(0))
    with pytest.raises(error, match=message):
        jaxgd.population_based(**{**args, **kwargs})


def test_cross_validation_scores_with_the_score_given(x64):
    """Scored by the penalised loss, the smallest penalty looks best; scored
    by the mean squared error, the fold's own error picks the penalty."""
    X, Y = regression(n_samples=30, dtype=jnp.float64, noise=1.0)
    params = linear.init(jax.random.key(5), 3, 1, jnp.float64)
    l2s = jnp.array([0.0, 0.05, 0.5])
    common = dict(
        folds=3,
        learning_rate=0.2,
        loss_hyperparams={"l2": l2s},
        num_steps=600,
        tol=1e-10,
    )
    scored = jaxgd.cross_validate(ridge, params, X, Y, score=linear.mse, **common)
    errors = np.zeros((3, 3))
    for j in range(3):
        fold = slice(j * 10, (j + 1) * 10)
        for c in range(3):
            lane = scored.results.lane(c * 3 + j)
            errors[c, j] = linear.mse(lane.params, X[fold], Y[fold])
    np.testing.assert_allclose(scored.mean, errors.mean(axis=1), rtol=1e-10)
    assert scored.best == int(np.argmin(errors.mean(axis=1)))
    with pytest.raises(TypeError, match="score must be"):
        jaxgd.cross_validate(ridge, params, X, Y, score="mse", **common)


def test_checkpoints_are_refused_with_a_search_and_with_folds(tmp_path):
    X, Y = regression(n_samples=8)
    params = linear.init(jax.random.key(0), 3, 1)
    path = str(tmp_path / "run.npz")
    with pytest.raises(ValueError, match="checkpoint and resume do not go with search"):
        jaxgd.sweep(
            linear.mse,
            params,
            X,
            Y,
            learning_rates=jnp.array([0.1, 0.2]),
            validation_data=(X, Y),
            num_steps=8,
            search=jaxgd.successive_halving(eta=2, min_steps=4),
            checkpoint=path,
        )
    with pytest.raises(ValueError, match="cross_validate does not take checkpoint"):
        jaxgd.cross_validate(
            linear.mse,
            params,
            X,
            Y,
            folds=2,
            learning_rates=jnp.array([0.1, 0.2]),
            checkpoint=path,
        )
