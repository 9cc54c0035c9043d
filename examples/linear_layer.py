r"""The weights of a linear layer, learned by gradient descent on a real table.

A linear layer :math:`f(x) = x W + b` with :math:`W \in \mathbb{R}^{n \times m}`
and :math:`b \in \mathbb{R}^m` predicts a car's fuel consumption from six
measurements of the embedded Auto MPG table (392 cars). Gradient descent
updates :math:`W \leftarrow W - \eta\,\partial L/\partial W` and :math:`b
\leftarrow b - \eta\,\partial L/\partial b` on the mean squared error
`jaxgd.linear.mse`, a search over every entry of W and b at once. The features
and the target are standardised first (zero mean, unit variance), so one rate
suits every weight. The learned weights are compared with the closed-form least
squares solution `jaxgd.linear.solve`; ``linear_layer.png`` shows the loss
curve falling to the closed-form loss.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import jax
import jax.numpy as jnp

import jaxgd
from jaxgd import datasets, linear, plot


def main(
    num_steps: int = 1000,
    out: str | Path = "figures",
    rate_fraction: float = 0.9,
    seed: int = 0,
) -> dict:
    """Fits the linear layer by gradient descent and checks it against `solve`.

    Args:
        num_steps: updates.
        out: folder for the figure, created if missing.
        rate_fraction: the learning rate as a fraction of
            `linear.max_learning_rate(X)`.
        seed: key of the random initial weights.

    Returns:
        The numbers printed: the rate, the number of weights searched, the
        learned and the closed-form W and b, both losses and the largest
        difference between the two sets of weights.
    """
    data = datasets.load_auto_mpg()
    X = jnp.asarray(data.X, jnp.float32)
    y = jnp.asarray(data.y, jnp.float32)
    X = (X - X.mean(0, keepdims=True)) / X.std(0, keepdims=True)
    y = (y - y.mean(0, keepdims=True)) / y.std(0, keepdims=True)

    params = linear.init(jax.random.key(seed), X.shape[1], y.shape[1])
    learning_rate = rate_fraction * linear.max_learning_rate(X)
    result = jaxgd.fit(
        linear.mse, params, X, y, learning_rate=learning_rate, num_steps=num_steps
    )
    closed = linear.solve(X, y)
    closed_loss = linear.mse(closed, X, y)
    gap = max(
        float(jnp.max(jnp.abs(result.params[name] - closed[name])))
        for name in ("W", "b")
    )
    dimensions = sum(leaf.size for leaf in jax.tree.leaves(params))

    print(
        f"Auto MPG, {X.shape[0]} cars: a search over {dimensions} weights, "
        f"learning rate {learning_rate:.4f}, {num_steps} steps"
    )
    rows = [
        (f"W[{name}]", w, w_closed)
        for name, w, w_closed in zip(
            data.feature_names, result.params["W"][:, 0], closed["W"][:, 0], strict=True
        )
    ]
    rows.append(("b", result.params["b"][0], closed["b"][0]))
    print(f"  {'weight':<18}{'gradient descent':>18}{'linear.solve':>14}")
    for name, w, w_closed in rows:
        print(f"  {name:<18}{float(w):>18.5f}{float(w_closed):>14.5f}")
    print(
        f"  mse {float(result.final_loss):.6f} (closed form {float(closed_loss):.6f}),"
        f" largest weight difference {gap:.2e}"
    )

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    fig = plot.loss_curve(result, labels=["gradient descent"])
    ax = fig.axes[0]
    ax.axhline(float(closed_loss), color="0.4", linestyle="--", label="linear.solve")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    fig.savefig(out / "linear_layer.png")
    return {
        "learning_rate": learning_rate,
        "dimensions": dimensions,
        "W": result.params["W"].tolist(),
        "b": result.params["b"].tolist(),
        "W_closed_form": closed["W"].tolist(),
        "b_closed_form": closed["b"].tolist(),
        "final_loss": float(result.final_loss),
        "closed_form_loss": float(closed_loss),
        "max_weight_difference": gap,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="./figures", help="folder for the figures")
    parser.add_argument("--steps", type=int, default=1000, help="updates")
    args = parser.parse_args()
    main(num_steps=args.steps, out=args.out)
