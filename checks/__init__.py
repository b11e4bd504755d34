"""Checks written once against the store adapters; `estate verify` runs them on any environment.

Each check returns a Result: it holds, it does not hold (with why), or the server cannot do it
(``unsupported``, reported as such rather than passed).
"""
from checks.registry import CHECKS, Check, Failed, Outcome, Result, Unsupported, Warned, run_checks
from checks.report import write_report

__all__ = ["CHECKS", "Check", "Failed", "Outcome", "Result", "Unsupported", "Warned", "run_checks", "write_report"]
