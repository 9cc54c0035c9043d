r"""Two dimensions: the ball rolls against the gradient arrows of a surface.

On the elongated bowl :math:`f(x) = (x_1 - 1)^2 + 10 (x_2 + 0.5)^2` the
gradient is :math:`\nabla f = [\partial f/\partial x_1, \partial f/\partial x_2]
= [2(x_1 - 1), 20(x_2 + 0.5)]`, and every step is :math:`x \leftarrow x - \eta
\nabla f(x)`. The bowl is ten times steeper across than along, so with a rate
just under the limit :math:`2/20` the ball zig-zags across the valley while it
creeps along it to the minimum :math:`(1, -0.5)`. The figure
``two_dimensions.png`` shows the contours, the arrows of :math:`-\nabla f` and
the path on top.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import jax
import jax.numpy as jnp

import jaxgd
from jaxgd import plot

MINIMISER = (1.0, -0.5)


def bowl(x: jax.Array) -> jax.Array:
    """An elongated quadratic bowl in x = (x1, x2), lowest at (1, -0.5)."""
    return (x[0] - MINIMISER[0]) ** 2 + 10.0 * (x[1] - MINIMISER[1]) ** 2


def main(
    num_steps: int = 60,
    out: str | Path = "figures",
    learning_rate: float = 0.09,
    start: tuple[float, float] = (-2.0, 1.5),
    shown: int = 3,
) -> dict:
    r"""Rolls a ball down the bowl and reads the gradient of each step back.

    Args:
        num_steps: updates.
        out: folder for the figure, created if missing.
        learning_rate: the step size :math:`\eta`.
        start: where the ball starts.
        shown: how many steps to print.

    Returns:
        The numbers printed: the start, the gradient there by `jax.grad`, the
        first `shown` points and the gradients the steps between them used,
        :math:`(x_t - x_{t+1}) / \eta`, the end and the minimiser.
    """
    result = jaxgd.fit(
        bowl,
        jnp.asarray(start, jnp.float32),
        learning_rate=learning_rate,
        num_steps=num_steps,
        record_params=True,
    )
    shown = min(shown, num_steps)
    points = result.trajectory[: shown + 1]
    used = (points[:-1] - points[1:]) / learning_rate
    gradient = jax.grad(bowl)(jnp.asarray(start, jnp.float32))

    print(f"f(x) = (x1 - 1)^2 + 10 (x2 + 0.5)^2, learning rate {learning_rate}")
    print(f"  gradient at the start {_pair(start)}: {_pair(gradient)}")
    for t in range(shown):
        print(
            f"  step {t}: x = {_pair(points[t])}, gradient {_pair(used[t])}, "
            f"moves to {_pair(points[t + 1])}"
        )
    print(f"  after {num_steps} steps: x = {_pair(result.params)}")

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plot.path_2d(bowl, result).savefig(out / "two_dimensions.png")
    return {
        "start": list(start),
        "gradient_at_start": gradient.tolist(),
        "points": points.tolist(),
        "step_gradients": used.tolist(),
        "end": result.params.tolist(),
        "minimiser": list(MINIMISER),
    }


def _pair(x: jax.Array | tuple[float, float]) -> str:
    return "({:+.4f}, {:+.4f})".format(*(float(v) for v in x))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="./figures", help="folder for the figures")
    parser.add_argument("--steps", type=int, default=60, help="updates")
    args = parser.parse_args()
    main(num_steps=args.steps, out=args.out)
