"""How the library compiles its loops."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax

# XLA:CPU's older fusion emitters compile a program of many small kernels,
# like the library's loops, in about 60% of the time of its newer ones, and the
# loops run as fast (`benchmarks/RESULTS.md`). A jax whose XLA no longer knows
# the option compiles with its defaults.
CPU_OPTIONS = {"xla_cpu_use_fusion_emitters": False}


def jit(fun: Callable[..., Any], *, static_argnums: tuple[int, ...]) -> Callable:
    """`jax.jit(fun)`, compiled with `CPU_OPTIONS` when that can be.

    That is on the CPU backend, outside any other transformation (XLA takes
    compiler options only for a top-level program) and while XLA knows them.
    """
    plain = jax.jit(fun, static_argnums=static_argnums)
    tuned = jax.jit(fun, static_argnums=static_argnums, compiler_options=CPU_OPTIONS)
    options_known = [True]

    @functools.wraps(fun)
    def call(*args: Any) -> Any:
        if (
            options_known[0]
            and jax.default_backend() == "cpu"
            and not any(isinstance(x, jax.core.Tracer) for x in jax.tree.leaves(args))
        ):
            try:
                return tuned(*args)
            except ValueError as error:  # inside a jit of the caller's
                if "compiler_options" not in str(error):
                    raise
            except jax.errors.JaxRuntimeError as error:
                if "compile option" not in str(error):
                    raise
                options_known[0] = False
        return plain(*args)

    return call
