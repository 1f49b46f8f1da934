"""CDOpt's nearest correlation estimation (examples/nearest_correlation_estimation.ipynb): oblique.

Changes besides the substitution: n and p are parameters (CDOpt: 1000, 40),
seeds are set, the device is the CPU, printing is left out.
"""

# ruff: noqa  (CDOpt's example code, kept as CDOpt wrote it: that is what is being ported)

import numpy as np
import scipy as sp
import torch
from scipy.optimize import fmin_bfgs, fmin_cg, fmin_l_bfgs_b, fmin_ncg

import solvent.compat.cdopt


def main(n=40, p=6, seed=0):
    torch.manual_seed(seed)
    np.random.seed(seed)
    device = torch.device('cpu')
    dtype = torch.float64

    Y = torch.randn(n,p, device= device, dtype= dtype)
    Y = Y / torch.sqrt(torch.sum(Y ** 2, 1, keepdim= True))

    G = Y @ Y.T + 0.5 * torch.randn(n,n, device= device, dtype= dtype)
    H = (torch.rand(n,n, device= device, dtype= dtype ) + 1)/2

    def obj_fun(X):
        return 0.5 * torch.sum(  (H * (X@ X.T - G)) ** 2)

    M = solvent.compat.cdopt.manifold_torch.oblique_torch((n,p), device=device, dtype= dtype)   # The Oblique manifold.

    problem_test = solvent.compat.cdopt.core.problem(M, obj_fun, beta = 'auto')  # describe the optimization problem and set the penalty parameter \beta.

    cdf_fun_np = problem_test.cdf_fun_vec_np
    cdf_grad_np = problem_test.cdf_grad_vec_np

    Xinit = problem_test.Xinit_vec_np  # set initial point
    results = {"beta": problem_test.beta, "start": cdf_fun_np(Xinit)}
    out_msg = sp.optimize.minimize(cdf_fun_np, Xinit,method='L-BFGS-B',jac = cdf_grad_np, options={'disp': None, 'maxcor': 10, 'ftol': 0, 'gtol': 1e-06, 'eps': 0e-08,})
    feas = M.Feas_eval(M.v2m(M.array2tensor(out_msg.x)))   # Feasibility
    stationarity = np.linalg.norm(out_msg['jac'],2)   # stationarity
    results["lbfgs"] = (float(out_msg['fun']), float(feas), float(stationarity))

    out_msg = sp.optimize.minimize(cdf_fun_np, Xinit,method='CG',jac = cdf_grad_np, options={'disp': None,'gtol': 1e-06, 'eps': 0})
    feas = M.Feas_eval(M.v2m(M.array2tensor(out_msg.x)))   # Feasibility
    stationarity = np.linalg.norm(out_msg['jac'],2)   # stationarity
    results["cg"] = (float(out_msg['fun']), float(feas), float(stationarity))
    return results
