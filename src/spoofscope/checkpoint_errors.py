"""The error raised for checkpoints that are missing, malformed, unsafe or do not fit a model.

It lives in its own module so that :mod:`spoofscope.checkpoint` and
:mod:`spoofscope.upstream` can both raise it without importing each other.
"""

from __future__ import annotations

from spoofscope.errors import SpoofscopeError

__all__ = ["CheckpointError"]


class CheckpointError(SpoofscopeError):
    """A checkpoint cannot be loaded: missing, malformed, not plain weights, or a misfit."""
