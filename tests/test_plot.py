"""Tests of `jaxgd.plot`: what each figure draws is exactly the run it was given."""

import subprocess
import sys
import textwrap

import jax.numpy as jnp
import numpy as np
import pytest
from matplotlib.contour import ContourSet
from matplotlib.figure import Figure
from matplotlib.quiver import Quiver

import jaxgd
from jaxgd import plot


def square(x):
    return x**2


def shifted_bowl(x):
    return (x - 2.0) ** 2 + 1.0


def elongated_bowl(x):
    return x[0] ** 2 + 4.0 * x[1] ** 2


def by_label(ax, label):
    return [line for line in ax.lines if line.get_label() == label]


def assert_at_top(ax, line):
    """The line's points sit near the top of the axes, whatever the y limits."""
    ax.figure.canvas.draw()
    shown = line.get_transform().transform(line.get_xydata())
    np.testing.assert_allclose(shown[:, 1], ax.transAxes.transform([(0, 0.95)])[0, 1])


def run_python(code):
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_matplotlib_is_optional():
    # jaxgd itself never imports matplotlib; jaxgd.plot says how to install it.
    done = run_python(
        """
        import sys
        import jaxgd
        print("matplotlib" in sys.modules)
        sys.modules["matplotlib"] = None
        try:
            import jaxgd.plot
        except ImportError as error:
            print(error)
        del sys.modules["matplotlib"]
        print(jaxgd.plot is sys.modules["jaxgd.plot"], "matplotlib" in sys.modules)
        """
    )
    assert done.returncode == 0, done.stderr
    imported, message, on_use = done.stdout.strip().split("\n")
    assert imported == "False"
    assert 'pip install "jaxgd[plot]"' in message
    # `jaxgd.plot` as an attribute imports the module (and matplotlib) on first use.
    assert on_use == "True True"


# --- loss_curve ---------------------------------------------------------------


def test_loss_curve_draws_every_loss_of_one_run():
    # x <- x - 0.1 * 2x = 0.8 x, so the loss is 0.64^t: more than two decades.
    result = jaxgd.fit(square, jnp.array(1.0), learning_rate=0.1, num_steps=30)
    ax = plot.loss_curve(result).axes[0]
    (line,) = ax.lines
    np.testing.assert_array_equal(line.get_xdata(), np.arange(30))
    np.testing.assert_array_equal(line.get_ydata(), np.asarray(result.losses))
    np.testing.assert_allclose(line.get_ydata(), 0.64 ** np.arange(30), rtol=1e-5)
    assert ax.get_yscale() == "log"


def test_loss_curve_is_linear_when_the_losses_span_less_than_two_decades():
    # The loss falls from 19 towards its minimum 10.
    result = jaxgd.fit(
        lambda x: (x - 3.0) ** 2 + 10.0,
        jnp.array(0.0),
        learning_rate=0.1,
        num_steps=20,
    )
    ax = plot.loss_curve(result).axes[0]
    assert ax.get_yscale() == "linear"
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), np.asarray(result.losses))


def test_loss_curve_is_linear_for_negative_losses():
    # -100 * exp(-x^2) spans decades in magnitude, but a log axis cannot show it.
    result = jaxgd.fit(
        lambda x: -100.0 * jnp.exp(-(x**2)),
        jnp.array(3.0),
        learning_rate=0.01,
        num_steps=20,
    )
    assert plot.loss_curve(result).axes[0].get_yscale() == "linear"


def test_loss_curve_marks_the_diverged_lane_where_it_stopped():
    # With rate 1.5, x <- x - 1.5 * 2x = -2x: the loss is 4^t until it overflows.
    result = jaxgd.sweep(
        square,
        jnp.array(1.0),
        learning_rates=jnp.array([0.1, 1.5]),
        num_steps=100,
    )
    assert result.diverged.tolist() == [False, True]
    stop = int(result.steps_taken[1])
    assert stop < 99 and np.isnan(result.losses[1, stop + 1 :]).all()

    ax = plot.loss_curve(result, labels=["slow", "fast"]).axes[0]
    slow, fast = by_label(ax, "slow"), by_label(ax, "fast")
    np.testing.assert_array_equal(slow[0].get_ydata(), np.asarray(result.losses[0]))
    # The NaN tail after the stop, and the overflowed loss at it, are not drawn.
    drawn = int(np.isfinite(result.losses[1]).sum())
    assert drawn in (stop, stop + 1)
    np.testing.assert_array_equal(fast[0].get_xdata(), np.arange(drawn))
    np.testing.assert_array_equal(fast[0].get_ydata(), 4.0 ** np.arange(drawn))
    (marker,) = by_label(ax, "diverged")
    np.testing.assert_array_equal(marker.get_xdata(), [stop])
    np.testing.assert_array_equal(marker.get_ydata(), [4.0 ** (drawn - 1)])
    assert ax.get_yscale() == "log"
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend == ["slow", "fast", "diverged"]


def test_loss_curve_marks_a_run_that_diverged_before_any_finite_loss():
    # 1/x at x = 0 is infinite: the run stops at step 0 with nothing to draw.
    result = jaxgd.fit(
        lambda x: 1.0 / x, jnp.array(0.0), learning_rate=0.1, num_steps=4
    )
    assert bool(result.diverged) and int(result.steps_taken) == 0
    ax = plot.loss_curve(result).axes[0]
    assert len(ax.lines[0].get_xdata()) == 0
    (marker,) = by_label(ax, "diverged")
    np.testing.assert_array_equal(marker.get_xdata(), [0])
    assert_at_top(ax, marker)


def test_loss_curve_does_not_draw_the_nan_tail_of_a_converged_run():
    # Rate 0.5 on x^2 jumps to the minimum in one step; tol stops the run there.
    result = jaxgd.fit(square, jnp.array(3.0), learning_rate=0.5, tol=1e-6, num_steps=8)
    assert bool(result.converged) and np.isnan(result.losses[2:]).all()
    ax = plot.loss_curve(result).axes[0]
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), [0, 1])
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), [9.0, 0.0])
    assert by_label(ax, "diverged") == []
    assert ax.get_legend() is None


def test_loss_curve_draws_into_the_given_axes():
    result = jaxgd.fit(square, jnp.array(1.0), learning_rate=0.1, num_steps=5)
    fig = Figure()
    left, right = fig.subplots(1, 2)
    assert plot.loss_curve(result, ax=right) is fig
    assert len(left.lines) == 0 and len(right.lines) == 1


def test_loss_curve_rejects_bad_input():
    result = jaxgd.sweep(
        square, jnp.array(1.0), learning_rates=jnp.array([0.1, 0.2]), num_steps=3
    )
    with pytest.raises(ValueError, match=r"one label per lane: result has 2 lane"):
        plot.loss_curve(result, labels=["only one"])
    with pytest.raises(ValueError, match=r"one label per lane"):
        plot.loss_curve(result, labels="ab")
    with pytest.raises(TypeError, match=r"loss_curve needs a jaxgd.FitResult"):
        plot.loss_curve(np.ones(3))
    with pytest.raises(TypeError, match=r"ax must be a matplotlib Axes; got str"):
        plot.loss_curve(result, ax="left")
    cube = result._replace(losses=jnp.ones((2, 2, 3)))
    with pytest.raises(ValueError, match=r"losses.shape=\(2, 2, 3\)"):
        plot.loss_curve(cube)


# --- lr_sweep -----------------------------------------------------------------


def test_lr_sweep_draws_final_losses_and_marks_diverged_rates_at_the_top():
    # On x^2 each step multiplies x by (1 - 2 rate): rates above 1 diverge.
    rates = np.array([2.0, 0.2, 1.5, 0.1, 0.01], np.float32)
    steps = 70
    result = jaxgd.sweep(square, jnp.array(1.0), learning_rates=rates, num_steps=steps)
    assert result.diverged.tolist() == [True, False, True, False, False]

    fig = plot.lr_sweep(rates, result, max_learning_rate=1.0)
    ax = fig.axes[0]
    (curve,) = by_label(ax, "final loss")
    ascending = np.array([0.01, 0.1, 0.2])
    np.testing.assert_allclose(curve.get_xdata(), ascending, rtol=1e-6)
    np.testing.assert_allclose(
        curve.get_ydata(), (1 - 2 * ascending) ** (2 * steps), rtol=1e-4
    )
    (marker,) = by_label(ax, "diverged")
    np.testing.assert_allclose(marker.get_xdata(), [2.0, 1.5])
    assert_at_top(ax, marker)
    (bound,) = by_label(ax, "max_learning_rate = 1")
    np.testing.assert_array_equal(bound.get_xdata(), [1.0, 1.0])
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"


def test_lr_sweep_is_linear_in_loss_when_the_losses_are_close():
    rates = jnp.array([0.01, 0.02])
    result = jaxgd.sweep(
        lambda x: (x - 1.0) ** 2 + 5.0,
        jnp.array(0.0),
        learning_rates=rates,
        num_steps=5,
    )
    ax = plot.lr_sweep(rates, result).axes[0]
    assert ax.get_yscale() == "linear"
    assert by_label(ax, "diverged") == []
    assert not any(line.get_label().startswith("max_") for line in ax.lines)


def test_lr_sweep_draws_into_the_given_axes():
    rates = jnp.array([0.1, 0.2])
    result = jaxgd.sweep(square, jnp.array(1.0), learning_rates=rates, num_steps=3)
    fig = Figure()
    ax = fig.add_subplot()
    assert plot.lr_sweep(rates, result, ax=ax) is fig
    np.testing.assert_allclose(ax.lines[0].get_ydata(), np.asarray(result.final_loss))


def test_lr_sweep_rejects_bad_input():
    rates = jnp.array([0.1, 0.2, 0.3])
    result = jaxgd.sweep(square, jnp.array(1.0), learning_rates=rates, num_steps=3)
    with pytest.raises(
        ValueError,
        match=r"one rate per lane of result: got learning_rates.shape=\(2,\) for 3 "
        r"lanes",
    ):
        plot.lr_sweep(rates[:2], result)
    with pytest.raises(ValueError, match=r"positive and finite.*-0.1"):
        plot.lr_sweep(np.array([-0.1, 0.2, 0.3]), result)
    with pytest.raises(ValueError, match=r"max_learning_rate must be positive.*got 0"):
        plot.lr_sweep(rates, result, max_learning_rate=0.0)
    with pytest.raises(TypeError, match=r"max_learning_rate must be a number"):
        plot.lr_sweep(rates, result, max_learning_rate="big")
    one = jaxgd.fit(square, jnp.array(1.0), learning_rate=0.1, num_steps=3)
    with pytest.raises(
        ValueError, match=r"result of jaxgd.sweep.*final_loss.shape=\(\)"
    ):
        plot.lr_sweep(rates, one)


# --- path_1d ------------------------------------------------------------------


def test_path_1d_draws_each_ball_and_arrows_downhill():
    # Rate 0.1 on (x - 2)^2 + 1: x_t = 2 + (x_0 - 2) 0.8^t from either side.
    starts = jnp.array([-1.0, 5.0])
    steps = 10
    result = jaxgd.multistart(
        shifted_bowl, starts, learning_rate=0.1, num_steps=steps, record_params=True
    )
    ax = plot.path_1d(shifted_bowl, result, every=1).axes[0]

    balls = [c for c in ax.collections if not isinstance(c, Quiver)]
    quivers = [c for c in ax.collections if isinstance(c, Quiver)]
    assert len(balls) == len(quivers) == 2
    assert balls[0].get_facecolor().tolist() != balls[1].get_facecolor().tolist()
    for start, ball, arrow in zip([-1.0, 5.0], balls, quivers, strict=True):
        x = 2.0 + (start - 2.0) * 0.8 ** np.arange(steps + 1)
        np.testing.assert_allclose(ball.get_offsets()[:, 0], x, rtol=1e-5)
        np.testing.assert_allclose(
            ball.get_offsets()[:, 1], (x - 2) ** 2 + 1, rtol=1e-5
        )
        # Each arrow goes from a ball to the next, against the slope 2(x - 2).
        np.testing.assert_allclose(arrow.X, x[:-1], rtol=1e-5)
        np.testing.assert_allclose(arrow.X + arrow.U, x[1:], rtol=1e-5)
        np.testing.assert_allclose(arrow.Y + arrow.V, (x[1:] - 2) ** 2 + 1, rtol=1e-5)
        assert np.all(np.sign(arrow.U) == -np.sign(x[:-1] - 2.0))
        assert np.all(arrow.V < 0)

    curve = ax.lines[0]
    assert curve.get_xdata().min() < -1.0 and curve.get_xdata().max() > 5.0
    np.testing.assert_allclose(
        curve.get_ydata(), (curve.get_xdata() - 2) ** 2 + 1, rtol=1e-5
    )


def test_path_1d_every_keeps_the_last_ball():
    result = jaxgd.fit(
        shifted_bowl,
        jnp.array(0.0),
        learning_rate=0.1,
        num_steps=10,
        record_params=True,
    )
    ax = plot.path_1d(shifted_bowl, result, every=3).axes[0]
    trajectory = np.asarray(result.trajectory)
    np.testing.assert_array_equal(
        ax.collections[0].get_offsets()[:, 0], trajectory[[0, 3, 6, 9, 10]]
    )


def test_path_1d_stops_where_the_run_stopped_and_honours_x_range():
    # Rate 0.5 on x^2 lands on 0 in one step; tol stops the run there.
    result = jaxgd.fit(
        square,
        jnp.array(3.0),
        learning_rate=0.5,
        tol=1e-6,
        num_steps=6,
        record_params=True,
    )
    fig = Figure()
    ax = fig.add_subplot()
    assert plot.path_1d(square, result, ax=ax, x_range=(-4, 4)) is fig
    np.testing.assert_array_equal(ax.collections[0].get_offsets(), [[3, 9], [0, 0]])
    curve = ax.lines[0].get_xdata()
    assert (curve[0], curve[-1]) == (-4.0, 4.0)


def test_path_1d_of_a_ball_that_never_moves():
    result = jaxgd.fit(
        shifted_bowl, jnp.array(2.0), learning_rate=0.1, num_steps=3, record_params=True
    )
    ax = plot.path_1d(shifted_bowl, result).axes[0]
    np.testing.assert_array_equal(ax.collections[0].get_offsets(), [[2, 1]] * 4)
    curve = ax.lines[0].get_xdata()
    assert curve[0] < 2.0 < curve[-1]


def test_path_1d_rejects_bad_input():
    recorded = jaxgd.fit(
        square, jnp.array(1.0), learning_rate=0.1, num_steps=3, record_params=True
    )
    unrecorded = jaxgd.fit(square, jnp.array(1.0), learning_rate=0.1, num_steps=3)
    with pytest.raises(ValueError, match=r"trajectory is None.*record_params=True"):
        plot.path_1d(square, unrecorded)
    vector = jaxgd.fit(
        lambda x: jnp.sum(x**2),
        jnp.ones(2),
        learning_rate=0.1,
        num_steps=3,
        record_params=True,
    )
    with pytest.raises(ValueError, match=r"needs a scalar param.*shape \(4,\)"):
        plot.path_1d(square, vector)
    with pytest.raises(TypeError, match=r"path_1d needs the function f"):
        plot.path_1d(recorded, recorded)
    with pytest.raises(
        ValueError, match=r"f to return a scalar.*returned shape \(\d+, 2\)"
    ):
        plot.path_1d(lambda x: jnp.stack([x, x]), recorded)
    with pytest.raises(ValueError, match=r"x_range must be finite with low < high"):
        plot.path_1d(square, recorded, x_range=(1.0, -1.0))
    with pytest.raises(ValueError, match=r"x_range must be a pair"):
        plot.path_1d(square, recorded, x_range=(1.0,))
    with pytest.raises(ValueError, match=r"every must be >= 1; got 0"):
        plot.path_1d(square, recorded, every=0)


# --- path_2d ------------------------------------------------------------------


def test_path_2d_draws_the_path_and_the_negative_gradient():
    # Rate 0.1 on x1^2 + 4 x2^2 multiplies x1 by 0.8 and x2 by 0.2 each step.
    steps = 12
    result = jaxgd.fit(
        elongated_bowl,
        jnp.array([2.0, 1.0]),
        learning_rate=0.1,
        num_steps=steps,
        record_params=True,
    )
    bounds = ((-3.0, 3.0), (-2.0, 2.0))
    ax = plot.path_2d(elongated_bowl, result, bounds=bounds, arrows=4).axes[0]

    t = np.arange(steps + 1)
    path = np.stack([2.0 * 0.8**t, 0.2**t], 1)
    np.testing.assert_allclose(ax.lines[0].get_xydata(), path, rtol=1e-5, atol=1e-7)

    (field,) = [c for c in ax.collections if isinstance(c, Quiver)]
    assert field.N == 16
    np.testing.assert_allclose(sorted(set(field.X.tolist())), [-3, -1, 1, 3])
    np.testing.assert_allclose(field.U, -2.0 * field.X, rtol=1e-6)
    np.testing.assert_allclose(field.V, -8.0 * field.Y, rtol=1e-6)
    assert any(isinstance(c, ContourSet) for c in ax.collections)
    assert ax.get_xlim() == (-3.0, 3.0) and ax.get_ylim() == (-2.0, 2.0)


def test_path_2d_draws_one_path_per_start_and_covers_them():
    starts = jnp.array([[2.0, 1.0], [-1.0, -2.0]])
    result = jaxgd.multistart(
        elongated_bowl, starts, learning_rate=0.1, num_steps=5, record_params=True
    )
    fig = Figure()
    ax = fig.add_subplot()
    assert plot.path_2d(elongated_bowl, result, ax=ax, grid=10, arrows=3) is fig
    first, second = ax.lines
    np.testing.assert_allclose(first.get_xydata(), np.asarray(result.trajectory[0]))
    np.testing.assert_allclose(second.get_xydata(), np.asarray(result.trajectory[1]))
    assert first.get_color() != second.get_color()
    (low, high), (bottom, top) = ax.get_xlim(), ax.get_ylim()
    assert low < -1.0 and high > 2.0 and bottom < -2.0 and top > 1.0


def test_path_2d_rejects_bad_input():
    recorded = jaxgd.fit(
        elongated_bowl,
        jnp.array([1.0, 1.0]),
        learning_rate=0.1,
        num_steps=2,
        record_params=True,
    )
    scalar = jaxgd.fit(
        square, jnp.array(1.0), learning_rate=0.1, num_steps=2, record_params=True
    )
    with pytest.raises(
        ValueError, match=r"needs a param of shape \(2,\).*shape \(3,\)"
    ):
        plot.path_2d(elongated_bowl, scalar)
    unrecorded = recorded._replace(trajectory=None)
    with pytest.raises(ValueError, match=r"record_params=True"):
        plot.path_2d(elongated_bowl, unrecorded)
    with pytest.raises(ValueError, match=r"bounds must be \(\(x1_low"):
        plot.path_2d(elongated_bowl, recorded, bounds=(0.0, 1.0))
    with pytest.raises(ValueError, match=r"bounds\[1\] must be finite with low < high"):
        plot.path_2d(elongated_bowl, recorded, bounds=((0, 1), (1, 1)))
    with pytest.raises(ValueError, match=r"grid must be >= 2; got 1"):
        plot.path_2d(elongated_bowl, recorded, grid=1)
    with pytest.raises(ValueError, match=r"f to return a scalar"):
        plot.path_2d(lambda x: x * 2.0, recorded)
