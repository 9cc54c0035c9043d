r"""Global and local minima: where a ball ends depends on where it starts.

:math:`f(x) = x^4 - 3x^2 + x` has two valleys: the global minimum near
:math:`x = -1.30` and a shallower local one near :math:`x = 1.13`, split by a
hump near :math:`x = 0.17`. Eleven balls start across :math:`[-2.5, 2.5]` in one
`jaxgd.multistart` call; each rolls into the valley on its side of the hump, so
the balls on the right get stuck in the local minimum. `jaxgd.best` picks the
ball with the lowest final value, which sits in the global minimum. The figure
``local_minima.png`` shows every ball's path on the curve.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import jax
import jax.numpy as jnp

import jaxgd
from jaxgd import plot


def curve(x: jax.Array) -> jax.Array:
    """Two valleys: global minimum near -1.30, local minimum near 1.13."""
    return x**4 - 3.0 * x**2 + x


def main(
    num_steps: int = 300,
    out: str | Path = "figures",
    learning_rate: float = 0.01,
    num_starts: int = 11,
) -> dict:
    """Rolls balls from evenly spaced starts and finds the best of them.

    Args:
        num_steps: updates per ball.
        out: folder for the figure, created if missing.
        learning_rate: the step size.
        num_starts: how many balls, spaced evenly over [-2.5, 2.5].

    Returns:
        The numbers printed: each ball's start, end and final value, and the
        index, start, end and value of the best ball.
    """
    starts = jnp.linspace(-2.5, 2.5, num_starts)
    result = jaxgd.multistart(
        curve,
        starts,
        learning_rate=learning_rate,
        num_steps=num_steps,
        record_params=True,
    )
    index, best = jaxgd.best(result)

    print(f"f(x) = x^4 - 3x^2 + x, {num_starts} balls, {num_steps} steps")
    for x0, end, value in zip(starts, result.params, result.final_loss, strict=True):
        valley = "global" if abs(float(end - best.params)) < 1e-2 else "local"
        print(
            f"  start {float(x0):+.2f} -> ends at {float(end):+.4f}, "
            f"f = {float(value):+.4f} ({valley})"
        )
    print(
        f"best: ball {index} from {float(starts[index]):+.2f} ends at "
        f"x = {float(best.params):+.6f} with f = {float(best.final_loss):+.6f}"
    )

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plot.path_1d(curve, result, best=index).savefig(out / "local_minima.png")
    return {
        "starts": starts.tolist(),
        "ends": result.params.tolist(),
        "final_losses": result.final_loss.tolist(),
        "best_index": index,
        "best_start": float(starts[index]),
        "best_end": float(best.params),
        "best_loss": float(best.final_loss),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="./figures", help="folder for the figures")
    parser.add_argument("--steps", type=int, default=300, help="updates per ball")
    args = parser.parse_args()
    main(num_steps=args.steps, out=args.out)
