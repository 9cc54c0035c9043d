"""Arguments of the wrong kind: every public function refuses them, naming them.

One table, `CASES`, lists what to feed: a public function with good arguments
but one, the name of that argument, and the kinds of wrong value to put in
its place (None, strings, booleans, complex numbers, ragged nested lists,
arrays of the wrong rank, empty or non-finite arrays...). For each case,
hypothesis draws values of those kinds, and the call must raise `ValueError`
or `TypeError` whose message names the argument. A new function joins by a
line in the table; a new kind of wrong value by an entry in `KINDS`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any, NamedTuple

import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import HealthCheck, given, settings

import jaxgd
from jaxgd import datasets, linear

# The good arguments every case starts from: 4 samples, 2 features, 1 output.
X = jnp.arange(8.0).reshape(4, 2) / 8
Y = jnp.array([[0.0], [1.0], [1.0], [0.0]])
PARAMS = {"W": jnp.zeros((2, 1)), "b": jnp.zeros(1)}
STATS = linear.stats(X, Y)


def _floats(**kwargs: Any) -> st.SearchStrategy[float]:
    return st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, **kwargs)


def _matrix(shape: tuple[int, ...]) -> st.SearchStrategy[np.ndarray]:
    return hnp.arrays(np.float64, shape, elements=_floats())


@st.composite
def _non_finite(draw: st.DrawFn, shape: tuple[int, ...]) -> np.ndarray:
    """An array of `shape` with at least one NaN or infinity."""
    array = draw(_matrix(shape))
    where = tuple(draw(st.integers(0, n - 1)) for n in shape)
    array[where] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    return array


def _ragged() -> st.SearchStrategy[list]:
    rows = st.lists(st.lists(_floats(), min_size=1, max_size=3), min_size=2, max_size=3)
    return rows.filter(lambda r: len({len(row) for row in r}) > 1)


NAMES = {"mse", "sse", "bce", *datasets.names()}


def _names_nothing(text: str) -> bool:
    if text in NAMES:
        return False
    try:
        np.dtype(text)
    except Exception:  # numpy's parser of ',' raises SyntaxError, among others
        return True
    return False


# Each kind of wrong value, as a strategy given the shape of the good array.
KINDS: dict[str, Callable[[tuple[int, ...]], st.SearchStrategy[Any]]] = {
    "none": lambda shape: st.none(),
    # Text that names nothing: no loss, no dataset, no dtype ('d' is float64).
    "text": lambda shape: st.text(max_size=6).filter(_names_nothing),
    "bool": lambda shape: st.booleans(),
    "complex": lambda shape: st.complex_numbers(max_magnitude=1e3).filter(
        lambda z: z.imag != 0
    ),
    "ragged": lambda shape: _ragged(),
    "dict": lambda shape: st.dictionaries(st.text(max_size=3), _floats(), max_size=2),
    "number": lambda shape: _floats() | st.integers(-5, 5),
    # A 1-D array of another length than the good value's rows: one of the
    # same length may be a valid single output.
    "vector": lambda shape: _matrix(
        st.integers(1, 6).filter(lambda n: n != shape[0]).map(lambda n: (n,))
    ),
    "rank3": lambda shape: _matrix(
        hnp.array_shapes(min_dims=3, max_dims=3, max_side=3)
    ),
    "empty": lambda shape: st.just(np.zeros((0, *shape[1:]))),
    "other_rows": lambda shape: (
        st.integers(1, 6)
        .filter(lambda n: n != shape[0])
        .map(lambda n: np.zeros((n, *shape[1:])))
    ),
    "non_finite": lambda shape: _non_finite(shape),
    "complex_array": lambda shape: _matrix(shape).map(lambda a: a + 1j),
    "text_array": lambda shape: hnp.arrays(hnp.unicode_string_dtypes(), shape),
    "negative": lambda shape: st.integers(-5, 0),
    "non_finite_number": lambda shape: st.sampled_from([np.nan, np.inf, -np.inf]),
}
# The kinds that are wrong for an array of numbers, a matrix, data, targets,
# a count, a number and a name.
NOT_AN_ARRAY = ("none", "text", "dict", "ragged", "complex_array", "text_array")
NOT_A_MATRIX = (*NOT_AN_ARRAY, "bool", "complex", "number", "vector", "rank3")
NOT_DATA = (*NOT_A_MATRIX, "empty", "non_finite")
NOT_TARGETS = (*NOT_DATA, "other_rows")
NOT_A_COUNT = ("none", "text", "bool", "complex", "ragged", "dict", "negative")
NOT_A_NUMBER = ("none", "text", "bool", "complex", "ragged", "dict", "vector")
NOT_A_NAME = ("none", "bool", "complex", "ragged", "dict", "number", "text")


class Case(NamedTuple):
    """A call with one argument replaced by a wrong value.

    Attributes:
        function: what is called, for the test's id.
        argument: the name the message must give.
        call: `call(value)` calls the function with `value` for `argument`.
        kinds: keys of `KINDS`, the wrong values to try.
        shape: the shape of the good value, for kinds that depend on it.
    """

    function: str
    argument: str
    call: Callable[[Any], Any]
    kinds: tuple[str, ...]
    shape: tuple[int, ...] = X.shape


def _finder(**options: Any) -> Any:
    options = {"num": 4, "num_steps": 2, **options}
    return jaxgd.find_learning_rate(lambda x: jnp.sum(x**2), jnp.ones(2), **options)


CASES = [
    Case("linear.solve", "X", lambda v: linear.solve(v, Y), NOT_DATA),
    Case("linear.solve", "y", lambda v: linear.solve(X, v), NOT_TARGETS, Y.shape),
    Case("linear.solve", "loss", lambda v: linear.solve(X, Y, loss=v), NOT_A_NAME),
    Case(
        "linear.solve bce",
        "y",
        lambda v: linear.solve(X, v, loss="bce"),
        NOT_TARGETS,
        Y.shape,
    ),
    Case("linear.max_learning_rate", "X", linear.max_learning_rate, NOT_DATA),
    Case(
        "linear.max_learning_rate",
        "loss",
        lambda v: linear.max_learning_rate(X, loss=v),
        NOT_A_NAME,
    ),
    Case(
        "linear.max_learning_rate",
        "out_features",
        lambda v: linear.max_learning_rate(X, out_features=v),
        NOT_A_COUNT,
    ),
    Case("linear.stats", "X", lambda v: linear.stats(v, Y), NOT_DATA),
    Case("linear.stats", "y", lambda v: linear.stats(X, v), NOT_TARGETS, Y.shape),
    Case("linear.standardize", "X", linear.standardize, NOT_DATA),
    Case("linear.mse_stats", "stats", lambda v: linear.mse_stats(PARAMS, v), NOT_DATA),
    Case("linear.predict", "X", lambda v: linear.predict(PARAMS, v), NOT_A_MATRIX),
    Case("linear.predict", "params", lambda v: linear.predict(v, X), NOT_A_MATRIX),
    Case(
        "linear.predict",
        "params\\['W'\\]",
        lambda v: linear.predict({"W": v, "b": PARAMS["b"]}, X),
        NOT_A_MATRIX,
        PARAMS["W"].shape,
    ),
    Case(
        "linear.mse",
        "y",
        lambda v: linear.mse(PARAMS, X, v),
        (*NOT_A_MATRIX, "other_rows"),
        Y.shape,
    ),
    Case(
        "linear.bce",
        "y",
        lambda v: linear.bce(PARAMS, X, v),
        (*NOT_A_MATRIX, "other_rows"),
        Y.shape,
    ),
    Case(
        "linear.accuracy",
        "y",
        lambda v: linear.accuracy(PARAMS, X, v),
        NOT_A_MATRIX,
        Y.shape,
    ),
    Case(
        "linear.init",
        "in_features",
        lambda v: linear.init(jax.random.key(0), v, 1),
        NOT_A_COUNT,
    ),
    Case(
        "linear.init",
        "key",
        lambda v: linear.init(v, 2, 1),
        ("none", "text", "bool", "complex", "ragged", "dict", "number", "rank3"),
    ),
    Case(
        "linear.init",
        "dtype",
        lambda v: linear.init(jax.random.key(0), 2, 1, v),
        ("text", "bool", "complex", "ragged", "dict", "number", "vector"),
    ),
    Case(
        "Standardization.unscale",
        "params",
        lambda v: linear.standardize(X)[1].unscale(v),
        NOT_A_MATRIX,
    ),
    Case(
        "shard_data",
        "arrays",
        jaxgd.shard_data,
        ("none", "text", "dict", "ragged", "text_array", "empty"),
    ),
    Case(
        "shard_data",
        "arrays",
        lambda v: jaxgd.shard_data(X, v),
        ("none", "text", "bool", "complex", "number", "empty", "other_rows"),
    ),
    Case(
        "shard_data",
        "mesh",
        lambda v: jaxgd.shard_data(X, mesh=v),
        ("text", "bool", "complex", "ragged", "dict", "number", "rank3"),
    ),
    Case(
        "shard_local_data",
        "arrays",
        jaxgd.shard_local_data,
        ("none", "text", "dict", "ragged", "text_array", "empty"),
    ),
    Case("datasets.load", "name", datasets.load, NOT_A_NAME),
    Case(
        "find_learning_rate",
        "lower",
        lambda v: _finder(lower=v),
        (*NOT_A_NUMBER, "negative", "non_finite_number"),
    ),
    Case("find_learning_rate", "upper", lambda v: _finder(upper=v), NOT_A_NUMBER),
    Case("find_learning_rate", "num", lambda v: _finder(num=v), NOT_A_COUNT),
    Case(
        "find_learning_rate", "num_steps", lambda v: _finder(num_steps=v), NOT_A_COUNT
    ),
    Case(
        "find_learning_rate",
        "safety",
        lambda v: _finder(safety=v),
        (*NOT_A_NUMBER, "negative", "non_finite_number"),
    ),
    Case(
        "find_learning_rate",
        "loss",
        lambda v: jaxgd.find_learning_rate(v, jnp.ones(2), num=4, num_steps=2),
        NOT_A_MATRIX,
    ),
    Case(
        "find_learning_rate",
        "params",
        lambda v: jaxgd.find_learning_rate(lambda p: jnp.sum(p), v, num=4, num_steps=2),
        ("none", "bool", "complex", "complex_array", "text_array"),
    ),
]


# --- the loop: fit, sweep, multistart, make_step, best -------------------------


def _fit(**options: Any) -> Any:
    options = {"learning_rate": 0.1, "num_steps": 2, **options}
    return jaxgd.fit(linear.mse, PARAMS, X, Y, **options)


def _sweep(**options: Any) -> Any:
    options = {"learning_rates": jnp.array([0.1, 0.2]), "num_steps": 2, **options}
    return jaxgd.sweep(linear.mse, PARAMS, X, Y, **options)


WATCHED = {"validation_data": (X, Y)}
NOT_A_RATE = ("text", "bool", "complex", "ragged", "dict", "vector", "negative")
NOT_A_FLAG = ("none", "text", "complex", "ragged", "dict", "number", "vector")
NOT_A_FUNCTION = ("text", "bool", "complex", "ragged", "dict", "number", "vector")
# None is the default of some counts.
NOT_A_COUNT_OR_NONE = ("text", "bool", "complex", "ragged", "dict", "negative")

CASES += [
    Case(
        "fit",
        "loss",
        lambda v: jaxgd.fit(v, PARAMS, X, Y, learning_rate=0.1),
        NOT_A_FUNCTION,
    ),
    Case(
        "fit",
        "params",
        lambda v: jaxgd.fit(linear.mse, v, X, Y, learning_rate=0.1),
        ("none", "bool", "complex", "complex_array", "text_array"),
    ),
    Case(
        "fit",
        "learning_rate",
        lambda v: _fit(learning_rate=v),
        (*NOT_A_RATE, "non_finite_number"),
    ),
    Case(
        "fit",
        "optimizer",
        lambda v: _fit(learning_rate=None, optimizer=v),
        NOT_A_FUNCTION,
    ),
    Case(
        "fit",
        "num_steps",
        lambda v: _fit(num_steps=v),
        ("none", "text", "bool", "complex", "ragged", "dict"),
    ),
    Case(
        "fit",
        "tol",
        lambda v: _fit(tol=v),
        ("text", "bool", "complex", "ragged", "dict", "vector"),
    ),
    Case(
        "fit",
        "batch_size",
        lambda v: _fit(batch_size=v, key=jax.random.key(0)),
        NOT_A_COUNT_OR_NONE,
    ),
    Case(
        "fit",
        "key",
        lambda v: _fit(batch_size=2, key=v),
        ("none", "text", "bool", "complex", "ragged", "dict", "number", "rank3"),
    ),
    Case(
        "fit",
        "validation_data",
        lambda v: _fit(validation_data=v),
        ("text", "bool", "complex", "number"),
    ),
    Case(
        "fit",
        "validation_every",
        lambda v: _fit(validation_every=v, **WATCHED),
        NOT_A_COUNT_OR_NONE,
    ),
    Case(
        "fit",
        "patience",
        lambda v: _fit(patience=v, **WATCHED),
        NOT_A_COUNT_OR_NONE,
    ),
    Case("fit", "history_every", lambda v: _fit(history_every=v), NOT_A_COUNT),
    Case("fit", "callback", lambda v: _fit(callback=v), NOT_A_FUNCTION),
    Case("fit", "record_params", lambda v: _fit(record_params=v), NOT_A_FLAG),
    Case("fit", "progress", lambda v: _fit(progress=v), NOT_A_FLAG),
    Case("fit", "restore_best", lambda v: _fit(restore_best=v, **WATCHED), NOT_A_FLAG),
    Case("fit", "has_aux", lambda v: _fit(has_aux=v), NOT_A_FLAG),
    Case(
        "fit",
        "trainable",
        lambda v: _fit(trainable=v),
        ("text", "complex", "ragged", "number", "vector"),
    ),
    Case(
        "fit predicate",
        "trainable",
        lambda v: _fit(trainable=lambda leaf: v),
        ("none", "text", "complex", "ragged", "dict", "number", "vector"),
    ),
    Case(
        "fit mask",
        "trainable",
        lambda v: _fit(trainable={"W": True, "b": v}),
        ("none", "text", "complex", "number", "vector"),
    ),
    Case(
        "fit",
        "hyperparams",
        lambda v: _fit(optimizer=optax.adam, hyperparams=v),
        ("text", "bool", "complex", "ragged", "number", "vector"),
    ),
    Case(
        "fit factory",
        r"hyperparams\['b1'\]",
        lambda v: _fit(optimizer=optax.adam, hyperparams={"b1": v}),
        (
            "none",
            "text",
            "complex",
            "ragged",
            "dict",
            "vector",
            "rank3",
            "complex_array",
            "text_array",
            "non_finite_number",
        ),
    ),
    Case(
        "fit factory",
        r"hyperparams\['mask'\]",
        lambda v: _fit(optimizer=optax.adamw, hyperparams={"mask": v}),
        ("text", "complex", "ragged", "dict", "number", "vector", "rank3"),
    ),
    Case(
        "sweep factory",
        r"hyperparams\['b1'\]",
        lambda v: _sweep(optimizer=optax.adam, hyperparams={"b1": [0.9, v]}),
        ("complex", "non_finite_number"),
    ),
    Case("sweep", "callback", lambda v: _sweep(callback=v), NOT_A_FUNCTION),
    Case(
        "sweep",
        "learning_rates",
        lambda v: _sweep(learning_rates=v),
        (
            "text",
            "bool",
            "complex",
            "ragged",
            "dict",
            "number",
            "rank3",
            "complex_array",
            "text_array",
            "non_finite",
            "empty",
        ),
    ),
    Case(
        "sweep",
        "optimizer",
        lambda v: _sweep(optimizer=v),
        ("text", "bool", "complex", "ragged", "dict", "number", "vector"),
    ),
    Case(
        "multistart",
        "params_batch",
        lambda v: jaxgd.multistart(lambda p: jnp.sum(p**2), v, learning_rate=0.1),
        ("none", "text", "bool", "complex", "number", "empty"),
    ),
    Case(
        "make_step",
        "loss",
        lambda v: jaxgd.make_step(v, learning_rate=0.1),
        NOT_A_FUNCTION,
    ),
    Case(
        "make_step",
        "learning_rate",
        lambda v: jaxgd.make_step(linear.mse, learning_rate=v),
        (*NOT_A_RATE, "non_finite_number"),
    ),
    Case(
        "make_step",
        "tol",
        lambda v: jaxgd.make_step(linear.mse, learning_rate=0.1, tol=v),
        ("text", "bool", "complex", "ragged", "dict", "vector"),
    ),
    Case("best", "result", jaxgd.best, ("none", "text", "number", "dict", "vector")),
    Case(
        "best",
        "by",
        lambda v: jaxgd.best(_sweep(), by=v),
        ("none", "bool", "complex", "number"),
    ),
]


# --- figures (matplotlib is an optional extra) --------------------------------


@functools.cache
def _runs() -> tuple[Any, Any]:
    """One run of 2-vector params with its path, and a sweep of two rates."""
    loss = lambda x: jnp.sum(x**2)  # noqa: E731
    run = jaxgd.fit(
        loss, jnp.ones(2), learning_rate=0.1, num_steps=3, record_params=True
    )
    rates = jnp.array([0.1, 0.2])
    return run, jaxgd.sweep(loss, jnp.ones(2), learning_rates=rates, num_steps=3)


try:
    from jaxgd import plot
except ImportError:  # pragma: no cover - without the plot extra
    plot = None
if plot is not None:
    RATES = np.array([0.1, 0.2])
    NOT_AXES = ("text", "bool", "complex", "ragged", "dict", "number", "rank3")
    CASES += [
        Case("plot.loss_curve", "result", plot.loss_curve, NOT_A_MATRIX),
        Case(
            "plot.loss_curve",
            "ax",
            lambda v: plot.loss_curve(_runs()[0], ax=v),
            NOT_AXES,
        ),
        Case(
            "plot.lr_sweep", "result", lambda v: plot.lr_sweep(RATES, v), NOT_A_MATRIX
        ),
        Case(
            "plot.lr_sweep",
            "max_learning_rate",
            lambda v: plot.lr_sweep(RATES, _runs()[1], max_learning_rate=v),
            ("complex", "ragged", "dict", "vector", "negative", "non_finite_number"),
        ),
        Case("plot.path_2d", "f", lambda v: plot.path_2d(v, _runs()[0]), NOT_A_MATRIX),
        Case(
            "plot.path_2d",
            "grid",
            lambda v: plot.path_2d(lambda x: jnp.sum(x**2), _runs()[0], grid=v),
            NOT_A_COUNT,
        ),
        Case(
            "plot.path_2d",
            "bounds",
            lambda v: plot.path_2d(lambda x: jnp.sum(x**2), _runs()[0], bounds=v),
            ("text", "bool", "complex", "dict", "number", "vector", "rank3"),
        ),
    ]


@pytest.mark.parametrize(
    "case", CASES, ids=[f"{case.function}-{case.argument}" for case in CASES]
)
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(data=st.data())
def test_a_wrong_kind_of_argument_is_refused_by_name(case, data):
    kind = data.draw(st.sampled_from(case.kinds), label="kind")
    value = data.draw(KINDS[kind](case.shape), label="value")
    with pytest.raises((ValueError, TypeError)) as caught:
        case.call(value)
    message = str(caught.value)
    assert re.search(rf"(?<![\w']){case.argument}(?![\w'])", message), message


def test_every_kind_is_drawn_somewhere():
    """The table uses every kind of wrong value it defines."""
    assert {kind for case in CASES for kind in case.kinds} == set(KINDS)


def test_params_that_are_a_control_character_are_named():
    with pytest.raises((TypeError, ValueError), match=r"params"):
        jaxgd.find_learning_rate(lambda p: jnp.sum(p), "\x0e", num=4, num_steps=2)


@pytest.mark.skipif(plot is None, reason="needs the plot extra")
@pytest.mark.parametrize(
    "options",
    [
        {"learning_rates": ""},
        {"learning_rates": np.array([0.1, 0.2]) + 1j},
        {"max_learning_rate": True},
        {"max_learning_rate": "0.5"},
    ],
    ids=str,
)
def test_plot_lr_sweep_refuses_numbers_of_the_wrong_kind(options):
    arguments = {"learning_rates": np.array([0.1, 0.2]), **options}
    name = next(iter(options))
    with pytest.raises((TypeError, ValueError), match=name):
        plot.lr_sweep(arguments.pop("learning_rates"), _runs()[1], **arguments)
