"""How the loops are compiled: XLA:CPU options where they apply, defaults elsewhere."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgd import _compile


def _double(x, scale):
    return scale * x


def test_tuned_and_plain_programs_agree():
    f = _compile.jit(_double, static_argnums=(1,))
    x = jnp.arange(5.0)
    np.testing.assert_array_equal(f(x, 2), 2 * x)
    # Inside a caller's jit, vmap or grad the options cannot apply; the call
    # still works, as part of the caller's program.
    np.testing.assert_array_equal(jax.jit(lambda x: f(x, 3))(x), 3 * x)
    np.testing.assert_array_equal(jax.vmap(lambda x: f(x, 3))(x), 3 * x)
    assert jax.grad(lambda x: f(x, 3.0))(1.0) == 3.0


def test_an_option_xla_does_not_know_falls_back_to_the_defaults(monkeypatch):
    monkeypatch.setattr(_compile, "CPU_OPTIONS", {"xla_no_such_option_here": True})
    f = _compile.jit(_double, static_argnums=(1,))
    if jax.default_backend() != "cpu":
        pytest.skip("the options apply on the CPU backend only")
    np.testing.assert_array_equal(f(jnp.ones(3), 2), 2 * jnp.ones(3))
    np.testing.assert_array_equal(f(jnp.ones(4), 2), 2 * jnp.ones(4))


def test_other_errors_are_not_swallowed():
    def bad(x):
        raise ValueError("a message of the caller's own")

    with pytest.raises(ValueError, match="of the caller's own"):
        _compile.jit(bad, static_argnums=())(jnp.ones(2))
