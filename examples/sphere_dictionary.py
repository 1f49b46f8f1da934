"""Complete dictionary learning, one atom at a time, on the sphere.

Data Y = A0 X0 with an orthogonal dictionary A0 (n x n) and sparse codes X0
(Bernoulli-Gaussian, density theta). Each column a of A0 makes a^T Y = a row of
X0, which is sparse, so the atoms are the minimisers of a sparsity measure of
q^T Y over the unit sphere (Sun, Qu, Wright, "Complete dictionary recovery over
the sphere", 2015):

    min_{||q|| = 1}  1/m sum_j mu log cosh(q^T y_j / mu)

(log cosh: a smooth l1). The minimiser found from a random start is close to
+-a for some atom a; the distance, printed as the gap, is O(mu) (the
smoothing biases the minimiser). The script fails if the gap exceeds its
tolerance.

Run: python examples/sphere_dictionary.py --seed 0 --threads 1
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import torch

import solvent
import solvent.optim

TOLERANCE = 0.01  # the O(mu) bias of the smoothed objective (measured ~1e-3 at mu = 1e-2)


def logcosh_sparsity(Y: torch.Tensor, mu: float):
    """f(q) = mean over columns of mu * log cosh(q^T y / mu), computed without overflow."""
    log2 = math.log(2.0)

    def f(q: torch.Tensor) -> torch.Tensor:
        z = (q @ Y) / mu
        return mu * (torch.logaddexp(z, -z) - log2).mean()

    return f


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--n", type=int, default=10, help="dimension (atoms)")
    parser.add_argument("--m", type=int, default=3000, help="samples")
    parser.add_argument("--theta", type=float, default=0.2, help="code density")
    parser.add_argument("--mu", type=float, default=1e-2, help="smoothing")
    parser.add_argument("--method", default="L-BFGS")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if "sphere" not in solvent.available():
        print("no 'sphere' manifold is registered; nothing to do")
        return 1
    gen = torch.Generator().manual_seed(args.seed)
    A0, _ = torch.linalg.qr(torch.randn(args.n, args.n, dtype=torch.float64, generator=gen))
    mask = torch.rand(args.n, args.m, generator=gen) < args.theta
    X0 = torch.randn(args.n, args.m, dtype=torch.float64, generator=gen) * mask
    Y = A0 @ X0

    start = time.perf_counter()
    res = solvent.optim.minimize(logcosh_sparsity(Y, args.mu), shape=(args.n,), manifold="sphere",
                                 method=args.method, seed=args.seed)
    elapsed = time.perf_counter() - start
    dist = torch.cdist(res.x[None], torch.cat([A0.mT, -A0.mT]))  # to every +-atom
    gap = float(dist.min())
    print(res)
    print(f"distance to the nearest +-atom: {gap:.3e} (tolerance {TOLERANCE:g}); "
          f"{elapsed:.2f} s, {res.nit} iterations")
    return 0 if res.success and gap <= TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main())
