"""marginspec: crypto venues' margin rules as versioned data, and a generic
engine that evaluates them against account snapshots."""

from .api import Rules, evaluate, load, whatif
from .errors import (
    EvaluationError,
    MarginspecError,
    RuleFileError,
    RuleFileErrors,
    SnapshotError,
    UsageError,
)
from .run.result import Result
from .version import __version__

__all__ = [
    "EvaluationError", "MarginspecError", "Result", "RuleFileError", "RuleFileErrors", "Rules",
    "SnapshotError", "UsageError", "__version__", "evaluate", "load", "whatif",
]
