"""Which leaves of the params are trained: models as params.

Params may be any pytree (a dict of arrays, an equinox `Module`, a flax nnx
model's state). Its leaves fall in three kinds:

- **trained**: floating-point arrays (and Python floats, trained as 0-d
  arrays): gradient descent updates them;
- **frozen**: the other arrays (integers, booleans, and arrays `trainable`
  leaves out): traced, passed to the loss, never updated;
- **constants**: everything else (functions, strings, Python ints and bools):
  passed to the loss as they are, and compiled into the loop.

`trainable` picks among the floating-point leaves: a predicate `leaf -> bool`,
or a mask, a pytree of booleans (Python, numpy or concrete 0-d JAX ones) with
the params' structure or a prefix of it. A tree of the params' structure is a
mask even when its nodes are callable, as an equinox filter spec (a tree of
modules) is; only a callable that is not such a tree is a predicate. A mask or
predicate that selects a non-array leaf (an equinox spec marks the activation
functions too) leaves it a constant, as `equinox.partition` does; one that
selects an integer or boolean array is an error.

`split` cuts params into the three, each of the params' structure with None
elsewhere (as `equinox.partition` does); `combine` puts them back together.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks

TRAINED, FROZEN, CONSTANT = "trained", "frozen", "constant"


class Static:
    """A static value (a constant leaf, a factory's setting), hashable whatever it is.

    The `Config` of a run is a hashed, static argument of the compiled call. A
    hashable value is compared by value; a pytree of hashable leaves (a mask
    of Python bools) by its structure and leaves, so that the same mask
    reuses the compiled run; anything else by identity, like an optax object.
    """

    def __init__(self, value: Any) -> None:
        self.value = value

    def _key(self) -> Any:
        try:
            hash(self.value)
        except TypeError:
            pass
        else:
            return ("value", type(self.value), self.value)
        leaves, treedef = jax.tree.flatten(self.value)
        key = ("tree", treedef, tuple((type(leaf), leaf) for leaf in leaves))
        try:
            hash(key)
        except TypeError:
            return ("id", id(self.value))
        return key

    def __hash__(self) -> int:
        return hash(self._key())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Static) and self._key() == other._key()

    def __repr__(self) -> str:
        return f"Static({_checks.describe(self.value)})"


class Constants(NamedTuple):
    """The params' structure and its constant leaves: static, hashable."""

    treedef: Any
    kinds: tuple[str, ...]
    values: tuple[Static | None, ...]


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
        values.append(Static(leaf) if kind == CONSTANT else None)
    if TRAINED not in kinds:
        found = ", ".join(sorted({type(leaf).__name__ for _, leaf in flat})) or "none"
        raise ValueError(
            f"{name} has nothing to train: no floating-point array among its "
            f"leaves (leaf types: {found}); got {_checks.describe(params)}. "
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
    return jax.tree.map(lambda x: x[index] if _checks.is_array(x) else x, tree)


def _selected(params: Any, trainable: Any, treedef: Any, name: str) -> list:
    """Per leaf: True/False from `trainable`, or None without one.

    A pytree with the params' structure (or a prefix of it) is a mask, even
    when its nodes are callable (an equinox filter spec is a tree of modules,
    and modules are callable); only a callable that is not such a tree is a
    predicate.
    """
    if trainable is None:
        return [None] * treedef.num_leaves
    mask = _as_mask(trainable, params, treedef)
    if mask is None and callable(trainable):
        return [
            _flag(trainable(leaf), name + jax.tree_util.keystr(path), name)
            for path, leaf in jax.tree.flatten_with_path(params)[0]
        ]
    if mask is None:
        raise TypeError(
            f"trainable must be a predicate leaf -> bool or a pytree of bools "
            f"with the structure of {name} (or a prefix of it); got "
            f"{_checks.describe(trainable)}, which does not match: "
            f"{_mismatch(trainable, params)}"
        )
    flags = []
    for flag in mask:
        value = _as_bool(flag)
        if value is None:
            raise TypeError(
                f"trainable must hold booleans (Python, numpy or a concrete 0-d "
                f"JAX bool), one per leaf (or subtree) of {name}; got "
                f"{_checks.describe(flag)}."
            )
        flags.append(value)
    return flags


def _as_mask(trainable: Any, params: Any, treedef: Any) -> list | None:
    """The mask's flag for each leaf of `params`, or None if it is not a mask.

    A leaf of its own (a function, a bool) is a prefix of any tree: a callable
    leaf is a predicate, any other leaf one flag for the whole tree.
    """
    if callable(trainable) and jax.tree_util.treedef_is_leaf(
        jax.tree.structure(trainable)
    ):
        return None
    try:
        mask = jax.tree.map(
            lambda flag, sub: jax.tree.map(lambda _: flag, sub),
            trainable,
            params,
        )
        return treedef.flatten_up_to(mask)
    except (ValueError, TypeError):
        return None


def _mismatch(trainable: Any, params: Any) -> str:
    """Why `trainable`'s structure is no prefix of the params'."""
    try:
        jax.tree.map(lambda flag, sub: None, trainable, params)
    except (ValueError, TypeError) as error:
        return str(error)
    return "its structure is not a prefix of theirs"


def _as_bool(flag: Any) -> bool | None:
    """`flag` as a Python bool, or None if it is no boolean.

    Booleans are Python's, numpy's, and concrete 0-d arrays of dtype bool.
    """
    if isinstance(flag, (bool, np.bool_)):
        return bool(flag)
    if (
        isinstance(flag, (np.ndarray, jax.Array))
        and flag.dtype == np.bool_
        and flag.shape == ()
        and _checks.is_concrete(flag)
    ):
        return bool(flag)
    return None


def _flag(value: Any, where: str, name: str) -> bool:
    """What a predicate returned for the leaf at `where`, as a Python bool."""
    flag = _as_bool(value)
    if flag is None:
        raise TypeError(
            f"trainable, a predicate, must return a boolean (Python, numpy or a "
            f"concrete 0-d JAX bool) for each leaf of {name}; for {where} it "
            f"returned {_checks.describe(value)}."
        )
    return flag


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
        _checks.is_array(leaf) and jnp.issubdtype(leaf.dtype, jnp.floating)
    ):
        if select is False:
            return FROZEN, _strong(leaf)
        return TRAINED, _strong(leaf)
    if select and _checks.is_array(leaf):
        raise TypeError(
            f"trainable selects {where}, but gradient descent trains only "
            f"floating-point arrays; got {_checks.describe(leaf)}."
        )
    if _checks.is_array(leaf):
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
            f"floating-point params; got {_checks.describe(leaf)}."
        )
    return CONSTANT, leaf
