"""Constrain any parameter of any module to a manifold (mechanism only: no manifold is special).

Example:
    >>> import torch, solvent
    >>> lin = solvent.constrain(torch.nn.Linear(8, 4), "weight", "stiefel", beta=0.1)
    >>> loss = lin(torch.randn(2, 8)).sum() + solvent.penalty(lin)

Note [one training step]
~~~~~~~~~~~~~~~~~~~~~~~~
Where each piece lives, followed through one step of
``loss = f(model(x)) + solvent.penalty(model); loss.backward(); opt.step()``.

1. ``solvent.constrain(module, "weight", "stiefel")`` (``api.py``) checks
   everything first (names, dtype, shape policy in ``shapes.py``, the
   projected weight's feasibility), then stores the free variable in the
   Parameter (X = the weight projected; a chart's coordinates Z), builds a
   ``Dissolved`` (``dissolved.py``: manifold, view, beta, the maths) and gives
   the module its constrained class ``ConstrainedLinear``
   (``constrained.py``). Every owner of a tied Parameter gets the same one.
2. ``model(x)`` reaches ``ConstrainedLinear.forward``, which calls
   ``handover.run_forward``: for each constrained name, ``handover.dissolve``
   evaluates ``A(X), C(X)`` (one map: the manifold's protected hook), stashes
   C(X) for this thread's penalty, hands the guard (``guard.py``) the pair,
   and puts A(X) in a frame that belongs to this thread and this call. The
   base class's forward then runs; every read of ``self.weight`` (the class's
   property) returns the frame's A(X). A recurrent module reads its
   ``_flat_weights`` instead, which ``recurrent.py`` builds from the frame.
   The frame is popped when the forward returns or raises: the module holds
   nothing of the forward afterwards.
3. ``solvent.penalty(model)`` (``ops.py``) sums ``beta * 1/2 ||C||^2``, reusing
   the stashed C(X) when it is still that of X (Note [penalty reuse]).
4. ``loss.backward()`` flows through A into X. When X's gradient is complete,
   the guard's post-accumulate-grad hook drops the stash and, if ||C(X)|| has
   passed sqrt(tolerance), sets X <- A(X) (Note [keep feasible]).
5. ``opt.step()`` updates X as any Parameter. The next forward starts again at 2.

Around the step: ``state_dict``/``load_state_dict`` (``checkpoint.py``),
pickling and ``copy.deepcopy`` (``pickling.py``), ``solvent.cached()``
(``handover.py``: one map per scope for a parent that reads ``child.weight``
in a loop), ``violation``/``project_``/``unconstrain``/``bake`` (``ops.py``).
"""

from solvent.layers.api import DEFAULT_BETA, constrain, default_names
from solvent.layers.constrained import dissolved_of
from solvent.layers.dissolved import Dissolved
from solvent.layers.handover import cached
from solvent.layers.ops import (
    bake,
    constraints,
    is_constrained,
    penalty,
    project_,
    unconstrain,
    violation,
)
from solvent.layers.shapes import GATES, MatrixView, matrix_view

__all__ = [
    "DEFAULT_BETA",
    "GATES",
    "Dissolved",
    "MatrixView",
    "bake",
    "cached",
    "constrain",
    "constraints",
    "default_names",
    "dissolved_of",
    "is_constrained",
    "matrix_view",
    "penalty",
    "project_",
    "unconstrain",
    "violation",
]
