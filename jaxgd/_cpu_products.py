r"""Matrix products of the linear model laid out for XLA:CPU.

XLA:CPU runs a product whose contracting dimension is the *last* of its left
operand and the first of its right one (`A @ B`) on its fast matrix-multiply
kernel; a product that contracts the *rows* of a tall matrix, as the gradient
$X^T g$ does, goes to a generic kernel several times slower. Numpy's
BLAS and torch run both at full speed. The functions here write the linear
model's products so that XLA:CPU sees the fast form, and leave other backends,
whose multiplies need no help, as they are. They change no value: every
derivative is that of the plain expression, which the tests check.
`benchmarks/RESULTS.md` has the measurements.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax.custom_derivatives import SymbolicZero

HIGHEST = jax.lax.Precision.HIGHEST


def _on_cpu() -> bool:
    return jax.default_backend() == "cpu"


@jax.custom_jvp
def affine(X: jax.Array, W: jax.Array, b: jax.Array) -> jax.Array:
    """`X @ W + b`, whose derivative in `(W, b)` multiplies by `[X, 1]^T` on the CPU.

    The gradient of `X W + b` in `W` is `X^T g`, a contraction over the rows
    of `X`; the gradient in `b` is a separate sum of `g` over the rows.
    Written as one product of `[dW; db]` with an explicit `[X, 1]^T`, both
    come from the fast kernel, and under `vmap` the cotangent is read in one
    layout instead of being transposed for each. Inside a loop over fixed
    data, XLA makes the copy once, before the loop. A single feature is left
    as it is: there XLA makes both products elementwise, which beats any
    matrix-multiply call.
    """
    return _forward(X, W, b)


def _forward(X: jax.Array, W: jax.Array, b: jax.Array) -> jax.Array:
    """`X @ W + b`; on the CPU written as `(W^T X^T)^T + b`.

    For a single run XLA folds the transpose away and both are one product.
    Under `vmap` over `W` (the lanes of a sweep or a multistart), `X @ W`
    puts the lanes second, and XLA then makes the residuals twice a step, once
    in that layout for the loss and once lanes-first for the gradient's
    product with `[X, 1]^T`; written this way the lanes come first and one
    residual serves both.
    """
    if _on_cpu():
        product = jax.lax.dot_general(W, X, (((0,), (1,)), ((), ())))
        return product.T + b[None, :]
    return X @ W + b[None, :]


@functools.partial(affine.defjvp, symbolic_zeros=True)
def _affine_jvp(primals: tuple, tangents: tuple) -> tuple:
    X, W, b = primals
    dX, dW, db = tangents
    out = _forward(X, W, b)
    parts = []
    if not isinstance(dW, SymbolicZero):
        if isinstance(db, SymbolicZero):
            db = jnp.zeros_like(b)
        if _on_cpu() and X.shape[1] > 1:
            # The barriers keep XLA from folding the transpose into the product
            # and from folding the copy of a constant X at compile time.
            ones = jnp.ones((1, X.shape[0]), X.dtype)
            X1T = jnp.concatenate([jax.lax.optimization_barrier(X).T, ones], axis=0)
            X1T = jax.lax.optimization_barrier(X1T)
            dWb = jnp.concatenate([dW, db[None, :]], axis=0)
            parts.append(jax.lax.dot_general(X1T, dWb, (((0,), (0,)), ((), ()))))
        else:
            parts.append(X @ dW + db[None, :])
    elif not isinstance(db, SymbolicZero):
        parts.append(jnp.broadcast_to(db[None, :], out.shape))
    if not isinstance(dX, SymbolicZero):
        parts.append(dX @ W)
    if not parts:
        return out, jnp.zeros_like(out)
    return out, functools.reduce(jnp.add, parts)


def rows_product(X: jax.Array, Z: jax.Array) -> jax.Array:
    """`X^T Z` for a tall `X` and a narrow `Z`, computed as `(Z^T X)^T`.

    Both contract over the rows, but XLA:CPU runs the product whose result is
    `(m, n)` on the fast kernel and the one whose result is `(n, m)` on the
    slow one. The barrier keeps XLA from folding the final transpose back
    into the product; elsewhere the order makes no difference.
    """
    product = jax.lax.dot_general(Z, X, (((0,), (0,)), ((), ())), precision=HIGHEST)
    return jax.lax.optimization_barrier(product).T
