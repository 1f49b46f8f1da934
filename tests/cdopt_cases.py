"""Cases that run unchanged on the real cdopt 0.5.5 and on ``solvent.compat.cdopt``.

Each case takes the library's top-level package (``cdopt`` or ``solvent.compat.cdopt``)
as its first argument and returns plain figures (floats, lists, tensors).
``benchmarks/cdopt_reference.py`` runs them on the real cdopt and stores the figures
in ``tests/data/cdopt_reference.json`` and ``tests/data/cdopt_layers.pt``; the
compat tests run them on solvent and compare. Everything is float64 and seeded, so
the two runs start from the same numbers.
"""

from __future__ import annotations

import numpy as np
import torch

# ---------------------------------------------------------------------- problems
PROBLEMS = {  # manifold name (without _torch/_np) -> variable shape
    "stiefel": (6, 3), "grassmann": (6, 2), "sphere": (5, 2), "oblique": (5, 3),
    "generalized_stiefel": (5, 2), "symp_stiefel": (6, 4),
    "euclidean": (4, 3),
}  # fmt: skip
BETA = 10.0


def problem_data(name: str) -> tuple[np.ndarray, np.ndarray]:
    """A symmetric H (n x n) and a direction D of the variable's shape, seeded by the name."""
    shape = PROBLEMS[name]
    rng = np.random.RandomState(sum(map(ord, name)))
    H = rng.randn(shape[0], shape[0])
    return H + H.T, rng.randn(*shape)


def make_problem(cd, name: str, backend: str, given: bool = False, beta=BETA, Xinit=None):
    """``cd.problem`` for f(X) = -1/2 <X, H X> + 1/4 sum X^4 on ``{name}_{backend}``.

    ``backend`` is ``"torch"`` (torch objective, autograd derivatives unless ``given``)
    or ``"np"`` (autograd.numpy objective, or NumPy with given gradient and Hessian).
    """
    shape = PROBLEMS[name]
    H, _ = problem_data(name)
    if backend == "torch":
        Ht = torch.from_numpy(H)
        M = getattr(cd.manifold_torch, f"{name}_torch")(shape)
        grad = (lambda X: -Ht @ X + X**3) if given else None
        start = None if Xinit is None else torch.from_numpy(np.asarray(Xinit).reshape(shape))
        return cd.problem(M, lambda X: -0.5 * torch.sum(X * (Ht @ X)) + 0.25 * torch.sum(X**4),
                          obj_grad=grad, beta=beta, Xinit=start)  # fmt: skip
    M = getattr(cd.manifold_np, f"{name}_np")(shape)
    start = None if Xinit is None else np.asarray(Xinit).reshape(shape)
    if given:
        return cd.problem(M, lambda X: -0.5 * np.sum(X * (H @ X)) + 0.25 * np.sum(X**4),
                          obj_grad=lambda X: -H @ X + X**3,
                          obj_hvp=lambda X, D: -H @ D + 3 * X**2 * D, beta=beta, Xinit=start)
    import autograd.numpy as anp

    return cd.problem(M, lambda X: -0.5 * anp.sum(X * (H @ X)) + 0.25 * anp.sum(X**4),
                      beta=beta, Xinit=start)  # fmt: skip


def problem_figures(cd, name: str, backend: str, given: bool = False, Xinit=None) -> dict:
    """The CDF's value and gradient off the manifold, its Hessian-vector product on it,
    and the ends of SciPy's L-BFGS-B and trust-krylov runs from the same feasible start."""
    import scipy.optimize

    pb = make_problem(cd, name, backend, given=given, Xinit=Xinit)
    x0 = np.asarray(pb.Xinit_vec_np, dtype=np.float64)
    d = problem_data(name)[1].reshape(-1)
    y = x0 + 0.1 * d
    out = {"x0": x0.tolist(), "fun": pb.cdf_fun_vec_np(y), "grad": pb.cdf_grad_vec_np(y).tolist(),
           "hvp": pb.cdf_hvp_vec_np(x0, d).tolist()}  # fmt: skip
    lbfgs = scipy.optimize.minimize(pb.cdf_fun_vec_np, x0, method="L-BFGS-B",
                                    jac=pb.cdf_grad_vec_np)  # fmt: skip
    trust = scipy.optimize.minimize(pb.cdf_fun_vec_np, x0, method="trust-krylov",
                                    jac=pb.cdf_grad_vec_np, hessp=pb.cdf_hvp_vec_np)  # fmt: skip
    out["lbfgs"], out["trust"] = float(lbfgs.fun), float(trust.fun)
    return out


def auto_beta(cd, backend: str, seed: int = 3) -> float:
    """CDOpt's ``beta='auto'`` estimate on the Stiefel problem after seeding NumPy and torch."""
    np.random.seed(seed)
    torch.manual_seed(seed)
    pb = make_problem(cd, "stiefel", backend, beta="auto", Xinit=np.eye(6, 3))
    return float(pb.beta)


# ---------------------------------------------------------------------- layers
LAYERS = {
    # name: (class, positional args, keyword args, input shapes)
    "linear_tall": ("Linear_cdopt", (8, 3), {}, [(4, 8)]),
    "linear_wide": ("Linear_cdopt", (3, 8), {}, [(4, 3)]),
    "linear_sphere": ("Linear_cdopt", (5, 4), {"manifold": "sphere_torch"}, [(2, 5)]),
    "linear_oblique": ("Linear_cdopt", (5, 4), {"manifold": "oblique_torch"}, [(2, 5)]),
    "linear_euclidean": ("Linear_cdopt", (5, 4), {"manifold": "euclidean_torch"}, [(2, 5)]),
    "bilinear": ("Bilinear_cdopt", (3, 4, 5), {}, [(2, 3), (2, 4)]),
    "conv1d": ("Conv1d_cdopt", (3, 4, 3), {}, [(2, 3, 7)]),
    "conv2d": ("Conv2d_cdopt", (6, 16, 5), {}, [(2, 6, 9, 9)]),
    "conv3d": ("Conv3d_cdopt", (2, 3, 2), {}, [(1, 2, 3, 3, 3)]),
    "convtranspose1d": ("ConvTranspose1d_cdopt", (4, 3, 3), {}, [(2, 4, 5)]),
    "convtranspose2d": ("ConvTranspose2d_cdopt", (4, 3, 2), {}, [(2, 4, 3, 3)]),
    "convtranspose3d": ("ConvTranspose3d_cdopt", (2, 3, 2), {}, [(1, 2, 2, 2, 2)]),
    "rnn": ("RNN_cdopt", (3, 5), {}, [(6, 2, 3)]),
    "rnn_batch_first": ("RNN_cdopt", (3, 5), {"batch_first": True}, [(2, 6, 3)]),
    "lstm_two_layers": ("LSTM_cdopt", (3, 5, 2), {}, [(6, 2, 3)]),
    "lstm_bidirectional": ("LSTM_cdopt", (3, 4), {"bidirectional": True}, [(5, 2, 3)]),
    "gru": ("GRU_cdopt", (3, 5), {}, [(6, 2, 3)]),
    "gru_deep_bidirectional": ("GRU_cdopt", (3, 4, 2),
                               {"bidirectional": True, "batch_first": True}, [(2, 5, 3)]),
    "rnncell": ("RNNCell_cdopt", (3, 5), {}, [(2, 3)]),
    "lstmcell": ("LSTMCell_cdopt", (3, 5), {}, [(2, 3)]),
    "grucell": ("GRUCell_cdopt", (3, 5), {}, [(2, 3)]),
}  # fmt: skip
PENALTY = 0.3
ADAM_STEPS = 12


def seed_of(name: str) -> int:
    return sum(map(ord, name))


def build_layer(cd, name: str) -> torch.nn.Module:
    """The case's layer, built under ``torch.manual_seed(seed_of(name))`` in float64."""
    cls, args, kwargs, _ = LAYERS[name]
    kwargs = dict(kwargs)
    manifold = getattr(cd.manifold_torch, kwargs.pop("manifold", "stiefel_torch"))
    torch.manual_seed(seed_of(name))
    return getattr(cd.nn, cls)(*args, manifold_class=manifold, penalty_param=PENALTY,
                               dtype=torch.float64, **kwargs)  # fmt: skip


def layer_inputs(name: str) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed_of(name) + 1)
    return [torch.randn(s, generator=g, dtype=torch.float64) for s in LAYERS[name][3]]


def perturb_(layer: torch.nn.Module, name: str) -> None:
    """Move every weight off the manifold, so the map A(X) matters in what follows."""
    g = torch.Generator().manual_seed(seed_of(name) + 2)
    with torch.no_grad():
        for key, p in layer.named_parameters():
            if key.startswith("weight"):
                p.add_(0.05 * torch.randn(p.shape, generator=g, dtype=p.dtype))


def first_output(out):
    return out[0] if isinstance(out, tuple) else out


def layer_figures(cd, layer: torch.nn.Module, name: str, penalty: bool = True) -> dict:
    """From the layer's current weights: the output, the penalties, the gradients of
    ``mean(out^2) + get_quad_penalty``, then the losses of ``ADAM_STEPS`` Adam steps.

    ``penalty=False`` leaves ``get_quad_penalty`` out (cdopt 0.5.5 cannot compute it for
    ``Bilinear_cdopt``: it reshapes the p x p constraint to the weight's shape).
    """
    xs = layer_inputs(name)

    def quad(module):
        return cd.nn.get_quad_penalty(module) if penalty else 0.0

    out = first_output(layer(*xs))
    params = {k: p for k, p in layer.named_parameters() if p.requires_grad}
    grads = torch.autograd.grad(out.square().mean() + quad(layer), list(params.values()))
    figures = {"output": out.detach(), "grads": dict(zip(params, grads)), "penalty": penalty}
    if penalty:
        figures["quad_penalty"] = cd.nn.get_quad_penalty(layer).detach()
        figures["violation"] = cd.nn.get_constraint_violation(layer).detach()
        figures["violation_vector"] = torch.stack(
            [v.detach() for v in cd.nn.get_constraint_violation_vector(layer)])
    opt = torch.optim.Adam(layer.parameters(), lr=0.02)
    target = torch.tanh(out.detach() + 0.3)
    losses = []
    for _ in range(ADAM_STEPS):
        opt.zero_grad()
        step = (first_output(layer(*xs)) - target).square().mean() + quad(layer)
        step.backward()
        opt.step()
        losses.append(float(step.detach()))
    figures["adam_losses"] = losses
    return figures


# ---------------------------------------------------------------------- networks
# cdopt's layers keep their manifold's constants in the dtype they were built with, so a
# float64 network is built in float64 (``.double()`` afterwards would mix dtypes on cdopt).
F64 = {"dtype": torch.float64}

def _lenet(cd, how: str) -> torch.nn.Module:
    """A small conv net: orthogonal convs through the predefined layer or through
    ``set_constraint_dissolving`` on plain torch layers (the two must agree)."""
    stiefel = cd.manifold_torch.stiefel_torch
    torch.manual_seed(11)
    if how == "layers":
        c1 = cd.nn.Conv2d_cdopt(1, 4, 3, manifold_class=stiefel, penalty_param=0.05, **F64)
        c2 = cd.nn.Conv2d_cdopt(4, 6, 3, manifold_class=stiefel, penalty_param=0.05, **F64)
    else:
        c1, c2 = torch.nn.Conv2d(1, 4, 3, **F64), torch.nn.Conv2d(4, 6, 3, **F64)
    fc = torch.nn.Linear(6 * 2 * 2, 5, **F64)
    net = torch.nn.Sequential(c1, torch.nn.ReLU(), torch.nn.MaxPool2d(2), c2, torch.nn.ReLU(),
                              torch.nn.Flatten(), fc)  # fmt: skip
    if how == "set_constraint_dissolving":
        for conv in (net[0], net[3]):
            cd.nn.utils.set_constraints.set_constraint_dissolving(
                conv, "weight", manifold_class=stiefel, manifold_args=F64, penalty_param=0.05)
    return net


def lenet_figures(cd, how: str, state=None, steps: int = 8) -> dict:
    """Adadelta on a fixed batch of 10x10 images, cross-entropy plus ``get_quad_penalty``."""
    net = _lenet(cd, how)
    if state is not None:
        net.load_state_dict(state)
    initial = {k: v.detach().clone() for k, v in net.state_dict().items()}
    g = torch.Generator().manual_seed(5)
    x = torch.randn(16, 1, 10, 10, generator=g, dtype=torch.float64)
    y = torch.randint(0, 5, (16,), generator=g)
    opt = torch.optim.Adadelta(net.parameters(), lr=1.0)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(x), y) + cd.nn.get_quad_penalty(net)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return {"initial": initial, "losses": losses,
            "violation": float(cd.nn.get_constraint_violation(net))}  # fmt: skip


def lstmcell_lbfgs_figures(cd, state=None, steps: int = 3) -> dict:
    """Two stacked ``LSTMCell_cdopt`` predicting a sine wave, trained by ``torch.optim.LBFGS``."""
    stiefel = cd.manifold_torch.stiefel_torch
    torch.manual_seed(2)
    cells = torch.nn.ModuleList([
        cd.nn.LSTMCell_cdopt(1, 6, manifold_class=stiefel, penalty_param=0.1, **F64),
        cd.nn.LSTMCell_cdopt(6, 6, manifold_class=stiefel, penalty_param=0.1, **F64),
        torch.nn.Linear(6, 1, **F64)])  # fmt: skip
    if state is not None:
        cells.load_state_dict(state)
    initial = {k: v.detach().clone() for k, v in cells.state_dict().items()}
    t = torch.arange(24, dtype=torch.float64)
    wave = torch.sin(t[None, :] / 3.0 + torch.arange(4, dtype=torch.float64)[:, None])
    inputs, target = wave[:, :-1], wave[:, 1:]

    def forward() -> torch.Tensor:
        h1 = c1 = h2 = c2 = torch.zeros(4, 6, dtype=torch.float64)
        outs = []
        for k in range(inputs.shape[1]):
            h1, c1 = cells[0](inputs[:, k : k + 1], (h1, c1))
            h2, c2 = cells[1](h1, (h2, c2))
            outs.append(cells[2](h2))
        return torch.cat(outs, dim=1)

    opt = torch.optim.LBFGS(cells.parameters(), lr=0.5, max_iter=5)
    losses = []

    def closure():
        opt.zero_grad()
        loss = (forward() - target).square().mean() + cd.nn.get_quad_penalty(cells)
        loss.backward()
        return loss

    for _ in range(steps):
        losses.append(float(opt.step(closure).detach()))
    return {"initial": initial, "losses": losses,
            "quad_penalty": float(cd.nn.get_quad_penalty(cells).detach())}  # fmt: skip


def stateless_figures(cd) -> dict:
    """``functional_call`` and the penalty calls with a given (off-manifold) weight."""
    stateless = cd.nn.utils.stateless
    torch.manual_seed(4)
    model = torch.nn.Sequential(
        cd.nn.Linear_cdopt(5, 3, manifold_class=cd.manifold_torch.stiefel_torch,
                           penalty_param=0.2, **F64),
        torch.nn.Tanh(), torch.nn.Linear(3, 2, **F64))  # fmt: skip
    g = torch.Generator().manual_seed(6)
    W = torch.randn(3, 5, generator=g, dtype=torch.float64)
    x = torch.randn(4, 5, generator=g, dtype=torch.float64)
    params = {"0.weight": W}
    return {
        "output": stateless.functional_call(model, params, (x,)).detach(),
        "quad_penalty_call": stateless.get_quad_penalty_call(model, params).detach(),
        "functional_quad_penalty_call": [  # (output, penalty)
            t.detach() for t in stateless.functional_quad_penalty_call(model, params, (x,))],
        "own_output": model(x).detach(),
    }  # fmt: skip
