"""Hand-written baselines of okx/multi_currency_margin@2021-01-13 on 2024-01-02, and synthetic
accounts for the benchmarks: the same formulas written out by hand, once in
plain Python (one snapshot) and once in numpy (columns of many accounts).

They read the same tier tables (the versions in force on DATE, through the
catalog: data only, the formulas are written out here) and compute every
quantity and threshold of the rule set, so the engine and the baselines do the
same work; run.py checks that they agree before timing them."""

from __future__ import annotations

import bisect
import datetime as dt
import math
from typing import Any

import numpy as np
from marginspec.source.catalog import Catalog

RULESET = "okx/multi_currency_margin@2021-01-13"
DATE = dt.date(2024, 1, 2)
_RS = Catalog().load(RULESET, DATE)
FEE_RATE = float(_RS.parameters["liquidation_fee_rate"].value)  # type: ignore[arg-type]
CURRENCIES = ["BTC", "ETH", "USDT", "USDC", "SOL"]
PRICES = [95000.0, 3300.0, 0.9997, 0.9999, 140.0]
# 20 instrument slots per account: (inst_id, tier_family, contract_type, settle currency index, ct_val, ct_mult, mark)
SLOTS = []
for k in range(20):
    kind = k % 5
    if kind in (0, 1):
        base = ["BTC", "ETH", "SOL"][k % 3]
        SLOTS.append((f"{base}-USDT-SWAP-{k}", f"SWAP/{base}-USDT", "linear", 2, {"BTC": 0.01, "ETH": 0.1, "SOL": 1}[base], 1.0, PRICES[CURRENCIES.index(base)]))
    elif kind in (2, 3):
        base = ["BTC", "ETH"][k % 2]
        SLOTS.append((f"{base}-USD-SWAP-{k}", f"SWAP/{base}-USD", "inverse", CURRENCIES.index(base), {"BTC": 100.0, "ETH": 10.0}[base], 1.0, PRICES[CURRENCIES.index(base)]))
    else:
        SLOTS.append((f"BTC-USD-OPT-{k}", "OPTION/BTC-USD", "option", 0, 1.0, 0.01, 0.02))


def load_table(name: str) -> dict[str, list[dict[str, Any]]]:
    return {k: [dict(r) for r in rows] for k, rows in _RS.tables[name].tiers.items()}


DISCOUNT = load_table("discount_tiers")  # USD bands
POSITION = load_table("position_tiers")
BORROW = load_table("borrow_tiers")


# ---------------------------------------------------------------- plain Python


def _row_tables(table: dict[str, list[dict[str, Any]]], columns: list[str]) -> dict[str, tuple[list[float], dict[str, list[float]]]]:
    """Per key: the tiers' lower bounds and each column, as lists (what bisect wants)."""
    return {k: ([t["lower"] for t in rows], {c: [t[c] for t in rows] for c in columns}) for k, rows in table.items()}


PY_DISCOUNT = {k: [(t["lower"], math.inf if t["upper"] is None else t["upper"], t["rate"]) for t in rows] for k, rows in DISCOUNT.items()}
PY_POSITION = _row_tables(POSITION, ["mmr"])
PY_BORROW = _row_tables(BORROW, ["mmr", "imr"])


def handwritten_python(snap: dict[str, Any]) -> dict[str, Any]:
    """Every quantity and threshold of the rule set for one snapshot, written out by hand."""
    currencies, positions = snap["currencies"], snap["positions"]
    row = {c["currency"]: i for i, c in enumerate(currencies)}
    usd = [c["usd_price"] for c in currencies]
    nc = len(currencies)
    cross_upl, iso_upl, iso_margin, cross_ov, iso_ov = [0.0] * nc, [0.0] * nc, [0.0] * nc, [0.0] * nc, [0.0] * nc
    fam: dict[str, float] = {}
    upls, ovs, notionals, notionals_usd, settles, crosses = [], [], [], [], [], []
    for p in positions:
        size, ctv, mult, mark, avg = p["size"], p["ct_val"], p.get("ct_mult", 1.0), p["mark_price"], p["avg_price"]
        ct, cross = p["contract_type"], p.get("margin_mode", "cross") == "cross"
        s = row[p["settle_currency"]]
        face = abs(size) * ctv * mult
        if ct == "linear":
            upl, notional, ov = size * ctv * mult * (mark - avg), face * mark, 0.0
            notional_usd = notional * usd[s]
        elif ct == "inverse":
            upl, notional, ov = size * ctv * mult * (1 / avg - 1 / mark), face / mark, 0.0
            notional_usd = face
        else:
            upl, notional, notional_usd, ov = (mark - avg) * size * mult * ctv, 0.0, 0.0, size * mark * mult * ctv
        if cross:
            if ct != "option":
                cross_upl[s] += upl
            cross_ov[s] += ov
            fam[p["tier_family"]] = fam.get(p["tier_family"], 0.0) + abs(size)
        else:
            if ct != "option":
                iso_upl[s] += upl
            iso_margin[s] += p.get("isolated_margin", 0.0)
            iso_ov[s] += ov
        upls.append(upl)
        ovs.append(ov)
        notionals.append(notional)
        notionals_usd.append(notional_usd)
        settles.append(s)
        crosses.append(cross)
    tcs, mm_rates, mms, ims, mm_usds, im_usds, iso_ratios, iso_liqs = [], [], [], [], [], [], [], []
    position_mmr = position_imr = 0.0
    for p, upl, notional, s, cross in zip(positions, upls, notionals, settles, crosses):
        tc = fam[p["tier_family"]] if cross else abs(p["size"])
        lows, cols = PY_POSITION.get(p["tier_family"]) or PY_POSITION["*"]
        tier = max(bisect.bisect_left(lows, tc) - 1, 0)  # lower < x <= upper
        mm_rate = cols["mmr"][tier]
        mm, im = notional * mm_rate, notional / p.get("leverage", 1.0)
        mm_usd, im_usd = mm * usd[s], im * usd[s]
        iso_ratio = (p.get("isolated_margin", 0.0) + upl) / mm if (not cross and p["contract_type"] != "option" and mm > 0) else math.inf
        if cross:
            position_mmr += mm_usd
            position_imr += im_usd
        tcs.append(tc)
        mm_rates.append(mm_rate)
        mms.append(mm)
        ims.append(im)
        mm_usds.append(mm_usd)
        im_usds.append(im_usd)
        iso_ratios.append(iso_ratio)
        iso_liqs.append(iso_ratio <= 1)
    equities, cross_eqs, iso_eqs, eq_usds, cross_liabs, liabs, discs, b_mms, b_mm_usds, b_ims, b_im_usds = ([] for _ in range(11))
    total_eq = iso_eq_usd = upl_usd = adj = borrow_mmr = borrow_imr = liab_usd = 0.0
    for i, c in enumerate(currencies):
        base = c["cash_balance"] + c.get("strategy_equity", 0.0) - c.get("accrued_interest", 0.0)
        cross_eq = base + cross_upl[i] + cross_ov[i]
        iso_eq = iso_margin[i] + iso_upl[i] + iso_ov[i]
        equity = cross_eq + iso_eq
        u = usd[i]
        cross_liab = -cross_eq if cross_eq < 0 else 0.0
        if cross_eq > 0:
            disc, value = 0.0, cross_eq * u
            for lo, hi, rate in PY_DISCOUNT.get(c["currency"]) or PY_DISCOUNT["*"]:
                if value <= lo:
                    break
                disc += rate * (min(value, hi) - lo)
        else:
            disc = cross_eq * u
        lows, cols = PY_BORROW.get(c["currency"]) or PY_BORROW["*"]
        tier = max(bisect.bisect_left(lows, cross_liab) - 1, 0)
        b_mm, b_im = cols["mmr"][tier], cols["imr"][tier]
        b_mm_usd, b_im_usd = cross_liab * b_mm * u, cross_liab * b_im * u
        total_eq += equity * u
        iso_eq_usd += iso_eq * u
        upl_usd += cross_upl[i] * u
        adj += disc
        borrow_mmr += b_mm_usd
        borrow_imr += b_im_usd
        liab_usd += cross_liab * u
        equities.append(equity)
        cross_eqs.append(cross_eq)
        iso_eqs.append(iso_eq)
        eq_usds.append(equity * u)
        cross_liabs.append(cross_liab)
        liabs.append(cross_liab + c.get("isolated_liability", 0.0))
        discs.append(disc)
        b_mms.append(b_mm)
        b_mm_usds.append(b_mm_usd)
        b_ims.append(b_im)
        b_im_usds.append(b_im_usd)
    notional_total = sum(notionals_usd)
    mmr, imr = position_mmr + borrow_mmr, position_imr + borrow_imr
    cost = FEE_RATE * (liab_usd + borrow_mmr)
    ratio = adj / (mmr + cost) if mmr + cost > 0 else math.inf
    return {
        "upl": upls, "option_value": ovs, "notional": notionals, "notional_usd": notionals_usd, "tier_contracts": tcs, "mm_rate": mm_rates,
        "maintenance_margin": mms, "initial_margin": ims, "maintenance_margin_usd": mm_usds, "initial_margin_usd": im_usds,
        "isolated_margin_ratio": iso_ratios, "isolated_liquidation": iso_liqs,
        "cross_upl": cross_upl, "isolated_upl": iso_upl, "isolated_margin_balance": iso_margin, "cross_option_value": cross_ov,
        "isolated_option_value": iso_ov, "equity": equities, "cross_equity": cross_eqs, "isolated_equity": iso_eqs, "equity_usd": eq_usds,
        "cross_liability": cross_liabs, "liability": liabs, "discounted_equity": discs, "borrow_mm_rate": b_mms,
        "borrow_maintenance_margin_usd": b_mm_usds, "borrow_im_rate": b_ims, "borrow_initial_margin_usd": b_im_usds,
        "total_equity": total_eq, "isolated_equity_usd": iso_eq_usd, "upl_usd": upl_usd, "adjusted_equity": adj,
        "position_mmr": position_mmr, "borrow_mmr": borrow_mmr, "mmr": mmr, "position_imr": position_imr, "borrow_imr": borrow_imr,
        "imr": imr, "notional_usd_total": notional_total, "equity_to_notional": adj / notional_total if notional_total > 0 else math.inf,
        "liquidation_cost": cost, "margin_ratio": ratio, "warning": ratio <= 3, "liquidation": ratio <= 1,
        "family_contracts": [fam.get(f, 0.0) for f in sorted({p["tier_family"] for p in positions})],
        "short_options": [p["contract_type"] == "option" and p["size"] < 0 for p in positions],
        "isolated_margin_positions": any(c.get("isolated_liability", 0.0) > 0 for c in currencies),
    }


# ---------------------------------------------------------------- numpy


def _padded(table: dict[str, list[dict[str, Any]]], keys: list[str], column: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lower, width, values) as (keys x tiers) arrays, padding with lower=inf, width=0, value=0."""
    rows = [table.get(k) or table["*"] for k in keys]
    t = max(len(r) for r in rows)
    lower = np.full((len(keys), t), np.inf)
    width = np.zeros((len(keys), t))
    value = np.zeros((len(keys), t))
    for i, r in enumerate(rows):
        for j, tier in enumerate(r):
            lower[i, j] = tier["lower"]
            width[i, j] = np.inf if tier["upper"] is None else tier["upper"] - tier["lower"]
            value[i, j] = tier[column]
    return lower, width, value


def np_tier(lower: np.ndarray, value: np.ndarray, key: np.ndarray, x: np.ndarray) -> np.ndarray:
    tier = np.zeros(x.shape, dtype=np.intp)
    for j in range(1, lower.shape[1]):
        tier += x > lower[key, j]
    return value[key, tier]


def np_progressive(lower: np.ndarray, width: np.ndarray, value: np.ndarray, key: np.ndarray, x: np.ndarray) -> np.ndarray:
    total = np.zeros(x.shape)
    start = np.where(np.isinf(lower), 0.0, lower)
    for j in range(lower.shape[1]):
        total += np.minimum(np.maximum(x - start[key, j], 0.0), width[key, j]) * value[key, j]
    return total


FAMILIES = sorted({s[1] for s in SLOTS})
P_LOW, _, P_MMR = _padded(POSITION, FAMILIES, "mmr")
D_LOW, D_WID, D_RATE = _padded(DISCOUNT, CURRENCIES, "rate")
B_LOW, _, B_MMR = _padded(BORROW, CURRENCIES, "mmr")
_, _, B_IMR = _padded(BORROW, CURRENCIES, "imr")


def handwritten_numpy(c: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    """Every quantity and threshold for n accounts given as columns (see synthetic_columns)."""
    size, ctv, mult, mark, avg = c["size"], c["ct_val"], c["ct_mult"], c["mark_price"], c["avg_price"]
    ct, cross = c["contract_type"], c["margin_mode"] == 0
    settle, usd = c["settle_row"], c["usd_price"]
    linear, inverse, option = ct == 0, ct == 1, ct == 2
    asize = np.abs(size)
    nc = usd.shape[0]
    upl = np.where(linear, size * ctv * mult * (mark - avg), np.where(inverse, size * ctv * mult * (1 / avg - 1 / mark), (mark - avg) * size * mult * ctv))
    ov = np.where(option, size * mark * mult * ctv, 0.0)
    notional = np.where(linear, asize * ctv * mult * mark, np.where(inverse, asize * ctv * mult / mark, 0.0))
    usd_p = usd[settle]
    notional_usd = np.where(linear, notional * usd_p, np.where(inverse, asize * ctv * mult, 0.0))
    fam = np.bincount(c["family_group"], weights=np.where(cross, asize, 0.0), minlength=c["n_groups"])
    tc = np.where(cross, fam[c["family_group"]], asize)
    mm_rate = np_tier(P_LOW, P_MMR, c["family_key"], tc)
    mm = notional * mm_rate
    im = notional / c["leverage"]
    mm_usd, im_usd = mm * usd_p, im * usd_p
    iso = (~cross) & (~option) & (mm > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        iso_ratio = np.where(iso, (c["isolated_margin"] + upl) / mm, np.inf)
    fut = ~option
    cross_upl = np.bincount(settle, weights=np.where(cross & fut, upl, 0.0), minlength=nc)
    iso_upl = np.bincount(settle, weights=np.where(~cross & fut, upl, 0.0), minlength=nc)
    iso_margin = np.bincount(settle, weights=np.where(~cross, c["isolated_margin"], 0.0), minlength=nc)
    cross_ov = np.bincount(settle, weights=np.where(cross, ov, 0.0), minlength=nc)
    iso_ov = np.bincount(settle, weights=np.where(~cross, ov, 0.0), minlength=nc)
    base = c["cash_balance"] + c["strategy_equity"]
    equity = base + cross_upl + iso_margin + iso_upl + cross_ov + iso_ov - c["accrued_interest"]
    cross_eq = base + cross_upl + cross_ov - c["accrued_interest"]
    iso_eq = iso_margin + iso_upl + iso_ov
    cross_liab = np.abs(np.minimum(0.0, cross_eq))
    disc = np.where(cross_eq > 0, np_progressive(D_LOW, D_WID, D_RATE, c["currency_key"], cross_eq * usd), cross_eq * usd)
    b_mm = np_tier(B_LOW, B_MMR, c["currency_key"], cross_liab)
    b_im = np_tier(B_LOW, B_IMR, c["currency_key"], cross_liab)
    b_mm_usd, b_im_usd = cross_liab * b_mm * usd, cross_liab * b_im * usd
    acct_c, acct_p = c["acct_c"], c["acct_p"]

    def per_account(values: np.ndarray, acct: np.ndarray) -> np.ndarray:
        return np.bincount(acct, weights=values, minlength=n)

    adj = per_account(disc, acct_c)
    position_mmr = per_account(np.where(cross, mm_usd, 0.0), acct_p)
    position_imr = per_account(np.where(cross, im_usd, 0.0), acct_p)
    borrow_mmr, borrow_imr = per_account(b_mm_usd, acct_c), per_account(b_im_usd, acct_c)
    mmr, imr = position_mmr + borrow_mmr, position_imr + borrow_imr
    notional_total = per_account(notional_usd, acct_p)
    cost = FEE_RATE * (per_account(cross_liab * usd, acct_c) + borrow_mmr)
    denom = mmr + cost
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(denom > 0, adj / denom, np.inf)
        eq_to_notional = np.where(notional_total > 0, adj / notional_total, np.inf)
    return {
        "upl": upl, "option_value": ov, "notional": notional, "notional_usd": notional_usd, "tier_contracts": tc, "mm_rate": mm_rate,
        "maintenance_margin": mm, "initial_margin": im, "maintenance_margin_usd": mm_usd, "initial_margin_usd": im_usd,
        "isolated_margin_ratio": iso_ratio, "isolated_liquidation": iso_ratio <= 1, "family_contracts": fam,
        "short_options": option & (size < 0),
        "isolated_margin_positions": np.bincount(acct_c, weights=c["isolated_liability"] > 0, minlength=n) > 0,
        "cross_upl": cross_upl, "isolated_upl": iso_upl, "isolated_margin_balance": iso_margin, "cross_option_value": cross_ov,
        "isolated_option_value": iso_ov, "equity": equity, "cross_equity": cross_eq, "isolated_equity": iso_eq, "equity_usd": equity * usd,
        "cross_liability": cross_liab, "liability": cross_liab + c["isolated_liability"], "discounted_equity": disc, "borrow_mm_rate": b_mm,
        "borrow_maintenance_margin_usd": b_mm_usd, "borrow_im_rate": b_im, "borrow_initial_margin_usd": b_im_usd,
        "total_equity": per_account(equity * usd, acct_c), "isolated_equity_usd": per_account(iso_eq * usd, acct_c),
        "upl_usd": per_account(cross_upl * usd, acct_c), "adjusted_equity": adj, "position_mmr": position_mmr, "borrow_mmr": borrow_mmr,
        "mmr": mmr, "position_imr": position_imr, "borrow_imr": borrow_imr, "imr": imr, "notional_usd_total": notional_total,
        "equity_to_notional": eq_to_notional, "liquidation_cost": cost, "margin_ratio": ratio, "warning": ratio <= 3, "liquidation": ratio <= 1,
    }


# ---------------------------------------------------------------- synthetic accounts


def synthetic_snapshot(seed: int) -> dict[str, Any]:
    """One account: the 5 currencies and the 20 instrument slots, with random balances, sizes and prices."""
    rng = np.random.default_rng(seed)
    currencies = [{"currency": c, "cash_balance": float(rng.uniform(-2000, 50000) / p), "usd_price": p,
                   "accrued_interest": float(rng.uniform(0, 1))} for c, p in zip(CURRENCIES, PRICES)]
    positions = []
    for k, (inst, fam, ct, s, ctv, mult, mark) in enumerate(SLOTS):
        iso = k % 7 == 3
        positions.append({
            "inst_id": inst, "tier_family": fam, "contract_type": ct, "margin_mode": "isolated" if iso else "cross",
            "settle_currency": CURRENCIES[s], "size": float(rng.integers(-3000, 3000)), "ct_val": ctv, "ct_mult": mult,
            "avg_price": float(mark * rng.uniform(0.9, 1.1)), "mark_price": float(mark * rng.uniform(0.95, 1.05)),
            "leverage": float(rng.integers(1, 50)), "isolated_margin": float(rng.uniform(100, 5000)) if iso else 0.0,
        })
    return {"as_of": DATE.isoformat(), "currencies": currencies, "positions": positions}


def synthetic_columns(n: int, seed: int = 1) -> dict[str, Any]:
    """n accounts as columns: what the hand-written numpy reads, and what the engine's `columns()` is built from."""
    rng = np.random.default_rng(seed)
    nc, npos = len(CURRENCIES), len(SLOTS)
    acct_c, acct_p = np.repeat(np.arange(n), nc), np.repeat(np.arange(n), npos)
    slot = np.tile(np.arange(npos), n)
    ct = np.array([["linear", "inverse", "option"].index(s[2]) for s in SLOTS], dtype=np.int8)[slot]
    settle_local = np.array([s[3] for s in SLOTS])[slot]
    marks = np.array([s[6] for s in SLOTS])[slot]
    fam_code = np.array([FAMILIES.index(s[1]) for s in SLOTS])[slot]
    iso = (slot % 7 == 3)
    prices = np.tile(np.array(PRICES), n)
    groups, family_group = np.unique(acct_p * len(FAMILIES) + fam_code, return_inverse=True)
    return {
        "n": n,
        "acct_c": acct_c, "acct_p": acct_p, "currency_code": np.tile(np.arange(nc), n), "currency_key": np.tile(np.arange(nc), n),
        "cash_balance": rng.uniform(-2000, 50000, n * nc) / prices, "usd_price": prices, "accrued_interest": rng.uniform(0, 1, n * nc),
        "strategy_equity": np.zeros(n * nc), "isolated_liability": np.zeros(n * nc),
        "slot": slot, "contract_type": ct, "margin_mode": iso.astype(np.int8), "settle_local": settle_local,
        "settle_row": acct_p * nc + settle_local, "size": rng.integers(-3000, 3000, n * npos).astype(float),
        "ct_val": np.array([s[4] for s in SLOTS])[slot], "ct_mult": np.array([s[5] for s in SLOTS])[slot],
        "avg_price": marks * rng.uniform(0.9, 1.1, n * npos), "mark_price": marks * rng.uniform(0.95, 1.05, n * npos),
        "leverage": rng.integers(1, 50, n * npos).astype(float), "isolated_margin": np.where(iso, rng.uniform(100, 5000, n * npos), 0.0),
        "family_code": fam_code, "family_key": fam_code, "family_group": family_group, "n_groups": groups.size,
    }


def engine_collections(c: dict[str, Any]) -> dict[str, Any]:
    """The same columns in the engine's `columns()` form (text as (categories, codes) pairs)."""
    return {
        "currencies": {"account": c["acct_c"], "currency": (CURRENCIES, c["currency_code"]), "cash_balance": c["cash_balance"],
                       "usd_price": c["usd_price"], "accrued_interest": c["accrued_interest"]},
        "positions": {"account": c["acct_p"], "inst_id": ([s[0] for s in SLOTS], c["slot"]), "tier_family": (FAMILIES, c["family_code"]),
                      "contract_type": c["contract_type"], "margin_mode": c["margin_mode"], "settle_currency": c["settle_local"],
                      "size": c["size"], "ct_val": c["ct_val"], "ct_mult": c["ct_mult"], "avg_price": c["avg_price"],
                      "mark_price": c["mark_price"], "leverage": c["leverage"], "isolated_margin": c["isolated_margin"]},
    }


def block_columns(c: dict[str, Any], a0: int, a1: int) -> dict[str, Any]:
    """Accounts a0..a1 of synthetic_columns, their row numbers made block-local (every account has the same
    currencies and instrument slots, so each block's rows are one slice of every column)."""
    nc, npos, nf = len(CURRENCIES), len(SLOTS), len(FAMILIES)
    out: dict[str, Any] = {"n": a1 - a0, "n_groups": (a1 - a0) * nf}
    for name, col in c.items():
        if not isinstance(col, np.ndarray):
            continue
        per = nc if col.size == c["acct_c"].size else npos
        out[name] = col[a0 * per:a1 * per]
    out["acct_c"], out["acct_p"] = out["acct_c"] - a0, out["acct_p"] - a0
    out["settle_row"] = out["settle_row"] - a0 * nc
    out["family_group"] = out["family_group"] - a0 * nf
    return out
