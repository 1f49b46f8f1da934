"""CDOpt's symplectic eigenvalue example (examples/symplectic_eigenvalue.ipynb).

Sparse CSR objective; L-BFGS, CG, trust-krylov and trust-ncg with the CDF's
Hessian-vector products. Changes besides the substitution: n and p are
parameters (CDOpt: 1000, 10), seeds are set, the device is the CPU, printing is
left out.
"""

# ruff: noqa  (CDOpt's example code, kept as CDOpt wrote it: that is what is being ported)

import numpy as np
import scipy as sp
import torch
from scipy.optimize import fmin_bfgs, fmin_cg, fmin_l_bfgs_b, fmin_ncg
from scipy.sparse import diags

import solvent.compat.cdopt


def main(n=40, p=4, seed=0, methods=("L-BFGS-B", "CG", "trust-krylov", "trust-ncg")):
    torch.manual_seed(seed)
    np.random.seed(seed)
    device = torch.device( "cpu" )
    dtype = torch.float64

    L_ori = diags([-1,3,-1], [-1,0,1], shape=(n,n), format='csc')
    L = torch.sparse_csr_tensor(L_ori.indptr, L_ori.indices, L_ori.data, device= device, dtype= dtype)

    def obj_fun(X):
        return 0.5 * torch.sum( X * torch.matmul(L, X)  )

    M = solvent.compat.cdopt.manifold_torch.symp_stiefel_torch((n,p), device = device, dtype = dtype)   # The sympletctic manifold

    problem_test = solvent.compat.cdopt.core.problem(M, obj_fun, beta = 'auto')  # describe the optimization problem and set the penalty parameter \beta.

    cdf_fun_np = problem_test.cdf_fun_vec_np
    cdf_grad_np = problem_test.cdf_grad_vec_np
    cdf_hvp_np = problem_test.cdf_hvp_vec_np

    Xinit = problem_test.Xinit_vec_np  # set initial point
    results = {"beta": problem_test.beta, "start": cdf_fun_np(Xinit), "L": L_ori.toarray()}
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
