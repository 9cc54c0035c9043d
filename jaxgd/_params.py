"""Which leaves of the params are trained: models as params.

Params may be any pytree: a dict of arrays, an equinox `Module`, the state of
a flax nnx model, nested containers with functions, strings or Python ints
among the arrays. Its leaves fall in three kinds:

- **trained**: floating-point arrays (and Python floats, trained as 0-d
  arrays): gradient descent updates them;
- **frozen**: the other arrays (integers, booleans, and arrays `trainable`
  leaves out): traced, passed to the loss, never updated;
- **constants**: everything else (functions, strings, Python ints and bools):
  passed to the loss as they are, and compiled into the loop.

`split` cuts params into the three, each a pytree of the params' structure with
None where a leaf belongs to another kind (as `equinox.partition` does), and
`combine` puts them back together: the result has the input's type.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import _validate

TRAINED, FROZEN, CONSTANT = "trained", "frozen", "constant"


class _Value:
    """A constant leaf, hashable: by value when it can be, else by identity."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def _key(self) -> Any:
        try:
            hash(self.value)
        except TypeError:
            return ("id", id(self.value))
        return ("value", type(self.value), self.value)

    def __hash__(self) -> int:
        return hash(self._key())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Value) and self._key() == other._key()


class Constants(NamedTuple):
    """The params' structure and its constant leaves: static, hashable."""

    treedef: Any
    kinds: tuple[str, ...]
    values: tuple[_Value | None, ...]


def _is_array(leaf: Any) -> bool:
    return isinstance(leaf, (jax.Array, np.ndarray, np.generic))


def split(params: Any, trainable: Any = None, name: str = "params") -> tuple:
    """`(trained, frozen, constants)`: the params cut by kind of leaf.

    Args:
        params: any pytree.
        trainable: None (train every floating-point array), a predicate
            `leaf -> bool`, or a pytree of bools with the structure of
            `params` (or a prefix of it), as `optax.masked` takes.
        name: what to call the params in messages.

    Returns:
        `trained` and `frozen`, pytrees of the params' structure with None at
        the other leaves, and the static `Constants`.

    Raises:
        TypeError: an integer or boolean array, without `trainable`; a leaf
            that `trainable` selects but is not floating; a `trainable` of
            the wrong kind.
        ValueError: nothing to train.
    """
    flat, treedef = jax.tree.flatten_with_path(params)
    selected = _selected(params, trainable, treedef, name)
    trained, frozen, kinds, values = [], [], [], []
    for (path, leaf), select in zip(flat, selected, strict=True):
        where = name + jax.tree_util.keystr(path)
        kind, leaf = _kind(leaf, select, where, trainable is not None)
        kinds.append(kind)
        trained.append(leaf if kind == TRAINED else None)
        frozen.append(leaf if kind == FROZEN else None)
        values.append(_Value(leaf) if kind == CONSTANT else None)
    if TRAINED not in kinds:
        found = ", ".join(sorted({type(leaf).__name__ for _, leaf in flat})) or "none"
        raise ValueError(
            f"{name} has nothing to train: no floating-point array among its "
            f"leaves (leaf types: {found}); got {_validate.describe(params)}. "
            "Pass a pytree of floating-point arrays, e.g. {'W': jnp.zeros((3, 1))}"
            + (", or a trainable= that selects some." if trainable is not None else ".")
        )
    constants = Constants(treedef, tuple(kinds), tuple(values))
    return (
        jax.tree.unflatten(treedef, trained),
        jax.tree.unflatten(treedef, frozen),
        constants,
    )


def combine(trained: Any, frozen: Any, constants: Constants) -> Any:
    """The params put back together from `split`'s three parts."""
    trained_leaves = constants.treedef.flatten_up_to(trained)
    frozen_leaves = constants.treedef.flatten_up_to(frozen)
    leaves = [
        t if kind == TRAINED else f if kind == FROZEN else value.value
        for kind, t, f, value in zip(
            constants.kinds,
            trained_leaves,
            frozen_leaves,
            constants.values,
            strict=True,
        )
    ]
    return jax.tree.unflatten(constants.treedef, leaves)


def objective(loss: Callable, frozen: Any, constants: Constants) -> Callable:
    """`loss` as a function of the trained leaves alone."""
    if is_plain(constants):
        return loss

    def of_trained(trained: Any, *data: Any) -> Any:
        return loss(combine(trained, frozen, constants), *data)

    return of_trained


def is_plain(constants: Constants) -> bool:
    """Every leaf is trained: the params need no splitting."""
    return all(kind == TRAINED for kind in constants.kinds)


def index_arrays(tree: Any, index: int) -> Any:
    """`tree` with every array leaf indexed on its leading (lane) axis."""
    return jax.tree.map(lambda x: x[index] if _is_array(x) else x, tree)


def _selected(params: Any, trainable: Any, treedef: Any, name: str) -> list:
    """Per leaf: True/False from `trainable`, or None without one."""
    if trainable is None:
        return [None] * treedef.num_leaves
    if callable(trainable) and not isinstance(trainable, (bool, np.bool_)):
        return [trainable(leaf) for leaf in jax.tree.leaves(params)]
    try:
        mask = jax.tree.map(
            lambda flag, sub: jax.tree.map(lambda _: flag, sub),
            trainable,
            params,
        )
        flags = treedef.flatten_up_to(mask)
    except (ValueError, TypeError) as error:
        raise TypeError(
            f"trainable must be a predicate leaf -> bool or a pytree of bools "
            f"with the structure of {name} (or a prefix of it); got "
            f"{_validate.describe(trainable)}, which does not match: {error}"
        ) from None
    for flag in flags:
        if not isinstance(flag, (bool, np.bool_)):
            raise TypeError(
                f"trainable must hold Python bools, one per leaf (or subtree) of "
                f"{name}; got {_validate.describe(flag)}."
            )
    return flags


def _strong(leaf: Any) -> jax.Array:
    """`leaf` as an array of its own dtype, no longer weakly typed.

    A Python float (or `jnp.array(-3.0)`) is weakly typed: alone it would be
    computed in float32 even with `jax_enable_x64` on, where it means float64.
    """
    if isinstance(leaf, jax.Array) and not leaf.weak_type:
        return leaf  # the common case, without a call into jnp
    array = jnp.asarray(leaf)
    return array.astype(array.dtype) if array.weak_type else array


def _kind(leaf: Any, select: bool | None, where: str, masked: bool) -> tuple:
    """The kind of one leaf, and the leaf as it will be used."""
    if isinstance(leaf, float) or (
        _is_array(leaf) and jnp.issubdtype(leaf.dtype, jnp.floating)
    ):
        if select is False:
            return FROZEN, _strong(leaf)
        return TRAINED, _strong(leaf)
    if select:
        raise TypeError(
            f"trainable selects {where}, but gradient descent trains only "
            f"floating-point arrays; got {_validate.describe(leaf)}."
        )
    if _is_array(leaf):
        if not masked:
            raise TypeError(
                f"{where} has dtype {leaf.dtype}; gradient descent needs "
                "floating-point params (e.g. jnp.asarray(x, jnp.float32)), or a "
                "trainable= that leaves this leaf out of training."
            )
        return FROZEN, jnp.asarray(leaf)
    if isinstance(leaf, complex):
        raise TypeError(
            f"{where} is a complex number; gradient descent here trains real "
            f"floating-point params; got {_validate.describe(leaf)}."
        )
    return CONSTANT, leaf
