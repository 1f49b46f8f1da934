"""Optimization over manifolds by constraint dissolving.

``dissolving_function(f, manifold, beta)`` builds the constraint dissolving
function h(X) = f(A(X)) + beta * 1/2 ||C(X)||^2 (A is ``Manifold.dissolve``), a
plain differentiable function for any torch optimizer; ``minimize`` runs a
solver on it (torch-native L-BFGS, trust region and Newton-CG on the point's
device, or SciPy's; exact Hessian-vector products by double backward),
estimates beta and guards against divergence. Nothing here knows a particular
manifold: everything goes through the Manifold interface. SciPy is imported
only when a SciPy method runs.

Example:
    >>> import torch, solvent.optim
    >>> G = torch.randn(5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    >>> res = solvent.optim.minimize(lambda X: -(X * G).sum(), shape=(5, 3), seed=1)
    >>> U, _, Vh = torch.linalg.svd(G, full_matrices=False)  # Procrustes: X* = U V^T
    >>> res.success and torch.allclose(res.x, U @ Vh, atol=1e-5)
    True
"""

from solvent.optim.beta import estimate_beta
from solvent.optim.cdf import DissolvedFunction, dissolving_function, riemannian_grad_norm
from solvent.optim.methods import METHODS
from solvent.optim.minimize import minimize
from solvent.optim.result import History, Iterate, OptimizeResult

__all__ = [
    "METHODS",
    "DissolvedFunction",
    "History",
    "Iterate",
    "OptimizeResult",
    "dissolving_function",
    "estimate_beta",
    "minimize",
    "riemannian_grad_norm",
]
