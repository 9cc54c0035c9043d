"""`learning_rate="auto"`: the backtracking line search against the mathematics."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import assert_tree_allclose, regression

import jaxgd
from jaxgd import linear


def _rosenbrock(p):
    return (1.0 - p[0]) ** 2 + 100.0 * (p[1] - p[0] ** 2) ** 2


def _quadratic(x, hessian):
    return 0.5 * x @ hessian @ x


def _reference(loss, x, num_steps, options):
    """The line search as a plain Python loop: the first step of
    trial, trial * shrink, ... that passes Armijo's test, trial growing after a
    first-try success."""
    trial, steps, evals = options.initial, [], 0
    for _ in range(num_steps):
        value, g = jax.value_and_grad(loss)(x)
        evals += 1
        step, tries = trial, 0
        while True:
            tries += 1
            evals += 1
            if loss(x - step * g) <= value - options.c * step * jnp.sum(g * g):
                break
            if tries == options.max_tries:
                return x, steps, evals
            step *= options.shrink
        x = x - step * g
        steps.append(step)
        trial = step * options.grow if tries == 1 else step
    return x, steps, evals


# --- the line search equals its definition -----------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    "options",
    [
        pytest.param(jaxgd.backtracking(), id="default"),
        pytest.param(
            jaxgd.backtracking(initial=0.3, shrink=0.7, grow=1.5, c=1e-4), id="bold"
        ),
    ],
)
def test_auto_equals_a_python_loop_of_backtracking(x64, options):
    x0 = jnp.array([-1.2, 1.0])
    result = jaxgd.fit(_rosenbrock, x0, learning_rate=options, num_steps=25)
    x, steps, evals = _reference(_rosenbrock, x0, 25, options)
    np.testing.assert_allclose(result.step_sizes, steps, rtol=1e-14)
    np.testing.assert_allclose(result.params, x, rtol=1e-12)
    assert int(result.loss_evals) == evals
    assert int(result.steps_taken) == 25 and not bool(result.stalled)


@pytest.mark.slow
def test_recorded_steps_are_positive_and_satisfy_armijo(x64):
    X, y = regression(n_samples=24, dtype=jnp.float64)
    X = X * jnp.array([[0.2, 1.0, 5.0]])  # ill-conditioned
    params = linear.init(jax.random.key(0), 3, 1, jnp.float64)
    result = jaxgd.fit(linear.mse, params, X, y, learning_rate="auto", num_steps=60)
    steps = np.asarray(result.step_sizes)
    losses = np.append(result.losses, result.final_loss)
    assert (steps > 0).all()
    c = jaxgd.backtracking().c
    promised = c * steps * np.asarray(result.grad_norms) ** 2
    assert (losses[1:] <= losses[:-1] - promised + 1e-13 * losses[:-1]).all()
    # The steps adapt, both down and back up.
    assert (np.diff(steps) < 0).any() and (np.diff(steps) > 0).any()


@pytest.mark.slow
def test_with_c_one_half_a_step_never_passes_the_exact_line_search(x64):
    """On a quadratic, Armijo with c = 1/2 accepts exactly the steps up to
    g^T g / g^T H g, the minimiser along -g."""
    hessian = jnp.diag(jnp.array([0.5, 3.0, 40.0]))
    result = jaxgd.fit(
        _quadratic,
        jnp.array([1.0, -2.0, 0.5]),
        hessian,
        learning_rate="auto",
        num_steps=40,
        record_params=True,
    )
    grads = np.asarray(result.trajectory[:-1] @ hessian)
    exact = np.sum(grads**2, axis=1) / np.sum((grads @ hessian) * grads, axis=1)
    steps = np.asarray(result.step_sizes)
    assert (steps <= exact * (1 + 1e-12)).all()
    # Every step up to the exact one passes, so the search stops at its trial
    # (at least the previous step) or at the first halving below the exact step.
    previous = np.append(jaxgd.backtracking().initial, steps[:-1])
    assert (steps >= np.minimum(previous, 0.5 * exact)).all()


# --- convergence without choosing a rate -------------------------------------


def _best_constant_steps(eigenvalues, start, tol, max_steps):
    """Fewest updates any constant rate needs for |grad| <= tol, in closed form:
    in the eigenbasis the gradient is lambda_i z_i (1 - eta lambda_i)^t."""
    rates = np.linspace(1e-3, 2.0 - 1e-3, 2000)[:, None] / eigenvalues.max()
    factors = (1.0 - rates * eigenvalues) ** 2
    weights = (eigenvalues * start) ** 2 * np.ones_like(factors)
    needed = np.full(len(rates), max_steps + 1)
    for t in range(max_steps + 1):
        reached = (weights.sum(axis=1) <= tol**2) & (needed > max_steps)
        needed[reached] = t
        weights = weights * factors
    best = int(np.argmin(needed))
    return int(needed[best]), float(rates[best, 0])


@pytest.mark.parametrize(
    ("eigenvalues", "rotate"),
    [
        pytest.param([1.0, 10.0], False, id="kappa10"),
        pytest.param(
            [0.3, 2.0, 7.0, 40.0], True, id="kappa133-rotated", marks=pytest.mark.slow
        ),
        pytest.param([0.01, 0.05, 0.2, 1.0], True, id="kappa100-rotated"),
    ],
)
def test_quadratic_needs_at_most_twice_the_best_constant_rate_steps(
    x64, eigenvalues, rotate
):
    eigenvalues = np.asarray(eigenvalues)
    n = len(eigenvalues)
    q = np.linalg.qr(np.random.default_rng(0).normal(size=(n, n)))[0]
    basis = q if rotate else np.eye(n)
    hessian = jnp.asarray(basis @ np.diag(eigenvalues) @ basis.T)
    x0 = jnp.asarray(basis @ np.linspace(1.0, -2.0, n))
    tol, max_steps = 1e-6, 3000
    start = basis.T @ np.asarray(x0)
    best, rate = _best_constant_steps(eigenvalues, start, tol, max_steps)
    constant = jaxgd.fit(
        _quadratic, x0, hessian, learning_rate=rate, num_steps=max_steps, tol=tol
    )
    assert abs(int(constant.steps_taken) - best) <= 1  # the closed form holds
    auto = jaxgd.fit(
        _quadratic, x0, hessian, learning_rate="auto", num_steps=max_steps, tol=tol
    )
    assert bool(auto.converged)
    assert int(auto.steps_taken) <= 2 * best


def test_rosenbrock_reaches_the_minimiser_without_a_chosen_rate(x64):
    result = jaxgd.fit(
        _rosenbrock, jnp.array([-1.2, 1.0]), learning_rate="auto", num_steps=20_000
    )
    assert not bool(result.diverged)
    assert np.linalg.norm(np.asarray(result.params) - 1.0) <= 1e-4


def test_non_finite_trial_points_are_rejected_not_diverged():
    """A log barrier is NaN outside (0, 2): a large constant rate jumps out and
    diverges; the line search backs off and rolls to the minimum at 1."""

    def barrier(x):
        return -jnp.log(x) - jnp.log(2.0 - x)

    constant = jaxgd.fit(barrier, jnp.array(0.05), learning_rate=1.0, num_steps=50)
    assert bool(constant.diverged)
    auto = jaxgd.fit(barrier, jnp.array(0.05), learning_rate="auto", num_steps=50)
    assert not bool(auto.diverged)
    assert np.isfinite(auto.losses).all()
    np.testing.assert_allclose(auto.params, 1.0, atol=1e-3)  # float32's floor


# --- transformations ---------------------------------------------------------


def _bowl(x, curvature):
    return 0.5 * curvature * jnp.sum(jnp.array([1.0, 3.0]) * x**2)


def test_vmap_lanes_with_different_curvature_choose_their_own_steps():
    x0 = jnp.array([1.0, -1.0])
    curvatures = jnp.array([0.5, 4.0, 60.0])

    def run(curvature):
        return jaxgd.fit(_bowl, x0, curvature, learning_rate="auto", num_steps=15)

    batched = jax.vmap(run)(curvatures)
    for k, curvature in enumerate(curvatures):
        single = run(curvature)
        np.testing.assert_array_equal(batched.step_sizes[k], single.step_sizes)
        np.testing.assert_allclose(batched.params[k], single.params, rtol=1e-6)
        assert int(batched.loss_evals[k]) == int(single.loss_evals)
    first = np.asarray(batched.step_sizes[:, 0])
    assert (np.diff(first) < 0).all()  # higher curvature, smaller step


def test_multistart_with_auto_equals_a_loop_of_fit():
    starts = jnp.array([[-1.2, 1.0], [0.5, 0.5], [2.0, -1.0]])
    runs = jaxgd.multistart(_rosenbrock, starts, learning_rate="auto", num_steps=30)
    for k in range(3):
        single = jaxgd.fit(_rosenbrock, starts[k], learning_rate="auto", num_steps=30)
        np.testing.assert_array_equal(runs.step_sizes[k], single.step_sizes)
        np.testing.assert_allclose(runs.params[k], single.params, rtol=1e-6)
    assert not (runs.step_sizes[0] == runs.step_sizes[1]).all()


@pytest.mark.slow
def test_jit_equals_eager_and_a_second_call_does_not_recompile():
    traces = []

    def loss(params, X, y):
        traces.append(None)
        return linear.mse(params, X, y)

    X, y = regression(n_samples=16)
    params = linear.init(jax.random.key(1), 3, 1)
    eager = jaxgd.fit(loss, params, X, y, learning_rate="auto", num_steps=10)
    after_first = len(traces)
    jitted = jax.jit(
        lambda p, X, y: jaxgd.fit(loss, p, X, y, learning_rate="auto", num_steps=10)
    )(params, X, y)
    np.testing.assert_array_equal(jitted.step_sizes, eager.step_sizes)
    assert_tree_allclose(jitted.params, eager.params, rtol=1e-6)
    before = len(traces)
    jaxgd.fit(loss, params, X + 1.0, 2.0 * y, learning_rate="auto", num_steps=10)
    assert len(traces) == before and after_first > 0


@pytest.mark.slow
def test_gradient_through_the_run_holds_the_steps_constant(x64):
    """The chosen steps are piecewise constant in the data, so d/dy of the final
    loss is the derivative through the updates alone: finite differences agree."""
    X, y = regression(n_samples=16, dtype=jnp.float64)
    params = linear.init(jax.random.key(1), 3, 1, jnp.float64)

    def final_loss(y):
        return jaxgd.fit(
            linear.mse, params, X, y, learning_rate="auto", num_steps=8
        ).final_loss

    direction = jax.random.normal(jax.random.key(2), y.shape, jnp.float64)
    exact = jnp.vdot(jax.grad(final_loss)(y), direction)
    h = 1e-6
    numeric = (final_loss(y + h * direction) - final_loss(y - h * direction)) / (2 * h)
    np.testing.assert_allclose(exact, numeric, rtol=1e-6)


def test_resume_with_opt_state_keeps_the_trial_step():
    x0 = jnp.array([-1.2, 1.0])
    whole = jaxgd.fit(_rosenbrock, x0, learning_rate="auto", num_steps=30)
    first = jaxgd.fit(_rosenbrock, x0, learning_rate="auto", num_steps=12)
    assert isinstance(first.opt_state, jaxgd.BacktrackingState)
    second = jaxgd.fit(
        _rosenbrock,
        first.params,
        learning_rate="auto",
        num_steps=18,
        opt_state=first.opt_state,
    )
    np.testing.assert_array_equal(
        np.concatenate([first.step_sizes, second.step_sizes]), whole.step_sizes
    )
    np.testing.assert_allclose(second.params, whole.params, rtol=1e-6)


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float32])
def test_dtypes_are_preserved(dtype):
    X, y = regression(n_samples=16)
    params = linear.init(jax.random.key(1), 3, 1, dtype)
    result = jaxgd.fit(
        linear.mse,
        params,
        X.astype(dtype),
        y.astype(dtype),
        learning_rate="auto",
        num_steps=20,
    )
    assert result.params["W"].dtype == dtype
    assert result.step_sizes.dtype == jnp.float32
    assert float(result.final_loss) < float(result.losses[0])


def test_minibatches_search_on_the_batch_loss():
    X, y = regression(n_samples=32)
    params = linear.init(jax.random.key(1), 3, 1)
    result = jaxgd.fit(
        linear.mse,
        params,
        X,
        y,
        learning_rate="auto",
        num_steps=40,
        batch_size=8,
        key=jax.random.key(0),
    )
    assert int(result.loss_evals) > 40  # the trials are counted too
    assert float(result.final_loss) < 0.1 * float(linear.mse(params, X, y))


# --- a search that fails stops the run cleanly --------------------------------


@jax.custom_jvp
def _uphill(x):
    """x^2 whose gradient, for x < 0, points uphill: no step along -g helps."""
    return jnp.sum(x**2)


@_uphill.defjvp
def _uphill_jvp(primals, tangents):
    (x,), (dx,) = primals, tangents
    return _uphill(x), jnp.sum(jnp.where(x < 0, -2.0, 2.0) * x * dx)


def test_a_failed_search_stalls_the_lane_and_keeps_the_params():
    options = jaxgd.backtracking(max_tries=5)
    starts = jnp.array([[-1.0], [1.0]])  # the first lane is misled, the second not
    runs = jaxgd.multistart(_uphill, starts, learning_rate=options, num_steps=6)
    np.testing.assert_array_equal(runs.stalled, [True, False])
    np.testing.assert_array_equal(runs.diverged, [False, False])
    np.testing.assert_array_equal(runs.converged, [False, False])
    assert int(runs.steps_taken[0]) == 0
    np.testing.assert_array_equal(runs.params[0], starts[0])
    assert int(runs.loss_evals[0]) == 1 + 5  # one gradient, max_tries trials
    assert np.isnan(runs.step_sizes[0]).all()
    assert np.isfinite(runs.losses[0, 0]) and np.isnan(runs.losses[0, 1:]).all()
    np.testing.assert_allclose(runs.params[1], 0.0, atol=1e-6)
    assert runs.raise_if_diverged() is runs  # stalling is not divergence


def test_a_non_finite_gradient_after_a_step_says_what_to_check():
    @jax.custom_jvp
    def kinked(x):
        return x**2

    @kinked.defjvp
    def _kinked_jvp(primals, tangents):
        (x,), (dx,) = primals, tangents
        return kinked(x), jnp.where(x > 0.5, 2.0 * x, jnp.nan) * dx

    result = jaxgd.fit(kinked, jnp.array(1.0), learning_rate="auto", num_steps=5)
    assert bool(result.diverged) and int(result.steps_taken) == 1
    assert not bool(result.stalled) and np.isnan(result.grad_norms[1])
    with pytest.raises(
        jaxgd.DivergenceError,
        match=r"fit diverged at step 1: the loss is 0 but the gradient norm is nan"
        r".*The line search only accepts steps to a finite loss",
    ):
        result.raise_if_diverged()
    # A NaN gradient is no convergence, whatever tol says.
    plain = jaxgd.fit(kinked, jnp.array(0.25), learning_rate=0.1, tol=1e-3)
    assert bool(plain.diverged) and not bool(plain.converged)


# --- the record of a run without a line search ---------------------------------


@pytest.mark.slow
def test_constant_and_schedule_runs_record_their_rates():
    X, y = regression(n_samples=16)
    params = linear.init(jax.random.key(1), 3, 1)
    result = jaxgd.fit(
        linear.mse, params, X, y, learning_rate=0.1, num_steps=400, tol=1e-3
    )
    steps = int(result.steps_taken)
    assert bool(result.converged) and steps < 400
    np.testing.assert_array_equal(result.step_sizes[:steps], np.float32(0.1))
    assert np.isnan(result.step_sizes[steps:]).all()
    assert int(result.loss_evals) == steps + 1  # the step that met tol counts

    schedule = optax.exponential_decay(0.2, transition_steps=3, decay_rate=0.5)
    result = jaxgd.fit(linear.mse, params, X, y, learning_rate=schedule, num_steps=9)
    expected = [schedule(t) for t in range(9)]
    np.testing.assert_allclose(result.step_sizes, expected, rtol=1e-6)
    assert int(result.loss_evals) == 9 and not bool(result.stalled)


@pytest.mark.parametrize(
    "learning_rate",
    [
        pytest.param(0.2, id="constant"),
        pytest.param(optax.linear_schedule(0.3, 0.05, 12), id="schedule"),
        pytest.param("auto", id="auto"),
    ],
)
def test_the_record_of_fit_equals_make_step_step_by_step(learning_rate):
    """Also when resumed mid-schedule and when tol stops the run half way."""

    def loss(x):
        return jnp.sum(jnp.array([1.0, 3.0]) * x**2)

    head = jaxgd.fit(
        loss, jnp.array([0.6, 0.4]), learning_rate=learning_rate, num_steps=3
    )
    result = jaxgd.fit(
        loss,
        head.params,
        learning_rate=learning_rate,
        num_steps=60,
        tol=1e-3,
        opt_state=head.opt_state,
    )
    assert bool(result.converged) and int(result.steps_taken) < 59
    step = jaxgd.make_step(loss, learning_rate=learning_rate, tol=1e-3)
    state = step.init(head.params, head.opt_state)
    sizes = []
    for _ in range(60):
        state, info = jax.jit(step.update)(state)
        sizes.append(info.step_size)
    np.testing.assert_allclose(sizes, result.step_sizes, rtol=1e-6)
    assert int(state.loss_evals) == int(result.loss_evals)


def test_a_search_over_a_long_run_equals_make_step():
    # However the loop cuts 129 steps, any step it runs past the end must
    # search nothing and change nothing.
    X, y = regression()
    params = linear.init(jax.random.key(1), 3, 1)
    result = jaxgd.fit(linear.mse, params, X, y, learning_rate="auto", num_steps=129)
    step = jaxgd.make_step(linear.mse, learning_rate="auto")
    update = jax.jit(step.update)
    state, infos = step.init(params), []
    for _ in range(129):
        state, info = update(state, X, y)
        infos.append(info)
    np.testing.assert_array_equal(result.step_sizes, [i.step_size for i in infos])
    np.testing.assert_allclose(result.losses, [i.loss for i in infos], rtol=1e-5)
    assert_tree_allclose(result.params, state.params, rtol=1e-5)
    assert result.opt_state.step_size == state.opt_state.step_size
    assert int(result.loss_evals) == int(state.loss_evals)
    assert int(result.steps_taken) == int(state.steps_taken) == 129


def test_optimizer_runs_record_no_step_size():
    result = jaxgd.fit(
        lambda x: x**2, jnp.array(1.0), optimizer=optax.adam(0.1), num_steps=4
    )
    assert np.isnan(result.step_sizes).all() and result.step_sizes.shape == (4,)
    assert int(result.loss_evals) == 4


def test_make_step_with_auto_equals_one_step_of_fit():
    step = jaxgd.make_step(_rosenbrock, learning_rate="auto")
    state = step.init(jnp.array([-1.2, 1.0]))
    sizes = []
    for _ in range(4):
        state, info = jax.jit(step.update)(state)
        sizes.append(info.step_size)
    result = jaxgd.fit(
        _rosenbrock, jnp.array([-1.2, 1.0]), learning_rate="auto", num_steps=4
    )
    np.testing.assert_array_equal(sizes, result.step_sizes)
    assert int(state.loss_evals) == int(result.loss_evals)


# --- bad input ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        (
            {"shrink": 1.0},
            ValueError,
            r"shrink must be finite and in \(0, 1\); got 1.0",
        ),
        ({"shrink": 0}, ValueError, r"shrink must be finite and in \(0, 1\); got 0"),
        ({"c": 1.5}, ValueError, r"c must be finite and in \(0, 1\); got 1.5"),
        ({"grow": 0.5}, ValueError, r"grow must be finite and >= 1; got 0.5"),
        ({"initial": -1.0}, ValueError, r"initial must be finite and > 0; got -1.0"),
        ({"initial": float("inf")}, ValueError, r"initial must be finite and > 0"),
        ({"max_tries": 0}, ValueError, r"max_tries must be >= 1; got 0"),
        ({"max_tries": 2.0}, TypeError, r"max_tries must be an int; got float 2.0"),
        (
            {"initial": jnp.array(1.0)},
            TypeError,
            r"initial must be a Python number \(the line search's options are "
            r"compiled into the loop\); got array of shape \(\)",
        ),
        ({"c": True}, TypeError, r"c must be a Python number"),
    ],
)
def test_bad_backtracking_options(options, error, message):
    with pytest.raises(error, match=message):
        jaxgd.backtracking(**options)


def test_a_hand_made_backtracking_is_checked_under_jit():
    options = jaxgd.Backtracking(initial=1.0, shrink=2.0, grow=2.0, c=0.5, max_tries=9)
    with pytest.raises(ValueError, match=r"shrink must be finite and in \(0, 1\)"):
        jax.jit(
            lambda x: (
                jaxgd.fit(lambda x: x**2, x, learning_rate=options, num_steps=2).params
            )
        )(jnp.array(1.0))


def test_other_strings_are_not_learning_rates():
    with pytest.raises(
        TypeError,
        match=r"learning_rate must be a float, a 0-d array, an optax schedule or "
        r"'auto' \(a line search\); got str 'Auto'",
    ):
        jaxgd.fit(lambda x: x**2, jnp.array(1.0), learning_rate="Auto")


def test_auto_with_an_optimizer_is_refused():
    with pytest.raises(ValueError, match="pass exactly one of learning_rate"):
        jaxgd.fit(
            lambda x: x**2,
            jnp.array(1.0),
            learning_rate="auto",
            optimizer=optax.sgd(0.1),
        )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"learning_rate": "auto", "learning_rates": jnp.array([0.1])},
        {"learning_rates": "auto"},
        {"learning_rates": jaxgd.backtracking()},
    ],
)
def test_sweep_refuses_a_line_search(kwargs):
    with pytest.raises(
        ValueError,
        match=r"sweep runs one lane per given learning rate, so it cannot take a "
        r"line search .*jaxgd.multistart",
    ):
        jaxgd.sweep(lambda x: x**2, jnp.array(1.0), num_steps=2, **kwargs)
