"""The base of every error spoofscope raises for bad user input."""


class SpoofscopeError(Exception):
    """A user-facing error: the CLI prints its message, without a traceback."""
