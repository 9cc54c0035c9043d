r"""One dimension: a ball rolls down a curve by :math:`x \leftarrow x - \eta\,dy/dx`.

On :math:`y = (x - 2)^2 + 1` the slope :math:`dy/dx = 2(x - 2)` is negative left
of the minimum and positive right of it, so a step against the slope moves the
left ball right and the right ball left: both roll to :math:`x = 2`. The two
balls run together with `jaxgd.multistart`, and `jaxgd.plot.path_1d` draws them
on the curve (``one_dimension.png``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import jax
import jax.numpy as jnp

import jaxgd
from jaxgd import plot

MINIMISER = 2.0


def curve(x: jax.Array) -> jax.Array:
    """The curve the balls roll on, lowest at x = 2."""
    return (x - MINIMISER) ** 2 + 1.0


def main(
    num_steps: int = 60,
    out: str | Path = "figures",
    learning_rate: float = 0.1,
    starts: tuple[float, ...] = (-1.0, 5.0),
) -> dict:
    r"""Rolls one ball from each start and draws their paths.

    Args:
        num_steps: updates per ball.
        out: folder for the figure, created if missing.
        learning_rate: the step size :math:`\eta`.
        starts: where the balls start.

    Returns:
        The numbers printed: each ball's start, slope there, first move, end
        and final loss.
    """
    start = jnp.asarray(starts, jnp.float32)
    result = jaxgd.multistart(
        curve,
        start,
        learning_rate=learning_rate,
        num_steps=num_steps,
        record_params=True,
    )
    slopes = jax.vmap(jax.grad(curve))(start)
    moves = result.trajectory[:, 1] - result.trajectory[:, 0]

    print(f"y = (x - 2)^2 + 1, learning rate {learning_rate}, {num_steps} steps")
    for x0, slope, move, end in zip(starts, slopes, moves, result.params, strict=True):
        way = "right" if move > 0 else "left"
        print(
            f"  ball at x = {x0:+.2f}: slope {float(slope):+.2f}, first step "
            f"{float(move):+.3f} ({way}), ends at x = {float(end):.6f}"
        )

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plot.path_1d(curve, result).savefig(out / "one_dimension.png")
    return {
        "minimiser": MINIMISER,
        "starts": list(starts),
        "slopes": slopes.tolist(),
        "first_moves": moves.tolist(),
        "ends": result.params.tolist(),
        "final_losses": result.final_loss.tolist(),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="./figures", help="folder for the figures")
    parser.add_argument("--steps", type=int, default=60, help="updates per ball")
    args = parser.parse_args()
    main(num_steps=args.steps, out=args.out)
