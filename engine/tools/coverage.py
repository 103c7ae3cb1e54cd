"""Case coverage: which quantities and thresholds no case exercises.

A case exercises the values it checks and everything they are computed from
(the rule set's dependency graph), on the axes where its snapshot has rows. An
entry is identified by the file that defines it, so a formula inherited
unchanged by later versions is covered by a case on any of them."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..ir.plan import ACCOUNT
from ..run.rules import Rules
from .cases import CaseOutcome

TARGET_NAME = re.compile(r"^([a-z][a-z0-9_]*)")


@dataclass(frozen=True, order=True)
class Entry:
    file: str
    section: str
    name: str
    line: int | None


def exercised(rules: Rules, outcome: CaseOutcome) -> set[str]:
    plan = rules.kernel.plan
    todo = []
    for target in outcome.checked:
        name = TARGET_NAME.match(target).group(1)  # type: ignore[union-attr]
        if name == "state":
            axis = target.split("[", 1)[1].split(":")[0] if "[" in target else ACCOUNT
            todo += [t for t, (a, _) in plan.thresholds.items() if a == axis]
        else:
            todo.append(name)
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen or name not in plan.outputs:
            continue
        rows = plan.outputs[name].shape.rows
        if rows not in (None, ACCOUNT) and not outcome.rows.get(rows):
            continue  # computed on no rows in this snapshot: not exercised here
        seen.add(name)
        todo += plan.deps.get(name, [])
    return seen


def uncovered(compiled: dict[str, Rules], outcomes: list[CaseOutcome]) -> tuple[list[Entry], int]:
    """(entries no case exercises, number of entries), over the versions in `compiled`."""
    covered: set[tuple[str, str]] = set()
    for o in outcomes:
        if o.build in compiled and o.ok:
            rs = compiled[o.build].ruleset
            for name in exercised(compiled[o.build], o):
                section = "quantities" if name in rs.quantities else "thresholds"
                covered.add((rs.origin(section, name).doc.file, name))
    entries: set[Entry] = set()
    for rules in compiled.values():
        rs = rules.ruleset
        for section in ("quantities", "thresholds"):
            for name in rs.section(section):
                origin = rs.origin(section, name)
                entries.add(Entry(origin.doc.file, section, name, origin.loc().line))
    missing = sorted(e for e in entries if (e.file, e.name) not in covered)
    return missing, len(entries)
