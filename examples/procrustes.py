"""Orthogonal Procrustes on the Stiefel manifold, against the SVD closed form.

Points P (k x p) are embedded in R^n by an unknown orthonormal X0 (n x p) and
observed with noise: Q = P X0^T + sigma E. The least-squares embedding

    min ||P X^T - Q||_F^2  over X^T X = I

equals, since ||P X^T||_F = ||P||_F on the manifold, max tr(X^T Q^T P), whose
solution is the polar factor U V^T of Q^T P = U S V^T. The script prints the
distance to that closed form and fails if it exceeds its tolerance.

Run: python examples/procrustes.py --seed 0 --threads 1 [--n 100 --p 10 --method trust-region]
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

import solvent.optim

TOLERANCE = 1e-6  # about ||grad|| / (smallest singular value of Q^T P)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--p", type=int, default=10)
    parser.add_argument("--k", type=int, default=300, help="number of points")
    parser.add_argument("--sigma", type=float, default=0.1, help="noise level")
    parser.add_argument("--method", default="L-BFGS")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(args.seed)
    f64 = torch.float64
    X0, _ = torch.linalg.qr(torch.randn(args.n, args.p, dtype=f64, generator=gen))
    P = torch.randn(args.k, args.p, dtype=f64, generator=gen)
    Q = P @ X0.mT + args.sigma * torch.randn(args.k, args.n, dtype=f64, generator=gen)
    scale = 1.0 / args.k  # keeps f of order one, whatever k

    start = time.perf_counter()
    res = solvent.optim.minimize(lambda X: scale * (P @ X.mT - Q).square().sum(),
                                 shape=(args.n, args.p), method=args.method, seed=args.seed)
    elapsed = time.perf_counter() - start
    U, _, Vh = torch.linalg.svd(Q.mT @ P, full_matrices=False)
    gap = float(torch.linalg.matrix_norm(res.x - U @ Vh))
    print(res)
    truth = float(torch.linalg.matrix_norm(res.x - X0))
    print(f"distance to the SVD solution {gap:.2e} (tol {TOLERANCE:g}); distance to the true "
          f"X0 {truth:.2e}; {elapsed:.2f} s, {res.nit} iterations")
    return 0 if res.success and gap <= TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main())
