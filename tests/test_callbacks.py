"""A run's host side: a callback's exception reaches the caller as itself and
stops the run; the progress bar says how the run ended."""

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import jax.numpy as jnp
import pytest
from helpers import xla_flags

import jaxgd
from jaxgd import linear

X = jnp.arange(8.0).reshape(4, 2) / 8
Y = jnp.array([[0.0], [1.0], [1.0], [0.0]])
PARAMS = {"W": jnp.zeros((2, 1)), "b": jnp.zeros(1)}
ROOT = Path(__file__).resolve().parent.parent


def _raising_at(step, error, calls):
    def callback(info):
        calls.append((info.lane, info.step))
        if info.step >= step:
            raise error("raised by the callback")

    return callback


@pytest.mark.parametrize("error", [ValueError, KeyboardInterrupt, SystemExit])
def test_a_callback_s_exception_reaches_the_caller_and_stops_the_run(error):
    calls = []
    with pytest.raises(error, match="raised by the callback"):
        jaxgd.fit(
            linear.mse,
            PARAMS,
            X,
            Y,
            learning_rate=0.1,
            num_steps=50,
            validation_data=(X, Y),
            callback=_raising_at(3, error, calls),
        )
    # No evaluation after the one that raised calls the callback.
    assert calls == [(None, 0), (None, 1), (None, 2), (None, 3)]


def test_a_callback_that_takes_no_argument_is_a_type_error():
    with pytest.raises(TypeError, match=r"takes 0 positional arguments but 1"):
        jaxgd.fit(
            linear.mse,
            PARAMS,
            X,
            Y,
            learning_rate=0.1,
            num_steps=50,
            callback=lambda: None,
        )


@pytest.mark.slow
def test_a_sweep_stops_all_its_lanes_at_the_callback_s_exception():
    calls = []
    with pytest.raises(ValueError, match="raised by the callback"):
        jaxgd.sweep(
            linear.mse,
            PARAMS,
            X,
            Y,
            learning_rates=jnp.array([0.1, 0.2]),
            num_steps=50,
            validation_data=(X, Y),
            callback=_raising_at(2, ValueError, calls),
        )
    # Lane 0 raised at step 2: lane 1 is not called there, nor anyone later.
    assert calls == [(0, 0), (1, 0), (0, 1), (1, 1), (0, 2)]


@pytest.mark.slow
def test_a_run_after_a_failed_callback_runs_in_full():
    with pytest.raises(ValueError):
        jaxgd.fit(
            linear.mse,
            PARAMS,
            X,
            Y,
            learning_rate=0.1,
            num_steps=20,
            validation_data=(X, Y),
            callback=_raising_at(0, ValueError, []),
        )
    seen = []
    result = jaxgd.fit(
        linear.mse,
        PARAMS,
        X,
        Y,
        learning_rate=0.1,
        num_steps=20,
        validation_data=(X, Y),
        callback=seen.append,
    )
    # Seen as soon as fit returns: no jax.effects_barrier() needed.
    assert [info.step for info in seen] == list(range(20))
    assert int(result.steps_taken) == 20


def test_the_progress_bar_shows_a_finite_loss_at_an_early_stop(capfd):
    # The validation targets move away as the fit approaches Y: patience runs
    # out, and the run stops at an evaluation where it takes no step.
    result = jaxgd.fit(
        linear.mse,
        PARAMS,
        X,
        Y,
        learning_rate=0.1,
        num_steps=50,
        validation_data=(X, -3 * Y),
        patience=2,
        progress=True,
    )
    err = capfd.readouterr().err
    assert result.stopped_early
    assert "nan" not in err
    last = err.replace("\r", "\n").strip().splitlines()[-1]
    assert "stopped early" in last


def test_the_progress_bar_says_interrupted_after_ctrl_c(capfd):
    def press_ctrl_c(info):
        if info.step == 0:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt, match=r"interrupted: the run stopped"):
        jaxgd.fit(
            linear.mse,
            PARAMS,
            X,
            Y,
            learning_rate=0.1,
            num_steps=100_000,
            progress=True,
            callback=press_ctrl_c,
        )
    last = capfd.readouterr().err.replace("\r", "\n").strip().splitlines()[-1]
    assert "interrupted" in last and "done" not in last


def test_the_progress_bar_names_the_callback_s_exception(capfd):
    with pytest.raises(ValueError):
        jaxgd.fit(
            linear.mse,
            PARAMS,
            X,
            Y,
            learning_rate=0.1,
            num_steps=50,
            validation_data=(X, Y),
            progress=True,
            callback=_raising_at(3, ValueError, []),
        )
    last = capfd.readouterr().err.replace("\r", "\n").strip().splitlines()[-1]
    assert "the callback raised ValueError" in last


_SHARDED = textwrap.dedent(
    """
    import jax, jax.numpy as jnp
    import jaxgd
    from jaxgd import linear

    assert jax.device_count() == 4
    X = jnp.arange(32.0).reshape(16, 2) / 32
    y = X @ jnp.array([[1.0], [-2.0]]) + 0.5
    Xs, ys = jaxgd.shard_data(X, y)
    params = linear.init(jax.random.key(0), 2, 1)

    def raising(info):
        if info.step >= 3:
            raise ValueError("raised on sharded data")

    try:
        jaxgd.fit(linear.mse, params, Xs, ys, learning_rate=0.1, num_steps=50,
                  validation_data=(Xs, ys), callback=raising)
    except ValueError as error:
        print("RAISED", error)
    seen = []
    jaxgd.fit(linear.mse, params, Xs, ys, learning_rate=0.1, num_steps=50,
              validation_data=(Xs, ys), callback=seen.append)
    print("SEEN", len(seen))
    """
)


@pytest.mark.slow
def test_on_sharded_data_a_raising_callback_raises_and_callbacks_have_run():
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["JAX_PLATFORMS"] = "cpu"
    env["XLA_FLAGS"] = xla_flags("--xla_force_host_platform_device_count=4")
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT), env.get("PYTHONPATH")])
    )
    done = subprocess.run(
        [sys.executable, "-c", _SHARDED],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "RAISED raised on sharded data" in done.stdout
    # Every evaluation's callback has run when fit returns.
    assert "SEEN 50" in done.stdout
    assert "INTERNAL" not in done.stderr and "CpuCallback" not in done.stderr
