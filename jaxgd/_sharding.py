"""Data parallelism on JAX's own machinery: `shard_data` and `shard_local_data`.

`fit` is one `jax.jit` program: when its data arrive split along axis 0 over
a mesh, the compiler partitions the loop (SPMD), each device takes the loss
of its own rows, one all-reduce per step sums the gradient, and the params
stay replicated. These helpers only place the data, on `Auto` mesh axes (on
`Explicit` ones, the backward matmul of a linear loss is ambiguous). Rows are
never padded, since a padded row would change any loss that sums or averages
over rows.

**Lanes over devices.** `sweep`, `multistart` and `cross_validate` take
`devices=`: `lane_sharding` checks it into the sharding of a leading lane axis
over a 1-D mesh of those devices, and `constrain_lanes` holds the lanes'
state and results to it inside the compiled program. The partitioner then
runs each device's share of the lanes, and turns what looks across lanes
(whether any lane is still going, a search's ranking) into collectives.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

from . import _checks

__all__ = [
    "check_data_sharding",
    "constrain_lanes",
    "lane_sharding",
    "shard_data",
    "shard_local_data",
]


def shard_data(*arrays: Any, mesh: Mesh | None = None) -> Any:
    """Splits axis 0 of each array over all devices, for data-parallel `fit`.

    Every leaf of every argument (an array or a pytree of arrays, like
    `fit`'s data) is placed with axis 0 split evenly over the devices of
    `mesh`: with `n` rows on `D` devices, device `d` holds rows `d*n/D` to
    `(d+1)*n/D - 1`. Pass the result to `fit`, `sweep` or `multistart`
    unchanged: the loop compiles once for the mesh, the params stay
    replicated and the results equal one device's. In a run of several
    processes each one passes the same, whole arrays; to give each process
    only its own rows, use `shard_local_data`.

    Args:
        *arrays: arrays (or pytrees of arrays) with a leading sample axis, e.g.
            `X: (n_samples, n_features)` and `y: (n_samples, n_outputs)`.
        mesh: a `jax.sharding.Mesh` whose axes are all of type
            `jax.sharding.AxisType.Auto`; axis 0 is split over all its axes
            together. Defaults to every device of every process on one axis
            `"data"`.

    Returns:
        The placed arrays, in the order given: a single argument comes back as
        itself, several as a tuple.

    Raises:
        ValueError: if no array is given, an argument holds none (`None`), the
            mesh has a non-`Auto` axis, an array is 0-d or has no rows, the
            arrays disagree on the number of rows, or it is not a multiple of
            the device count (the message lists the nearest lengths that are).
        TypeError: if `mesh` is not a `jax.sharding.Mesh`, or an array does
            not hold numbers.

    Examples:
        >>> import jax, jax.numpy as jnp, jaxgd
        >>> from jaxgd import linear
        >>> X = jnp.arange(8.0).reshape(4, 2)
        >>> y = X @ jnp.array([[1.0], [-1.0]])
        >>> Xs, ys = jaxgd.shard_data(X, y)
        >>> Xs.sharding.spec, bool((Xs == X).all())
        (P('data',), True)
        >>> result = jaxgd.fit(linear.mse, linear.init(jax.random.key(0), 2, 1),
        ...                    Xs, ys, learning_rate=0.01, num_steps=10)
        >>> result.params["W"].sharding.is_fully_replicated
        True
    """
    return _place(arrays, mesh, local=False)


def shard_local_data(*arrays: Any, mesh: Mesh | None = None) -> Any:
    """Builds global arrays from the rows each process holds, for multi-host `fit`.

    Call it in every process of a run started with `jax.distributed.initialize`,
    each passing its own rows (as many in every process). Each result is one
    global array whose axis 0 holds process 0's rows, then process 1's, and so
    on (on the default mesh), each process's rows on its own devices; `fit` on
    it is one program across all processes and returns the same replicated
    result in each. It wraps `jax.make_array_from_process_local_data`; with a
    single process it equals `shard_data`.

    Args:
        *arrays: this process's rows: arrays (or pytrees of arrays) with a
            leading sample axis.
        mesh: a `jax.sharding.Mesh` with only `Auto` axes; defaults to every
            device of every process on one axis `"data"`.

    Returns:
        The global arrays, in the order given: a single argument comes back as
        itself, several as a tuple.

    Raises:
        ValueError: if no array is given, an argument holds none (`None`), the
            mesh has a non-`Auto` axis, an array is 0-d or has no rows, the
            arrays disagree on the number of rows, it is not a multiple of
            this process's device count, or the processes disagree on it.
        TypeError: if `mesh` is not a `jax.sharding.Mesh`, or an array does
            not hold numbers.

    Examples:
        >>> import jax, jax.numpy as jnp, jaxgd
        >>> rows = jnp.arange(6.0).reshape(3, 2)  # this process's rows
        >>> X = jaxgd.shard_local_data(rows)
        >>> X.shape == (3 * jax.process_count(), 2)
        True
    """
    return _place(arrays, mesh, local=True)


def check_data_sharding(data: Sequence[Any], name: str = "data") -> None:
    """Rejects data split over `Explicit` mesh axes, which `fit` cannot differentiate.

    There the sharding of every intermediate is part of its type, and the
    gradient of a loss that sums over the sharded samples (`X.T @ residual`,
    a mini-batch's gather) has no single answer: tracing would fail deep in
    the loop. `name` names the data in the message; tracers are checked too.
    """
    for path, leaf in jax.tree.flatten_with_path(tuple(data))[0]:
        if not isinstance(leaf, jax.Array):  # tracers are jax.Arrays too
            continue
        sharding = getattr(jax.typeof(leaf), "sharding", None)
        if not isinstance(sharding, NamedSharding):
            continue
        mesh = sharding.mesh
        explicit = {
            name
            for name, kind in zip(mesh.axis_names, mesh.axis_types, strict=True)
            if kind == AxisType.Explicit
        }
        used = [
            name
            for entry in sharding.spec
            for name in (entry if isinstance(entry, tuple) else (entry,))
            if name in explicit
        ]
        if used:
            raise ValueError(
                f"{name}{jax.tree_util.keystr(path)} is sharded over the Explicit "
                f"mesh axes {tuple(used)} ({sharding.spec}), on which JAX cannot "
                "decide how the gradient (e.g. the matmul X.T @ residual) or a "
                "mini-batch gather is sharded. Place the data with "
                "jaxgd.shard_data(...), or build the mesh with Auto axes: "
                "jax.make_mesh(shape, names, axis_types=(jax.sharding.AxisType."
                "Auto,) * len(names)) (recent jax.make_mesh defaults to Explicit)."
            )


def lane_sharding(
    devices: Any, lanes: int, what: str = "lanes"
) -> NamedSharding | None:
    """Checks `devices=` of a run of `lanes` lanes: the sharding of the lane axis.

    The lane axis is split evenly over `devices`, in their order: with `n`
    lanes on `D` devices, device `d` holds lanes `d*n/D` to `(d+1)*n/D - 1`.
    Lanes are never padded, so `D` must divide `n`.

    Args:
        devices: None (no sharding), or a sequence of distinct `jax.Device`,
            e.g. `jax.devices()`: with several processes, the global devices.
        lanes: the number of lanes to split.
        what: what to call the lanes in the message.

    Returns:
        A `NamedSharding` of one `Auto` mesh axis `"lanes"`, or None.

    Raises:
        TypeError: if `devices` is not a sequence of devices.
        ValueError: if it is empty, lists a device twice, or its length does
            not divide `lanes`.
    """
    if devices is None:
        return None
    if isinstance(devices, jax.Device) or not isinstance(
        devices, (list, tuple, np.ndarray)
    ):
        raise TypeError(
            "devices must be a list of devices, e.g. jax.devices() or "
            f"jax.devices()[:2]; got {_checks.describe(devices)}."
        )
    listed = list(np.ravel(np.asarray(devices, dtype=object)))
    bad = [d for d in listed if not isinstance(d, jax.Device)]
    if bad:
        raise TypeError(
            "devices must be a list of devices, e.g. jax.devices(); got "
            f"{_checks.describe(bad[0])} among them."
        )
    if not listed:
        raise ValueError(
            "devices must list at least one device, e.g. jax.devices(); got none."
        )
    twice = [d for i, d in enumerate(listed) if d in listed[:i]]
    if twice:
        raise ValueError(
            f"devices lists {twice[0]} more than once; each device holds its own "
            "share of the lanes."
        )
    count = len(listed)
    if lanes % count:
        below = lanes - lanes % count
        valid = f"{below} or {below + count}" if below else f"{count}"
        raise ValueError(
            f"devices: the {lanes} {what} do not split evenly over the {count} "
            f"devices given; each device holds an equal share, so pass a number "
            f"of {what} that is a multiple of {count} (e.g. {valid}), or a list "
            f"of devices whose length divides {lanes}."
        )
    mesh = Mesh(np.array(listed), ("lanes",), axis_types=(AxisType.Auto,))
    return NamedSharding(mesh, PartitionSpec("lanes"))


def constrain_lanes(
    tree: Any, sharding: NamedSharding | None, width: int | None = None
) -> Any:
    """`tree` with its lane axis held to `sharding`, inside a compiled program.

    The leaves whose leading axis is the lanes' (of length `width`, or every
    leaf with an axis) are split over the devices when their count divides
    the lanes; otherwise they are replicated, so that a search's rung
    narrower than the device count runs whole on every device. Other leaves
    are left as they are. With `sharding` None, `tree` itself: the program is
    the one without devices.
    """
    if sharding is None:
        return tree
    count = sharding.mesh.size
    replicated = NamedSharding(sharding.mesh, PartitionSpec())

    def place(x: Any) -> Any:
        shape = jnp.shape(x)
        if not shape or (width is not None and shape[0] != width):
            return x
        return jax.lax.with_sharding_constraint(
            x, replicated if shape[0] % count else sharding
        )

    return jax.tree.map(place, tree)


def _data_mesh(mesh: Mesh | None) -> Mesh:
    if mesh is None:
        return jax.make_mesh(
            (jax.device_count(),), ("data",), axis_types=(AxisType.Auto,)
        )
    if not isinstance(mesh, Mesh):
        raise TypeError(
            f"mesh must be a jax.sharding.Mesh or None; got {_checks.describe(mesh)}."
        )
    if not all(t == AxisType.Auto for t in mesh.axis_types):
        types = dict(zip(mesh.axis_names, mesh.axis_types, strict=True))
        raise ValueError(
            f"mesh must have only Auto axes; got axis types {types}. Build it "
            "with jax.make_mesh(shape, names, axis_types=(jax.sharding.AxisType."
            "Auto,) * len(names)), or leave mesh=None to use every device."
        )
    return mesh


def _place(arrays: tuple[Any, ...], mesh: Mesh | None, *, local: bool) -> Any:
    """Checks and places every leaf with axis 0 split over the whole mesh.

    With `local`, each process's leaves are its own rows of the global arrays.
    """
    mesh = _data_mesh(mesh)
    names = mesh.axis_names
    sharding = NamedSharding(
        mesh, PartitionSpec(names[0] if len(names) == 1 else names)
    )
    arrays = _as_arrays(arrays)
    if local:
        devices = len(mesh.local_devices)
        _check_rows(arrays, devices, f"{devices} device(s) of this process")
        if jax.process_count() > 1:
            _check_same_rows_everywhere(arrays)
        placed = jax.tree.map(
            lambda x: jax.make_array_from_process_local_data(sharding, x), arrays
        )
    else:
        _check_rows(arrays, mesh.size, f"{mesh.size} device(s) of the mesh")
        placed = jax.device_put(arrays, sharding)
    return placed[0] if len(placed) == 1 else placed


def _as_arrays(arrays: tuple[Any, ...]) -> tuple[Any, ...]:
    """Every leaf as an array of numbers (numpy's stay on the host)."""
    if not arrays:
        raise ValueError("pass at least one array to place; got none.")
    for i, tree in enumerate(arrays):
        if not jax.tree.leaves(tree):
            raise ValueError(
                f"arrays[{i}] holds no array to place; got {_checks.describe(tree)}."
            )
    leaves, treedef = jax.tree.flatten_with_path(arrays)
    converted = []
    for path, leaf in leaves:
        where = "arrays" + jax.tree_util.keystr(path)
        if not isinstance(leaf, jax.Array):
            try:
                leaf = np.asarray(leaf)
            except (TypeError, ValueError):  # ragged nested lists
                raise TypeError(
                    f"{where} must be a rectangular array; got "
                    f"{_checks.describe(leaf)}."
                ) from None
        if not (
            np.issubdtype(leaf.dtype, np.number) or np.issubdtype(leaf.dtype, np.bool_)
        ):
            raise TypeError(f"{where} must hold numbers; got {_checks.describe(leaf)}.")
        converted.append(leaf)
    return jax.tree.unflatten(treedef, converted)


def _check_rows(arrays: tuple[Any, ...], devices: int, over: str) -> None:
    shapes = _checks.leading_shapes(
        arrays,
        "arrays",
        "{where} is 0-d; data parallelism splits axis 0 (the samples), so every "
        "array needs one.",
    )
    for where, shape in shapes.items():
        if shape[0] == 0:
            raise ValueError(
                f"{where} has no rows (shape {shape}); data parallelism splits "
                "the samples of axis 0, and there are none."
            )
    _checks.agree(shapes, "the arrays disagree on the number of samples (axis 0)")
    for where, shape in shapes.items():
        rows = shape[0]
        if rows % devices:
            below = rows - rows % devices
            valid = f"{below} or {below + devices}" if below else f"{devices}"
            drop = f"Drop the last rows (x[:{below}]) or pass" if below else "Pass"
            raise ValueError(
                f"{where} has {rows} rows (shape {shape}), which do not split "
                f"evenly over the {over}: the length must be a multiple of "
                f"{devices}, e.g. {valid}. {drop} a mesh whose device count "
                f"divides {rows}; rows are never padded, since a padded row "
                "would change the loss."
            )


def _check_same_rows_everywhere(arrays: tuple[Any, ...]) -> None:
    """One small all-gather, so every process raises the same error or none."""
    rows = np.array([np.shape(x)[0] for x in jax.tree.leaves(arrays)], np.int32)
    everywhere = np.asarray(multihost_utils.process_allgather(rows))
    if (everywhere != everywhere[0]).any():
        listed = "; ".join(
            f"process {p}: {r.tolist()}" for p, r in enumerate(everywhere)
        )
        raise ValueError(
            "every process must pass the same number of rows to shard_local_data; "
            f"got rows per array {listed}."
        )
