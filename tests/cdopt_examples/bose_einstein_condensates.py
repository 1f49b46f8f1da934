"""CDOpt's Bose-Einstein condensates example (examples/bose_einstein_condensates.ipynb).

A NumPy objective written with ``autograd.numpy`` on the sphere; its
derivatives come from autograd. Changes besides the substitution: n is a
parameter (CDOpt: 1000), the seed is set, printing is left out.
"""

# ruff: noqa  (CDOpt's example code, kept as CDOpt wrote it: that is what is being ported)

import autograd.numpy as anp
import numpy as np
import scipy as sp
from scipy.optimize import fmin_bfgs, fmin_cg, fmin_l_bfgs_b, fmin_ncg

import solvent.compat.cdopt


def main(n=50, seed=0, methods=("L-BFGS-B", "trust-krylov", "trust-ncg")):
    np.random.seed(seed)
    alpha = 1
    A = np.ones((n,n))

    def obj_fun(X):
        return 0.5 * anp.sum( X* (A @ X) ) + alpha * anp.sum( X ** 4 )

    M = solvent.compat.cdopt.manifold_np.sphere_np((n,1))   # The sphere

    problem_test = solvent.compat.cdopt.core.problem(M, obj_fun, beta = 'auto')  # describe the optimization problem

    cdf_fun_np = problem_test.cdf_fun_vec_np
    cdf_grad_np = problem_test.cdf_grad_vec_np
    cdf_hvp_np = problem_test.cdf_hvp_vec_np

    Xinit = problem_test.Xinit_vec_np # set initial point
    results = {"beta": problem_test.beta, "start": cdf_fun_np(Xinit)}
    options = {"L-BFGS-B": {'disp': None, 'maxcor': 10, 'ftol': 0, 'gtol': 1e-06, 'eps': 0e-08,},
               "trust-krylov": {'gtol': 1e-06, 'disp': False},
               "trust-ncg": {'gtol': 1e-06, 'disp': False}}
    for method in methods:
        hessp = cdf_hvp_np if method.startswith("trust") else None
        out_msg = sp.optimize.minimize(cdf_fun_np, Xinit, method=method,jac = cdf_grad_np, hessp = hessp, options=options[method])
        feas = M.Feas_eval(M.v2m(M.array2tensor(out_msg.x)))   # Feasibility
        stationarity = np.linalg.norm(out_msg['jac'],2)   # stationarity
        results[method] = (float(out_msg['fun']), float(feas), float(stationarity))
    return results
