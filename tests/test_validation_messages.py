"""Errors about the validation set name validation_data, not the data."""

import jax.numpy as jnp
import numpy as np
import pytest

import jaxgd
from jaxgd import linear

X = jnp.arange(8.0).reshape(4, 2) / 8
Y = jnp.array([[0.0], [1.0], [1.0], [0.0]])
PARAMS = {"W": jnp.zeros((2, 1)), "b": jnp.zeros(1)}


@pytest.mark.parametrize(
    "validation_data, error, message",
    [
        (
            (X[:, :1], Y),
            ValueError,
            r"calling loss mse\(params, \*validation_data\) failed: X has 1 "
            r"features but W expects 2",
        ),
        (
            (X, Y[:3]),
            ValueError,
            r"calling loss mse\(params, \*validation_data\) failed: y must have "
            r"the predictions' shape",
        ),
        (
            (np.zeros((0, 2)), np.zeros((0, 1))),
            ValueError,
            r"calling loss mse\(params, \*validation_data\) failed: mse needs at "
            r"least one sample",
        ),
        (
            ("X", Y),
            TypeError,
            r"validation_data\[0\] must be an array \(validation_data holds arrays "
            r"like data's\); got str 'X'",
        ),
        (
            (X, {"y": object()}),
            TypeError,
            r"validation_data\[1\]\['y'\] must be an array",
        ),
    ],
    ids=["features", "rows", "empty", "text", "object"],
)
def test_a_bad_validation_set_is_named(validation_data, error, message):
    with pytest.raises(error, match=message):
        jaxgd.fit(
            linear.mse,
            PARAMS,
            X,
            Y,
            learning_rate=0.1,
            num_steps=2,
            validation_data=validation_data,
        )


def test_the_same_error_on_the_data_keeps_the_loss_s_own_message():
    with pytest.raises(ValueError, match=r"^X has 1 features but W expects 2"):
        jaxgd.fit(linear.mse, PARAMS, X[:, :1], Y, learning_rate=0.1, num_steps=2)
