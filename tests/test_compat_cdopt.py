"""solvent.compat.cdopt: CDOpt 0.5.5's module paths, names and semantics.

``test_compat_cdopt_checkpoints.py``, ``test_compat_cdopt_reference.py`` and
``test_compat_cdopt_distributed.py`` compare with figures of the real cdopt; this
file pins the API and the semantics one by one.
"""

from __future__ import annotations

import importlib
import pickle

import numpy as np
import pytest
import torch
from torch import nn

import solvent.compat.cdopt as cd
from solvent.compat.cdopt.manifold_torch import sphere_torch, stiefel_torch
from solvent.compat.cdopt.nn import (
    GRU_cdopt,
    Linear_cdopt,
    LSTM_cdopt,
    get_constraint_violation,
    get_constraint_violation_vector,
    get_quad_penalty,
)

MODULES = ["manifold_torch", "manifold_np", "core", "core.problem", "nn", "nn.modules",
           "nn.modules.utils", "nn.utils", "nn.utils.set_constraints",
           "nn.utils.stateless"]  # fmt: skip
LAYERS = [
    ("Linear_cdopt", (6, 4), [(3, 6)]), ("Bilinear_cdopt", (3, 4, 5), [(2, 3), (2, 4)]),
    ("Conv1d_cdopt", (4, 6, 3), [(2, 4, 7)]), ("Conv2d_cdopt", (2, 3, 2), [(1, 2, 4, 4)]),
    ("Conv3d_cdopt", (2, 3, 2), [(1, 2, 3, 3, 3)]),
    ("ConvTranspose1d_cdopt", (4, 3, 3), [(2, 4, 5)]),
    ("ConvTranspose2d_cdopt", (4, 6, 2), [(2, 4, 3, 3)]),
    ("ConvTranspose3d_cdopt", (2, 3, 2), [(1, 2, 2, 2, 2)]),
    ("RNN_cdopt", (3, 5), [(4, 2, 3)]), ("LSTM_cdopt", (3, 5, 2), [(4, 2, 3)]),
    ("GRU_cdopt", (3, 5), [(4, 2, 3)]), ("RNNCell_cdopt", (3, 5), [(2, 3)]),
    ("LSTMCell_cdopt", (3, 5), [(2, 3)]), ("GRUCell_cdopt", (3, 5), [(2, 3)]),
]  # fmt: skip


@pytest.mark.parametrize("path", MODULES)
def test_cdopt_module_paths_exist(path):
    importlib.import_module(f"solvent.compat.cdopt.{path}")


def test_cdopt_names_and_namespaces():
    assert cd.core.problem is cd.problem  # cdopt.core.problem(M, f) is the class, as in CDOpt
    for name in ["stiefel_np", "sphere_np", "oblique_np", "euclidean_np", "grassmann_np",
                 "generalized_stiefel_np", "hyperbolic_np", "symp_stiefel_np"]:  # fmt: skip
        assert hasattr(cd.manifold_np, name)
    assert not hasattr(cd.nn, "Linear")  # cdopt.nn is not torch.nn
    for name in ["Linear_cdopt", "get_quad_penalty", "RNNBase_cdopt", "wvt_flatten2d"]:
        assert getattr(cd.nn, name) is getattr(cd.nn.modules, name)
    assert cd.RNN_cdopt is cd.nn.RNN_cdopt and cd.stiefel_torch is stiefel_torch  # flat names


@pytest.mark.parametrize("name, args, shapes", LAYERS, ids=[c[0] for c in LAYERS])
def test_every_layer_trains_and_is_the_torch_layer(name, args, shapes):
    torch.manual_seed(0)
    layer = getattr(cd.nn, name)(*args, manifold_class=stiefel_torch, penalty_param=0.3)
    assert isinstance(layer, getattr(nn, name.removesuffix("_cdopt")))
    assert float(get_constraint_violation(layer)) < 1e-5  # initialised on the manifold
    with torch.no_grad():
        for p in layer.parameters():
            p.add_(0.1)
    xs = [torch.randn(s) for s in shapes]
    out = layer(*xs)
    out = out[0] if isinstance(out, tuple) else out
    loss = out.square().sum() + get_quad_penalty(layer)
    loss.backward()
    assert all(p.grad is not None for n, p in layer.named_parameters() if "weight" in n)
    torch.testing.assert_close(get_quad_penalty(layer), 0.3 * layer.quad_penalty())


def _stiefel_gram_error(W: torch.Tensor) -> float:
    return float((W.T @ W - torch.eye(W.shape[1], dtype=W.dtype)).abs().max())


def test_recurrent_gates_are_constrained_as_one_whole_matrix():
    f64 = torch.float64
    lstm = LSTM_cdopt(3, 4, 2, manifold_class=stiefel_torch, dtype=f64)
    gru = GRU_cdopt(3, 4, manifold_class=stiefel_torch, dtype=f64)
    for W in (lstm.weight_hh_l0, lstm.weight_hh_l1, gru.weight_hh_l0):
        assert _stiefel_gram_error(W.detach()) < 1e-12  # (4h x h) or (3h x h) has W^T W = I
        gate = W.detach()[:4]
        assert _stiefel_gram_error(gate) > 0.1  # each gate block alone is not orthonormal
    assert lstm.var_shape == (4, 4)  # CDOpt's manifold is built for (h, h)
    assert not any(n.startswith("weight_ih") for n in lstm._cdopt_weights)


def test_forward_uses_the_map_of_the_stacked_matrix():
    torch.manual_seed(0)
    gru = GRU_cdopt(3, 4, manifold_class=stiefel_torch).double()
    plain = nn.GRU(3, 4).double()
    with torch.no_grad():
        gru.weight_hh_l0.mul_(1.1)  # off the manifold
        plain.load_state_dict(gru.state_dict())
        W = gru.weight_hh_l0
        plain.weight_hh_l0.copy_(W @ (1.5 * torch.eye(4, dtype=W.dtype) - 0.5 * W.T @ W))
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    torch.testing.assert_close(gru(x)[0], plain(x)[0])


def test_conv_view_is_cdopts_out_k_k_by_in():
    conv = cd.nn.Conv2d_cdopt(2, 3, 2, manifold_class=stiefel_torch, dtype=torch.float64)
    assert conv.var_shape == (12, 2)  # (out * k * k, in); solvent's constrain uses (out, in*k*k)
    W = conv.weight.detach()
    V = W.transpose(0, 1).reshape(2, -1).T
    assert _stiefel_gram_error(V) < 1e-12
    tconv = cd.nn.ConvTranspose2d_cdopt(4, 3, 2, manifold_class=stiefel_torch)
    assert tconv.var_shape == (12, 4)


def test_violation_is_the_norm_per_layer_and_penalty_lambda_times_square():
    torch.manual_seed(0)
    first = Linear_cdopt(5, 3, manifold_class=stiefel_torch, penalty_param=0.25)
    last = Linear_cdopt(3, 2, manifold_class=sphere_torch, penalty_param=0.5)
    model = nn.Sequential(first, nn.ReLU(), last).double()
    with torch.no_grad():
        model[0].weight.mul_(1.3)
        model[2].weight.mul_(0.8)
    W0, W2 = model[0].weight.detach(), model[2].weight.detach()
    c0 = (W0 @ W0.T - torch.eye(3, dtype=torch.float64)).square().sum()
    c2 = (W2.square().sum() - 1) ** 2
    vec = get_constraint_violation_vector(model)
    torch.testing.assert_close(torch.stack(vec).detach(), torch.stack([c0.sqrt(), c2.sqrt()]))
    torch.testing.assert_close(get_constraint_violation(model), torch.hypot(c0.sqrt(), c2.sqrt()))
    torch.testing.assert_close(get_quad_penalty(model).detach(), 0.25 * c0 + 0.5 * c2)
    assert get_quad_penalty(nn.Linear(2, 2)) == 0  # no constrained layer: CDOpt's 0


def test_default_layer_is_euclidean_with_cdopts_state_dict_keys():
    fc = Linear_cdopt(4, 3)
    assert fc.manifold.name == "euclidean_torch" and fc.penalty_param == 0
    assert sorted(fc.state_dict()) == ["bias", "weight", "zeroX", "zero_scalar"]
    assert float(get_quad_penalty(fc)) == 0.0


def test_layers_pickle_copy_and_move_dtype():
    rnn = cd.nn.RNN_cdopt(3, 4, manifold_class=stiefel_torch, penalty_param=0.1)
    twin = pickle.loads(pickle.dumps(rnn))
    x = torch.randn(5, 1, 3)
    torch.testing.assert_close(twin(x)[0], rnn(x)[0])
    rnn64 = rnn.double()
    assert rnn64(x.double())[0].dtype == torch.float64


def test_functional_call_on_a_recurrent_layer_uses_the_given_weight():
    rnn = cd.nn.RNN_cdopt(3, 4, manifold_class=stiefel_torch, penalty_param=0.1).double()
    x = torch.randn(5, 1, 3, dtype=torch.float64)
    W = 2.0 * torch.eye(4, dtype=torch.float64)  # A(2I) = 2I (1.5 - 2) = -I
    out = cd.nn.utils.stateless.functional_call(rnn, {"weight_hh_l0": W}, x)[0]
    ref = cd.nn.utils.stateless.functional_call(rnn, {"weight_hh_l0": -torch.eye(4).double()}, x)[0]
    torch.testing.assert_close(out, ref)
    assert not torch.allclose(out, rnn(x)[0])
    pen = cd.nn.utils.stateless.get_quad_penalty_call(rnn, {"weight_hh_l0": W})
    torch.testing.assert_close(pen, torch.tensor(0.1 * 4 * 9.0, dtype=torch.float64))


# ---------------------------------------------------------------------- manifolds
def test_manifold_class_methods_used_with_scipy():
    M = stiefel_torch((5, 2))
    X = M.Init_point()
    assert X.dtype == torch.float64 and X.requires_grad and X.shape == (5, 2)
    x = M.tensor2array(M.m2v(X))
    assert isinstance(x, np.ndarray) and x.shape == (10,)
    Y = M.v2m(M.array2tensor(x))
    torch.testing.assert_close(Y, X)
    assert float(M.Feas_eval(Y)) < 1e-12
    Z = 1.2 * Y.detach()
    torch.testing.assert_close(M.Feas_eval(Z), torch.linalg.norm(Z.T @ Z - torch.eye(2).double()))
    assert M.C_quad_penalty(Z) == pytest.approx(float(M.Feas_eval(Z)) ** 2)


def test_manifold_derivatives_match_autograd():
    torch.manual_seed(0)
    M = stiefel_torch((5, 3))
    X, D, G = (torch.randn(5, 3, dtype=torch.float64) for _ in range(3))
    J = torch.autograd.functional.jacobian(M.A, X).reshape(15, 15)
    torch.testing.assert_close(M.JA(X, G).reshape(-1), J.T @ G.reshape(-1))
    torch.testing.assert_close(M.JA_transpose(X, D).reshape(-1), J @ D.reshape(-1))
    H = torch.autograd.functional.hessian(lambda Y: 0.5 * M.C(Y).square().sum(), X)
    torch.testing.assert_close(M.hess_feas(X, D).reshape(-1), H.reshape(15, 15) @ D.reshape(-1))


def test_sphere_is_the_whole_variable_like_cdopt():
    M = sphere_torch((4, 2))
    X = M.Init_point()
    assert float(X.detach().square().sum()) == pytest.approx(1.0)  # not row by row


def test_numpy_manifolds_take_and_return_arrays():
    np.random.seed(0)
    M = cd.manifold_np.stiefel_np((6, 2))
    X = M.Init_point()
    assert isinstance(X, np.ndarray) and M.Feas_eval(X) < 1e-12
    Y = 1.1 * X
    assert isinstance(M.A(Y), np.ndarray)
    np.testing.assert_allclose(M.A(Y), Y @ (1.5 * np.eye(2) - 0.5 * Y.T @ Y))
    assert M.array2tensor(X) is X and M.tensor2array(X) is X


# ---------------------------------------------------------------------- problem
def _fd(f, x, d, h=1e-6):
    return (f(x + h * d) - f(x - h * d)) / (2 * h)


@pytest.mark.parametrize("kind", ["torch", "torch_given_grad", "numpy_given", "numpy_autograd"])
def test_problem_gradient_and_hvp_are_exact(kind):
    torch.manual_seed(0)
    np.random.seed(0)
    Hm = np.random.randn(6, 6)
    Hm = Hm + Hm.T
    Ht = torch.as_tensor(Hm)
    if kind.startswith("torch"):
        M = stiefel_torch((6, 2))
        grad = (lambda X: -Ht @ X + 4 * X ** 3) if kind == "torch_given_grad" else None
        pb = cd.problem(M, lambda X: -0.5 * torch.sum(X * (Ht @ X)) + torch.sum(X ** 4),
                        obj_grad=grad, beta=7.0)  # fmt: skip
    elif kind == "numpy_given":
        M = cd.manifold_np.stiefel_np((6, 2))
        pb = cd.problem(M, lambda X: -0.5 * np.sum(X * (Hm @ X)) + np.sum(X ** 4),
                        obj_grad=lambda X: -Hm @ X + 4 * X ** 3,
                        obj_hvp=lambda X, D: -Hm @ D + 12 * X ** 2 * D, beta=7.0)  # fmt: skip
    else:
        import autograd.numpy as anp

        M = cd.manifold_np.stiefel_np((6, 2))
        pb = cd.problem(M, lambda X: -0.5 * anp.sum(X * (Hm @ X)) + anp.sum(X ** 4), beta=7.0)
    x = pb.Xinit_vec_np + 0.1 * np.random.randn(12)
    d = np.random.randn(12)
    g = pb.cdf_grad_vec_np(x)
    assert float(g @ d) == pytest.approx(_fd(pb.cdf_fun_vec_np, x, d), rel=1e-6)
    hv = pb.cdf_hvp_vec_np(x, d)
    np.testing.assert_allclose(hv, _fd(pb.cdf_grad_vec_np, x, d), rtol=1e-5, atol=1e-6)
    assert pb.beta == 7.0


def test_problem_auto_beta_is_reproducible_from_numpy_seed():
    M = stiefel_torch((5, 2))
    def f(X):
        return -torch.sum(X[:, 0] * X[:, 1] ** 3)

    betas = []
    for _ in range(2):
        np.random.seed(3)
        torch.manual_seed(3)
        betas.append(cd.problem(M, f).beta)
    assert betas[0] == betas[1] and betas[0] > 0


def test_problem_errors_say_what_to_do():
    M = stiefel_torch((4, 2))
    with pytest.raises(ValueError, match="'auto'"):
        cd.problem(M, lambda X: X.sum(), beta="big")
    pb = cd.problem(M, lambda X: X.sum(), beta=1.0, enable_autodiff=False)
    with pytest.raises(NotImplementedError, match="obj_grad="):
        pb.cdf_grad_vec_np(pb.Xinit_vec_np)
