"""CDOpt's ``cdopt.nn``: the layers of :mod:`.modules` and the helpers of :mod:`.utils`.

Unlike ``torch.nn`` this namespace holds only CDOpt's names: ``cdopt.nn.Linear``
does not exist here either.

Example:
    >>> import solvent.compat.cdopt
    >>> fc = solvent.compat.cdopt.nn.Linear_cdopt(4, 2)
    >>> fc.manifold.name, fc.penalty_param
    ('euclidean_torch', 0)
"""

from solvent.compat.cdopt.nn import modules, utils
from solvent.compat.cdopt.nn.modules import *  # noqa: F403 (CDOpt's namespace, __all__ below)
from solvent.compat.cdopt.nn.modules import __all__ as _modules_all

__all__ = ["modules", "utils", *_modules_all]
