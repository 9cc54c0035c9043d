r"""The learning rate: too small crawls, too large diverges, and how to fix it.

On the standardised Auto MPG table, one `jaxgd.sweep` call trains the linear
layer with rates from a thousandth of `jaxgd.linear.max_learning_rate(X)` to
three times it. That bound, :math:`2/\lambda_{max}` of the Hessian of the mean
squared error, is exact: every rate below it converges and every rate above it
diverges, which the sweep's `diverged` flags show. ``learning_rate_sweep.png``
plots the final loss's gap to the best loss against the rate with the bound
marked, and ``learning_rate_losses.png`` the loss curves of all rates,
coloured by rate, with the diverged ones marked where they stopped.

Then the chapter's advice, without knowing the bound: start from a rate that
diverges and either halve it, or cut it to 10%, until the loss goes down.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import jax
import jax.numpy as jnp

import jaxgd
from jaxgd import datasets, linear, plot

# Rates of the sweep, as multiples of linear.max_learning_rate(X).
MULTIPLES = (0.001, 0.01, 0.1, 0.5, 0.95, 1.5, 3.0)


def main(
    num_steps: int = 300,
    out: str | Path = "figures",
    first_guess: float = 1.0,
    seed: int = 0,
) -> dict:
    """Sweeps the learning rate, then fixes a diverging one by the chapter's advice.

    Args:
        num_steps: updates per run.
        out: folder for the figures, created if missing.
        first_guess: the diverging rate the advice starts from.
        seed: key of the random initial weights.

    Returns:
        The numbers printed: the bound, the swept rates with their final losses,
        `diverged` flags and verdicts, and each try of the two fixes as
        `(rate, works)`; and the two figures, under "figures".
    """
    data = datasets.load_auto_mpg()
    X = jnp.asarray(data.X, jnp.float32)
    y = jnp.asarray(data.y, jnp.float32)
    X = (X - X.mean(0, keepdims=True)) / X.std(0, keepdims=True)
    y = (y - y.mean(0, keepdims=True)) / y.std(0, keepdims=True)
    params = linear.init(jax.random.key(seed), X.shape[1], y.shape[1])
    best_loss = float(linear.mse(linear.solve(X, y), X, y))
    bound = linear.max_learning_rate(X)

    rates = bound * jnp.asarray(MULTIPLES)
    swept = jaxgd.sweep(
        linear.mse, params, X, y, learning_rates=rates, num_steps=num_steps
    )
    verdicts = [
        _verdict(bool(diverged), float(first), float(final), best_loss)
        for diverged, first, final in zip(
            swept.diverged, swept.losses[:, 0], swept.final_loss, strict=True
        )
    ]
    print(f"max_learning_rate(X) = {bound:.4f}; {num_steps} steps per rate")
    print(f"  {'rate':>10}{'x max':>8}{'final loss':>14}  diverged  verdict")
    for rate, multiple, loss, diverged, verdict in zip(
        rates, MULTIPLES, swept.final_loss, swept.diverged, verdicts, strict=True
    ):
        print(
            f"  {float(rate):>10.5f}{multiple:>8g}{float(loss):>14.6g}  "
            f"{bool(diverged)!s:<8}  {verdict}"
        )

    tries = {}
    for name, factor in (("halve", 0.5), ("cut to 10%", 0.1)):
        tries[name] = _fix(params, X, y, first_guess, factor, num_steps)
        shown = ", ".join(
            f"{rate:.4g} {'works' if works else 'diverges'}"
            for rate, works in tries[name]
        )
        print(f"{name}: {shown}")

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    # Against the gap to the best loss, on log axes: the rates that converge
    # differ by decades there, and the diverged ones never set the scale.
    sweep_figure = plot.lr_sweep(
        rates, swept, max_learning_rate=bound, optimum=best_loss
    )
    sweep_figure.savefig(out / "learning_rate_sweep.png")
    losses_figure = plot.loss_curve(swept, learning_rates=rates, optimum=best_loss)
    losses_figure.savefig(out / "learning_rate_losses.png")
    return {
        "figures": {"sweep": sweep_figure, "losses": losses_figure},
        "max_learning_rate": bound,
        "learning_rates": rates.tolist(),
        "final_losses": swept.final_loss.tolist(),
        "diverged": swept.diverged.tolist(),
        "verdicts": verdicts,
        "halve": tries["halve"],
        "cut to 10%": tries["cut to 10%"],
    }


def _works(diverged: bool, first: float, final: float) -> bool:
    """A run works when it did not diverge and its loss went down."""
    return not diverged and final < first


def _verdict(diverged: bool, first: float, final: float, best_loss: float) -> str:
    if not _works(diverged, first, final):
        return "diverges"
    # Still more than 1% of the way from the best loss: the rate crawls.
    return "crawls" if final - best_loss > 0.01 * (first - best_loss) else "good"


def _fix(
    params: dict,
    X: jax.Array,
    y: jax.Array,
    rate: float,
    factor: float,
    num_steps: int,
    max_tries: int = 20,
) -> list[tuple[float, bool]]:
    """Shrinks `rate` by `factor` until a run works; returns each try."""
    tries = []
    for _ in range(max_tries):
        result = jaxgd.fit(
            linear.mse, params, X, y, learning_rate=rate, num_steps=num_steps
        )
        works = _works(
            bool(result.diverged), float(result.losses[0]), float(result.final_loss)
        )
        tries.append((rate, works))
        if works:
            break
        rate *= factor
    return tries


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="./figures", help="folder for the figures")
    parser.add_argument("--steps", type=int, default=300, help="updates per run")
    args = parser.parse_args()
    main(num_steps=args.steps, out=args.out)
