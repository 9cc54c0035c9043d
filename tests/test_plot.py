"""Tests of `jaxgd.plot`: what each figure draws is exactly the run it was given."""

import io
import struct
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from matplotlib.collections import PathCollection
from matplotlib.contour import ContourSet
from matplotlib.figure import Figure
from matplotlib.quiver import Quiver

import jaxgd
from jaxgd import linear, plot


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


def assert_legend_covers_nothing(ax):
    """The legend lies beside the axes, inside the figure, over no data."""
    fig = ax.figure
    fig.canvas.draw()
    legend = ax.get_legend().get_window_extent()
    area = ax.get_window_extent()
    assert legend.x0 >= area.x1 or legend.y1 <= area.y0 or legend.y0 >= area.y1
    assert fig.bbox.x0 <= legend.x0 and legend.x1 <= fig.bbox.x1 + 0.5
    assert fig.bbox.y0 <= legend.y0 and legend.y1 <= fig.bbox.y1 + 0.5


def png_size(fig):
    stream = io.BytesIO()
    fig.savefig(stream, format="png")
    header = stream.getvalue()[:24]
    assert header.startswith(b"\x89PNG")
    return struct.unpack(">II", header[16:24])


def run_python(code):
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.slow
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


def test_a_new_figure_is_printable():
    # 150 dpi and at least 960 pixels wide, whichever plot makes it.
    result = jaxgd.fit(square, jnp.array(1.0), learning_rate=0.1, num_steps=5)
    fig = plot.loss_curve(result)
    assert fig.dpi == plot.DPI == 150
    width, height = png_size(fig)
    assert (width, height) == (1050, 660)
    for axes in fig.axes:
        assert axes.get_xlabel() and axes.get_ylabel()


def test_subplots_makes_panels_side_by_side_in_the_same_style():
    fig, axes = plot.subplots(3)
    assert len(axes) == 3 and fig.axes == axes
    assert png_size(fig)[0] >= 3 * 800
    assert all(ax.xaxis.get_gridlines()[0].get_visible() for ax in axes)
    assert [ax.get_position().x0 for ax in axes] == sorted(
        ax.get_position().x0 for ax in axes
    )
    with pytest.raises(ValueError, match=r"ncols must be >= 1; got 0"):
        plot.subplots(0)


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


def test_loss_curve_steps_start_at_0_with_no_negative_tick_on_a_symlog_axis():
    result = jaxgd.fit(square, jnp.array(1.0), learning_rate=0.1, num_steps=300)
    ax = plot.loss_curve(result).axes[0]
    low, high = ax.get_xlim()
    assert low == 0 and high > 299
    ax.set_xscale("symlog", linthresh=10)
    ax.figure.canvas.draw()
    assert ax.get_xlim()[0] == 0
    shown = [t for t in ax.get_xticks() if low <= t <= ax.get_xlim()[1]]
    assert shown[0] == 0 and all(t >= 0 for t in shown)


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
    # The slow lane's 0.64^t sets the scale, a log axis around its values; the
    # fast lane's climb to 4^stop ~ 1e38 leaves the view.
    assert ax.get_yscale() == "log"
    bottom, top = ax.get_ylim()
    finite = np.asarray(result.losses[0])
    assert bottom < finite.min() and finite.max() < top < 10.0
    # The NaN tail after the stop, and a loss that overflowed there, are not
    # drawn; the climb is drawn until it leaves the view, as far as just above
    # the top.
    drawn = int(np.isfinite(result.losses[1]).sum())
    assert drawn in (stop, stop + 1)
    np.testing.assert_array_equal(fast[0].get_xdata(), np.arange(drawn))
    climb = 4.0 ** np.arange(drawn)
    shown = fast[0].get_ydata()
    np.testing.assert_array_equal(shown[climb < top], climb[climb < top])
    assert np.all(shown[climb >= top] > top) and shown.max() <= 10 * top
    (marker,) = by_label(ax, "diverged")
    np.testing.assert_array_equal(marker.get_xdata(), [stop])
    assert_at_top(ax, marker)
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend == ["slow", "fast", "diverged"]


def test_loss_curve_marks_a_stop_in_view_at_its_last_loss():
    # Alone, the diverged lane sets the scale: its x sits on its last loss.
    result = jaxgd.fit(square, jnp.array(1.0), learning_rate=1.5, num_steps=100)
    stop = int(result.steps_taken)
    ax = plot.loss_curve(result).axes[0]
    (marker,) = by_label(ax, "diverged")
    last = float(np.asarray(result.losses)[np.isfinite(result.losses)][-1])
    np.testing.assert_array_equal(marker.get_xydata(), [[stop, last]])
    assert ax.get_ylim()[1] >= last


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


def test_loss_curve_colours_a_sweep_by_learning_rate():
    # On x^2 each step multiplies x by (1 - 2 rate): 2 and 3 overflow quickly.
    rates = np.array([0.01, 0.03, 0.1, 0.3, 0.45, 2.0, 3.0, 0.2], np.float32)
    result = jaxgd.sweep(square, jnp.array(1.0), learning_rates=rates, num_steps=200)
    assert result.diverged.tolist() == [False] * 5 + [True, True, False]
    fig = plot.loss_curve(result, learning_rates=rates)
    ax, bar = fig.axes
    lanes = ax.lines[: len(rates)]
    for lane, losses in zip(lanes, np.asarray(result.losses), strict=True):
        finite = np.isfinite(losses)
        np.testing.assert_array_equal(lane.get_xdata(), np.flatnonzero(finite))
    # viridis brightens from dark purple to green: the green channel grows
    # with the rate, on a log scale from the smallest rate to the largest.
    green = np.array([lane.get_color()[1] for lane in lanes])
    order = np.argsort(rates)
    assert np.all(np.diff(green[order]) > 0)
    assert bar.get_yscale() == "log"
    np.testing.assert_allclose(bar.get_ylim(), [0.01, 3.0], rtol=1e-6)
    assert bar.get_ylabel() == "learning rate η (x: diverged)"
    (crosses,) = bar.lines
    np.testing.assert_allclose(crosses.get_ydata(), [2.0, 3.0])
    # The diverged lanes do not set the scale; they are marked at the top.
    assert ax.get_ylim()[1] < 1e3
    (stops,) = by_label(ax, "diverged")
    np.testing.assert_array_equal(stops.get_xdata(), result.steps_taken[5:7])
    assert_at_top(ax, stops)
    assert ax.get_legend() is None


def test_loss_curve_of_the_gap_to_the_optimum_is_logarithmic():
    # (x - 2)^2 + 1 from 0 at rate 0.1: loss - 1 = 4 * 0.64^t.
    result = jaxgd.fit(shifted_bowl, jnp.array(0.0), learning_rate=0.1, num_steps=25)
    ax = plot.loss_curve(result, optimum=1.0, labels=["gap"]).axes[0]
    (line,) = by_label(ax, "gap")
    # float32 losses near 1: the gap carries their rounding, 1e-7 absolute.
    np.testing.assert_allclose(
        line.get_ydata(), 4.0 * 0.64 ** np.arange(25), rtol=0, atol=3e-7
    )
    assert ax.get_yscale() == "log" and ax.get_ylabel() == "loss − optimum"
    assert_legend_covers_nothing(ax)


def test_loss_curve_leaves_out_the_steps_at_the_optimum():
    # Rate 0.5 lands on the minimum 1 in one step: the gap is 0 from then on.
    result = jaxgd.fit(shifted_bowl, jnp.array(0.0), learning_rate=0.5, num_steps=4)
    ax = plot.loss_curve(result, optimum=1.0).axes[0]
    np.testing.assert_array_equal(ax.lines[0].get_xydata(), [[0, 4.0]])


def test_loss_curve_rejects_bad_rates_and_optimum():
    rates = jnp.array([0.1, 0.2])
    result = jaxgd.sweep(square, jnp.array(1.0), learning_rates=rates, num_steps=3)
    with pytest.raises(ValueError, match=r"labels or learning_rates, not both"):
        plot.loss_curve(result, labels=["a", "b"], learning_rates=rates)
    with pytest.raises(ValueError, match=r"one rate per lane.*shape=\(3,\)"):
        plot.loss_curve(result, learning_rates=[0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match=r"positive and finite; got \[0.1, 0.0\]"):
        plot.loss_curve(result, learning_rates=[0.1, 0.0])
    with pytest.raises(ValueError, match=r"optimum must be finite; got nan"):
        plot.loss_curve(result, optimum=float("nan"))
    with pytest.raises(TypeError, match=r"optimum must be a number; got str"):
        plot.loss_curve(result, optimum="low")


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
    # The best rate, 0.2, contracts fastest: it gets the star.
    (star,) = by_label(ax, "best η = 0.2")
    np.testing.assert_allclose(
        star.get_xydata(), [[0.2, 0.6 ** (2 * steps)]], rtol=1e-4
    )
    assert ax.get_xlabel() == "learning rate η"
    assert_legend_covers_nothing(ax)


def test_lr_sweep_of_the_gap_marks_rates_whose_loss_grew():
    # x^2 + 1 from 1 at rate r: loss - 1 = (1 - 2 r)^(2 t). Rate 1.05 grows
    # by 1.1 per step without reaching infinity: it is marked, not drawn.
    rates = np.array([0.01, 0.05, 0.1, 1.05], np.float32)
    steps = 10
    result = jaxgd.sweep(
        lambda x: x**2 + 1.0, jnp.array(1.0), learning_rates=rates, num_steps=steps
    )
    assert not result.diverged.any()
    ax = plot.lr_sweep(rates, result, optimum=1.0).axes[0]
    (curve,) = by_label(ax, "final loss − optimum")
    np.testing.assert_allclose(curve.get_xdata(), rates[:3])
    # float32 losses near 1: the gaps carry their rounding, 1e-7 absolute.
    np.testing.assert_allclose(
        curve.get_ydata(), (1 - 2 * rates[:3]) ** (2 * steps), rtol=0, atol=3e-7
    )
    (marker,) = by_label(ax, "diverged or grew")
    np.testing.assert_allclose(marker.get_xdata(), [1.05])
    assert_at_top(ax, marker)
    assert by_label(ax, "best η = 0.1")
    assert ax.get_yscale() == "log" and ax.get_ylabel() == "final loss − optimum"


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


@pytest.mark.slow
def test_path_1d_marks_each_start_names_each_run_and_stars_the_best():
    # x^4 - 3x^2 + x: from -2 and -1 into the global valley near -1.30, from
    # 1 and 2 into the local one near 1.13.
    def f(x):
        return x**4 - 3.0 * x**2 + x

    starts = jnp.array([-2.0, -1.0, 1.0, 2.0])
    result = jaxgd.multistart(
        f, starts, learning_rate=0.02, num_steps=60, record_params=True
    )
    index, lane = jaxgd.best(result)
    fig = plot.path_1d(f, result, best=index)
    ax = fig.axes[0]
    for start in (-2.0, -1.0, 1.0, 2.0):
        (marker,) = by_label(ax, f"x₀ = {start:g}".replace("-", "−"))
        np.testing.assert_allclose(marker.get_xydata(), [[start, f(start)]], rtol=1e-6)
        assert marker.get_markerfacecolor() == "white"
    (star,) = [line for line in ax.lines if line.get_label().startswith("best: ")]
    end = float(lane.params)
    assert end < -1.2
    np.testing.assert_allclose(star.get_xydata(), [[end, f(end)]], rtol=1e-5)
    # Both valleys and every ball in view, the curve's climb cut off above.
    bottom, top = ax.get_ylim()
    assert bottom < float(f(end)) and top >= float(f(2.0))
    assert top < float(f(ax.get_xlim()[1]))
    assert_legend_covers_nothing(ax)


def test_path_1d_names_runs_as_told():
    result = jaxgd.multistart(
        shifted_bowl,
        jnp.array([0.0, 3.0]),
        learning_rate=0.1,
        num_steps=3,
        record_params=True,
    )
    ax = plot.path_1d(shifted_bowl, result, labels=["left", "right"]).axes[0]
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend == ["left", "right"]
    with pytest.raises(ValueError, match=r"one label per run: result has 2 run"):
        plot.path_1d(shifted_bowl, result, labels=["one"])
    with pytest.raises(ValueError, match=r"best must be the index of a run, below 2"):
        plot.path_1d(shifted_bowl, result, best=2)


# --- path_2d ------------------------------------------------------------------


@pytest.mark.slow
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


@pytest.mark.slow
def test_path_2d_draws_one_path_per_start_and_covers_them():
    starts = jnp.array([[2.0, 1.0], [-1.0, -2.0]])
    result = jaxgd.multistart(
        elongated_bowl, starts, learning_rate=0.1, num_steps=5, record_params=True
    )
    fig = Figure()
    ax = fig.add_subplot()
    assert plot.path_2d(elongated_bowl, result, ax=ax, grid=10, arrows=3) is fig
    (first,) = by_label(ax, "x₀ = (2, 1)")
    (second,) = by_label(ax, "x₀ = (−1, −2)")
    np.testing.assert_allclose(first.get_xydata(), np.asarray(result.trajectory[0]))
    np.testing.assert_allclose(second.get_xydata(), np.asarray(result.trajectory[1]))
    assert first.get_color() != second.get_color()
    (low, high), (bottom, top) = ax.get_xlim(), ax.get_ylim()
    assert low < -1.0 and high > 2.0 and bottom < -2.0 and top > 1.0


@pytest.mark.slow
def test_path_2d_arrows_cross_the_contours_at_right_angles():
    # Equal scales on both axes: on the screen, each arrow -grad f is
    # perpendicular to the contour through its foot, whose tangent is grad f
    # turned by 90 degrees.
    result = jaxgd.fit(
        elongated_bowl,
        jnp.array([2.0, 1.0]),
        learning_rate=0.1,
        num_steps=10,
        record_params=True,
    )
    fig = plot.path_2d(elongated_bowl, result, bounds=((-3, 3), (-1, 2)), arrows=6)
    ax = fig.axes[0]
    assert ax.get_aspect() == 1.0
    fig.canvas.draw()
    (field,) = [c for c in ax.collections if isinstance(c, Quiver)]
    assert field.angles == "xy"
    feet = np.stack([field.X, field.Y], 1)
    arrow = np.stack([field.U, field.V], 1)
    moving = np.linalg.norm(arrow, axis=1) > 0
    feet, arrow = feet[moving], arrow[moving]
    tangent = np.stack([-arrow[:, 1], arrow[:, 0]], 1)
    screen = ax.transData.transform
    step = 1e-3
    on_screen = screen(feet + step * arrow) - screen(feet)
    along = screen(feet + step * tangent) - screen(feet)
    cosine = np.sum(on_screen * along, 1) / (
        np.linalg.norm(on_screen, axis=1) * np.linalg.norm(along, axis=1)
    )
    np.testing.assert_allclose(cosine, 0.0, atol=1e-6)
    # A colour bar for the heights, the legend beside the picture.
    bar = fig.axes[1]
    assert bar.get_xlabel() == "f(x₁, x₂)"
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend == ["path", "−∇f (downhill)", "start", "end"]
    assert_legend_covers_nothing(ax)
    assert png_size(fig)[0] >= 960


@pytest.mark.slow
def test_path_2d_by_default_shows_the_end_well_inside():
    result = jaxgd.fit(
        elongated_bowl,
        jnp.array([2.0, 1.0]),
        learning_rate=0.1,
        num_steps=30,
        record_params=True,
    )
    ax = plot.path_2d(elongated_bowl, result, grid=8, arrows=3).axes[0]
    # x1 = 2 * 0.8^t, x2 = 0.2^t: the path spans [2 * 0.8^30, 2] x [0.2^30, 1],
    # and a quarter of that on every side.
    x1_low, x2_low = 2 * 0.8**30, 0.2**30
    x1_pad, x2_pad = (2 - x1_low) / 4, (1 - x2_low) / 4
    np.testing.assert_allclose(
        [*ax.get_xlim(), *ax.get_ylim()],
        [x1_low - x1_pad, 2 + x1_pad, x2_low - x2_pad, 1 + x2_pad],
        rtol=1e-5,
    )


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


# --- decision_boundary ----------------------------------------------------------


def separable_enough():
    keys = jax.random.split(jax.random.key(3), 2)
    X = jax.random.normal(keys[0], (60, 2))
    noise = 0.5 * jax.random.normal(keys[1], (60,))
    y = (2.0 * X[:, 0] - X[:, 1] + 0.5 + noise > 0).astype(jnp.float32)[:, None]
    return X, y


@pytest.mark.slow
def test_decision_boundary_draws_the_data_the_boundary_and_the_accuracy():
    X, y = separable_enough()
    params = {"W": jnp.array([[2.0], [-1.0]]), "b": jnp.array([0.5])}
    fig = plot.decision_boundary(
        params, X, y, feature_names=["a", "b"], class_names=("no", "yes")
    )
    ax, bar = fig.axes
    contours = {
        tuple(c.levels): c
        for c in ax.collections
        if isinstance(c, ContourSet) and not c.filled
    }
    # The boundary p = 1/2 is the line x W + b = 0.
    boundary = np.concatenate([path.vertices for path in contours[(0.5,)].get_paths()])
    assert len(boundary) > 20
    np.testing.assert_allclose(boundary @ [2.0, -1.0] + 0.5, 0.0, atol=1e-4)
    # The dashed probability contours: p = 0.9 where x W + b = log 9.
    assert set(contours) == {(0.5,), (0.1, 0.25, 0.75, 0.9)}
    levels = contours[(0.1, 0.25, 0.75, 0.9)]
    top = np.concatenate([path.vertices for path in levels.get_paths()[3:]])
    np.testing.assert_allclose(top @ [2.0, -1.0] + 0.5, np.log(9.0), atol=1e-3)
    # Every row where it is, by label.
    points = [c for c in ax.collections if isinstance(c, PathCollection)]
    labels = np.asarray(y)[:, 0]
    for collection, label, name in zip(points, (0, 1), ("no", "yes"), strict=True):
        np.testing.assert_allclose(
            collection.get_offsets(), np.asarray(X)[labels == label], rtol=1e-6
        )
        assert (
            collection.get_label() == f"label {name} ({int(np.sum(labels == label))})"
        )
    share = linear.accuracy(params, X, y)
    title = ax.get_legend().get_title().get_text()
    assert title == f"accuracy {share:.3f} ({round(share * 60)} of 60)"
    assert 0.7 < share < 1.0
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("a", "b")
    assert bar.get_xlabel().startswith("p(label yes | x)")
    assert_legend_covers_nothing(ax)


def test_decision_boundary_rejects_bad_input():
    X, y = separable_enough()
    params = {"W": jnp.ones((2, 1)), "b": jnp.zeros(1)}
    with pytest.raises(ValueError, match=r"2 features and 1 output.*'W': \(3, 1\)"):
        plot.decision_boundary({"W": jnp.ones((3, 1)), "b": jnp.zeros(1)}, X, y)
    with pytest.raises(ValueError, match=r"2 features and 1 output.*got list"):
        plot.decision_boundary([1.0, 2.0], X, y)
    with pytest.raises(ValueError, match=r"X of shape \(N, 2\).*X.shape=\(60, 1\)"):
        plot.decision_boundary(params, X[:, :1], y)
    with pytest.raises(ValueError, match=r"y.shape=\(60,\)"):
        plot.decision_boundary(params, X, y[:, 0])
    with pytest.raises(ValueError, match=r"labels 0 or 1"):
        plot.decision_boundary(params, X, 2.0 * y)
    with pytest.raises(ValueError, match=r"feature_names must hold two names"):
        plot.decision_boundary(params, X, y, feature_names=["only"])
