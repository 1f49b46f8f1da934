"""CDOpt's nonlinear eigenvalue example (examples/nonlinear_eigenvalue.ipynb): NumPy, Stiefel.

The objective, its gradient and Hessian-vector product are given in NumPy (no
automatic differentiation). Changes besides the substitution: n and p are
parameters (CDOpt: 1000, 10), the seed is set, printing is left out.
"""

# ruff: noqa  (CDOpt's example code, kept as CDOpt wrote it: that is what is being ported)

import numpy as np
import scipy as sp
from scipy.optimize import fmin_bfgs, fmin_cg, fmin_l_bfgs_b, fmin_ncg
from scipy.sparse import diags
from scipy.sparse.linalg import spsolve

import solvent.compat.cdopt


def main(n=60, p=4, seed=0, methods=("L-BFGS-B", "CG", "trust-krylov", "trust-ncg")):
    np.random.seed(seed)
    alpha = 1
    L = diags([-1,2,-1], [-1,0,1], format='csr', shape=(n,n))

    def obj_fun(X):
        rho = np.sum(X ** 2, 1)
        Linvrho = spsolve(L, rho)
        LX = L @ X
        return 0.5 * np.sum(X*LX) + alpha/4 * np.sum(Linvrho * rho)

    def obj_grad(X):
        rho = np.sum(X ** 2, 1)
        Linvrho = alpha * spsolve(L, rho)
        return L@ X + Linvrho[:, np.newaxis] * X

    def obj_hvp(X, D):
        rho = np.sum(X ** 2, 1)
        rhoXdot = 2*np.sum(X*D, 1)
        LinvrhoXdot = alpha * spsolve(L, rhoXdot)
        Linvrho = alpha * spsolve(L, rho)
        return L @ D + LinvrhoXdot[:, np.newaxis] * X  + Linvrho[:, np.newaxis] * D

    M = solvent.compat.cdopt.manifold_np.stiefel_np((n,p))   # The Stiefel manifold.

    problem_test = solvent.compat.cdopt.core.problem(M, obj_fun,obj_grad=obj_grad, obj_hvp=obj_hvp, beta = 30)  # describe the optimization problem and set the penalty parameter \beta.

    cdf_fun_np = problem_test.cdf_fun_vec_np
    cdf_grad_np = problem_test.cdf_grad_vec_np
    cdf_hvp_np = problem_test.cdf_hvp_vec_np

    Xinit = problem_test.Xinit_vec_np  # set initial point
    results = {"start": cdf_fun_np(Xinit)}
    options = {"L-BFGS-B": {'disp': None, 'maxcor': 10, 'ftol': 0, 'gtol': 1e-06, 'eps': 0e-08,},
               "CG": {'disp': None,'gtol': 1e-06, 'eps': 0},
               "trust-krylov": {'gtol': 1e-06, 'disp': False},
               "trust-ncg": {'gtol': 1e-06, 'disp': False}}
    for method in methods:
        hessp = cdf_hvp_np if method.startswith("trust") else None
        out_msg = sp.optimize.minimize(cdf_fun_np, Xinit, method=method,jac = cdf_grad_np, hessp = hessp, options=options[method])
        feas = M.Feas_eval(M.v2m(M.array2tensor(out_msg.x)))   # Feasibility
        stationarity = np.linalg.norm(out_msg['jac'],2)   # stationarity
        results[method] = (float(out_msg['fun']), float(feas), float(stationarity))
    return results
