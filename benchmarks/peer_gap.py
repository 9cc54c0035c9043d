"""What a step of `jaxgd.fit` does that a step of jaxopt's `GradientDescent` does not.

    python benchmarks/peer_gap.py [--repeats 9]

The tiny linear regression and the logistic regression of `run.py`, each run
built up one piece at a time, from what jaxopt computes to what `fit`
computes. The time of a step is the difference of two runs of different
lengths, so a call's fixed cost cancels; medians of interleaved repeats.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import statistics
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import jaxopt
from run import linreg_problem, logistic_problem

import jaxgd


def _norm(tree: Any) -> jax.Array:
    return jnp.sqrt(sum(jnp.sum(x**2) for x in jax.tree.leaves(tree)))


def _scan(loss: Callable, rate: float, guard: bool, records: int) -> Callable:
    """A hand scan: with `guard`, the loss is computed and a step whose loss
    is not finite keeps the params; `records` = 0 (none), 1 (the loss
    history) or 2 (and the gradient-norm history)."""

    def run(params: Any, data: tuple, num_steps: int) -> Any:
        def step(params: Any, _: Any) -> tuple:
            if guard or records:
                loss_t, grads = jax.value_and_grad(loss)(params, *data)
            else:
                loss_t, grads = None, jax.grad(loss)(params, *data)
            new = jax.tree.map(lambda p, g: p - rate * g, params, grads)
            if guard:
                ok = jnp.isfinite(loss_t)
                new = jax.tree.map(lambda n, p: jnp.where(ok, n, p), new, params)
            kept = (loss_t, _norm(grads))[:records]
            return new, kept

        return jax.lax.scan(step, params, None, length=num_steps)

    return jax.jit(run, static_argnums=2)


def _variants(p: Any) -> dict[str, Callable[[int], Any]]:
    loss, rate = p.loss, p.learning_rate

    def jaxopt_run(num_steps: int) -> Any:
        solver = jaxopt.GradientDescent(
            fun=loss, stepsize=rate, maxiter=num_steps, tol=-1.0, acceleration=False
        )
        return jax.jit(solver.run)(p.params, *p.data).params

    scans = {
        "scan: the gradient only, no history (jaxopt's work)": _scan(
            loss, rate, False, 0
        ),
        "scan: the loss history (the hand scan of run.py)": _scan(loss, rate, False, 1),
        "scan: a guard on the loss, no history": _scan(loss, rate, True, 0),
        "scan: the guard and the loss history": _scan(loss, rate, True, 1),
        "scan: the guard, the loss and gradient-norm histories": _scan(
            loss, rate, True, 2
        ),
    }
    variants = {"jaxopt GradientDescent": jaxopt_run}
    for name, scan in scans.items():
        variants[name] = lambda n, scan=scan: scan(p.params, p.data, n)
    variants["jaxgd.fit"] = lambda n: jaxgd.fit(
        loss, p.params, *p.data, learning_rate=rate, num_steps=n
    )
    variants["jaxgd.fit, history_every=num_steps"] = lambda n: jaxgd.fit(
        loss, p.params, *p.data, learning_rate=rate, num_steps=n, history_every=n
    )
    return variants


def per_step(run: Callable[[int], Any], steps: int, repeats: int) -> list[float]:
    for n in (steps, 2 * steps):
        jax.block_until_ready(run(n))  # compiled once per length
    times = []
    for _ in range(repeats):
        pair = []
        for n in (steps, 2 * steps):
            start = time.perf_counter()
            jax.block_until_ready(run(n))
            pair.append(time.perf_counter() - start)
        times.append((pair[1] - pair[0]) / steps)
    return times


def main(repeats: int = 9) -> None:
    problems = {
        "tiny linear regression, 100 x 1": (linreg_problem("tiny", False), 10_000),
        "logistic regression, 569 x 30": (logistic_problem(False), 20_000),
    }
    for title, (p, steps) in problems.items():
        variants = _variants(p)
        times = {name: [] for name in variants}
        for _ in range(3):  # interleaved rounds
            for name, run in variants.items():
                times[name] += per_step(run, steps, max(1, repeats // 3))
        print(f"\n{title}, {steps:,} and {2 * steps:,} steps\n")
        print("| run | µs / step | ÷ jaxopt |\n|---|---|---|")
        base = statistics.median(times["jaxopt GradientDescent"])
        for name, values in times.items():
            median = statistics.median(values)
            print(f"| {name} | {median * 1e6:.3g} | {median / base:.2f} |")
    print(f"\njax {jax.__version__}, jaxopt {importlib.metadata.version('jaxopt')}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    main(parser.parse_args().repeats)
