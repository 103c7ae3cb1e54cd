"""Fuzz: the Python API called by a careless or hostile program. Every public
entry point gets hostile arguments (wrong types, NaN, huge and negative sizes,
hostile strings, mutated snapshots and payloads). It either answers (with no
NaN in what it returns) or raises a MarginspecError whose message names the
argument or the place; never a TypeError, KeyError or the like from inside."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import marginspec
import numpy as np
from fuzzing import fuzz_settings, judged
from hostile import hostile_values, mutated_document
from hypothesis import given
from hypothesis import strategies as st
from marginspec import api
from marginspec.errors import MarginspecError

from payload_helpers import SAMPLES

ROOT = Path(__file__).resolve().parents[2]
SPEC = "okx/multi_currency_margin"
EXAMPLE = json.loads((ROOT / "exchanges" / "okx" / "examples" / "multi_currency_margin.json").read_text(encoding="utf-8"))
BALANCE = json.loads((SAMPLES["okx"] / "account_balance.json").read_text(encoding="utf-8"))
RULES = api.load(SPEC, at="2026-01-15")
BATCH = RULES.batch([EXAMPLE])
KEYS = ["as_of", "currencies", "positions", "currency", "size", "cash_balance", "usd_price", "inst_id", "data", "details", "ccy", "eq"]


def mostly(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`valid` three times in four, else a hostile value: most calls get far enough to reach the engine."""
    return st.one_of(valid, valid, valid, hostile_values())


def specs() -> st.SearchStrategy[Any]:
    return st.sampled_from([SPEC, SPEC, SPEC, f"{SPEC}@2024-11-08", "okx/nope", "okx", "/", "", "okx/multi_currency_margin@2099-01-01",
                            "okx/multi_currency_margin@2024-13-01", "../../etc/passwd", "okx/spot@1900-01-01"]) | hostile_values()


def snapshots() -> st.SearchStrategy[Any]:
    return mostly(st.just(copy.deepcopy(EXAMPLE)) | mutated_document(EXAMPLE, KEYS))


def dates() -> st.SearchStrategy[Any]:
    return mostly(st.sampled_from([None, None, None, "2026-01-15", "2026-01-15T00:00:00Z", "0001-01-01", "9999-12-31", "2025-02-30",
                                   "yesterday", "2025-01-01junk", 20250101]))


def arrays() -> st.SearchStrategy[Any]:
    return st.sampled_from([np.array([1.0, 2.0]), np.array([np.nan, 1.0]), np.array([np.inf]), np.array(["false", "x"]),
                            np.zeros((2, 2)), np.array([], dtype=float), [1, 2], ["false", "true"], [None, 1], np.array([1, 2], dtype=object)]) \
        | hostile_values()


# each entry: (name, strategy of a thunk calling the API with hostile arguments)
CALLS: dict[str, st.SearchStrategy[Any]] = {
    "load": st.builds(lambda s, a: (f"api.load({s!r}, at={a!r})", lambda: api.load(s, at=a)), specs(), dates()),
    "evaluate": st.builds(lambda s, d, a: (f"api.evaluate({s!r}, {d!r}, at={a!r})", lambda: api.evaluate(s, d, at=a)), specs(), snapshots(), dates() | st.none()),
    "Rules.evaluate": st.builds(lambda d, a: (f"rules.evaluate({d!r}, at={a!r})", lambda: RULES.evaluate(d, at=a)), snapshots(), dates() | st.none()),
    "Rules.values": st.builds(lambda d: (f"rules.values({d!r})", lambda: RULES.values(d)), snapshots()),
    "Rules.batch": st.builds(lambda ds: (f"rules.batch({ds!r})", lambda: RULES.batch(ds)), st.lists(snapshots(), max_size=3) | hostile_values()),
    "Rules.columns": st.builds(lambda n, acc, cur: (f"rules.columns({n!r}, {acc!r}, currencies={cur!r})", lambda: RULES.columns(n, acc, currencies=cur)), st.integers(-3, 3) | hostile_values(),
                               st.none() | st.dictionaries(st.sampled_from(["upl", "x", ""]), arrays(), max_size=2),
                               st.dictionaries(st.sampled_from(["cash_balance", "usd_price", "currency", "__rows__", "x"]), arrays(), max_size=3)
                               | hostile_values()),
    "Rules.evaluate_batch": st.builds(lambda block, names, backend: (f"rules.evaluate_batch(batch, block={block!r}, names={names!r}, backend={backend!r})",
                                                                    lambda: RULES.evaluate_batch(BATCH, block=block, names=names, backend=backend)),
                                      st.none() | st.integers(-2, 3) | hostile_values(),
                                      st.none() | st.lists(st.sampled_from(["margin_ratio", "adjusted_equity", "nope", ""]), max_size=2) | hostile_values(),
                                      st.sampled_from(["numpy"]) | hostile_values()),
    "whatif": st.builds(lambda d, shocks, add, remove: (f"api.whatif({SPEC!r}, {d!r}, shocks={shocks!r}, add_positions={add!r}, remove_positions={remove!r})",
                                                   lambda: api.whatif(SPEC, d, shocks=shocks, add_positions=add, remove_positions=remove)),
                        st.just(copy.deepcopy(EXAMPLE)) | snapshots(),
                        st.none() | st.dictionaries(st.sampled_from(["BTC", "eth", "NOPE", ""]) | st.text(max_size=4),
                                                    st.sampled_from([-0.1, 0.5, -1.0, -2.0, math.nan, math.inf, 1e308]) | hostile_values(), max_size=2)
                        | hostile_values(),
                        st.none() | st.lists(st.just(dict(EXAMPLE["positions"][0], inst_id="NEW")) | hostile_values(), max_size=1) | hostile_values(),
                        st.none() | st.lists(st.sampled_from(["BTC-USDT-SWAP", "nope"]) | hostile_values(), max_size=2) | hostile_values()),
    "import_payloads": st.builds(lambda v, p, m, a: (f"api.import_payloads({v!r}, {p!r}, mode={m!r}, as_of={a!r})",
                                                       lambda: api.import_payloads(v, p, mode=m, as_of=a)),
                                 st.sampled_from(["okx", "gate", "nope"]) | hostile_values(),
                                 st.lists(st.just(copy.deepcopy(BALANCE)) | mutated_document(BALANCE, KEYS) | hostile_values(), max_size=2)
                                 | st.dictionaries(st.text(max_size=5), st.just(copy.deepcopy(BALANCE)), max_size=1) | hostile_values(),
                                 st.none() | st.sampled_from(["multi_currency_margin", "spot", "nope"]) | hostile_values(),
                                 st.none() | dates()),
}


def no_nan(value: Any) -> bool:
    """Nothing the API returned holds a NaN (a float, an array, or inside a result's values)."""
    if isinstance(value, float):
        return not math.isnan(value)
    if isinstance(value, np.ndarray):
        return value.dtype.kind != "f" or not np.isnan(value).any()
    if isinstance(value, dict):
        return all(no_nan(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(no_nan(v) for v in value)
    if isinstance(value, marginspec.Result):
        return no_nan(value.values)
    return True


@fuzz_settings(350)
@given(call=st.sampled_from(sorted(CALLS)).flatmap(lambda name: st.tuples(st.just(name), CALLS[name])))
def test_hostile_api_calls(call):
    name, thunk = call
    described, thunk = thunk
    with judged("API calls", lambda: described) as say:
        try:
            answer = thunk()
        except MarginspecError as exc:
            return say("refused cleanly" if str(exc).strip() else "unlocated", str(exc))
        if not no_nan(answer):
            return say("silent wrong", f"{name} returned a NaN: {answer!r}"[:2000])
        return say("accepted", "")


