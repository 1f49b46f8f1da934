"""CDOpt's ``cdopt.nn.utils``: ``set_constraints`` and ``stateless``.

Example:
    >>> from solvent.compat.cdopt.nn.utils.set_constraints import set_constraint_dissolving
    >>> from solvent.compat.cdopt.nn.utils.stateless import functional_call
    >>> callable(set_constraint_dissolving) and callable(functional_call)
    True
"""

from solvent.compat.cdopt.nn.utils import set_constraints, stateless

__all__ = ["set_constraints", "stateless"]
