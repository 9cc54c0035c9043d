"""`linear.standardize` at the edges of float precision, and messages that name
the column, the array and the cast that caused a problem."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgd import linear


def _with_constant(value, rows=1000, dtype=np.float32):
    """Two columns: `value` in every row, then 0, 1, 2, ..."""
    X = np.empty((rows, 2), dtype)
    X[:, 0] = value
    X[:, 1] = np.arange(rows)
    return X


@pytest.mark.parametrize("rows", [3, pytest.param(1000, marks=pytest.mark.slow), 12345])
def test_a_constant_float32_column_is_refused_naming_it(rows):
    X = _with_constant(0.1, rows)
    with pytest.raises(
        ValueError,
        match=r"cannot rescale a constant column: column 0 of X has the same "
        r"value in every row",
    ):
        linear.standardize(X)
    with pytest.raises(ValueError, match=r"column 0 of X has no spread in these"):
        linear.standardize(linear.stats(X, np.ones(rows, np.float32)))


def test_constant_columns_are_named_by_name_when_names_are_given():
    X = _with_constant(0.1)
    with pytest.raises(ValueError, match=r"column 0 \('rooms'\) of X has the same"):
        linear.standardize(X, names=["rooms", "age"])
    wide = np.ones((4, 8), np.float32)
    wide[:, 3] = np.arange(4)
    with pytest.raises(
        ValueError,
        match=r"column 0, column 1, column 2, column 4, column 5 and 2 more of X "
        r"have the same value",
    ):
        linear.standardize(wide)
    with pytest.raises(ValueError, match="one name per column of X, 2; got 1"):
        linear.standardize(X, names=["rooms"])
    with pytest.raises(TypeError, match="names must be a sequence of str"):
        linear.standardize(X, names="rooms")


def test_a_float32_offset_of_1e8_keeps_its_spread_of_one_float32_step():
    # Around 1e8 float32 values are 8 apart: 1e8 + 8 is the next one.
    X = np.full((10, 1), 1e8, np.float32)
    X[3] = 1e8 + 8
    exact = X.astype(np.float64)
    Z, scaling = linear.standardize(X)
    assert scaling.mean.dtype == jnp.float32 and Z.dtype == jnp.float32
    # The nearest float32 to the mean, 1e8 + 0.8, is 1e8: half a step at most.
    assert abs(float(scaling.mean[0]) - exact.mean()) <= 4
    np.testing.assert_allclose(scaling.scale, exact.std(axis=0), rtol=1e-6)
    # Z is the map that unscale inverts, with the mean and scale returned.
    mean, scale = (np.asarray(v, np.float64) for v in scaling)
    np.testing.assert_allclose(Z, (exact - mean) / scale, rtol=1e-6)
    np.testing.assert_allclose(np.std(np.asarray(Z, np.float64)), 1.0, rtol=1e-6)
    from_stats = linear.standardize(linear.stats(X, np.ones(10, np.float32)))[1]
    np.testing.assert_allclose(from_stats.scale, exact.std(axis=0), rtol=1e-5)


def test_unscale_inverts_the_map_exactly_for_large_offsets():
    X = np.c_[1e8 + 8 * np.arange(10.0), np.linspace(-1.0, 1.0, 10)].astype(np.float32)
    Z, scaling = linear.standardize(X)
    params = {"W": jnp.array([[0.5], [-2.0]]), "b": jnp.array([0.25])}
    unscaled = scaling.unscale(params)
    by_z = np.asarray(Z, np.float64) @ np.asarray(params["W"], np.float64) + 0.25
    W = np.asarray(unscaled["W"], np.float64)
    by_x = X.astype(np.float64) @ W + np.asarray(unscaled["b"], np.float64)
    np.testing.assert_allclose(by_x, by_z, atol=1e-5 * np.abs(X @ W).max())


def test_a_float64_column_that_differs_only_by_rounding_is_constant(x64):
    X = np.c_[np.full(7, 0.1 * 3), np.arange(7.0)]
    X[2, 0] = 0.3  # one float64 step away from 0.1 * 3
    assert X[2, 0] != X[0, 0]
    with pytest.raises(ValueError, match="column 0 of X has the same value"):
        linear.standardize(X)


def test_a_float64_offset_of_1e12_keeps_its_spread(x64):
    X = 1e12 + np.random.default_rng(0).standard_normal((50, 1))
    spread = X - 1e12  # exact: what is left of the draws once stored near 1e12
    Z, scaling = linear.standardize(X)
    # The mean is the float64 nearest 1e12 + spread.mean(): within half a step.
    step = np.spacing(1e12)
    assert abs(float(scaling.mean[0]) - 1e12 - spread.mean()) <= step / 2
    np.testing.assert_allclose(scaling.scale, spread.std(axis=0), rtol=1e-12)
    offset = float(scaling.mean[0]) - 1e12  # exact
    np.testing.assert_allclose(
        Z, (spread - offset) / spread.std(), rtol=1e-9, atol=1e-12
    )


def test_standardize_needs_the_values_of_X():
    with pytest.raises(TypeError, match=r"standardize .* needs the values of X"):
        jax.jit(lambda X: linear.standardize(X)[0])(jnp.ones((3, 2)))


_CALLS = {
    "standardize": linear.standardize,
    "max_learning_rate": linear.max_learning_rate,
    "solve": lambda X: linear.solve(X, np.ones(5)),
    "stats": lambda X: linear.stats(X, np.ones(5)),
}


@pytest.mark.parametrize("call", _CALLS)
def test_float64_beyond_float32_names_the_cast_not_infinity(call):
    X = np.random.default_rng(0).standard_normal((5, 2)) * 1e150
    with pytest.raises(
        ValueError,
        match=r"X\[0, 0\] = .*e\+149 is beyond the largest float32 .*: with "
        r"jax_enable_x64 off, JAX computes the float64 X in float32, where it "
        r"would be infinite\. Enable float64",
    ):
        _CALLS[call](X)


@pytest.mark.parametrize("call", _CALLS)
def test_float64_below_float32_names_the_cast_not_a_constant(call):
    X = np.random.default_rng(0).standard_normal((5, 2))
    X[:, 1] *= 1e-170
    with pytest.raises(
        ValueError,
        match=r"column 1 of X holds values no larger than .*e-170, below the "
        r"smallest normal float32 .*: with jax_enable_x64 off, JAX computes the "
        r"float64 X in float32",
    ):
        _CALLS[call](X)


def test_float64_magnitudes_are_kept_with_x64(x64):
    X = np.random.default_rng(0).standard_normal((5, 2))
    X[:, 1] *= 1e-170
    Z, scaling = linear.standardize(X)
    unit = X / np.array([1.0, 1e-170])  # numpy's squares of 1e-170 would be 0
    np.testing.assert_allclose(
        scaling.scale, unit.std(axis=0) * [1.0, 1e-170], rtol=1e-12
    )
    np.testing.assert_allclose(
        Z, (unit - unit.mean(0)) / unit.std(0), rtol=1e-9, atol=1e-12
    )


@pytest.mark.parametrize("chunked", [False, True], ids=["rows", "chunks"])
def test_stats_overflow_names_the_array_that_overflowed(chunked):
    rng = np.random.default_rng(0)
    small_X = rng.standard_normal((6, 2)).astype(np.float32)
    small_y = rng.standard_normal(6).astype(np.float32)

    def stats(X, y):
        return linear.stats([(X, y)]) if chunked else linear.stats(X, y)

    with pytest.raises(ValueError, match="column 0 of X, column 1 of X are") as info:
        stats(small_X * np.float32(1e20), small_y)
    assert "of y" not in str(info.value)
    with pytest.raises(ValueError, match="squares of column 0 of y are past"):
        stats(small_X, small_y * np.float32(1e20))
    with pytest.raises(ValueError, match="column 1 of X, column 0 of y are past"):
        stats(small_X * np.float32(1e20), small_y * np.float32(1e20))


def test_tiny_values_are_standardized_from_rows_and_named_from_stats(x64):
    X = np.c_[np.random.default_rng(0).uniform(1, 2, 20) * 1e-300, np.arange(20.0)]
    _, scaling = linear.standardize(X)
    unit = X[:, 0] * 1e300
    np.testing.assert_allclose(scaling.scale[0], unit.std() * 1e-300, rtol=1e-12)
    # Their squares underflow in the statistics, which then hold no spread.
    with pytest.raises(
        ValueError,
        match=r"column 0 of X has no spread in these statistics .* \(column 0 holds "
        r"values near 1\.5.e-300, whose squares underflow float64",
    ):
        linear.standardize(linear.stats(X, np.ones(20)))
