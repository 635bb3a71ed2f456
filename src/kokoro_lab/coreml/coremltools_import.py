"""``import coremltools``, without the notices it logs on every import outside macOS.

On Linux coremltools logs that its macOS runtime (``libcoremlpython``) is missing, once per
proxy class, and that the installed torch and scikit-learn are newer than it was tested with.
Conversion works regardless, and the book already says that predictions need macOS, so these
lines are expected; only they are dropped. Every other message of coremltools still shows.
"""

from __future__ import annotations

import logging
import re
from types import ModuleType

EXPECTED = re.compile(
    r"Failed to load _ML\w+Proxy: No module named 'coremltools\.libcoremlpython'"
    r"|scikit-learn version .* is not supported"
    r"|Torch version .* has not been tested with coremltools"
)


class _DropExpected(logging.Filter):
    """Drop the expected import-time notices; pass everything else."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not EXPECTED.search(record.getMessage())


def load_coremltools() -> ModuleType:
    """Import and return ``coremltools``; raise a clear error if it is not installed."""
    import sys

    if "coremltools" in sys.modules:
        return sys.modules["coremltools"]
    # Handler filters see records from every child logger (logger filters would not), so the
    # filter goes on the handlers that would print them, for the duration of the import only.
    drop = _DropExpected()
    handlers = [h for h in (*logging.getLogger().handlers, logging.lastResort) if h is not None]
    for handler in handlers:
        handler.addFilter(drop)
    try:
        import coremltools
    except ImportError as err:
        raise ImportError(
            "coremltools is not installed; install it with `pip install coremltools==9.0` "
            "(scripts/setup.sh does)."
        ) from err
    finally:
        for handler in handlers:
            handler.removeFilter(drop)
    return coremltools
