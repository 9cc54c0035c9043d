"""`plot.loss_curve(result, validation=True)`: validation curves read back from
the axes are the run's validation losses, at the steps they were measured."""

import jax.numpy as jnp
import numpy as np
import pytest

import jaxgd
from jaxgd import plot


def gap(x, target):
    return (x - target) ** 2


# Trained towards 2 from 0, x_t = 2 - 2 (0.8)^t: the loss against 1 falls, then
# rises again once x passes 1, near t = 3.
TRAIN, VALIDATION = (jnp.array(2.0),), (jnp.array(1.0),)


def _run(num_steps=12, every=5, **options):
    return jaxgd.fit(
        gap,
        jnp.array(0.0),
        *TRAIN,
        learning_rate=0.1,
        num_steps=num_steps,
        validation_data=VALIDATION,
        validation_every=every,
        **options,
    )


def _dashed(ax):
    return [line for line in ax.lines if line.get_linestyle() == "--"]


def _star(ax):
    (star,) = [
        line for line in ax.lines if line.get_label() == "lowest validation loss"
    ]
    return star


def test_validation_losses_are_drawn_at_the_steps_they_were_measured():
    result = _run(record_params=True)
    ax = plot.loss_curve(result, validation=True, validation_every=5).axes[0]
    (training,) = [line for line in ax.lines if line.get_label() == "training"]
    np.testing.assert_array_equal(training.get_ydata(), np.asarray(result.losses))
    (validation,) = _dashed(ax)
    assert validation.get_label() == "validation"
    assert validation.get_color() == training.get_color()
    np.testing.assert_array_equal(validation.get_xdata(), [0, 5, 10])
    # Measured before updates 0, 5 and 10: at the params after that many updates.
    trajectory = np.asarray(result.trajectory, np.float64)
    np.testing.assert_allclose(
        validation.get_ydata(), (trajectory[[0, 5, 10]] - 1.0) ** 2, rtol=1e-5
    )
    np.testing.assert_array_equal(
        validation.get_ydata(), np.asarray(result.validation_losses)
    )
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels == ["training", "validation", "lowest validation loss"]


@pytest.mark.parametrize("every, best", [(1, 3), (2, 4)])
def test_the_lowest_validation_loss_is_starred_at_the_best_step(every, best):
    result = _run(every=every)
    assert int(result.best_step) == best
    star = _star(plot.loss_curve(result, validation=True).axes[0])
    np.testing.assert_array_equal(star.get_xdata(), [best])
    losses = np.asarray(result.validation_losses)
    np.testing.assert_array_equal(star.get_ydata(), [losses[best // every]])
    assert star.get_ydata()[0] == losses.min()


def test_validation_every_is_inferred_when_one_period_fits_the_lengths():
    # 10 steps give 3 validation losses for k = 4 alone (ceil(10/3) = 4, 10/2 = 5).
    result = _run(num_steps=10, every=4)
    (validation,) = _dashed(plot.loss_curve(result, validation=True).axes[0])
    np.testing.assert_array_equal(validation.get_xdata(), [0, 4, 8])


def test_validation_every_is_asked_for_when_several_periods_fit():
    result = _run(num_steps=12, every=5)
    with pytest.raises(
        ValueError,
        match=r"cannot tell validation_every .* for 12 steps, every k from 4 to 5 "
        r"gives 3 validation losses\. Pass the run's validation_every=",
    ):
        plot.loss_curve(result, validation=True)
    with pytest.raises(
        ValueError,
        match=r"validation_every=6 does not fit the run: 12 steps validated every "
        r"6 give 2 validation losses, but the result has 3",
    ):
        plot.loss_curve(result, validation=True, validation_every=6)


def test_each_lane_of_a_sweep_gets_its_validation_curve_and_its_star():
    rates = jnp.array([0.05, 0.1, 0.3])
    result = jaxgd.sweep(
        gap,
        jnp.array(0.0),
        *TRAIN,
        learning_rates=rates,
        num_steps=20,
        validation_data=VALIDATION,
        validation_every=2,
    )
    ax = plot.loss_curve(
        result, validation=True, validation_every=2, labels=["a", "b", "c"]
    ).axes[0]
    dashed = _dashed(ax)
    assert len(dashed) == 3
    losses = np.asarray(result.validation_losses)
    for k, line in enumerate(dashed):
        (training,) = [line for line in ax.lines if line.get_label() == "abc"[k]]
        assert line.get_color() == training.get_color()
        np.testing.assert_array_equal(line.get_xdata(), 2 * np.arange(10))
        np.testing.assert_array_equal(line.get_ydata(), losses[k])
    star = _star(ax)
    best = np.asarray(result.best_step)
    np.testing.assert_array_equal(star.get_xdata(), best)
    np.testing.assert_array_equal(star.get_ydata(), losses[np.arange(3), best // 2])
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels == ["a", "b", "c", "lowest validation loss", "validation"]


def test_a_sweep_coloured_by_rate_draws_each_lane_in_its_colour():
    rates = jnp.array([0.05, 0.3])
    result = jaxgd.sweep(
        gap,
        jnp.array(0.0),
        *TRAIN,
        learning_rates=rates,
        num_steps=6,
        validation_data=VALIDATION,
    )
    ax = plot.loss_curve(result, validation=True, learning_rates=rates).axes[0]
    solid = [line for line in ax.lines if line.get_linestyle() == "-"]
    dashed = _dashed(ax)
    assert [line.get_color() for line in dashed] == [line.get_color() for line in solid]
    np.testing.assert_array_equal(dashed[1].get_xdata(), np.arange(6))


def test_validation_without_validation_losses_is_an_error():
    result = jaxgd.fit(gap, jnp.array(0.0), *TRAIN, learning_rate=0.1, num_steps=5)
    with pytest.raises(ValueError, match="had no validation_data"):
        plot.loss_curve(result, validation=True)


def test_validation_refuses_what_does_not_go_with_it():
    result = _run()
    with pytest.raises(ValueError, match="pass validation=True or optimum=, not both"):
        plot.loss_curve(result, validation=True, optimum=0.0, validation_every=5)
    with pytest.raises(ValueError, match=r"validation_every places .* with validation"):
        plot.loss_curve(result, validation_every=5)
    with pytest.raises(TypeError, match="validation must be a bool; got str"):
        plot.loss_curve(result, validation="yes")
    with pytest.raises(TypeError, match="validation_every must be an int"):
        plot.loss_curve(result, validation=True, validation_every=5.0)


def test_a_search_plot_draws_each_lane_to_its_rung_and_marks_the_winner():
    rates = jnp.array([0.01, 0.05, 0.1, 0.2])
    result = jaxgd.sweep(
        gap,
        jnp.array(0.0),
        *TRAIN,
        learning_rates=rates,
        validation_data=VALIDATION,
        num_steps=16,
        search=jaxgd.successive_halving(eta=2, min_steps=4),
    )
    fig = plot.search(result, validation_every=4)
    lines = fig.axes[0].lines
    values = np.asarray(result.validation_losses)
    pruned = np.asarray(result.pruned)
    for k, line in enumerate(lines[:4]):
        finite = np.isfinite(values[k])
        np.testing.assert_array_equal(line.get_xdata(), 4 * np.flatnonzero(finite))
        np.testing.assert_allclose(line.get_ydata(), values[k][finite])
    winner, _ = jaxgd.best(result, by="validation")
    assert lines[winner].get_label() == f"winner: lane {winner}"
    assert not pruned[winner]
    # A bar at each pruned lane's last validation loss, a star at the winner's best.
    ends = lines[4]
    assert ends.get_label() == "pruned" and len(ends.get_xdata()) == pruned.sum()
    for x, k in zip(ends.get_xdata(), np.flatnonzero(pruned), strict=True):
        assert x == 4 * (np.flatnonzero(np.isfinite(values[k]))[-1])
    star = lines[5]
    best = int(result.best_step[winner])
    assert list(star.get_xdata()) == [best]
    np.testing.assert_allclose(star.get_ydata(), [values[winner][best // 4]])
