"""Aux of Python numbers: recorded per step as floats, like aux of arrays."""

import jax
import jax.numpy as jnp
import numpy as np
from helpers import regression

import jaxgd
from jaxgd import linear


def test_python_numbers_in_aux_are_recorded_as_floats_per_step():
    X, y = regression()
    params = linear.init(jax.random.key(1), 3, 1)

    def loss(params, X, y):
        return linear.mse(params, X, y), {"count": 3, "half": 0.5, "flag": True}

    result = jaxgd.fit(loss, params, X, y, learning_rate=0.1, num_steps=4, has_aux=True)
    for name, value in (("count", 3.0), ("half", 0.5), ("flag", 1.0)):
        recorded = result.aux[name]
        assert jnp.issubdtype(recorded.dtype, jnp.floating)
        np.testing.assert_array_equal(recorded, np.full(4, value))
