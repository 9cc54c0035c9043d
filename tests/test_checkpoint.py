"""Checkpoints: a run stopped anywhere and resumed equals the uninterrupted run.

Bit for bit: every leaf of the params, the optimizer state and the
histories is compared with `np.array_equal`, not with a tolerance. The slow
test kills a subprocess with SIGKILL at random moments and resumes it each
time.
"""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxgd
from jaxgd import linear

_rng = np.random.default_rng(11)
X = jnp.asarray(_rng.normal(size=(96, 4)), jnp.float32)
Y = jnp.asarray(X @ _rng.normal(size=(4, 1)) + 0.3, jnp.float32)
X_VAL, Y_VAL = X[:32] * 1.1, Y[:32]
START = linear.init(jax.random.key(0), 4, 1)
RATES = jnp.logspace(-3, -0.5, 16)


def call(entry, num_steps, **options):
    """The runs of these tests: fit with mini-batches (and Adam), or a 16-lane
    sweep with validation and restore_best."""
    if entry == "fit-sgd":
        return jaxgd.fit(
            linear.mse,
            START,
            X,
            Y,
            learning_rate=0.05,
            num_steps=num_steps,
            batch_size=16,
            key=jax.random.key(1),
            **options,
        )
    if entry == "fit":
        return jaxgd.fit(
            linear.mse,
            START,
            X,
            Y,
            optimizer=optax.adam(1e-2),
            num_steps=num_steps,
            batch_size=16,
            key=jax.random.key(1),
            **options,
        )
    return jaxgd.sweep(
        linear.mse,
        START,
        X,
        Y,
        learning_rates=RATES,
        num_steps=num_steps,
        validation_data=(X_VAL, Y_VAL),
        validation_every=50,
        patience=1_000,
        restore_best=True,
        **options,
    )


def assert_bitwise_equal(got, want):
    got, want = got._asdict(), want._asdict()
    assert got.keys() == want.keys()
    for name in want:
        a, b = jax.tree.leaves(got[name]), jax.tree.leaves(want[name])
        assert len(a) == len(b), name
        for x, y in zip(a, b, strict=True):
            x, y = np.asarray(x), np.asarray(y)
            assert x.dtype == y.dtype and x.shape == y.shape, name
            assert np.array_equal(x, y, equal_nan=True), name


class Stopper:
    """A callback that records the steps it sees and raises at `stop_at`.

    One object for every call of a test, so the calls share one compiled loop.
    """

    def __init__(self):
        self.stop_at, self.seen = None, []

    def __call__(self, info):
        self.seen.append(int(info.step))
        if self.stop_at is not None and info.step >= self.stop_at:
            raise RuntimeError(f"stopped at step {info.step}")


@pytest.mark.parametrize(
    "entry",
    [
        "fit-sgd",
        pytest.param("fit", marks=pytest.mark.slow),
        pytest.param("sweep", marks=pytest.mark.slow),
    ],
)
def test_a_run_stopped_midway_and_resumed_equals_the_uninterrupted_run(entry, tmp_path):
    path = tmp_path / "run.npz"
    num_steps = 600
    callback = Stopper()
    options = {"checkpoint": path, "checkpoint_every": 1e-9, "callback": callback}
    uninterrupted = call(entry, num_steps, **options)
    callback.stop_at = 300
    with pytest.raises(RuntimeError, match="stopped at step"):
        call(entry, num_steps, **options)
    stopped = callback.seen[-1]
    callback.stop_at, callback.seen = None, []
    resumed = call(entry, num_steps, resume=path, **options)
    # It continued from the last checkpoint before the stop, not from step 0.
    assert 0 < callback.seen[0] <= stopped
    assert_bitwise_equal(resumed, uninterrupted)
    # The file of the finished run stays: resuming it runs nothing.
    callback.seen = []
    assert_bitwise_equal(call(entry, num_steps, resume=path, **options), resumed)
    assert callback.seen == []


@pytest.mark.slow
def test_a_resumed_run_equals_a_run_without_checkpoints(tmp_path):
    path = tmp_path / "run.npz"
    callback = Stopper()
    callback.stop_at = 200
    with pytest.raises(RuntimeError, match="stopped at step"):
        call("fit", 400, checkpoint=path, checkpoint_every=1e-9, callback=callback)
    assert_bitwise_equal(call("fit", 400, resume=path), call("fit", 400))


@pytest.mark.slow
def test_checkpoints_under_the_user_s_jit(tmp_path):
    path = tmp_path / "run.npz"

    def run(rate):
        return jaxgd.fit(linear.mse, START, X, Y, learning_rate=rate, num_steps=300)

    def checkpointed(rate):
        return jaxgd.fit(
            linear.mse, START, X, Y, learning_rate=rate, num_steps=300, checkpoint=path
        )

    assert_bitwise_equal(jax.jit(checkpointed)(0.05), run(0.05))
    # The file holds the finished run.
    assert_bitwise_equal(
        jaxgd.fit(
            linear.mse, START, X, Y, learning_rate=0.05, num_steps=300, resume=path
        ),
        run(0.05),
    )


def _fit(**options):
    options = {"learning_rate": 0.05, "num_steps": 20, **options}
    return jaxgd.fit(linear.mse, START, X, Y, **options)


@pytest.mark.parametrize("every", [0, -1.0, float("nan"), "60", True])
def test_checkpoint_every_must_be_a_positive_number_of_seconds(every, tmp_path):
    with pytest.raises(
        ValueError,
        match=r"checkpoint_every must be a positive number of seconds; got "
        + repr(every).replace("(", r"\("),
    ):
        _fit(checkpoint=tmp_path / "run.npz", checkpoint_every=every)


def test_checkpoint_every_needs_a_checkpoint():
    with pytest.raises(
        ValueError,
        match=r"checkpoint_every is the time between two checkpoints: pass "
        r"checkpoint=path too; got checkpoint_every=5 without checkpoint",
    ):
        _fit(checkpoint_every=5)


def test_a_checkpoint_in_a_missing_folder_is_refused_before_the_run(tmp_path):
    path = str(tmp_path / "missing" / "run.npz")
    with pytest.raises(
        ValueError,
        match=r"checkpoint must be a file in a folder that exists and can be "
        rf"written; got '{path}': No such file or directory",
    ):
        _fit(checkpoint=path)


@pytest.mark.parametrize("name", ["checkpoint", "resume"])
def test_a_path_must_be_a_str_or_path_like(name):
    with pytest.raises(
        TypeError, match=rf"{name} must be a path \(str or os.PathLike\); got 3"
    ):
        _fit(**{name: 3})


def test_resume_from_a_missing_file_says_so(tmp_path):
    path = str(tmp_path / "run.npz")
    with pytest.raises(
        FileNotFoundError, match=rf"resume: there is no checkpoint at '{path}'"
    ):
        _fit(resume=path)


def test_resume_from_a_file_that_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "run.npz"
    path.write_text("not a checkpoint")
    with pytest.raises(
        ValueError, match=rf"resume: '{path}' is not a checkpoint jaxgd can read"
    ):
        _fit(resume=path)


@pytest.mark.parametrize(
    "change, message",
    [
        (
            {"num_steps": 30},
            r"was written by another run; num_steps: the checkpoint's run has "
            r"20, this call 30",
        ),
        ({"learning_rate": 0.1}, r"was written by another run; learning_rate differs"),
        (
            {"optimizer": optax.sgd},
            r"holds a run of another structure \(another optimizer, model or "
            r"option\?\)",
        ),
    ],
    ids=["num_steps", "learning_rate", "optimizer"],
)
def test_resume_refuses_the_file_of_another_run(change, message, tmp_path):
    path = tmp_path / "run.npz"
    _fit(checkpoint=path)
    with pytest.raises(ValueError, match=r"resume: the checkpoint .*" + message):
        _fit(resume=path, **change)


def test_checkpoints_are_refused_under_the_user_s_vmap_and_grad(tmp_path):
    path = tmp_path / "run.npz"
    message = (
        r"checkpoint and resume hold one run on the host: they cannot be used "
        r"under jax.vmap or jax.grad of fit \(jax.jit is fine\)"
    )
    with pytest.raises(ValueError, match=message):
        jax.vmap(lambda rate: _fit(learning_rate=rate, checkpoint=path))(
            jnp.array([0.01, 0.02])
        )
    with pytest.raises(ValueError, match=message):
        jax.grad(lambda rate: _fit(learning_rate=rate, checkpoint=path).final_loss)(
            0.01
        )


# The child of the SIGKILL test: runs the fit, then the sweep, each resumed
# from its checkpoint when there is one, and writes their results. It says
# "running" at the first evaluation its loop reaches, and the step there.
CHILD = """
import os, sys
import jax, numpy as np
sys.path.insert(0, {tests!r})
from test_checkpoint import call
folder = {folder!r}
for entry, num_steps in (("fit", {fit_steps}), ("sweep", {sweep_steps})):
    path = os.path.join(folder, entry + ".npz")
    told = []
    def callback(info):
        if not told:
            told.append(1)
            print("running", entry, info.step, flush=True)
    result = call(entry, num_steps, checkpoint=path, checkpoint_every=0.05,
                  resume=path if os.path.exists(path) else None, callback=callback)
    out = os.path.join(folder, entry + "-result.npz")
    np.savez(out + ".tmp.npz", *[np.asarray(x) for x in jax.tree.leaves(result)])
    os.replace(out + ".tmp.npz", out)
print("done", flush=True)
"""


@pytest.mark.slow
def test_runs_killed_at_random_moments_and_resumed_equal_the_uninterrupted_ones(
    tmp_path,
):
    steps = {"fit_steps": 80_000, "sweep_steps": 20_000}
    child = CHILD.format(
        tests=str(Path(__file__).parent), folder=str(tmp_path), **steps
    )
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    rng = random.Random(2026)
    # Three kills in the fit's loop and two in the sweep's, each at a
    # random moment after the loop the child reached said it was running.
    plan = [(entry, rng.uniform(0.0, 0.3)) for entry in ["fit"] * 3 + ["sweep"] * 2]
    order = {"fit": 0, "sweep": 1}
    kills, resumed_at = [], []
    for _ in range(len(plan) + 3):
        process = subprocess.Popen(
            [sys.executable, "-c", child], env=env, stdout=subprocess.PIPE, text=True
        )
        for line in process.stdout:
            word = line.split()
            if word[0] != "running":
                continue
            resumed_at.append((word[1], int(word[2])))
            if len(kills) < len(plan):
                entry, delay = plan[len(kills)]
                if order[word[1]] >= order[entry]:
                    time.sleep(delay)
                    process.send_signal(signal.SIGKILL)
                    break
        process.communicate()
        if process.returncode == -signal.SIGKILL:
            kills.append(resumed_at[-1][0])
            continue
        assert process.returncode == 0  # both runs finished
        break
    assert len(kills) == 5 and "sweep" in kills, kills
    # The runs continued from their checkpoints, not from the start.
    assert any(step > 0 for _, step in resumed_at), resumed_at
    for entry, num_steps in (
        ("fit", steps["fit_steps"]),
        ("sweep", steps["sweep_steps"]),
    ):
        want = call(entry, num_steps)
        with np.load(tmp_path / f"{entry}-result.npz") as got:
            got = [got[f"arr_{i}"] for i in range(len(got.files))]
        leaves = jax.tree.leaves(want)
        assert len(got) == len(leaves)
        for a, b in zip(got, leaves, strict=True):
            b = np.asarray(b)
            assert a.dtype == b.dtype and a.shape == b.shape
            assert np.array_equal(a, b, equal_nan=True)
