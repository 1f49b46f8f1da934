"""CDOpt's dictionary learning example (examples/dictionary_learning.ipynb): Stiefel, L-BFGS and CG.

Changes besides the substitution: n is a parameter (CDOpt: 30), seeds are set,
the device is the CPU, printing is left out.
"""

# ruff: noqa  (CDOpt's example code, kept as CDOpt wrote it: that is what is being ported)

import time

import numpy as np
import scipy as sp
import torch
from scipy.stats import norm

import solvent.compat.cdopt


def main(n=8, seed=0):
    np.random.seed(seed)
    torch.manual_seed(seed)
    m = 10*n**2   # sample complexity
    theta = 0.3   # sparsity level
    device = torch.device('cpu')   # set torch device
    dtype = torch.float64      # set torch data type

    Y= torch.as_tensor(norm.ppf(np.random.rand(m,n)) * (norm.ppf(np.random.rand(m,n)) <= theta), device=device, dtype=dtype)  # generate Y matrix

    def obj_fun(X):
        return -torch.sum(torch.matmul(Y, X) **4 )

    M = solvent.compat.cdopt.manifold_torch.stiefel_torch((n,n), device= device, dtype= dtype)   # The Stiefel manifold.

    problem_test = solvent.compat.cdopt.core.problem(M, obj_fun, beta = 'auto')  # describe the optimization problem and set the penalty parameter \beta.

    cdf_fun_np = problem_test.cdf_fun_vec_np
    cdf_grad_np = problem_test.cdf_grad_vec_np

    Xinit = problem_test.Xinit_vec_np  # set initial point
    results = {"beta": problem_test.beta, "start": cdf_fun_np(Xinit)}
    # optimize by L-BFGS method
    t_start = time.time()
    out_msg = sp.optimize.minimize(cdf_fun_np, Xinit,method='L-BFGS-B',jac = cdf_grad_np, options={'disp': None, 'maxcor': 10, 'ftol': 0, 'gtol': 1e-06, 'eps': 0e-08,})
    t_end = time.time() - t_start
    feas = M.Feas_eval(M.v2m(M.array2tensor(out_msg.x)))   # Feasibility
    stationarity = np.linalg.norm(out_msg['jac'],2)   # stationarity
    results["lbfgs"] = (float(out_msg['fun']), float(feas), float(stationarity))

    # optimize by CG method
    out_msg = sp.optimize.minimize(cdf_fun_np, Xinit,method='CG',jac = cdf_grad_np, options={'disp': None,'gtol': 1e-06,'eps': 0e-08,})
    feas = M.Feas_eval(M.v2m(M.array2tensor(out_msg.x)))   # Feasibility
    stationarity = np.linalg.norm(out_msg['jac'],2)   # stationarity
    results["cg"] = (float(out_msg['fun']), float(feas), float(stationarity))
    results["m"] = m
    return results
