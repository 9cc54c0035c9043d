"""Shared problems for the tests: small, fixed keys."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import optax


def regression(
    n_samples=64,
    n_features=3,
    n_outputs=1,
    dtype=jnp.float32,
    seed=0,
    *,
    offset=0.5,
    noise=0.1,
):
    """A noisy linear regression problem (X, y) with standardised features:
    `y = X W + offset + noise * e`, with `W` and `e` standard normal."""
    X, W, e = _host_normal(
        seed,
        (n_samples, n_features),
        (n_features, n_outputs),
        (n_samples, n_outputs),
        dtype=dtype,
    )
    # Computed on the host, in float64 from the rounded draws, then rounded.
    y = X.astype(np.float64) @ W + offset + noise * e.astype(np.float64)
    return jnp.asarray(X, dtype), jnp.asarray(y, dtype)


def normal(seed, *shapes, dtype=jnp.float32):
    """Standard normal arrays of these shapes, drawn on the host: numpy's
    generator needs no compilation for each new shape, as `jax.random` does."""
    return [jnp.asarray(x, dtype) for x in _host_normal(seed, *shapes, dtype=dtype)]


def _host_normal(seed, *shapes, dtype):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape).astype(jnp.dtype(dtype)) for shape in shapes]


# XLA:CPU's older fusion emitters, which compile the suite's many small
# programs in about half the time of the default ones (tests/conftest.py).
QUICK_COMPILE = "--xla_cpu_use_fusion_emitters=false"


def xla_flags(*more):
    """XLA_FLAGS for a subprocess: the suite's quick compilation if it is on, and
    `more`; nothing else of this process's flags (simulated devices, say)."""
    own = os.environ.get("XLA_FLAGS", "").split()
    return " ".join([*(f for f in own if f == QUICK_COMPILE), *more])


def optax_loop(loss, params, data, optimizer, num_steps):
    """The reference: a plain Python loop of optax updates, one jitted step each."""

    @jax.jit
    def step(params, state):
        value, grads = jax.value_and_grad(loss)(params, *data)
        updates, state = optimizer.update(grads, state, params)
        return optax.apply_updates(params, updates), state, value

    state = optimizer.init(params)
    losses = []
    for _ in range(num_steps):
        params, state, value = step(params, state)
        losses.append(value)
    return params, np.asarray(losses), state


def assert_tree_allclose(a, b, rtol, atol=0.0):
    jax.tree.map(
        lambda x, y: np.testing.assert_allclose(
            np.asarray(x, np.float64), np.asarray(y, np.float64), rtol=rtol, atol=atol
        ),
        a,
        b,
    )


# The figures `jaxgd demo` draws, in order, by file name without extension.
DEMO_FIGURES = (
    "01_ball_1d",
    "02_local_global",
    "03_path_2d",
    "04_linear_auto_mpg",
    "05_learning_rate_sweep",
    "06_logistic_breast_cancer",
    "07_minibatch_sgd",
)
