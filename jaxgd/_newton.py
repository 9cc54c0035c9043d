r"""Exact logistic regression: Newton's method (IRLS) in float64, on the host.

For $A = [X, 1]$, labels $y \in [0, 1]$ and $p =
\sigma(A \theta)$, the mean binary cross-entropy has gradient
$A^T (p - y) / N$ and Hessian $A^T \mathrm{diag}(p (1 - p)) A /
N$. Each Newton step solves with that Hessian (iteratively reweighted least
squares) and halves the step until the loss decreases, which converges from
any start whenever a finite minimiser exists.

None exists when the classes are linearly separable: some $\theta$
puts every row on the side of its label, and scaling it up drives the loss
to 0 without reaching it. Such a $\theta$ is a certificate, and the
iterates themselves find it: at a minimiser some row lies on the wrong side
(or every logit is 0), so iterates that classify every row correctly, or
that never settle, prove the data separable.
"""

from __future__ import annotations

import numpy as np

# The answer: every component of the gradient in the unit-spread columns
# below this, a few hundred times float64's rounding.
_TOLERANCE = 1e-11
_MAX_ITERATIONS = 100
_MAX_HALVINGS = 60
# Rows within this fraction of the largest logit of the wrong side count as on
# the dividing hyperplane, once some logit is this large (the bce of a row at
# logit 20 is 2e-9: the weights were growing without bound).
_SLACK = 1e-6
_SATURATED = 20.0


class SeparableError(ValueError):
    """The classes are linearly separable: no finite minimiser exists."""


def _loss(logits: np.ndarray, y: np.ndarray) -> float:
    """Mean of log(1 + e^z) - y z, without overflow."""
    softplus = np.maximum(logits, 0) + np.log1p(np.exp(-np.abs(logits)))
    return float(np.mean(softplus - y * logits))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def newton(A: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The minimiser of the mean bce over `theta`, for one column of labels.

    Args:
        A: `(N, n + 1)` float64 design matrix `[X, 1]`.
        y: `(N,)` float64 labels in [0, 1].

    Returns:
        `(n + 1,)` float64 `theta`, whose gradient is below the tolerance.

    Raises:
        SeparableError: the labels are 0/1 and a hyperplane separates them.
        ValueError: Newton's method did not converge.
    """
    N = A.shape[0]
    # Unscaled columns (thousands beside fractions) make the Hessian badly
    # conditioned; Newton's steps do not depend on the scale, so solve in
    # columns of unit spread and scale back.
    scale = np.sqrt(np.mean(np.square(A), axis=0))
    scale[scale == 0] = 1
    B = A / scale
    theta = np.zeros(B.shape[1])
    logits = B @ theta
    loss = _loss(logits, y)
    hard = bool(np.all((y == 0) | (y == 1)))
    for _ in range(_MAX_ITERATIONS):
        p = _sigmoid(logits)
        grad = B.T @ (p - y) / N
        if np.max(np.abs(grad)) <= _TOLERANCE:
            break
        if hard and _separates(logits, y):
            raise SeparableError
        weights = p * (1 - p)
        hessian = (B * weights[:, None]).T @ B / N
        step = np.linalg.lstsq(hessian, grad, rcond=None)[0]
        for _ in range(_MAX_HALVINGS):
            trial = theta - step
            trial_logits = B @ trial
            trial_loss = _loss(trial_logits, y)
            # Near the answer the loss changes by less than its rounding.
            if trial_loss <= loss + 4 * np.finfo(float).eps * abs(loss):
                break
            step = step / 2
        else:
            break  # no decrease left at float64's resolution
        theta, logits, loss = trial, trial_logits, trial_loss
    else:
        p = _sigmoid(logits)
        grad = B.T @ (p - y) / N
    if hard and _separates(logits, y, slack=_SLACK):
        raise SeparableError
    if np.max(np.abs(grad)) > _TOLERANCE:
        raise ValueError(
            "Newton's method for bce did not converge: the gradient is still "
            f"{np.max(np.abs(grad)):.3g} after {_MAX_ITERATIONS} steps."
        )
    return theta / scale


def _separates(logits: np.ndarray, y: np.ndarray, slack: float = 0.0) -> bool:
    """Whether the logits put every row on the side of its 0/1 label.

    With `slack`, once the largest logit is saturated, rows may lie within
    `slack` times it on the wrong side: iterates that grow without bound along
    a separating direction leave the rows on the dividing hyperplane
    (quasi-complete separation) at logits near 0 while the others grow.
    """
    margins = np.where(y == 1, logits, -logits)
    size = np.max(np.abs(logits))
    if size == 0:
        return False
    if np.min(margins) >= 0:
        return True
    return size >= _SATURATED and bool(np.min(margins) >= -slack * size)
