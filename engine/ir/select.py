"""A plan cut down to some of its outputs: the steps those outputs need and
nothing else, so that a batch asked for the margin ratio and the states does
not compute (or store) every per-position quantity.

Inputs and indexes are kept whole: a batch is built once for its rule set,
whatever is selected from it."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from ..errors import UsageError
from .plan import Plan


def selection(plan: Plan, names: Iterable[str] | None) -> tuple[str, ...] | None:
    """The selected outputs in the plan's order (None: all of them); an unknown name is a UsageError that
    lists the known ones."""
    if names is None:
        return None
    listed = list(names) if isinstance(names, Iterable) and not isinstance(names, (str, bytes, dict)) else None
    if listed is None or not all(isinstance(n, str) for n in listed):
        raise UsageError(f"names: expected a list of quantity and threshold names, got {_short(names)}")
    wanted = list(dict.fromkeys(listed))
    unknown = [n for n in wanted if n not in plan.outputs]
    if unknown:
        raise UsageError(f"{unknown[0]!r} is not a quantity or threshold of {plan.ruleset} "
                         f"(it has: {', '.join(plan.outputs)})")
    if not wanted:
        raise UsageError("select at least one quantity or threshold")
    return tuple(n for n in plan.outputs if n in wanted)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def select_plan(plan: Plan, names: tuple[str, ...]) -> Plan:
    """The plan computing only `names` (outputs of `plan`), the guards of the thresholds among them, and
    what those read; steps keep their order."""
    needed = set(names) | {plan.guards[t] for t in names if t in plan.guards}
    kept = []
    for step in reversed(plan.steps):
        if step.out.name in needed:
            kept.append(step)
            needed.update(step.reads)
    return dataclasses.replace(
        plan,
        steps=kept[::-1],
        outputs={n: plan.outputs[n] for n in names},
        thresholds={t: v for t, v in plan.thresholds.items() if t in names},
        guards={t: g for t, g in plan.guards.items() if t in names},
    )
