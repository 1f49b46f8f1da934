"""CDOpt's quick-start tutorial (md_files/tutorials/quick_start.md): Stiefel eigenproblem.

Changes besides the substitution: m, s and the Adam iterations are parameters
(CDOpt: 200, 8, 2000), seeds are set, printing and tqdm are left out.
"""

# ruff: noqa  (CDOpt's example code, kept as CDOpt wrote it: that is what is being ported)

# Import basic functions
import time

import numpy as np
import scipy as sp
import torch
from scipy.optimize import fmin_bfgs, fmin_cg, fmin_l_bfgs_b, fmin_ncg

import solvent.compat.cdopt
from solvent.compat.cdopt.core.problem import problem
from solvent.compat.cdopt.manifold_torch import stiefel_torch


def main(m=30, s=4, adam_iters=300, seed=0):
    torch.manual_seed(seed)
    np.random.seed(seed)
    # Set parameters
    beta = 100  # penalty parameter
    local_device = torch.device('cpu')  # the device to perform the computation
    local_dtype = torch.float64  # the data type of the pytorch tensor

    # Define object function
    H = torch.randn(m,m).to(device =local_device, dtype = local_dtype)
    H = H+H.T

    def obj_fun(X):
        return -0.5 * torch.sum( X * (H@X))

    # Set optimization problems and retrieve constraint dissolving functions.
    M = stiefel_torch((m,s), device =local_device, dtype = local_dtype )
    problem_test = problem(M, obj_fun, beta = beta)

    cdf_fun_np = problem_test.cdf_fun_vec_np
    cdf_grad_np = problem_test.cdf_grad_vec_np
    cdf_hvp_np = problem_test.cdf_hvp_vec_np

    # Implement L-BFGS solver from scipy.optimize
    Xinit = problem_test.Xinit_vec_np
    t_start = time.time()
    out_msg = sp.optimize.minimize(cdf_fun_np, Xinit,method='L-BFGS-B',jac = cdf_grad_np)
    t_run = time.time() - t_start

    # Statistics
    feas = M.Feas_eval(M.v2m(M.array2tensor(out_msg.x)))   # Feasibility
    stationarity = np.linalg.norm(out_msg['jac'],2)   # stationarity
    result_lbfgs = [out_msg['fun'], out_msg['nit'], out_msg['nfev'],stationarity,feas, t_run]
    line = '& L-BFGS & {:.2e} & {:} & {:} & {:.2e} & {:.2e} & {:.2f} \\\\'.format(*result_lbfgs)

    # The torch.optim route of the tutorial's CUDA section
    cdf_fun = problem_test.cdf_fun
    class Model(torch.nn.Module):
        def __init__(self, Xinit = None):
            super().__init__()
            self.X = torch.nn.Parameter(M.Init_point(Xinit))

        def forward(self):
            return cdf_fun(self.X)

    model = Model(M.Init_point())
    optim = torch.optim.Adam(model.parameters(), lr = 0.001)

    def train_epoch(epoch):
        def closure():
            optim.zero_grad()
            loss = model()
            loss.backward()
            return loss
        optim.step(closure)

    adam_start = float(model().detach())
    for jj in range(adam_iters):
        train_epoch(jj)
    X_fin = model.X
    optimum = -0.5 * float(torch.linalg.eigvalsh(H)[-s:].sum())
    return {"fun": float(out_msg['fun']), "feas": float(feas), "optimum": optimum,
            "line": line, "adam_start": adam_start, "adam_end": float(model().detach()),
            "adam_feas": float(M.Feas_eval(X_fin))}
