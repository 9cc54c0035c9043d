"""Invariants on random problems."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import assert_tree_allclose
from hypothesis import given, settings
from hypothesis import strategies as st

import jaxgd

# Every example has the same shapes, so the loop compiles once per test.
DIM = 4
_settings = settings(max_examples=25, deadline=None)


def _quadratic(seed, condition):
    """A random convex quadratic 0.5 x^T H x - g^T x, eigenvalues in [1, condition]."""
    key_q, key_g, key_x = jax.random.split(jax.random.key(seed), 3)
    q, _ = jnp.linalg.qr(jax.random.normal(key_q, (DIM, DIM)))
    eigenvalues = jnp.linspace(1.0, condition, DIM)
    hessian = (q * eigenvalues[None, :]) @ q.T
    g = jax.random.normal(key_g, (DIM,))
    x0 = 3.0 * jax.random.normal(key_x, (DIM,))
    return hessian, g, x0, float(condition)


def _quadratic_loss(x, hessian, g):
    return 0.5 * x @ hessian @ x - g @ x


@pytest.mark.slow
@_settings
@given(
    seed=st.integers(0, 2**31 - 1),
    condition=st.floats(1.0, 100.0),
    fraction=st.floats(0.01, 0.99),
)
def test_loss_never_increases_below_two_over_l(seed, condition, fraction):
    with jax.enable_x64(True):
        hessian, g, x0, top = _quadratic(seed, condition)
        hessian, g, x0 = (a.astype(jnp.float64) for a in (hessian, g, x0))
        rate = jnp.float64(fraction * 2.0 / top)
        result = jaxgd.fit(
            _quadratic_loss, x0, hessian, g, learning_rate=rate, num_steps=60
        )
        losses = np.asarray(result.losses)
        assert not bool(result.diverged)
        assert np.all(np.diff(losses) <= 1e-12 * np.maximum(1.0, np.abs(losses[1:])))


# Built once: a new optimizer object is a new static argument, so a recompile.
_OPTIMIZERS = [optax.sgd(0.05), optax.sgd(0.05, momentum=0.9), optax.adam(0.1)]


@pytest.mark.slow
@_settings
@given(
    seed=st.integers(0, 2**31 - 1),
    first=st.sampled_from([0, 5, 12]),
    optimizer=st.sampled_from(_OPTIMIZERS),
)
def test_n_then_m_steps_equals_n_plus_m(seed, first, optimizer):
    total = 12
    hessian, g, x0, _ = _quadratic(seed, 10.0)
    whole = jaxgd.fit(
        _quadratic_loss, x0, hessian, g, optimizer=optimizer, num_steps=total
    )
    head = jaxgd.fit(
        _quadratic_loss, x0, hessian, g, optimizer=optimizer, num_steps=first
    )
    tail = jaxgd.fit(
        _quadratic_loss,
        head.params,
        hessian,
        g,
        optimizer=optimizer,
        num_steps=total - first,
        opt_state=head.opt_state,
    )
    assert_tree_allclose(tail.params, whole.params, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        np.concatenate([head.losses, tail.losses]), whole.losses, rtol=1e-5, atol=1e-6
    )
