"""The one exception type that nffit raises for bad user input.

Every message is one line that says what is wrong and how to fix it; the CLI prints it
without a traceback and exits with status 2.
"""

from __future__ import annotations

__all__ = ["NffitError"]


class NffitError(ValueError):
    """Bad input (file, shape, parameter name or value) with a one-line, actionable message."""
