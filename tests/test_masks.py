"""`trainable` taken as meant: booleans of any library, masks whose nodes are
callable, and predicates that return something other than a boolean."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import regression

import jaxgd
from jaxgd import linear

X, Y = regression()
PARAMS = linear.init(jax.random.key(1), 3, 1)


def _fit(trainable, loss=linear.mse, params=PARAMS):
    return jaxgd.fit(
        loss, params, X, Y, learning_rate=0.1, num_steps=5, trainable=trainable
    )


def _changed(before, after):
    """Per leaf of `before`: whether training moved it."""
    return jax.tree.map(
        lambda a, b: not np.array_equal(np.asarray(a), np.asarray(b)), before, after
    )


BOOLEANS = {
    "python": (True, False),
    "numpy": (np.True_, np.False_),
    "numpy_0d": (np.array(True), np.array(False)),
    "jax": (jnp.array(True), jnp.array(False)),
}


@pytest.mark.parametrize("kind", BOOLEANS)
def test_a_mask_of_any_booleans_freezes_the_leaves_it_marks_false(kind):
    yes, no = BOOLEANS[kind]
    result = _fit({"W": yes, "b": no})
    assert _changed(PARAMS, result.params) == {"W": True, "b": False}
    reference = _fit({"W": True, "b": False})
    np.testing.assert_array_equal(result.params["W"], reference.params["W"])


@pytest.mark.parametrize("kind", BOOLEANS)
def test_a_predicate_returning_any_booleans_freezes_what_it_rejects(kind):
    yes, no = BOOLEANS[kind]
    result = _fit(lambda leaf: yes if leaf.ndim == 2 else no)
    assert _changed(PARAMS, result.params) == {"W": True, "b": False}


@pytest.mark.parametrize("kind", BOOLEANS)
def test_rejecting_every_leaf_leaves_nothing_to_train_whatever_the_boolean(kind):
    _, no = BOOLEANS[kind]
    with pytest.raises(ValueError, match="params has nothing to train"):
        _fit(lambda leaf: no)
    with pytest.raises(ValueError, match="params has nothing to train"):
        _fit({"W": no, "b": no})


@pytest.mark.parametrize(
    "returned, shown",
    [
        (1, "int 1"),
        ("yes", "str 'yes'"),
        (None, "NoneType None"),
        (np.array([True]), r"shape \(1,\) and dtype bool"),
        (jnp.array(1.0), r"shape \(\) and dtype float32"),
    ],
)
def test_a_predicate_returning_no_boolean_is_an_error_naming_it(returned, shown):
    with pytest.raises(
        TypeError,
        match=rf"trainable, a predicate, must return a boolean .* for params\['W'\] "
        rf"it returned .*{shown}",
    ):
        _fit(lambda leaf: returned)


def test_a_traced_boolean_from_a_predicate_is_an_error():
    def run(params):
        return _fit(lambda leaf: jnp.all(leaf == leaf), params=params).final_loss

    with pytest.raises(TypeError, match="trainable, a predicate, must return"):
        jax.jit(run)(PARAMS)


@pytest.mark.parametrize("flag", [1, 0.0, "no", np.array([True, False])])
def test_a_mask_of_no_booleans_is_an_error_naming_what_it_holds(flag):
    with pytest.raises(TypeError, match="trainable must hold booleans"):
        _fit({"W": True, "b": flag})


def test_a_mask_of_another_structure_is_an_error():
    with pytest.raises(
        TypeError, match=r"trainable must be a predicate .* or a pytree"
    ):
        _fit({"W": True, "c": False})


def _mlp_loss(model, X, y):
    return jnp.mean((jax.vmap(model)(X) - y) ** 2)


@pytest.mark.slow
def test_an_equinox_filter_spec_is_a_mask_though_modules_are_callable():
    model = eqx.nn.MLP(3, 1, 8, 2, key=jax.random.key(0))
    spec = jax.tree.map(lambda _: True, model)
    spec = eqx.tree_at(lambda m: m.layers[-1].bias, spec, False)
    assert callable(spec)
    result = jaxgd.fit(
        _mlp_loss, model, X, Y, learning_rate=0.05, num_steps=5, trainable=spec
    )
    moved = _changed(*(eqx.filter(m, eqx.is_array) for m in (model, result.params)))
    assert not moved.layers[-1].bias
    assert moved.layers[-1].weight
    assert all(layer.weight and layer.bias for layer in moved.layers[:-1])
    assert result.params.activation is model.activation
    assert result.losses[-1] < result.losses[0]


def test_a_callable_that_is_not_a_tree_of_the_params_is_a_predicate():
    model = eqx.nn.MLP(3, 1, 8, 2, key=jax.random.key(0))

    class Is2D(eqx.Module):
        def __call__(self, leaf):
            return eqx.is_array(leaf) and leaf.ndim == 2

    result = jaxgd.fit(
        _mlp_loss, model, X, Y, learning_rate=0.05, num_steps=5, trainable=Is2D()
    )
    moved = _changed(*(eqx.filter(m, eqx.is_array) for m in (model, result.params)))
    assert all(layer.weight and not layer.bias for layer in moved.layers)
