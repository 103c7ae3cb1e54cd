"""marginspec: crypto venues' margin rules as versioned data, and a generic
engine that evaluates them against account snapshots."""

from .version import __version__
from .api import Rules, evaluate, load  # noqa: E402
from .errors import (  # noqa: E402
    EvaluationError, MarginspecError, RuleFileError, RuleFileErrors, SnapshotError, UsageError,
)
from .run.result import Result  # noqa: E402

__all__ = [
    "EvaluationError", "MarginspecError", "Result", "RuleFileError", "RuleFileErrors", "Rules",
    "SnapshotError", "UsageError", "__version__", "evaluate", "load",
]
