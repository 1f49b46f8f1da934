"""CDOpt's ``cdopt.core.problem``: an optimization problem and its constraint dissolving function.

``problem(M, obj_fun, obj_grad=None, obj_hvp=None, beta='auto', Xinit=None)``
builds ``h(X) = f(A(X)) + beta/2 ||C(X)||^2`` over the manifold class ``M``
(from :mod:`~solvent.compat.cdopt.manifold_torch` or
:mod:`~solvent.compat.cdopt.manifold_np`) and exposes it the way CDOpt's
examples use it: ``cdf_fun``, ``cdf_grad``, ``cdf_hvp`` on variables, the
``*_vec`` versions on flat ones, and ``cdf_fun_vec_np``, ``cdf_grad_vec_np``,
``cdf_hvp_vec_np`` on flat NumPy arrays for :func:`scipy.optimize.minimize`,
started from ``Xinit_vec_np``.

The derivatives are exact: ``grad h = DA^* grad f(A(X)) + beta DC^* C`` and the
Hessian-vector product differentiates that expression (CDOpt evaluates the
second-order term of A with grad f at X instead of A(X); the two agree only on
the manifold).

Example:
    >>> import numpy as np, scipy.optimize, torch
    >>> from solvent.compat.cdopt.core.problem import problem
    >>> from solvent.compat.cdopt.manifold_torch import stiefel_torch
    >>> H = torch.diag(torch.arange(1.0, 7.0, dtype=torch.float64))
    >>> M = stiefel_torch((6, 2))
    >>> pb = problem(M, lambda X: -0.5 * torch.sum(X * (H @ X)), beta=50)
    >>> out = scipy.optimize.minimize(pb.cdf_fun_vec_np, pb.Xinit_vec_np, method="L-BFGS-B",
    ...                               jac=pb.cdf_grad_vec_np)
    >>> round(out.fun, 6)   # -(6 + 5) / 2
    -5.5
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from solvent.compat.cdopt.core._oracle import Oracle

__all__ = ["problem"]

_AUTOBETA = {"max_samples": 30, "sample_dist": 1.0, "thresholding": 1e-5, "epsilon": 1e-5,
             "coeffs": 1.2, "first_order": False}  # fmt: skip


class problem:
    """An optimization problem over a CDOpt manifold class (see the module doc).

    Example:
        >>> import numpy as np
        >>> from solvent.compat.cdopt.core.problem import problem
        >>> from solvent.compat.cdopt.manifold_np import sphere_np
        >>> c = np.array([[3.0], [4.0]])
        >>> pb = problem(sphere_np((2, 1)), lambda X: -float(np.sum(c * X)),
        ...              obj_grad=lambda X: -c, obj_hvp=lambda X, D: 0 * D, beta=10)
        >>> x = pb.Xinit_vec_np
        >>> pb.cdf_grad_vec_np(x).shape, np.allclose(pb.cdf_hvp_vec_np(x, x).shape, (2,))
        ((2,), True)

    Args:
        manifold: a ``*_torch`` or ``*_np`` manifold instance.
        obj_fun: f, on the manifold's kind of variable (tensor or array).
        obj_grad: grad f (optional; automatic differentiation otherwise).
        obj_hvp: ``(X, D) ->`` Hessian of f at X applied to D (optional).
        beta: the penalty parameter, or ``'auto'`` for CDOpt's sampling estimate.
        enable_autodiff: whether missing derivatives may be computed automatically.
        backbone, enable_jit: accepted for CDOpt compatibility; solvent uses torch.
        autobeta_args: options of the ``'auto'`` estimate (``max_samples``, ``sample_dist``,
            ``thresholding``, ``epsilon``, ``coeffs``, ``first_order``).
        Xinit: the starting point (projected onto the manifold); random if None.
    """

    def __init__(self, manifold, obj_fun, obj_grad=None, obj_hvp=None, beta="auto",
                 enable_autodiff: bool = True, backbone=None, enable_jit: bool = True,
                 autobeta_args=None, Xinit=None, **kwargs) -> None:  # fmt: skip
        self.manifold, self.obj_fun = manifold, obj_fun
        self._numpy = hasattr(manifold, "_twin")
        self._M = manifold._twin if self._numpy else manifold
        self._oracle = Oracle(obj_fun, obj_grad, obj_hvp, numpy=self._numpy,
                              autodiff=enable_autodiff)  # fmt: skip
        self.obj_grad, self.obj_hvp = self._oracle.obj_grad, self._oracle.obj_hvp
        self.Xinit = manifold.Init_point(Xinit=Xinit)
        self.Xinit_vec_np = np.asarray(manifold.tensor2array(manifold.m2v(self.Xinit)))
        if isinstance(beta, str):
            if beta != "auto":
                raise ValueError(f"beta must be a number or 'auto', got {beta!r}")
            beta = self.generate_penalty_parameter(autobeta_args or {})
        self.beta = float(beta)
        self._build()

    # ------------------------------------------------------------------ the CDF on tensors
    def _h(self, X: Tensor) -> Tensor:
        M = self._M
        return self._oracle.value(M.A(X)) + (self.beta / 2) * M.C_quad_penalty(X)

    def _grad(self, X: Tensor) -> Tensor:
        X = X.detach().requires_grad_(True)
        with torch.enable_grad():
            Y = self._M.A(X)
            s = (self._oracle.grad(Y) * Y).sum() + (self.beta / 2) * self._M.C_quad_penalty(X)
            return _grad_or_zeros(s, X)

    def _hvp(self, X: Tensor, D: Tensor) -> Tensor:
        M, X, D = self._M, X.detach().requires_grad_(True), D.detach().to(X.dtype)
        with torch.enable_grad():
            Y = M.A(X)
            G = self._oracle.grad(Y)
            U = self._oracle.hvp(Y, M.JA_transpose(X.detach(), D))
            g = _grad_or_zeros((G * Y).sum() + (self.beta / 2) * M.C_quad_penalty(X), X, True)
            return _grad_or_zeros((g * D).sum() + (U * Y).sum(), X)

    # ------------------------------------------------------------------ CDOpt's attributes
    def _build(self) -> None:
        M, native = self.manifold, self._native
        tensor = self._tensor
        if self._numpy:
            self.cdf_fun = lambda X: float(self._h(tensor(X)).detach())
        else:
            self.cdf_fun = self._h
        self.cdf_grad = lambda X: native(self._grad(tensor(X)))
        self.cdf_hvp = lambda X, D: native(self._hvp(tensor(X), tensor(D)))
        self.cdf_fun_vec = lambda y: self.cdf_fun(M.v2m(y))
        self.cdf_grad_vec = lambda y: M.m2v(self.cdf_grad(M.v2m(y)))
        self.cdf_hvp_vec = lambda y, p: M.m2v(self.cdf_hvp(M.v2m(y), M.v2m(p)))
        self.cdf_fun_vec_np = self._value_np
        self.cdf_grad_vec_np = lambda y: _array(self.cdf_grad_vec(M.array2tensor(y)))
        self.cdf_hvp_vec_np = lambda y, p: _array(
            self.cdf_hvp_vec(M.array2tensor(y), M.array2tensor(p))
        )

    def _value_np(self, y) -> float:
        X = self._tensor(self.manifold.v2m(self.manifold.array2tensor(y)))
        with torch.no_grad():
            return float(self._h(X.detach()))

    def _tensor(self, X) -> Tensor:
        if self._numpy:
            return torch.as_tensor(np.asarray(X, dtype=np.float64)).reshape(self._M.var_shape)
        return X

    def _native(self, T: Tensor):
        return T.numpy() if self._numpy else T

    # ------------------------------------------------------------------ beta = 'auto'
    def generate_penalty_parameter(self, autobeta_args: dict | None = None) -> float:
        """CDOpt's 'auto' beta: sample points near Xinit, compare f's change to C's.

        For each sample X = Xinit + sample_dist * D (D a random direction of random
        length below 1, from NumPy's global generator), the ratio of
        ``|f(A(X)) - f(A(A(X)))|`` to ``(||C(X)|| - ||C(A(X))||)^2`` bounds how large
        beta must be for one dissolving step to pay; beta is ``coeffs`` times twice
        the largest ratio (each at least ``thresholding``).
        """
        opts = {**_AUTOBETA, **(autobeta_args or {})}
        M, X0 = self._M, self._tensor(self.Xinit).detach().reshape(-1)
        ratios = []
        for _ in range(int(opts["max_samples"])):
            D = np.random.randn(M.var_num)
            D = D / np.linalg.norm(D) * np.random.rand()
            X = (X0 + opts["sample_dist"] * torch.as_tensor(D, dtype=X0.dtype)).reshape(
                M.var_shape
            )
            ratios += self._beta_ratios(X, opts)
        return float(opts["coeffs"] * max(ratios))

    def _beta_ratios(self, X: Tensor, opts: dict) -> list[float]:
        M, f = self._M, self._oracle.value
        with torch.no_grad():
            AX = M.A(X)
            df = abs(float(f(AX)) - float(f(M.A(AX))))
            dC = abs(float(M.Feas_eval(X)) - float(M.Feas_eval(AX))) ** 2 + opts["epsilon"]
        out = [2.0 * max(df / dC, opts["thresholding"])]
        if opts["first_order"]:
            step = (AX - X).reshape(-1)
            upper = float(step @ M.JA(AX, self._oracle.grad(AX)).reshape(-1))
            lower = abs(float(step @ M.JC(X, M.C(X)).reshape(-1))) + opts["epsilon"]
            out.append(max(upper / lower, opts["thresholding"]))
        return out


def _grad_or_zeros(s: Tensor, X: Tensor, create_graph: bool = False) -> Tensor:
    if not s.requires_grad:  # e.g. a constant objective on Euclidean space
        return torch.zeros_like(X)
    (g,) = torch.autograd.grad(s, X, create_graph=create_graph, allow_unused=True)
    return torch.zeros_like(X) if g is None else g


def _array(a) -> np.ndarray:
    if isinstance(a, Tensor):
        return a.detach().cpu().numpy().astype(np.float64)
    return np.asarray(a, dtype=np.float64)
