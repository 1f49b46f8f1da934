"""CDOpt's ``cdopt.core``: ``cdopt.core.problem`` is the problem class (as in CDOpt).

Example:
    >>> import solvent.compat.cdopt as cdopt_compat
    >>> cdopt_compat.core.problem.__name__
    'problem'
"""

from solvent.compat.cdopt.core.problem import problem

__all__ = ["problem"]
