"""Benchmarks of jaxgd against the JAX limit, the usual loops and other libraries.

    python benchmarks/run.py                    # everything, tables on stdout
    python benchmarks/run.py --quick            # tiny sizes, one repeat: a smoke run
    python benchmarks/run.py --only linreg-tiny,sweep --repeats 7
    python benchmarks/run.py --markdown results.md --json results.json

Workloads (float32, full batch, plain gradient descent):

* ``linreg-*``: linear regression (`jaxgd.linear.mse`) on standardised synthetic
  data at four sizes, learning rate 0.1;
* ``sweep``: 64 log-spaced learning rates in [1e-3, 0.5] on the small size;
* ``logistic``: logistic regression (`jaxgd.linear.bce`) on the embedded breast
  cancer table (569 x 10, standardised) for 200,000 steps;
* ``multistart``: 1,024 balls on a 1-D curve with two valleys;
* ``early-exit``: a `tol` run on a 20,000-step budget that converges at about
  1,000 steps, and a 16-rate sweep of the same, each against a run of exactly
  the steps it took: what stopping early saves.
* ``csv-parse`` and ``out-of-core``: the command line on CSV files, see
  `csv_parse_section` and `out_of_core_section`.
* ``search``: successive halving over 81 configurations of adam on an MLP,
  against the whole grid and against Optuna (`search_section`);
  ``cross-validation``: a 5-fold ridge path against scikit-learn
  (`cross_validation_section`).
* ``checkpoint``: a fit with Adam and mini-batches without checkpoints, with
  one a minute and with one a second; see `checkpoint_section`.

Implementations: jaxgd; a hand-written ``jax.jit(lax.scan(...))`` of the same
update (the JAX limit, and the reference every other result is checked
against), which uses ``jaxgd.linear``'s losses like every JAX implementation
here, and beside it the same scan with a plain ``X @ W``; a Python loop over a
jitted step (what most users write); an optax loop; numpy (the BLAS limit,
linear regression only); and, when installed (the ``bench`` extra), jaxopt
``GradientDescent``, optimistix ``minimise`` with ``GradientDescent`` and a
``torch.optim.SGD`` loop on the CPU. Missing peers are skipped, and the report
says so.

Every implementation's result (final params and, where it records one, the loss
history) is checked against the hand-written scan's after the same number of
steps, both after a few steps (where a wrong learning rate or a missing step
shows) and after the timed run, before its time is reported. Loops that
dispatch every step from Python are timed on at most ``--loop-steps`` steps.
Times are medians over ``--repeats`` runs, the implementations interleaved, so
that the ratios, measured side by side, are what to trust on a busy machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import importlib.metadata
import json
import logging
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxgd
from jaxgd import datasets, linear

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    try:
        import jaxopt
    except ImportError:
        jaxopt = None
    try:
        import optimistix
    except ImportError:
        optimistix = None
    try:
        import torch
    except ImportError:
        torch = None
    try:
        import optuna
    except ImportError:
        optuna = None
    try:
        import sklearn
    except ImportError:
        sklearn = None

PEERS = ("jaxopt", "optimistix", "torch")
# Compared in the search and cross-validation workloads only.
SEARCH_PEERS = ("optuna", "scikit-learn")
REFERENCE = "hand scan"


# --------------------------------------------------------------------------
# Problems


@dataclasses.dataclass(frozen=True)
class Problem:
    """One gradient-descent run: what every implementation must reproduce.

    `lanes` is None for a single run; for many runs at once (a sweep or a
    multistart) it is their number, and the params, losses and learning rates
    carry a leading lane axis.
    """

    name: str
    title: str
    loss: Callable[..., jax.Array]
    params: Any
    data: tuple[Any, ...]
    learning_rate: Any
    num_steps: int
    torch_loss: Callable[..., Any] | None = None
    flops_per_step: float | None = None
    lanes: int | None = None


def standardised_regression(
    n_samples: int, n_features: int, n_outputs: int, seed: int = 0
) -> tuple[jax.Array, jax.Array]:
    """Standardised features and a noisy linear target, float32."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, n_features))
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    W = rng.standard_normal((n_features, n_outputs)) / math.sqrt(n_features)
    y = X @ W + 0.5 + 0.1 * rng.standard_normal((n_samples, n_outputs))
    return jnp.asarray(X, jnp.float32), jnp.asarray(y, jnp.float32)


def torch_mse(params: dict, X: Any, y: Any) -> Any:
    return torch.mean(torch.square(y - (X @ params["W"] + params["b"])))


def torch_bce(params: dict, X: Any, y: Any) -> Any:
    logits = X @ params["W"] + params["b"]
    return torch.nn.functional.binary_cross_entropy_with_logits(logits, y)


LINREG_SIZES = {
    "tiny": (100, 1, 1, 10_000),
    "small": (1_000, 10, 1, 2_000),
    "medium": (10_000, 100, 10, 500),
    "large": (100_000, 256, 16, 100),
}
QUICK_LINREG_SIZES = {
    "tiny": (100, 1, 1, 200),
    "small": (200, 4, 1, 100),
    "medium": (500, 8, 3, 50),
    "large": (1_000, 16, 4, 20),
}


def linreg_problem(size: str, quick: bool) -> Problem:
    N, n, m, num_steps = (QUICK_LINREG_SIZES if quick else LINREG_SIZES)[size]
    X, y = standardised_regression(N, n, m)
    return Problem(
        name=f"linreg-{size}",
        title=(
            f"linear regression ({size}): N={N:,}, n={n}, m={m}, {num_steps:,} "
            "steps, learning rate 0.1"
        ),
        loss=linear.mse,
        params=linear.init(jax.random.key(1), n, m),
        data=(X, y),
        learning_rate=0.1,
        num_steps=num_steps,
        torch_loss=torch_mse,
        # X W forward and X^T r backward; the O(N m) elementwise work is left out.
        flops_per_step=4.0 * N * n * m if size == "large" else None,
    )


def sweep_problem(quick: bool) -> Problem:
    N, n, m, num_steps = (QUICK_LINREG_SIZES if quick else LINREG_SIZES)["small"]
    lanes = 8 if quick else 64
    X, y = standardised_regression(N, n, m)
    return Problem(
        name="sweep",
        title=(
            f"learning-rate sweep: {lanes} log-spaced rates in [1e-3, 0.5], linear "
            f"regression N={N:,}, n={n}, m={m}, {num_steps:,} steps"
        ),
        loss=linear.mse,
        params=linear.init(jax.random.key(1), n, m),
        data=(X, y),
        learning_rate=jnp.logspace(-3, math.log10(0.5), lanes, dtype=jnp.float32),
        num_steps=num_steps,
        torch_loss=torch_mse,
        lanes=lanes,
    )


def logistic_problem(quick: bool) -> Problem:
    table = datasets.load_breast_cancer()
    X = (table.X - table.X.mean(axis=0)) / table.X.std(axis=0)
    num_steps = 500 if quick else 200_000
    return Problem(
        name="logistic",
        title=(
            f"logistic regression (linear.bce): breast cancer table "
            f"{X.shape[0]} x {X.shape[1]}, standardised, {num_steps:,} steps, "
            "learning rate 0.1"
        ),
        loss=linear.bce,
        params=linear.init(jax.random.key(1), X.shape[1], 1),
        data=(jnp.asarray(X, jnp.float32), jnp.asarray(table.y, jnp.float32)),
        learning_rate=0.1,
        num_steps=num_steps,
        torch_loss=torch_bce,
    )


def curve(x: Any) -> Any:
    """Two valleys, the left one lower: x^4 - 3x^2 + x/2 (also for torch tensors)."""
    return x**4 - 3 * x**2 + 0.5 * x


def multistart_problem(quick: bool) -> Problem:
    lanes, num_steps = (64, 100) if quick else (1024, 1000)
    # An even count never starts a ball on the hilltop near x = 0.08, where
    # rounding alone would decide its valley.
    starts = jnp.linspace(-2.5, 2.5, lanes, dtype=jnp.float32)
    return Problem(
        name="multistart",
        title=(
            f"multistart: {lanes:,} balls on x^4 - 3x^2 + x/2 from [-2.5, 2.5], "
            f"{num_steps:,} steps, learning rate 0.01"
        ),
        loss=curve,
        params=starts,
        data=(),
        learning_rate=0.01,
        num_steps=num_steps,
        torch_loss=curve,
        lanes=lanes,
    )


# --------------------------------------------------------------------------
# Implementations
#
# `build(problem, num_steps)` returns a `run()` that performs the whole run
# and returns `(params, losses)` in the problem's own layout (losses may be
# None); nothing is compiled before the first `run()`.


class Impl(NamedTuple):
    name: str
    build: Callable[[Problem, int], Callable[[], tuple[Any, Any]]]
    loops_in_python: bool = False
    peer: bool = False
    compiles: bool = True  # False for numpy and torch: no compile time to show


def sgd_update(params: Any, grads: Any, rate: Any) -> Any:
    return jax.tree.map(lambda p, g: p - rate * g, params, grads)


def hand_scan_fn(loss: Callable, num_steps: int) -> Callable:
    """The JAX limit: value_and_grad, the update, and the loss history."""

    def run(params: Any, rate: Any, *data: Any) -> tuple[Any, jax.Array]:
        def step(params: Any, _: Any) -> tuple[Any, jax.Array]:
            value, grads = jax.value_and_grad(loss)(params, *data)
            return sgd_update(params, grads, rate), value

        return jax.lax.scan(step, params, None, length=num_steps)

    return run


def build_jaxgd(p: Problem, num_steps: int) -> Callable:
    def run() -> tuple[Any, Any]:
        result = jaxgd.fit(
            p.loss,
            p.params,
            *p.data,
            learning_rate=p.learning_rate,
            num_steps=num_steps,
        )
        return result.params, result.losses

    return run


def build_jaxgd_stats(p: Problem, num_steps: int) -> Callable:
    """The least-squares fast path; the statistics are made inside every run."""

    def run() -> tuple[Any, Any]:
        stats = linear.stats(*p.data)
        result = jaxgd.fit(
            linear.mse_stats,
            p.params,
            stats,
            learning_rate=p.learning_rate,
            num_steps=num_steps,
        )
        return result.params, result.losses

    return run


def build_hand_scan(p: Problem, num_steps: int) -> Callable:
    scan = jax.jit(hand_scan_fn(p.loss, num_steps))
    return lambda: scan(p.params, p.learning_rate, *p.data)


def mse_plain(params: dict, X: jax.Array, y: jax.Array) -> jax.Array:
    """`linear.mse` with a plain `X @ W`, as a user would write it.

    On the CPU `linear.predict` takes its gradient in `W` and `b` as one
    product with an explicit `[X, 1]^T`, where XLA would run `X^T r` on a
    slower kernel and sum `r` apart; this loss shows what that is worth.
    """
    predictions = X @ params["W"] + params["b"][None, :]
    return jnp.mean(jnp.square(y - predictions))


def build_hand_scan_plain(p: Problem, num_steps: int) -> Callable:
    return build_hand_scan(dataclasses.replace(p, loss=mse_plain), num_steps)


def build_python_loop(p: Problem, num_steps: int) -> Callable:
    @jax.jit
    def step(params: Any, *data: Any) -> tuple[Any, jax.Array]:
        value, grads = jax.value_and_grad(p.loss)(params, *data)
        return sgd_update(params, grads, p.learning_rate), value

    def run() -> tuple[Any, Any]:
        params, losses = p.params, []
        for _ in range(num_steps):
            params, value = step(params, *p.data)
            losses.append(value)
        return params, np.asarray(jax.device_get(losses))

    return run


def build_optax_loop(p: Problem, num_steps: int) -> Callable:
    optimizer = optax.sgd(p.learning_rate)

    @jax.jit
    def step(params: Any, state: Any, *data: Any) -> tuple[Any, Any, jax.Array]:
        value, grads = jax.value_and_grad(p.loss)(params, *data)
        updates, state = optimizer.update(grads, state, params)
        return optax.apply_updates(params, updates), state, value

    def run() -> tuple[Any, Any]:
        params, state, losses = p.params, optimizer.init(p.params), []
        for _ in range(num_steps):
            params, state, value = step(params, state, *p.data)
            losses.append(value)
        return params, np.asarray(jax.device_get(losses))

    return run


def build_numpy(p: Problem, num_steps: int) -> Callable:
    """Linear regression with the gradient written out, on numpy's BLAS."""
    X, y = (np.asarray(a) for a in p.data)
    scale = np.float32(2.0 / y.size)
    rate = np.float32(p.learning_rate)

    def run() -> tuple[Any, Any]:
        W, b = np.array(p.params["W"]), np.array(p.params["b"])
        losses = np.empty(num_steps, np.float32)
        for t in range(num_steps):
            residual = X @ W + b - y
            losses[t] = np.mean(np.square(residual))
            residual *= scale
            W -= rate * (X.T @ residual)
            b -= rate * residual.sum(axis=0)
        return {"W": W, "b": b}, losses

    return run


def build_jaxopt(p: Problem, num_steps: int) -> Callable:
    solver = jaxopt.GradientDescent(
        fun=p.loss,
        stepsize=p.learning_rate,
        maxiter=num_steps,
        tol=-1.0,  # below zero: never stop early, run every step
        acceleration=False,
        jit=True,
    )
    solve = jax.jit(solver.run)
    return lambda: (solve(p.params, *p.data).params, None)


def build_optimistix(p: Problem, num_steps: int) -> Callable:
    # Zero tolerances: negative ones stop it after one update. With zero it
    # stops early only once an update changes nothing, which ends the same.
    solver = optimistix.GradientDescent(
        learning_rate=p.learning_rate, rtol=0.0, atol=0.0
    )

    @jax.jit
    def solve(params: Any, data: tuple) -> Any:
        solution = optimistix.minimise(
            lambda params, data: p.loss(params, *data),
            solver,
            params,
            args=data,
            max_steps=num_steps + 1,  # minimise makes max_steps - 1 updates
            throw=False,
        )
        return solution.value

    return lambda: (solve(p.params, p.data), None)


def to_torch(tree: Any) -> Any:
    return jax.tree.map(lambda a: torch.from_numpy(np.array(a)), tree)


def build_torch(p: Problem, num_steps: int) -> Callable:
    data = to_torch(p.data)

    def run() -> tuple[Any, Any]:
        params = jax.tree.map(lambda t: t.requires_grad_(), to_torch(p.params))
        optimizer = torch.optim.SGD(jax.tree.leaves(params), lr=p.learning_rate)
        losses = torch.empty(num_steps)
        for t in range(num_steps):
            optimizer.zero_grad()
            loss = p.torch_loss(params, *data)
            loss.backward()
            optimizer.step()
            losses[t] = loss.detach()
        return params, losses

    return run


SINGLE_IMPLS = (
    Impl("jaxgd", build_jaxgd),
    Impl(REFERENCE, build_hand_scan),
    Impl("python loop", build_python_loop, loops_in_python=True),
    Impl("optax loop", build_optax_loop, loops_in_python=True),
    Impl("jaxopt", build_jaxopt, peer=True),
    Impl("optimistix", build_optimistix, peer=True),
    Impl("torch", build_torch, loops_in_python=True, peer=True, compiles=False),
)
LINREG_IMPLS = (
    SINGLE_IMPLS[0],
    Impl("jaxgd stats", build_jaxgd_stats),
    SINGLE_IMPLS[1],
    Impl("hand scan, plain X @ W", build_hand_scan_plain),
    *SINGLE_IMPLS[2:4],
    Impl("numpy", build_numpy, loops_in_python=True, compiles=False),
    *SINGLE_IMPLS[4:],
)


# Many runs at once: the lanes layout is the reference's, a leading lane axis.


def stacked(p: Problem) -> Problem:
    """A multistart as one run: the sum of the lanes' losses over a vector."""
    return dataclasses.replace(
        p, loss=lambda x: jnp.sum(curve(x)), torch_loss=lambda x: torch.sum(curve(x))
    )


def lanes_of_stacked(build: Callable) -> Callable:
    return lambda p, num_steps: build(stacked(p), num_steps)


def build_multistart(p: Problem, num_steps: int) -> Callable:
    def run() -> tuple[Any, Any]:
        result = jaxgd.multistart(
            p.loss, p.params, learning_rate=p.learning_rate, num_steps=num_steps
        )
        return result.params, jnp.sum(result.losses, axis=0)

    return run


def build_multistart_hand(p: Problem, num_steps: int) -> Callable:
    scan = jax.jit(jax.vmap(hand_scan_fn(p.loss, num_steps), in_axes=(0, None)))

    def run() -> tuple[Any, Any]:
        params, losses = scan(p.params, p.learning_rate)
        return params, jnp.sum(losses, axis=0)

    return run


MULTISTART_IMPLS = (
    Impl("jaxgd", build_multistart),
    Impl(REFERENCE, build_multistart_hand),
    Impl("hand scan, stacked", lanes_of_stacked(build_hand_scan)),
    Impl("python loop", lanes_of_stacked(build_python_loop), loops_in_python=True),
    Impl("optax loop", lanes_of_stacked(build_optax_loop), loops_in_python=True),
    Impl("jaxopt", lanes_of_stacked(build_jaxopt), peer=True),
    Impl("optimistix", lanes_of_stacked(build_optimistix), peer=True),
    Impl(
        "torch",
        lanes_of_stacked(build_torch),
        loops_in_python=True,
        peer=True,
        compiles=False,
    ),
)


def columns_loss(params: dict, X: jax.Array, y: jax.Array, rates: jax.Array) -> Any:
    """K runs as the K output columns of one linear layer, each scaled by its rate.

    With learning rate 1 the update of column k is rates[k] times the gradient
    of its own mean squared error: the K lanes of a sweep, in one matmul.
    """
    residual = y - (X @ params["W"] + params["b"][None, :])
    per_column = jnp.mean(jnp.square(residual), axis=0)
    return jnp.sum(rates * per_column), per_column


def as_columns(p: Problem) -> tuple[dict, jax.Array]:
    """Initial params and targets repeated once per lane (needs m = 1)."""
    lanes = p.lanes
    params = {
        "W": jnp.tile(p.params["W"], (1, lanes)),
        "b": jnp.tile(p.params["b"], (lanes,)),
    }
    return params, jnp.tile(p.data[1], (1, lanes))


def columns_to_lanes(params: dict) -> dict:
    return {"W": params["W"].T[:, :, None], "b": params["b"][:, None]}


def build_sweep(p: Problem, num_steps: int) -> Callable:
    def run() -> tuple[Any, Any]:
        result = jaxgd.sweep(
            p.loss,
            p.params,
            *p.data,
            learning_rates=p.learning_rate,
            num_steps=num_steps,
        )
        return result.params, result.losses

    return run


def build_sweep_stats(p: Problem, num_steps: int) -> Callable:
    def run() -> tuple[Any, Any]:
        result = jaxgd.sweep(
            linear.mse_stats,
            p.params,
            linear.stats(*p.data),
            learning_rates=p.learning_rate,
            num_steps=num_steps,
        )
        return result.params, result.losses

    return run


def build_sequential_fits(p: Problem, num_steps: int) -> Callable:
    def run() -> tuple[Any, Any]:
        results = [
            jaxgd.fit(
                p.loss, p.params, *p.data, learning_rate=rate, num_steps=num_steps
            )
            for rate in p.learning_rate
        ]
        params = jax.tree.map(
            lambda *lanes: jnp.stack(lanes), *(r.params for r in results)
        )
        return params, jnp.stack([r.losses for r in results])

    return run


def build_sweep_hand(p: Problem, num_steps: int) -> Callable:
    lanes = jax.vmap(
        hand_scan_fn(p.loss, num_steps), in_axes=(None, 0, *(None for _ in p.data))
    )
    scan = jax.jit(lanes)
    return lambda: scan(p.params, p.learning_rate, *p.data)


def build_columns_hand(p: Problem, num_steps: int) -> Callable:
    params, y = as_columns(p)

    @jax.jit
    def scan(params: dict, X: jax.Array, y: jax.Array, rates: jax.Array) -> Any:
        def step(params: dict, _: Any) -> tuple[dict, jax.Array]:
            grads, per_column = jax.grad(columns_loss, has_aux=True)(
                params, X, y, rates
            )
            return sgd_update(params, grads, 1.0), per_column

        return jax.lax.scan(step, params, None, length=num_steps)

    def run() -> tuple[Any, Any]:
        final, losses = scan(params, p.data[0], y, p.learning_rate)
        return columns_to_lanes(final), losses.T

    return run


def build_columns_jaxgd(p: Problem, num_steps: int) -> Callable:
    params, y = as_columns(p)

    def loss(params: dict, X: jax.Array, y: jax.Array, rates: jax.Array) -> Any:
        return columns_loss(params, X, y, rates)[0]

    def run() -> tuple[Any, Any]:
        result = jaxgd.fit(
            loss,
            params,
            p.data[0],
            y,
            p.learning_rate,
            learning_rate=1.0,
            num_steps=num_steps,
        )
        return columns_to_lanes(result.params), None

    return run


def build_columns_torch(p: Problem, num_steps: int) -> Callable:
    params, y = as_columns(p)
    X, y, rates = to_torch((p.data[0], y, p.learning_rate))

    def loss(params: dict) -> Any:
        residual = y - (X @ params["W"] + params["b"])
        return torch.sum(rates * torch.mean(torch.square(residual), dim=0))

    def run() -> tuple[Any, Any]:
        leaves = jax.tree.map(lambda t: t.requires_grad_(), to_torch(params))
        optimizer = torch.optim.SGD(jax.tree.leaves(leaves), lr=1.0)
        for _ in range(num_steps):
            optimizer.zero_grad()
            loss(leaves).backward()
            optimizer.step()
        lanes = jax.tree.map(lambda t: jnp.asarray(t.detach().numpy()), leaves)
        return columns_to_lanes(lanes), None

    return run


SWEEP_IMPLS = (
    Impl("jaxgd sweep", build_sweep),
    Impl("jaxgd sweep, stats", build_sweep_stats),
    Impl("jaxgd fit, one per rate", build_sequential_fits),
    Impl("jaxgd fit, rates as columns", build_columns_jaxgd),
    Impl(REFERENCE, build_sweep_hand),
    Impl("hand scan, rates as columns", build_columns_hand),
    Impl(
        "torch, rates as columns",
        build_columns_torch,
        loops_in_python=True,
        peer=True,
        compiles=False,
    ),
)


# Stopping early: a budget against the steps actually taken.

EARLY_EXIT = {"size": (1_000, 20), "budget": 20_000, "tol": 1e-5, "rate": 0.007}
QUICK_EARLY_EXIT = {"size": (200, 5), "budget": 2_000, "tol": 1e-4, "rate": 0.02}


def early_exit_problem(quick: bool) -> Problem:
    setting = QUICK_EARLY_EXIT if quick else EARLY_EXIT
    (N, n), budget = setting["size"], setting["budget"]
    X, y = standardised_regression(N, n, 1)
    return Problem(
        name="early-exit",
        title=(
            f"stopping at tol={setting['tol']:g}: linear regression N={N:,}, "
            f"n={n}, a budget of {budget:,} steps; one fit at rate "
            f"{setting['rate']:g}, and a sweep of 16 rates from "
            f"{setting['rate']:g} to {10 * setting['rate']:g}"
        ),
        loss=linear.mse,
        params=linear.init(jax.random.key(1), n, 1),
        data=(X, y),
        learning_rate=setting["rate"],
        num_steps=budget,
        lanes=16,
    )


# --------------------------------------------------------------------------
# Running, checking, timing


class MismatchError(AssertionError):
    """An implementation's result disagrees with the reference's."""


def as_numpy(x: Any) -> np.ndarray:
    if torch is not None and isinstance(x, torch.Tensor):
        x = x.detach().numpy()
    return np.asarray(x, dtype=np.float64)


def wait(outcome: Any) -> Any:
    for leaf in jax.tree.leaves(outcome):
        if isinstance(leaf, jax.Array):
            leaf.block_until_ready()
    return outcome


def check(
    name: str, outcome: tuple, reference: tuple, rtol: float, atol: float
) -> None:
    """Raises `MismatchError` unless `outcome` matches `reference`, leaf by leaf."""
    params, losses = outcome
    want_params, want_losses = reference
    got = jax.tree.leaves(jax.tree.map(as_numpy, params))
    want = jax.tree.leaves(jax.tree.map(as_numpy, want_params))
    pairs = [("params", g, w) for g, w in zip(got, want, strict=True)]
    if losses is not None:
        pairs.append(("losses", as_numpy(losses), as_numpy(want_losses)))
    for what, g, w in pairs:
        scale = atol * max(1.0, float(np.max(np.abs(w), initial=0.0)))
        if g.shape != w.shape or not np.allclose(g, w, rtol=rtol, atol=scale):
            error = np.max(np.abs(g - w)) if g.shape == w.shape else f"shape {g.shape}"
            raise MismatchError(
                f"{name} disagrees with the {REFERENCE}: {what} differ by {error} "
                f"(rtol {rtol}, atol {scale:.3g}); expected shape {w.shape}."
            )


class Timing(NamedTuple):
    name: str
    steps: int
    first_call_s: float  # median from clear caches: tracing, compiling, one run
    compile_s: float  # the first call less the median run
    run_s: float  # median over the repeats of one whole run
    error: str | None = None

    @property
    def per_step_s(self) -> float:
        return self.run_s / self.steps


def timed(run: Callable[[], Any], pause: float = 0.0) -> tuple[float, Any]:
    """Seconds of one whole run, after `pause` seconds of rest, and its outcome."""
    time.sleep(pause)
    start = time.perf_counter()
    outcome = wait(run())
    return time.perf_counter() - start, outcome


def measure(
    problem: Problem,
    impls: Sequence[Impl],
    *,
    repeats: int,
    loop_steps: int,
    first_calls: int = 1,
    pause: float = 0.0,
    rtol: float = 2e-3,
    atol: float = 1e-4,
) -> list[Timing]:
    """Checks every implementation against the reference, then times them.

    An implementation that fails its check or raises is reported with its
    error and no time. The first call of each (compile included) is timed
    `first_calls` times from clear caches, and its compile time is the median
    first call less the median run. The first calls and the repeats go round
    the implementations in turn, so that a busy machine slows them all alike.
    `pause` seconds between runs let
    the spinning threads of one library's pool (numpy's BLAS, torch) go idle
    before the next library runs.
    """
    reference = next(impl for impl in impls if impl.name == REFERENCE)
    references: dict[int, tuple] = {}

    def expected(num_steps: int) -> tuple:
        if num_steps not in references:
            references[num_steps] = wait(reference.build(problem, num_steps)())
        return references[num_steps]

    short = min(3, problem.num_steps)
    runs, firsts, errors = {}, {}, {}
    for impl in impls:
        steps = problem.num_steps
        if impl.loops_in_python:
            steps = min(steps, loop_steps)
        try:
            outcome = wait(impl.build(problem, short)())
            check(impl.name, outcome, expected(short), rtol, atol)
            jax.clear_caches()
            run = impl.build(problem, steps)
            first, outcome = timed(run, pause)
            firsts[impl.name] = [first]
            check(impl.name, outcome, expected(steps), rtol, atol)
            runs[impl.name] = (run, steps)
        except Exception as error:  # reported in the table, never hidden
            errors[impl.name] = f"{type(error).__name__}: {error}"
    for _ in range(first_calls - 1):
        for name, (run, _) in runs.items():
            jax.clear_caches()
            firsts[name].append(timed(run, pause)[0])
    # clear_caches dropped the earlier implementations' programs: one warm-up each.
    for run, _ in runs.values():
        wait(run())
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, (run, _) in runs.items():
            samples[name].append(timed(run, pause)[0])
    timings = []
    for impl in impls:
        if impl.name in runs:
            first = statistics.median(firsts[impl.name])
            run_s = statistics.median(samples[impl.name])
            timings.append(
                Timing(
                    impl.name,
                    runs[impl.name][1],
                    first,
                    max(0.0, first - run_s) if impl.compiles else math.nan,
                    run_s,
                )
            )
        elif impl.name in errors:
            timings.append(
                Timing(impl.name, 0, math.nan, math.nan, math.nan, errors[impl.name])
            )
    return timings


def compiled_programs(fn: Callable[[], Any]) -> list[str]:
    """The names of the XLA programs that `fn()` compiles, from clear caches."""
    names = []

    class Listener(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            message = record.getMessage()
            if message.startswith("Finished XLA compilation of "):
                names.append(message.split(" of ", 1)[1].split(" in ")[0])

    listener = Listener()
    logger = logging.getLogger("jax")
    logger.addHandler(listener)
    jax.clear_caches()
    try:
        with jax.log_compiles(True):
            wait(fn())
    finally:
        logger.removeHandler(listener)
    return names


def matmul_peak(repeats: int) -> dict[str, float]:
    """GFLOP/s of one large float32 `jnp.dot` (and of numpy's, on the CPU)."""
    size = 2048 if jax.default_backend() == "cpu" else 8192
    a = jax.random.normal(jax.random.key(0), (size, size), jnp.float32)
    dot = jax.jit(jnp.dot)
    wait(dot(a, a))
    flops = 2.0 * size**3
    peak = {"size": size}
    times = []
    for _ in range(max(repeats, 3)):
        start = time.perf_counter()
        wait(dot(a, a))
        times.append(time.perf_counter() - start)
    peak["jnp.dot GFLOP/s"] = flops / statistics.median(times) / 1e9
    a = np.asarray(a)
    times = []
    for _ in range(max(repeats, 3)):
        start = time.perf_counter()
        a @ a
        times.append(time.perf_counter() - start)
    peak["numpy GFLOP/s"] = flops / statistics.median(times) / 1e9
    return peak


# --------------------------------------------------------------------------
# Workloads and the report


def available(impls: Sequence[Impl]) -> tuple[list[Impl], list[str]]:
    present = {"jaxopt": jaxopt, "optimistix": optimistix, "torch": torch}
    kept, skipped = [], []
    for impl in impls:
        peer = next((name for name in PEERS if impl.name.startswith(name)), None)
        if impl.peer and present[peer] is None:
            skipped.append(impl.name)
        else:
            kept.append(impl)
    return kept, skipped


class Section(NamedTuple):
    problem: Problem
    timings: list[Timing]
    skipped: list[str]
    extra: dict[str, Any]


def run_section(
    problem: Problem, impls: Sequence[Impl], args: argparse.Namespace
) -> Section:
    kept, skipped = available(impls)
    print(
        f"... {problem.name}: {len(kept)} implementations", file=sys.stderr, flush=True
    )
    timings = measure(
        problem,
        kept,
        repeats=args.repeats,
        loop_steps=args.loop_steps,
        first_calls=args.first_calls,
        pause=args.pause,
    )
    return Section(problem, timings, skipped, {})


def fast_path_scaling(problem: Problem, args: argparse.Namespace) -> dict:
    """Whole fast-path fits (statistics included) at growing step counts.

    The hand scan runs `problem.num_steps` steps side by side with each, and
    its time is scaled to the fast path's step count: a scan's time is linear
    in its steps.
    """
    hand = build_hand_scan(problem, problem.num_steps)
    wait(hand())
    rows = {}
    for steps in (problem.num_steps, 10 * problem.num_steps, 100 * problem.num_steps):
        fast = build_jaxgd_stats(problem, steps)
        wait(fast())
        fast_s, hand_s = [], []
        for _ in range(args.repeats):
            fast_s.append(timed(fast, args.pause)[0])
            hand_s.append(timed(hand, args.pause)[0])
        scaled = statistics.median(hand_s) * steps / problem.num_steps
        rows[f"{steps:,} steps"] = {
            "fast path s": statistics.median(fast_s),
            "hand scan s": scaled,
            "speed-up": scaled / statistics.median(fast_s),
        }
    return rows


def sweep_compilations(problem: Problem) -> dict[str, dict[str, Any]]:
    """Programs compiled by the sweep and by one fit per rate: loops and others."""
    rows = {}
    for name, build, loop in (
        ("jaxgd sweep", build_sweep, "jit(_run_lanes)"),
        ("jaxgd fit, one per rate", build_sequential_fits, "jit(_run_jit)"),
    ):
        names = compiled_programs(build(problem, problem.num_steps))
        rows[name] = {
            "loops compiled": names.count(loop),
            "all programs": len(names),
            "others": ", ".join(sorted(set(names) - {loop})) or "none",
        }
    return rows


def early_exit(problem: Problem, args: argparse.Namespace, quick: bool) -> Section:
    """A run on the whole budget against one of exactly the steps it took.

    Each run that stops at `tol` is checked against the run of exactly the
    steps it took (its `steps_taken`, plus the step that met `tol`) before both
    are timed, side by side; for the sweep, the exact run is the sweep of as
    many steps as its slowest lane took.
    """
    tol = (QUICK_EARLY_EXIT if quick else EARLY_EXIT)["tol"]
    rates = jnp.logspace(
        math.log10(problem.learning_rate),
        math.log10(10 * problem.learning_rate),
        problem.lanes,
        dtype=jnp.float32,
    )

    def single(num_steps: int) -> Callable[[], Any]:
        return lambda: jaxgd.fit(
            problem.loss,
            problem.params,
            *problem.data,
            learning_rate=problem.learning_rate,
            num_steps=num_steps,
            tol=tol,
        )

    def lanes(num_steps: int) -> Callable[[], Any]:
        return lambda: jaxgd.sweep(
            problem.loss,
            problem.params,
            *problem.data,
            learning_rates=rates,
            num_steps=num_steps,
            tol=tol,
        )

    runs = {}
    for name, build in (("fit", single), ("sweep", lanes)):
        budget = build(problem.num_steps)
        result = wait(budget())
        if not bool(np.all(result.converged)):
            raise MismatchError(f"early-exit {name}: not every run met tol={tol:g}")
        steps = int(np.max(result.steps_taken)) + 1
        exact = build(steps)
        reference = wait(exact())
        check(
            f"{name}, budget {problem.num_steps:,}",
            (result.params, np.nan_to_num(result.losses[..., :steps])),
            (reference.params, np.nan_to_num(reference.losses)),
            rtol=1e-5,
            atol=1e-6,
        )
        runs[f"jaxgd {name}, budget {problem.num_steps:,}"] = (budget, steps)
        runs[f"jaxgd {name}, exactly {steps:,} steps"] = (exact, steps)
    samples: dict[str, list[float]] = {name: [] for name in runs}
    firsts: dict[str, float] = {}
    for name, (run, _) in runs.items():
        jax.clear_caches()
        firsts[name] = timed(run, args.pause)[0]
    for run, _ in runs.values():
        wait(run())
    for _ in range(args.repeats):
        for name, (run, _) in runs.items():
            samples[name].append(timed(run, args.pause)[0])
    timings = []
    for name, (_, steps) in runs.items():
        run_s = statistics.median(samples[name])
        timings.append(
            Timing(name, steps, firsts[name], max(0.0, firsts[name] - run_s), run_s)
        )
    return Section(problem, timings, [], {})


# --------------------------------------------------------------------------
# Files: the command line on CSV tables


def write_table(path: str, rows: int, seed: int = 0, fmt: str = "%.5g") -> int:
    """A CSV of `rows` rows: ten features of mixed scales and a noisy target.

    Written a million rows at a time, by default with 5 significant digits
    (about 82 bytes a row); returns the file's size in bytes.
    """
    rng = np.random.default_rng(seed)
    scales = np.logspace(-2, 3, 10)
    weights = rng.standard_normal(10) / scales
    with open(path, "w", encoding="utf-8") as out:
        out.write(",".join([*(f"x{j}" for j in range(10)), "y"]) + "\n")
        for start in range(0, rows, 1_000_000):
            n = min(1_000_000, rows - start)
            X = rng.standard_normal((n, 10)) * scales + 3 * scales
            y = X @ weights + rng.standard_normal(n)
            np.savetxt(out, np.column_stack([X, y]), delimiter=",", fmt=fmt)
    return os.path.getsize(path)


# Runs `jaxgd ARGS` and writes the process's own high-water mark of resident
# memory (VmHWM) to the file named first. `ru_maxrss` from `wait4` cannot tell
# it: at `exec` the kernel folds in the resident size the child inherited from
# this process through `fork`, so after this benchmark has held a large table
# every child would read as large as it.
_PEAK_SCRIPT = """
import sys
from jaxgd.cli import main
path, argv = sys.argv[1], sys.argv[2:]
try:
    code = main(argv)
finally:
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    with open(path, "w") as out:
        out.write(str(int(line.split()[1]) * 1024))
sys.exit(code)
"""


def peak_of(argv: list[str]) -> tuple[float, int, dict]:
    """`jaxgd ARGV --json` in a fresh process: seconds, its peak resident bytes
    (read from Linux's /proc) and its report."""
    start = time.perf_counter()
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.TemporaryDirectory() as folder,
    ):
        peak_file = os.path.join(folder, "peak")
        process = subprocess.run(
            [sys.executable, "-c", _PEAK_SCRIPT, peak_file, *argv, "--json"],
            stdout=out,
            stderr=err,
        )
        seconds = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        if process.returncode != 0:
            message = err.read().decode()[-500:]
            raise RuntimeError(f"jaxgd {' '.join(argv)} failed: {message}")
        report = json.loads(out.read())
        with open(peak_file, encoding="utf-8") as peak:
            return seconds, int(peak.read()), report


CSV_ROWS = {"csv-parse": 2_000_000, "out-of-core": 12_000_000}
QUICK_CSV_ROWS = {"csv-parse": 20_000, "out-of-core": 60_000}
# The goals: fit ≤ 2 × numpy.loadtxt alone; a peak under 700 MB.
PARSE_GOAL = 2.0
PEAK_GOAL_MB = 700


# The parse row's two files: short numbers, and numpy.savetxt's default format
# (full float64 precision, as a table saved from numpy is written).
PARSE_FORMATS = {"6 digits": "%.6g", "savetxt default %.18e": "%.18e"}


def csv_parse_section(args: argparse.Namespace) -> Section:
    """`jaxgd fit` on a 2M x 11 CSV beside `numpy.loadtxt` alone on the file.

    The whole command is timed from a fresh process (start-up, reading, the
    statistics, 1,000 steps, the report), with the compilation cache warm
    and with `--no-cache`, interleaved with `numpy.loadtxt(path,
    delimiter=",", skiprows=1)` in this process; on two files of the same
    numbers, written short and at full precision.
    """
    rows = (QUICK_CSV_ROWS if args.quick else CSV_ROWS)["csv-parse"]
    table, gaps = {}, []
    with tempfile.TemporaryDirectory() as folder:
        os.environ["JAXGD_CACHE_DIR"] = os.path.join(folder, "cache")
        try:
            formats = list(PARSE_FORMATS.items())[: 1 if args.quick else None]
            for label, number_format in formats:
                path = os.path.join(folder, "table.csv")
                size = write_table(path, rows, fmt=number_format)
                argv = ["fit", path, "--target", "y"]
                peak_of(argv)  # fills the cache
                numpy_s, cold_s, warm_s = [], [], []
                for _ in range(max(1, min(args.repeats, 3))):
                    start = time.perf_counter()
                    np.loadtxt(path, delimiter=",", skiprows=1)
                    numpy_s.append(time.perf_counter() - start)
                    cold_s.append(peak_of([*argv, "--no-cache"])[0])
                    seconds, _, report = peak_of(argv)
                    warm_s.append(seconds)
                gaps.append(report["gap"])
                loadtxt = statistics.median(numpy_s)
                for name, times in (
                    ("numpy.loadtxt alone", numpy_s),
                    ("jaxgd fit, cache warm", warm_s),
                    ("jaxgd fit, --no-cache", cold_s),
                ):
                    table[f"{label} ({size / 1e6:.0f} MB): {name}"] = {
                        "s": statistics.median(times),
                        "÷ numpy.loadtxt": statistics.median(times) / loadtxt,
                    }
                os.remove(path)
        finally:
            del os.environ["JAXGD_CACHE_DIR"]
    title = (
        f"A {rows:,} x 11 CSV; the whole `jaxgd fit` command (1,000 steps; gap to "
        f"the closed form at most {max(abs(g) for g in gaps):.2g}) from a fresh "
        "process, medians of interleaved runs."
    )
    problem = Problem("csv-parse", title, None, None, (), None, 0)
    return Section(problem, [], [], {"times": table})


def out_of_core_section(args: argparse.Namespace) -> Section:
    """`jaxgd fit` on a 12M-row CSV of 1.1 GB: peak resident memory and time.

    The table is never held: its rows go a block at a time into
    `linear.stats`. The report's gap to the closed form shows the fit.
    """
    rows = (QUICK_CSV_ROWS if args.quick else CSV_ROWS)["out-of-core"]
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "table.csv")
        # 6 significant digits: about 93 bytes a row, 1.1 GB for 12M rows.
        size = write_table(path, rows, fmt="%.6g")
        argv = ["fit", path, "--target", "y", "--no-cache"]
        seconds, peak, report = peak_of(argv)
        small = os.path.join(folder, "small.csv")
        small_size = write_table(small, max(rows // 100, 1000), seed=1, fmt="%.6g")
        _, small_peak, _ = peak_of(["fit", small, "--target", "y", "--no-cache"])
    table = {
        f"{rows:,} rows ({size / 1e9:.2f} GB)": {
            "peak RSS MB": peak / 1e6,
            "s": seconds,
            "rows": report["rows"],
            "gap to closed form": report["gap"],
        },
        f"{max(rows // 100, 1000):,} rows ({small_size / 1e6:.1f} MB)": {
            "peak RSS MB": small_peak / 1e6,
            "s": math.nan,
            "rows": max(rows // 100, 1000),
            "gap to closed form": math.nan,
        },
    }
    title = (
        "Full-batch least squares on a CSV larger than the memory it may use: "
        "`jaxgd fit FILE --target y` (1,000 steps), peak resident memory of the "
        "process beside that of a table 100 times smaller."
    )
    problem = Problem("out-of-core", title, None, None, (), None, 0)
    return Section(problem, [], [], {"memory": table})


def file_targets(sections: dict[str, Section]) -> list[tuple[str, str, str, bool]]:
    rows = []
    parse = sections.get("csv-parse")
    if parse is not None:
        for name, row in parse.extra["times"].items():
            if "jaxgd fit" in name:
                value = row["÷ numpy.loadtxt"]
                rows.append(
                    (
                        f"csv-parse, {name} ÷ numpy.loadtxt",
                        fmt(value),
                        f"≤ {PARSE_GOAL:g}",
                        value <= PARSE_GOAL,
                    )
                )
    compiled = sections.get("compile")
    if compiled is not None:
        for case, row in compiled.extra["times"].items():
            goal = COMPILE_GOALS["validation" in case]
            value = row["÷ hand scan"]
            rows.append(
                (
                    f"compile, {case}: ÷ hand scan",
                    fmt(value),
                    f"≤ {goal:g}",
                    value <= goal,
                )
            )
    saved = sections.get("checkpoint")
    if saved is not None:
        value = saved.extra["times"]["one a minute"]["÷ without"]
        rows.append(
            (
                "checkpoint, one a minute ÷ without",
                fmt(value),
                f"≤ {CHECKPOINT_GOAL:g}",
                value <= CHECKPOINT_GOAL,
            )
        )
    memory = sections.get("out-of-core")
    if memory is not None:
        first = next(iter(memory.extra["memory"].values()))
        value = first["peak RSS MB"]
        rows.append(
            (
                "out-of-core: peak RSS MB",
                fmt(value),
                f"< {PEAK_GOAL_MB}",
                value < PEAK_GOAL_MB,
            )
        )
    return rows


COMPILE_STEPS = 1_000
# The first call of a plain fit, and of one with validation and patience.
COMPILE_GOALS = {False: 1.5, True: 1.8}


def _mlp_params(n_features: int) -> dict:
    keys = jax.random.split(jax.random.key(0), 2)
    return {
        "W1": jax.random.normal(keys[0], (n_features, 64)) / math.sqrt(n_features),
        "b1": jnp.zeros(64),
        "W2": jax.random.normal(keys[1], (64, 1)) / 8,
        "b2": jnp.zeros(1),
    }


def _mlp_loss(params: dict, X: jax.Array, y: jax.Array) -> jax.Array:
    hidden = jnp.tanh(X @ params["W1"] + params["b1"])
    return jnp.mean((hidden @ params["W2"] + params["b2"] - y) ** 2)


def _compile_case(name: str, rows: int) -> tuple[Callable, Callable]:
    """`(fit, hand)`: the first call of each on a problem of `rows` rows."""
    rng = np.random.default_rng(rows)
    n = 3 if name == "tiny linear" else 13
    X = jnp.asarray(rng.normal(size=(rows, n)), jnp.float32)
    y = jnp.asarray(rng.normal(size=(rows, 1)), jnp.float32)
    if name == "tiny linear":
        loss, params = linear.mse, linear.init(jax.random.key(0), n, 1)
        options = {"learning_rate": 0.1}
        transformation = optax.sgd(0.1)
    else:
        loss, params = _mlp_loss, _mlp_params(n)
        options = {"optimizer": optax.adam, "learning_rate": 1e-3}
        transformation = optax.adam(1e-3)
        if "validation" in name:
            options.update(validation_data=(X[:50], y[:50]), patience=5)

    def fit() -> Any:
        result = jaxgd.fit(loss, params, X, y, num_steps=COMPILE_STEPS, **options)
        return result.params, result.losses

    @jax.jit
    def scan(params: Any, X: jax.Array, y: jax.Array) -> Any:
        def step(carry: tuple, _: Any) -> tuple:
            params, state = carry
            value, grads = jax.value_and_grad(loss)(params, X, y)
            updates, state = transformation.update(grads, state, params)
            return (optax.apply_updates(params, updates), state), value

        (params, _), losses = jax.lax.scan(
            step, (params, transformation.init(params)), None, length=COMPILE_STEPS
        )
        return params, losses

    return fit, lambda: scan(params, X, y)


def compile_section(args: argparse.Namespace) -> Section:
    """The first call of `fit` beside a hand-written `jit(lax.scan)` of its update.

    Compile time is the first call from clear caches (tracing, lowering and
    XLA's compilation) less the median later call; also as the process's CPU
    seconds of the first call, which a busy machine moves less. Each repeat
    takes a new number of rows, so that nothing is reused; medians.
    """
    cases = ("tiny linear", "MLP 13-64-1, adam", "MLP 13-64-1, adam, validation")
    table = {}
    for case in cases:
        times: dict[str, list[float]] = {"fit": [], "hand": []}
        cpu: dict[str, list[float]] = {"fit": [], "hand": []}
        for k in range(max(3, args.first_calls)):
            calls = dict(
                zip(("fit", "hand"), _compile_case(case, 200 + k), strict=True)
            )
            outcomes = {}
            for who, call in calls.items():
                jax.clear_caches()
                start, start_cpu = time.perf_counter(), time.process_time()
                outcomes[who] = wait(call())
                first_s = time.perf_counter() - start
                cpu[who].append(time.process_time() - start_cpu)
                run_s = statistics.median(timed(call)[0] for _ in range(3))
                times[who].append(max(0.0, first_s - run_s))
            check(case, outcomes["fit"], outcomes["hand"], 1e-3, 1e-4)
        compile_s = {who: statistics.median(v) for who, v in times.items()}
        cpu_s = {who: statistics.median(v) for who, v in cpu.items()}
        table[case] = {
            "fit compile s": compile_s["fit"],
            "hand scan compile s": compile_s["hand"],
            "÷ hand scan": compile_s["fit"] / compile_s["hand"],
            "fit first-call CPU s": cpu_s["fit"],
            "hand first-call CPU s": cpu_s["hand"],
            "CPU ÷ hand scan": cpu_s["fit"] / cpu_s["hand"],
        }
    title = (
        f"The first call of fit ({COMPILE_STEPS:,} steps) beside a hand-written "
        "jit(lax.scan) of the same update, from clear caches; medians."
    )
    problem = Problem("compile", title, None, None, (), None, 0)
    return Section(problem, [], [], {"times": table})


# --------------------------------------------------------------------------
# Searches: successive halving against the whole grid and against Optuna

# 9 learning rates x 9 values of adam's b1 on an MLP; rungs end after 30, 90,
# 270 and 810 updates, and the last runs to 2,430.
SEARCH = {"grid": 9, "hidden": 32, "num_steps": 2_430, "eta": 3, "min_steps": 30}
QUICK_SEARCH = {"grid": 3, "hidden": 8, "num_steps": 90, "eta": 3, "min_steps": 10}
# The goals of the search row.
SEARCH_GOALS = {"lane-steps": 0.20, "wall": 0.40, "optuna": 20.0}


def auto_mpg(rows: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The Auto MPG table in a fixed shuffled order (its rows are sorted by
    model year), features and target standardized, float32; the first `rows`."""
    table = datasets.load_auto_mpg()
    order = np.random.default_rng(0).permutation(table.X.shape[0])[:rows]
    X, _ = linear.standardize(np.asarray(table.X[order], np.float32))
    y = table.y[order]
    y = (y - y.mean()) / y.std()
    return np.asarray(X, np.float32), np.asarray(y, np.float32)


def mlp_loss(params: dict, X: jax.Array, y: jax.Array) -> jax.Array:
    """Mean squared error of a one-hidden-layer tanh network."""
    hidden = jnp.tanh(X @ params["W1"] + params["b1"][None, :])
    return jnp.mean(jnp.square(hidden @ params["W2"] + params["b2"][None, :] - y))


class SearchProblem(NamedTuple):
    """The grid, the data and the settings every implementation shares."""

    params: dict
    data: tuple[jax.Array, jax.Array]
    validation: tuple[jax.Array, jax.Array]
    learning_rates: jax.Array  # (lanes,), the grid flattened
    b1: jax.Array  # (lanes,)
    num_steps: int
    eta: int
    min_steps: int

    def sweep(self, search: Any) -> jaxgd.FitResult:
        return jaxgd.sweep(
            mlp_loss,
            self.params,
            *self.data,
            learning_rates=self.learning_rates,
            optimizer=optax.adam,
            hyperparams={"b1": self.b1},
            validation_data=self.validation,
            validation_every=self.min_steps,
            restore_best=True,
            num_steps=self.num_steps,
            search=search,
        )

    def rungs(self) -> list[int]:
        """The steps at which the rungs end, before the last."""
        ends, end = [], self.min_steps
        while end < self.num_steps:
            ends.append(end)
            end *= self.eta
        return ends


def search_problem(quick: bool) -> tuple[SearchProblem, str]:
    setting = QUICK_SEARCH if quick else SEARCH
    X, y = auto_mpg()
    train = round(0.75 * len(X))
    grid, hidden = setting["grid"], setting["hidden"]
    rates, b1 = np.meshgrid(
        np.logspace(-4, -1, grid), np.linspace(0.5, 0.98, grid), indexing="ij"
    )
    keys = jax.random.split(jax.random.key(0))
    n = X.shape[1]
    params = {
        "W1": jax.random.normal(keys[0], (n, hidden)) / math.sqrt(n),
        "b1": jnp.zeros(hidden),
        "W2": jax.random.normal(keys[1], (hidden, 1)) / math.sqrt(hidden),
        "b2": jnp.zeros(1),
    }
    problem = SearchProblem(
        params=params,
        data=(jnp.asarray(X[:train]), jnp.asarray(y[:train])),
        validation=(jnp.asarray(X[train:]), jnp.asarray(y[train:])),
        learning_rates=jnp.asarray(rates.ravel(), jnp.float32),
        b1=jnp.asarray(b1.ravel(), jnp.float32),
        num_steps=setting["num_steps"],
        eta=setting["eta"],
        min_steps=setting["min_steps"],
    )
    title = (
        f"{grid * grid} configurations: {grid} learning rates in [1e-4, 0.1] "
        f"(log-spaced) x {grid} values of b1 in [0.5, 0.98], optax.adam, an MLP "
        f"{n}-{hidden}-1 (tanh) on the Auto MPG table ({train} rows to train, "
        f"{len(X) - train} to validate, standardized), {problem.num_steps:,} "
        f"steps, validated every {problem.min_steps}, restore_best; successive "
        f"halving with eta = {problem.eta}, min_steps = {problem.min_steps} "
        "against the whole grid run to the end, and "
        "against Optuna's GridSampler with its SuccessiveHalvingPruner."
    )
    return problem, title


def validation_mse(problem: SearchProblem, params: Any) -> np.ndarray:
    """The validation loss at `params`, one per lane: what every winner is
    judged by."""
    losses = jax.jit(jax.vmap(mlp_loss, in_axes=(0, None, None)))
    return np.asarray(losses(params, *problem.validation), np.float64)


def search_outcome(problem: SearchProblem, result: jaxgd.FitResult) -> dict:
    """The winner and the work of one jaxgd run: a search, or the whole grid."""
    final = validation_mse(problem, result.params)
    done = ~np.asarray(result.diverged)
    if result.pruned is not None:
        done &= ~np.asarray(result.pruned)
    winner = int(np.argmin(np.where(done, final, np.inf)))
    return {
        "lane-steps": int(np.sum(result.steps_taken)),
        "lanes diverged": int(np.sum(result.diverged)),
        "winner": winner,
        "learning rate": float(problem.learning_rates[winner]),
        "b1": float(problem.b1[winner]),
        "validation loss": float(final[winner]),
        "final": final,
    }


def optuna_search(
    problem: SearchProblem, search: Callable[[], Any], repeats: int, pause: float
) -> dict:
    """Optuna over the same grid, each trial one `jaxgd.fit` of its configuration.

    The trial's fit validates every `min_steps` updates; its callback reports
    the validation loss to Optuna at the rung ends (`min_steps * eta**j`) and
    raises `optuna.TrialPruned` when the pruner says so, which stops the fit
    there (the steps after it are not computed). A completed trial's value is
    the validation loss at the params it returns (its lowest, with
    `restore_best`). `SuccessiveHalvingPruner` is the asynchronous kind: a
    trial goes on at a rung when it is in the best 1/eta of the trials that
    reached that rung before it, so the first trials always go on. The fit
    is compiled once, before the timing, by a trial outside the timed
    studies; the time is the whole `study.optimize` call (the sampler, the
    pruner, the in-memory storage, 81 calls of `fit` with their argument
    checks and their callbacks). Each study is timed beside a warm call of
    `search`, the jaxgd search, in turn, so that the ratio is measured side
    by side.
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rates = sorted({float(r) for r in np.asarray(problem.learning_rates)})
    b1s = sorted({float(b) for b in np.asarray(problem.b1)})
    rungs = set(problem.rungs())
    current: dict[str, Any] = {}

    def report(info: jaxgd.Evaluation) -> None:
        current["steps"] = info.step
        if info.step in rungs:
            current["trial"].report(info.validation_loss, info.step)
            if current["trial"].should_prune():
                raise optuna.TrialPruned()

    @jax.jit
    def final_loss(params: dict) -> jax.Array:
        return mlp_loss(params, *problem.validation)

    def objective(trial: Any) -> float:
        current.update(trial=trial, steps=0)
        rate = trial.suggest_float("learning_rate", rates[0], rates[-1], log=True)
        b1 = trial.suggest_float("b1", b1s[0], b1s[-1])
        try:
            result = jaxgd.fit(
                mlp_loss,
                problem.params,
                *problem.data,
                learning_rate=rate,
                optimizer=optax.adam,
                hyperparams={"b1": b1},
                validation_data=problem.validation,
                validation_every=problem.min_steps,
                restore_best=True,
                num_steps=problem.num_steps,
                callback=report,
            )
        finally:
            trial.set_user_attr("steps", current["steps"])
        trial.set_user_attr("steps", int(result.steps_taken))
        return float(final_loss(result.params))

    def study() -> Any:
        study = optuna.create_study(
            sampler=optuna.samplers.GridSampler(
                {"learning_rate": rates, "b1": b1s}, seed=0
            ),
            pruner=optuna.pruners.SuccessiveHalvingPruner(
                min_resource=problem.min_steps,
                reduction_factor=problem.eta,
                min_early_stopping_rate=0,
            ),
        )
        study.optimize(objective, n_trials=len(rates) * len(b1s))
        return study

    start = time.perf_counter()
    objective(optuna.trial.FixedTrial({"learning_rate": rates[0], "b1": b1s[0]}))
    first_s = time.perf_counter() - start
    times, beside = [], []
    for _ in range(repeats):
        seconds, done = timed(study, pause)
        times.append(seconds)
        beside.append(timed(search, pause)[0])
    states = [t.state for t in done.trials]
    return {
        "s": times,
        "search s": beside,
        "first trial s": first_s,
        "lane-steps": sum(t.user_attrs["steps"] for t in done.trials),
        "trials": len(done.trials),
        "pruned": states.count(optuna.trial.TrialState.PRUNED),
        "learning rate": done.best_params["learning_rate"],
        "b1": done.best_params["b1"],
        "validation loss": done.best_value,
    }


def search_section(args: argparse.Namespace) -> Section:
    """Successive halving against the exhaustive grid and against Optuna.

    Both jaxgd runs are one `sweep` of the 81 lanes, the search with
    `search=jaxgd.successive_halving(...)`, the grid without it; both
    validate every `min_steps` updates. Their first calls (from clear caches,
    tracing and compiling included) are timed once each; their warm calls
    `--repeats` times, interleaved, medians. Lane-steps are the sum of
    `steps_taken` over the lanes (a pruned lane's steps end at its rung).
    Every run keeps `restore_best`: a lane returns its params at its lowest
    validation loss, the checkpoint that early stopping would keep, and every
    winner is judged by its validation loss there: the search's winner is
    the lane that ran to the end, the grid's the lane with the lowest.
    """
    problem, title = search_problem(args.quick)
    halving = jaxgd.successive_halving(eta=problem.eta, min_steps=problem.min_steps)
    runs = {
        "jaxgd successive halving": lambda: problem.sweep(halving),
        "jaxgd exhaustive sweep": lambda: problem.sweep(None),
    }
    firsts, samples, outcomes = {}, {name: [] for name in runs}, {}
    for name, run in runs.items():
        jax.clear_caches()
        firsts[name], result = timed(run, args.pause)
        outcomes[name] = search_outcome(problem, result)
    for run in runs.values():  # clear_caches dropped the first one's program
        wait(run())
    for _ in range(args.repeats):
        for name, run in runs.items():
            samples[name].append(timed(run, args.pause)[0])
    skipped = []
    if optuna is not None:
        peer = optuna_search(
            problem,
            runs["jaxgd successive halving"],
            max(1, min(args.repeats, 3)),
            args.pause,
        )
        samples["optuna, one fit per trial"] = peer.pop("s")
        beside = statistics.median(peer.pop("search s"))
        firsts["optuna, one fit per trial"] = peer.pop("first trial s")
        outcomes["optuna, one fit per trial"] = peer
    else:
        skipped.append("optuna")
    grid = outcomes["jaxgd exhaustive sweep"]
    table = {}
    for name, outcome in outcomes.items():
        run_s = statistics.median(samples[name])
        table[name] = {
            "lane-steps": f"{outcome['lane-steps']:,}",
            "÷ exhaustive lane-steps": outcome["lane-steps"] / grid["lane-steps"],
            "s (warm, median)": run_s,
            "÷ exhaustive s": run_s
            / statistics.median(samples["jaxgd exhaustive sweep"]),
            "first call s": firsts[name],
            "winner: learning rate": outcome["learning rate"],
            "b1": outcome["b1"],
            "its validation loss": outcome["validation loss"],
        }
    halved = outcomes["jaxgd successive halving"]
    rank = int(np.sum(grid["final"] < grid["final"][halved["winner"]])) + 1
    notes = {
        "rungs end at steps": ", ".join(str(s) for s in problem.rungs()),
        "lanes diverged (search, grid)": (
            f"{halved['lanes diverged']}, {grid['lanes diverged']}"
        ),
        "the search's winner among the grid's lanes, by validation loss": (
            f"{rank} of {len(grid['final'])}"
        ),
    }
    if optuna is not None:
        peer = outcomes["optuna, one fit per trial"]
        notes["optuna trials pruned"] = f"{peer['pruned']} of {peer['trials']}"
        # Both medians from the same interleaved rounds.
        notes["optuna ÷ successive halving, wall time, side by side"] = (
            statistics.median(samples["optuna, one fit per trial"]) / beside
        )
    extra = {"search": table, "notes": notes}
    problem_row = Problem("search", title, None, None, (), None, 0)
    return Section(problem_row, [], skipped, extra)


# Cross-validation: a ridge path, against scikit-learn

CROSS_VALIDATION = {"rows": 390, "penalties": 16, "num_steps": 2_000}
QUICK_CROSS_VALIDATION = {"rows": 100, "penalties": 4, "num_steps": 200}


def ridge_loss(params: dict, X: jax.Array, y: jax.Array, l2: jax.Array) -> jax.Array:
    """Mean squared error plus `l2 * ||W||^2` (the intercept is not penalised)."""
    return linear.mse(params, X, y) + l2 * jnp.sum(jnp.square(params["W"]))


def cross_validation_section(args: argparse.Namespace) -> Section:
    """5-fold cross-validation of a ridge path, against scikit-learn.

    jaxgd: `cross_validate` of `ridge_loss` with `loss_hyperparams={"l2":
    ...}`, 16 penalties x 5 folds as the lanes of one program, plain
    gradient descent. scikit-learn: `RidgeCV` with `cv=KFold(5)` (the same
    contiguous folds) and `alpha = n_train * l2`: `Ridge` minimises
    `||y - X w||^2 + alpha ||w||^2`, which is `n_train` times `ridge_loss`.
    The rows are a multiple of 5, so every training set has the same
    `n_train`. Both choose the penalty of the lowest mean squared error on the
    held-out folds; jaxgd's is computed from `cv.results.params`, since
    `cv.mean` is the loss `cross_validate` was given, penalty included.
    """
    setting = QUICK_CROSS_VALIDATION if args.quick else CROSS_VALIDATION
    folds, rows = 5, setting["rows"]
    X, y = auto_mpg(rows)
    n_train = rows - rows // folds
    l2 = np.logspace(-4, 0, setting["penalties"]).astype(np.float32)
    # The largest safe constant step on the most penalised lane, a little under.
    design = np.c_[X, np.ones(rows)].astype(np.float64)
    curvature = np.linalg.eigvalsh(2 / rows * design.T @ design).max()
    rate = float(1.8 / (curvature + 2 * l2.max()))
    params = linear.init(jax.random.key(1), X.shape[1], 1)
    num_steps = setting["num_steps"]
    X_j, y_j = jnp.asarray(X), jnp.asarray(y)

    def run() -> Any:
        return jaxgd.cross_validate(
            ridge_loss,
            params,
            X_j,
            y_j,
            folds=folds,
            learning_rate=rate,
            loss_hyperparams={"l2": jnp.asarray(l2)},
            num_steps=num_steps,
        )

    jax.clear_caches()
    first, cv = timed(run, args.pause)
    fold_losses = jax.jit(jax.vmap(linear.mse))
    size = rows // folds
    held_out = (
        jnp.tile(X_j.reshape(folds, size, -1), (len(l2), 1, 1)),
        jnp.tile(y_j.reshape(folds, size, -1), (len(l2), 1, 1)),
    )
    mse = np.asarray(fold_losses(cv.results.params, *held_out)).reshape(len(l2), folds)
    jaxgd_mse = mse.mean(axis=1)
    times: dict[str, list[float]] = {"jaxgd cross_validate": []}
    rows_table = {}
    skipped = []
    if sklearn is None:
        skipped.append("scikit-learn")
    else:
        from sklearn.linear_model import Ridge, RidgeCV
        from sklearn.model_selection import KFold, cross_val_score

        alphas = n_train * l2.astype(np.float64)

        def ridge_cv() -> Any:
            return RidgeCV(
                alphas=alphas, cv=KFold(folds), scoring="neg_mean_squared_error"
            ).fit(X, y.ravel())

        times["scikit-learn RidgeCV"] = []
        chosen = ridge_cv()
        sk_index = int(np.argmin(np.abs(alphas - chosen.alpha_)))
        sk_mse = np.array(
            [
                -cross_val_score(
                    Ridge(alpha=alpha),
                    X,
                    y.ravel(),
                    cv=KFold(folds),
                    scoring="neg_mean_squared_error",
                ).mean()
                for alpha in alphas
            ]
        )
    wait(run())
    for _ in range(args.repeats):
        times["jaxgd cross_validate"].append(timed(run, args.pause)[0])
        if sklearn is not None:
            times["scikit-learn RidgeCV"].append(timed(ridge_cv, args.pause)[0])
    index = int(np.argmin(jaxgd_mse))
    rows_table["jaxgd cross_validate"] = {
        "s (warm, median)": statistics.median(times["jaxgd cross_validate"]),
        "first call s": first,
        "chosen l2": float(l2[index]),
        "its CV mean squared error": float(jaxgd_mse[index]),
        "cv.best (penalty in the score)": float(l2[cv.best]),
    }
    if sklearn is not None:
        rows_table["scikit-learn RidgeCV"] = {
            "s (warm, median)": statistics.median(times["scikit-learn RidgeCV"]),
            "first call s": math.nan,
            "chosen l2": float(alphas[sk_index] / n_train),
            "its CV mean squared error": float(sk_mse[sk_index]),
            "cv.best (penalty in the score)": "—",
        }
        rows_table["largest gap in CV mean squared error, over the l2"] = {
            "s (warm, median)": math.nan,
            "first call s": math.nan,
            "chosen l2": "—",
            "its CV mean squared error": float(np.max(np.abs(jaxgd_mse - sk_mse))),
            "cv.best (penalty in the score)": "—",
        }
    title = (
        f"Ridge regression, {folds} folds x {len(l2)} values of l2 in [1e-4, 1] "
        f"(log-spaced): the Auto MPG table's first {rows} rows (shuffled once, "
        f"standardized), plain gradient descent at rate {rate:.3g} for "
        f"{num_steps:,} steps, against scikit-learn's RidgeCV(alphas = "
        f"{n_train} * l2, cv=KFold({folds})); warm calls, medians of "
        f"{args.repeats} interleaved."
    )
    problem = Problem("cross-validation", title, None, None, (), None, 0)
    return Section(problem, [], skipped, {"cross-validation": rows_table})


def search_targets(sections: dict[str, Section]) -> list[tuple[str, str, str, bool]]:
    rows = []
    search = sections.get("search")
    if search is not None:
        table = search.extra["search"]
        halving = table["jaxgd successive halving"]
        for what, column, goal in (
            ("lane-steps", "÷ exhaustive lane-steps", SEARCH_GOALS["lane-steps"]),
            ("wall time", "÷ exhaustive s", SEARCH_GOALS["wall"]),
        ):
            value = halving[column]
            rows.append(
                (
                    f"search: successive halving ÷ exhaustive sweep, {what}",
                    fmt(value),
                    f"≤ {goal:g}",
                    value <= goal,
                )
            )
        peer = table.get("optuna, one fit per trial")
        if peer is not None:
            value = search.extra["notes"][
                "optuna ÷ successive halving, wall time, side by side"
            ]
            goal = SEARCH_GOALS["optuna"]
            rows.append(
                (
                    "search: optuna ÷ successive halving, wall time",
                    fmt(value),
                    f"≥ {goal:g}",
                    value >= goal,
                )
            )
    cv = sections.get("cross-validation")
    if cv is not None:
        table = cv.extra["cross-validation"]
        peer = table.get("scikit-learn RidgeCV")
        if peer is not None:
            mine = table["jaxgd cross_validate"]
            rows.append(
                (
                    "cross-validation: the same l2 chosen as scikit-learn",
                    f"{mine['chosen l2']:.3g} and {peer['chosen l2']:.3g}",
                    "equal",
                    mine["chosen l2"] == peer["chosen l2"],
                )
            )
    return rows


# Checkpoints: the same run without them, with one a minute, one a second.

CHECKPOINT = {"size": (10_000, 20), "num_steps": 30_000, "batch_size": 100}
QUICK_CHECKPOINT = {"size": (500, 5), "num_steps": 3_000, "batch_size": 50}
CHECKPOINT_GOAL = 1.02  # one checkpoint a minute costs at most 2%
CHECKPOINT_EVERY = {"without": None, "one a minute": 60.0, "one a second": 1.0}


def checkpoint_section(args: argparse.Namespace) -> Section:
    """The cost of checkpoints: one fit (Adam, mini-batches) three ways.

    Without checkpoints, with `checkpoint_every=60` and with
    `checkpoint_every=1`, the three interleaved, each repeat after a pause;
    medians of the wall time and of the process's CPU time. Each result is
    first checked to equal the run without checkpoints bit for bit. A run
    shorter than a minute writes its checkpoint once, at its end, besides
    asking the host about ten times a second; `one write s` is what a write
    adds (from the run with one a second), so that a write a minute adds
    `one write s / 60` of the time.
    """
    setting = QUICK_CHECKPOINT if args.quick else CHECKPOINT
    (N, n), num_steps = setting["size"], setting["num_steps"]
    X, y = standardised_regression(N, n, 1)
    params = linear.init(jax.random.key(1), n, 1)
    folder = tempfile.mkdtemp(prefix="jaxgd-bench-")
    path = os.path.join(folder, "run.npz")

    def call(every: float | None) -> Callable[[], Any]:
        options = {}
        if every is not None:
            options = {"checkpoint": path, "checkpoint_every": every}
        return lambda: jaxgd.fit(
            linear.mse,
            params,
            X,
            y,
            optimizer=optax.adam,
            learning_rate=1e-3,
            num_steps=num_steps,
            batch_size=setting["batch_size"],
            key=jax.random.key(0),
            **options,
        )

    runs = {name: call(every) for name, every in CHECKPOINT_EVERY.items()}
    print("... checkpoint", file=sys.stderr, flush=True)
    want = jax.tree.leaves(wait(runs["without"]()))
    for name, run in runs.items():
        got = jax.tree.leaves(wait(run()))
        if not all(
            np.array_equal(a, b, equal_nan=True) for a, b in zip(got, want, strict=True)
        ):
            raise MismatchError(f"checkpoint, {name}: differs from the run without")
    wall: dict[str, list[float]] = {name: [] for name in runs}
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(max(3, args.repeats)):
        for name, run in runs.items():
            start_cpu = time.process_time()
            wall[name].append(timed(run, args.pause)[0])
            cpu[name].append(time.process_time() - start_cpu)
    os.remove(path)
    os.rmdir(folder)
    run_s = {name: statistics.median(v) for name, v in wall.items()}
    cpu_s = {name: statistics.median(v) for name, v in cpu.items()}
    base = "without"
    table = {
        name: {
            "checkpoint_every s": "—" if every is None else every,
            "run s": run_s[name],
            "÷ without": run_s[name] / run_s[base],
            "CPU s": cpu_s[name],
            "CPU ÷ without": cpu_s[name] / cpu_s[base],
        }
        for name, every in CHECKPOINT_EVERY.items()
    }
    writes = max(1.0, math.floor(run_s["one a second"]))
    write_s = max(0.0, run_s["one a second"] - run_s["one a minute"]) / writes
    title = (
        f"Checkpoints: a fit of linear regression N={N:,}, n={n}, Adam, "
        f"batch_size={setting['batch_size']}, {num_steps:,} steps, without "
        "checkpoints and with them; medians, interleaved."
    )
    problem = Problem("checkpoint", title, None, None, (), None, 0)
    extra = {"times": table, "one write": {"s": write_s, "÷ a minute": write_s / 60}}
    return Section(problem, [], [], extra)


FILE_WORKLOADS = {
    "csv-parse": csv_parse_section,
    "out-of-core": out_of_core_section,
    "compile": compile_section,
    "search": search_section,
    "cross-validation": cross_validation_section,
    "checkpoint": checkpoint_section,
}


def environment() -> dict[str, Any]:
    def version(name: str) -> str | None:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return None

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            cpu = next(
                line.split(":", 1)[1].strip() for line in info if "model name" in line
            )
    except (OSError, StopIteration):
        pass
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"
        ),
        "python": platform.python_version(),
        "versions": {
            name: version(name)
            for name in (
                "jaxgd",
                "jax",
                "jaxlib",
                "optax",
                "numpy",
                *PEERS,
                *SEARCH_PEERS,
            )
        },
        "backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads() if torch is not None else None,
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        # Flags that change what XLA compiles, e.g. XLA_FLAGS: a run under them
        # is not comparable with one without.
        "flags": {
            name: value
            for name, value in sorted(os.environ.items())
            if name == "XLA_FLAGS" or name.startswith("JAX_")
        },
    }


def fmt(x: float, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    if x == 0:
        return "0"
    if abs(x) >= 1000 or abs(x) < 1e-3:
        return f"{x:.{digits - 1}e}"
    return f"{x:.{digits}g}"


def section_table(section: Section, peak: dict | None) -> list[str]:
    problem = section.problem
    hand = next(
        (t for t in section.timings if t.name == REFERENCE and not t.error), None
    )
    flops = problem.flops_per_step if peak else None
    header = [
        "implementation",
        "steps timed",
        "s / step",
        "× hand scan",
        "run s",
        "first call s",
        "compile s",
    ]
    if flops:
        header += ["GFLOP/s", "% of jnp.dot peak"]
    lines = [f"### {problem.name}", "", problem.title, ""]
    if not section.timings:  # the file workloads: their tables only
        for key, value in section.extra.items():
            lines += [f"{key}:", "", *extra_table(value), ""]
        if section.skipped:
            lines += [f"Skipped, not installed: {', '.join(section.skipped)}.", ""]
        return lines
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for t in section.timings:
        if t.error:
            cells = [t.name, "—", f"check failed: {t.error}"] + ["—"] * (
                len(header) - 3
            )
        else:
            ratio = t.per_step_s / hand.per_step_s if hand else math.nan
            cells = [
                t.name,
                f"{t.steps:,}",
                fmt(t.per_step_s),
                fmt(ratio),
                fmt(t.run_s),
                fmt(t.first_call_s),
                fmt(t.compile_s),
            ]
            if flops:
                rate = flops / t.per_step_s / 1e9
                cells += [fmt(rate), fmt(100 * rate / peak["jnp.dot GFLOP/s"])]
        lines.append("| " + " | ".join(cells) + " |")
    if section.skipped:
        lines += ["", f"Skipped, not installed: {', '.join(section.skipped)}."]
    for key, value in section.extra.items():
        lines += ["", f"{key}:", "", *extra_table(value)]
    return [*lines, ""]


def extra_table(rows: dict[Any, Any]) -> list[str]:
    """A dict as a markdown table: one row per key, one column per inner key."""
    if not all(isinstance(row, dict) for row in rows.values()):
        rows = {key: {"value": value} for key, value in rows.items()}
    columns = list(next(iter(rows.values())))
    lines = ["| | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    for key, row in rows.items():
        cells = [
            fmt(row[c]) if isinstance(row[c], float) else str(row[c]) for c in columns
        ]
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    return lines


def find(sections: dict[str, Section], workload: str, name: str) -> Timing | None:
    section = sections.get(workload)
    if section is None:
        return None
    return next((t for t in section.timings if t.name == name and not t.error), None)


def targets(sections: dict[str, Section]) -> list[tuple[str, str, str, bool | None]]:
    """(target, measured, goal, met) for the goals of the performance issue."""
    rows = []

    def ratio(a: Timing | None, b: Timing | None, attr: str = "per_step_s") -> float:
        if a is None or b is None:
            return math.nan
        return getattr(a, attr) / getattr(b, attr)

    def compile_ratio(fit: Timing, hand: Timing) -> tuple[str, bool | None]:
        """The compile-time ratio, or why there is none: on a busy machine the
        hand scan's first call can come out no slower than its median run."""
        if not hand.compile_s > 0:
            return "n/a: the hand scan's compile time measured 0", None
        value = fit.compile_s / hand.compile_s
        return fmt(value), value <= 1.5

    def add(target: str, value: float, goal: str, met: bool) -> None:
        if not math.isnan(value):
            rows.append((target, fmt(value), goal, met))

    for size in LINREG_SIZES:
        name = f"linreg-{size}"
        fit, hand = find(sections, name, "jaxgd"), find(sections, name, REFERENCE)
        value = ratio(fit, hand)
        add(f"{name}: jaxgd s/step ÷ hand scan", value, "≤ 1.10", value <= 1.10)
        if fit is not None and hand is not None:
            measured, met = compile_ratio(fit, hand)
            rows.append((f"{name}: jaxgd compile ÷ hand scan", measured, "≤ 1.5", met))
    value = ratio(
        find(sections, "linreg-tiny", "python loop"),
        find(sections, "linreg-tiny", "jaxgd"),
    )
    add("linreg-tiny: python loop ÷ jaxgd", value, "≥ 50", value >= 50)
    sweep = sections.get("sweep")
    if sweep is not None:
        compiles = sweep.extra["compilations"]["jaxgd sweep"]["loops compiled"]
        add("sweep: compilations of the loop", float(compiles), "1", compiles == 1)
        value = ratio(
            find(sections, "sweep", "jaxgd sweep"),
            find(sections, "sweep", "jaxgd fit, one per rate"),
            "run_s",
        )
        add("sweep: sweep ÷ one fit per rate", value, "≤ 0.5", value <= 0.5)
        for name in ("jaxgd sweep", "jaxgd sweep, stats"):
            value = ratio(
                find(sections, "sweep", name),
                find(sections, "sweep", "hand scan, rates as columns"),
                "run_s",
            )
            add(f"sweep: {name} ÷ rates as columns", value, "≈ 1 (gap)", value <= 1.1)
    large = sections.get("linreg-large")
    if large is not None:
        for steps, row in large.extra.get("fast path scaling", {}).items():
            value = row["speed-up"]
            add(
                f"linreg-large: hand scan ÷ fast path, {steps}",
                value,
                "≥ 15",
                value >= 15,
            )
    value = ratio(
        find(sections, "logistic", "torch"), find(sections, "logistic", "jaxgd")
    )
    add("logistic: torch ÷ jaxgd", value, "≥ 50", value >= 50)
    stops = sections.get("early-exit")
    if stops is not None:
        for kind in ("fit", "sweep"):
            budget, exact = (
                t for t in stops.timings if t.name.startswith(f"jaxgd {kind},")
            )
            value = ratio(budget, exact, "run_s") if not budget.error else math.nan
            add(
                f"early-exit: {kind} on the budget ÷ exactly the steps taken",
                value,
                "≤ 1.3",
                value <= 1.3,
            )
    for workload, section in sections.items():
        mine = "jaxgd sweep" if workload == "sweep" else "jaxgd"
        for peer in (
            t for t in section.timings if t.name.startswith(PEERS) and not t.error
        ):
            value = ratio(find(sections, workload, mine), peer)
            add(f"{workload}: {mine} ÷ {peer.name}", value, "≤ 1", value <= 1)
    return rows + file_targets(sections) + search_targets(sections)


def report(sections: dict[str, Section], peak: dict | None, env: dict) -> str:
    versions = ", ".join(f"{k} {v}" for k, v in env["versions"].items() if v)
    missing = [k for k in (*PEERS, *SEARCH_PEERS) if not env["versions"].get(k)]
    lines = [
        "# jaxgd benchmarks",
        "",
        f"{env['date']} — {env['backend']} ({', '.join(env['devices'])}), "
        f"{env['cpu']}, {env['cpu_count']} cores, load average at the start "
        f"{env['load_average']}; Python {env['python']}; {versions}."
        + (f" Not installed: {', '.join(missing)}." if missing else "")
        + "".join(f" {name}={value!r}." for name, value in env["flags"].items()),
        "",
        "Times are medians of whole runs; `s / step` divides by the steps timed "
        "(loops that dispatch from Python run fewer steps); `× hand scan` is the "
        "ratio of `s / step` to the hand-written `jax.jit(lax.scan(...))`; "
        "`first call s` (the median of several from clear caches) includes tracing "
        "and compiling, `compile s` is the first call less the median run. Every row's "
        "result was checked against the hand scan's before it was timed.",
        "",
    ]
    if peak:
        lines += [
            f"Matmul peak ({peak['size']}² float32): jnp.dot "
            f"{fmt(peak['jnp.dot GFLOP/s'])} GFLOP/s, numpy "
            f"{fmt(peak['numpy GFLOP/s'])} GFLOP/s.",
            "",
        ]
    lines += [
        "## Targets",
        "",
        "| target | measured | goal | met |",
        "|---|---|---|---|",
    ]
    for target, value, goal, met in targets(sections):
        mark = "—" if met is None else ("yes" if met else "**no**")
        lines.append(f"| {target} | {value} | {goal} | {mark} |")
    lines += ["", "## Results", ""]
    for section in sections.values():
        lines += section_table(
            section, peak if section.problem.flops_per_step else None
        )
    return "\n".join(lines)


WORKLOADS = (
    "linreg-tiny",
    "linreg-small",
    "linreg-medium",
    "linreg-large",
    "sweep",
    "logistic",
    "multistart",
    "early-exit",
    "csv-parse",
    "out-of-core",
    "compile",
    "search",
    "cross-validation",
    "checkpoint",
)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repeat")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs (5)")
    parser.add_argument(
        "--loop-steps",
        type=int,
        default=None,
        help="most steps timed for loops that dispatch from Python (20000)",
    )
    parser.add_argument(
        "--first-calls",
        type=int,
        default=None,
        help="first calls timed from clear caches, for the compile time (3)",
    )
    parser.add_argument(
        "--max-steps",
        type=int,
        default=None,
        help="cap every workload's step count, e.g. where a step is slow",
    )
    parser.add_argument(
        "--pause",
        type=float,
        default=None,
        help="seconds of rest before each timed run (0.1; 0 with --quick)",
    )
    parser.add_argument(
        "--only", default=",".join(WORKLOADS), help="workloads, comma-separated"
    )
    parser.add_argument("--markdown", help="also write the report to this file")
    parser.add_argument("--json", help="write the raw results to this file")
    args = parser.parse_args(argv)
    args.repeats = args.repeats or (1 if args.quick else 5)
    args.loop_steps = args.loop_steps or (100 if args.quick else 20_000)
    args.first_calls = args.first_calls or (1 if args.quick else 3)
    if args.pause is None:
        args.pause = 0.0 if args.quick else 0.1
    args.only = [w.strip() for w in args.only.split(",") if w.strip()]
    unknown = sorted(set(args.only) - set(WORKLOADS))
    if unknown:
        parser.error(f"unknown workloads {unknown}; choose from {', '.join(WORKLOADS)}")
    return args


def capped(problem: Problem, max_steps: int | None) -> Problem:
    if max_steps is None or problem.num_steps <= max_steps:
        return problem
    title = f"{problem.title}; capped at {max_steps:,} steps"
    return dataclasses.replace(problem, num_steps=max_steps, title=title)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    env = environment()
    sections: dict[str, Section] = {}
    peak = None
    for workload in args.only:
        if workload in FILE_WORKLOADS:
            section = FILE_WORKLOADS[workload](args)
            sections[workload] = section
            print("\n".join(section_table(section, None)), file=sys.stderr, flush=True)
            continue
        if workload.startswith("linreg-"):
            problem = linreg_problem(workload.removeprefix("linreg-"), args.quick)
            impls = LINREG_IMPLS
        elif workload == "sweep":
            problem, impls = sweep_problem(args.quick), SWEEP_IMPLS
        elif workload == "logistic":
            problem, impls = logistic_problem(args.quick), SINGLE_IMPLS
        elif workload == "multistart":
            problem, impls = multistart_problem(args.quick), MULTISTART_IMPLS
        else:
            problem, impls = early_exit_problem(args.quick), None
        problem = capped(problem, args.max_steps)
        if impls is None:
            print(f"... {problem.name}", file=sys.stderr, flush=True)
            section = early_exit(problem, args, args.quick)
        else:
            section = run_section(problem, impls, args)
        if workload == "linreg-large":
            peak = matmul_peak(args.repeats)
            section.extra["fast path scaling"] = fast_path_scaling(problem, args)
        elif workload == "sweep":
            section.extra["compilations"] = sweep_compilations(problem)
        sections[workload] = section
        # Each table as soon as it is measured, should a long run be cut short.
        table = section_table(section, peak if problem.flops_per_step else None)
        print("\n".join(table), file=sys.stderr, flush=True)
    text = report(sections, peak, env)
    print(text)
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as out:
            out.write(text + "\n")
    if args.json:
        raw = {
            "environment": env,
            "matmul_peak": peak,
            "targets": targets(sections),
            "workloads": {
                name: {
                    "title": s.problem.title,
                    "timings": [
                        t._asdict() | {"per_step_s": t.per_step_s} for t in s.timings
                    ],
                    "skipped": s.skipped,
                    **s.extra,
                }
                for name, s in sections.items()
            },
        }
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(raw, out, indent=1, default=str)
    failed = [t.name for s in sections.values() for t in s.timings if t.error]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
