"""Hand-written numpy baseline of okx/portfolio_margin on 2025-02-01, and synthetic
accounts for benchmarks/portfolio_margin.py: the rule set's formulas written out
by hand, vectorised over all accounts, with the MR1 scenarios as a (rows, 21)
array.

It reads the same tables (the versions in force on DATE, through the catalog:
data only, the formulas are written out here) and the parameter values of the
rule file, and computes every quantity
and threshold the engine outputs, so that both do the same work; the benchmark
checks that they agree before timing them.

Layout of the synthetic accounts: 4 currencies and 10 positions each, the same
instrument slots in every account, positions sorted by underlying within the
account, so the 2 risk units (BTC, ETH) are contiguous runs of rows."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
from marginspec.source.catalog import Catalog
from scipy.special import ndtr

ROOT = Path(__file__).resolve().parents[1]
DATE = dt.date(2025, 2, 1)
RULESET = "okx/portfolio_margin@2024-12-30"

CURRENCIES = ["BTC", "ETH", "USDT", "USDC"]
PRICES = [95000.0, 3300.0, 0.9997, 0.9999]
UNDERLYINGS = ["BTC", "ETH"]
CONTRACT_TYPES = ["linear", "inverse", "option"]  # the rule file's enum order (the engine's codes)
QUOTES = ["usdt", "usdc", "usd"]
# 10 instrument slots per account: (inst_id, underlying, contract type, option type, quote, settle currency, ct_val, ct_mult, max |size|)
SLOTS = [
    ("BTC-USDT-SWAP", "BTC", "linear", "call", "usdt", "USDT", 0.01, 1.0, 3000),
    ("BTC-USDC-SWAP", "BTC", "linear", "call", "usdc", "USDC", 0.0001, 1.0, 100000),
    ("BTC-USD-SWAP", "BTC", "inverse", "call", "usd", "BTC", 100.0, 1.0, 20000),
    ("BTC-USD-250627", "BTC", "inverse", "call", "usd", "BTC", 100.0, 1.0, 10000),
    ("BTC-USD-OPT-C1", "BTC", "option", "call", "usd", "BTC", 1.0, 0.01, 1000),
    ("BTC-USD-OPT-P1", "BTC", "option", "put", "usd", "BTC", 1.0, 0.01, 1000),
    ("BTC-USD-OPT-C2", "BTC", "option", "call", "usd", "BTC", 1.0, 0.01, 1000),
    ("BTC-USD-OPT-P2", "BTC", "option", "put", "usd", "BTC", 1.0, 0.01, 1000),
    ("ETH-USDT-SWAP", "ETH", "linear", "call", "usdt", "USDT", 0.1, 1.0, 3000),
    ("ETH-USD-SWAP", "ETH", "inverse", "call", "usd", "ETH", 10.0, 1.0, 100000),
]


# ---------------------------------------------------------------- rule-file parameters and tables


_RS = Catalog().load(RULESET, DATE)  # parameter values and the table versions in force on DATE
PARAMS: dict[str, Any] = {k: (list(p.value) if isinstance(p.value, tuple) else p.value) for k, p in _RS.parameters.items()}


def _tiers(name: str) -> dict[str, list[dict[str, Any]]]:
    """A table's tiers per key; where the table says `beyond: last`, its last tier goes on (no upper bound)."""
    table = _RS.tables[name]
    tiers = {k: [dict(r) for r in rows] for k, rows in table.tiers.items()}
    if table.beyond == "last":
        for rows in tiers.values():
            rows[-1]["upper"] = None
    return tiers


def _padded(tiers: dict[str, list[dict[str, Any]]], keys: list[str], column: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lower, width, value) as (keys x tiers) arrays, keys without a row taking "*"; padding has lower=inf, width=0."""
    rows = [tiers.get(k) or tiers["*"] for k in keys]
    t = max(len(r) for r in rows)
    lower, width, value = np.full((len(keys), t), np.inf), np.zeros((len(keys), t)), np.zeros((len(keys), t))
    for i, r in enumerate(rows):
        for j, tier in enumerate(r):
            lower[i, j] = tier["lower"]
            width[i, j] = np.inf if tier["upper"] is None else tier["upper"] - tier["lower"]
            value[i, j] = tier[column]
    return lower, width, value


def tier(table: tuple[np.ndarray, np.ndarray, np.ndarray], key: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Value of the tier with lower < x <= upper (the first tier below it), as the tables are lower_open."""
    lower, _, value = table
    t = np.zeros(x.shape, dtype=np.intp)
    for j in range(1, lower.shape[1]):
        t += x > lower[key, j]
    return value[key, t]


def progressive(table: tuple[np.ndarray, np.ndarray, np.ndarray], key: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Each slice of x inside a tier times that tier's value, summed."""
    lower, width, value = table
    start = np.where(np.isinf(lower), 0.0, lower)
    total = np.zeros(x.shape)
    for j in range(lower.shape[1]):
        total += np.minimum(np.maximum(x - start[key, j], 0.0), width[key, j]) * value[key, j]
    return total


# The per-underlying parameters are keyed tables: a plain per-underlying value.
_UL = {**_tiers("underlying_params")}
_AS = _tiers("assumed_params")
UL_PARAMS = {c: np.array([(_UL.get(u) or _UL["*"])[0][c] for u in UNDERLYINGS]) for c in
             ("mr1_move_1", "mr1_move_2", "mr1_move_3", "mr6_move", "mr4_rate")}
UL_PARAMS.update({c: np.array([(_AS.get(u) or _AS["*"])[0][c] for u in UNDERLYINGS]) for c in
                  ("mr1_vol_up", "mr1_vol_down", "mr7_rate", "mr4_perpetual_rate")})
MR7 = _padded(_tiers("mr7_tiers"), UNDERLYINGS, "multiplier")
MR9 = _padded(_tiers("mr9_tiers"), ["*"], "rate")
DISCOUNT = _padded(_tiers("discount_tiers"), CURRENCIES, "rate")
BORROW_MMR = _padded(_tiers("borrow_tiers"), CURRENCIES, "mmr")
BORROW_IMR = _padded(_tiers("borrow_tiers"), CURRENCIES, "imr")
# The scenario grid, vol state varying slowest (as the rule file's axis declares it).
VOL_STATE = np.repeat(np.array(PARAMS["mr1_vol_states"], dtype=float), len(PARAMS["mr1_price_steps"]))
PRICE_STEP = np.tile(np.array(PARAMS["mr1_price_steps"], dtype=np.intp), len(PARAMS["mr1_vol_states"]))
EXTREME_SIDE = np.array(PARAMS["mr6_sides"], dtype=float)


# ---------------------------------------------------------------- numpy


def black76(f: np.ndarray, k: np.ndarray, sd: np.ndarray, cp: np.ndarray) -> np.ndarray:
    """Undiscounted Black-76 premium per unit of underlying, in USD (cp 1 call, -1 put)."""
    d1 = np.log(f / k) / sd + sd / 2
    return cp * (f * ndtr(cp * d1) - k * ndtr(cp * (d1 - sd)))


def npdf(x: np.ndarray) -> np.ndarray:
    return np.exp(-x ** 2 / 2) * 0.3989422804014327


def cross_hedge(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.where(a * b < 0, np.minimum(np.abs(a), np.abs(b)), 0.0)


def after_hedge(a: np.ndarray, h: np.ndarray) -> np.ndarray:
    return np.where(a > 0, a - h, np.where(a < 0, a + h, 0.0))


def _runs(rows: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Sum of 2-D `values` per group id in `rows` (sorted, so each group is one run); groups without rows get 0."""
    ids, starts = np.unique(rows, return_index=True)
    out = np.zeros((n, values.shape[1]))
    out[ids] = np.add.reduceat(values, starts, axis=0)
    return out


def handwritten_numpy(c: dict[str, Any], n: int) -> dict[str, np.ndarray]:
    """Every quantity and threshold of the rule set for n accounts given as columns (see synthetic_columns)."""
    size, ctv, mult, mark, avg = c["size"], c["ct_val"], c["ct_mult"], c["mark_price"], c["avg_price"]
    tte, ct, ru, settle = c["time_to_expiry"], c["contract_type"], c["ru_row"], c["settle_row"]
    linear, inverse, option = ct == 0, ct == 1, ct == 2
    usd = c["usd_price"]
    n_ru, n_cur = c["ru_underlying"].size, usd.size
    q = size * ctv * mult
    f = usd[settle]
    upl = np.where(linear, q * (mark - avg), np.where(inverse, q * (1 / avg - 1 / mark), (mark - avg) * q))
    option_value = np.where(option, q * mark, 0.0)
    # Black-76 at the implied volatility (floored strike, vol and tenor keep every row defined)
    sign = np.where(option, np.where(c["option_type"] == 0, 1.0, -1.0), 0.0)
    tenor = np.maximum(tte, PARAMS["option_min_tenor"])
    sd = np.maximum(c["implied_vol"], PARAMS["option_min_vol"]) * np.sqrt(tenor)
    k = np.maximum(c["strike"], PARAMS["option_min_strike"])
    d1 = np.where(option, np.log(f / k) / sd + sd / 2, 0.0)
    delta = np.where(option, sign * ndtr(sign * d1), 0.0)
    cash_delta = np.where(linear, q * mark * f, np.where(inverse, q / mark * f, q * f * delta))
    idx = c["index_price"]
    shock_delta = np.where(idx > 0, np.where(linear, q * idx, np.where(inverse, q / mark * idx, 0.0)), np.where(option, 0.0, cash_delta))
    model_value = np.where(option, q * black76(f, k, sd, sign), 0.0)
    vega = np.where(option, q * f * npdf(d1) * np.sqrt(tenor), 0.0)
    theta = np.where(option, -q * f * npdf(d1) * sd / (2 * tenor), 0.0)
    rate_up = model_value * (np.exp(-PARAMS["mr5_rate_shock"] * tenor) - 1)
    rate_down = model_value * (np.exp(PARAMS["mr5_rate_shock"] * tenor) - 1)
    # per-underlying parameters, per position and per risk unit
    pos_ul, ru_ul = c["underlying"], c["ru_underlying"]
    moves = np.column_stack([np.zeros(len(UNDERLYINGS)), UL_PARAMS["mr1_move_1"], UL_PARAMS["mr1_move_2"], UL_PARAMS["mr1_move_3"]])
    price_move = np.where(PRICE_STEP < 0, -1.0, 1.0) * moves[ru_ul][:, np.abs(PRICE_STEP)]
    vol_change = np.where(VOL_STATE > 0, UL_PARAMS["mr1_vol_up"][ru_ul][:, None],
                          np.where(VOL_STATE < 0, -UL_PARAMS["mr1_vol_down"][ru_ul][:, None], 0.0))
    extreme_move = UL_PARAMS["mr6_move"][ru_ul][:, None] * EXTREME_SIDE
    # options revalued under each scenario: only the option rows are computed
    o = np.nonzero(option)[0]
    fo, ko, qo, so, mo, ro = f[o, None], k[o, None], q[o, None], sign[o, None], model_value[o, None], ru[o]
    opt_scen = qo * black76(fo * (1 + price_move[ro]), ko, sd[o, None] * (1 + vol_change[ro]), so) - mo
    opt_ext = qo * black76(fo * (1 + extreme_move[ro]), ko, sd[o, None], so) - mo
    option_scenario_pnl = np.zeros((size.size, PRICE_STEP.size))
    option_scenario_pnl[o] = opt_scen
    option_extreme_pnl = np.zeros((size.size, EXTREME_SIDE.size))
    option_extreme_pnl[o] = opt_ext

    def by_ru(values: np.ndarray) -> np.ndarray:
        return np.bincount(ru, weights=values, minlength=n_ru)

    d1_cash_delta = by_ru(np.where(option, 0.0, shock_delta))
    deriv_cash_delta = by_ru(cash_delta)
    spot = c["spot_row"] >= 0
    spot_usd = np.bincount(c["spot_row"][spot], weights=(c["cash_balance"] * usd)[spot], minlength=n_ru)
    spot_in_use = np.where((spot_usd > 0) & (deriv_cash_delta < 0), np.minimum(spot_usd, -deriv_cash_delta),
                           np.where((spot_usd < 0) & (deriv_cash_delta > 0), np.maximum(spot_usd, -deriv_cash_delta), 0.0))
    hedged = d1_cash_delta + spot_in_use
    scenario_pnl = hedged[:, None] * price_move + _runs(ro, opt_scen, n_ru)
    worst = scenario_pnl.argmin(axis=1)
    rows = np.arange(n_ru)
    mr1 = np.maximum(0.0, -scenario_pnl[rows, worst])
    mr1_vol_change = vol_change[rows, worst]
    mr2 = np.maximum(0.0, -by_ru(theta) * PARAMS["mr2_horizon"])
    vega_sum = by_ru(vega)
    mr3 = PARAMS["mr3_vol_span"] * (by_ru(np.abs(vega)) - np.abs(vega_sum))
    basis_factor = np.where(tte > 0, UL_PARAMS["mr4_rate"][pos_ul] * tte, UL_PARAMS["mr4_perpetual_rate"][pos_ul])
    mr4 = np.abs(by_ru(cash_delta * basis_factor))
    mr5 = np.maximum(np.maximum(0.0, -by_ru(rate_up)), -by_ru(rate_down))
    extreme_pnl = hedged[:, None] * extreme_move + _runs(ro, opt_ext, n_ru)
    worst6 = extreme_pnl.argmin(axis=1)
    mr6 = PARAMS["mr6_loss_share"] * np.maximum(0.0, -extreme_pnl[rows, worst6])
    mr7_raw = UL_PARAMS["mr7_rate"][ru_ul] * by_ru(np.abs(cash_delta))
    mr7 = progressive(MR7, ru_ul, mr7_raw)
    usdt, usdc, usd_cd = (by_ru(np.where(c["quote_ccy"] == i, cash_delta, 0.0)) for i in range(3))
    h_usdt_usd = cross_hedge(usdt, usd_cd)
    h_usdt_usdc = cross_hedge(after_hedge(usdt, h_usdt_usd), usdc)
    h_usdc_usd = cross_hedge(after_hedge(usdc, h_usdt_usdc), after_hedge(usd_cd, h_usdt_usd))
    zero = np.zeros(n_ru, dtype=np.intp)
    mr9 = progressive(MR9, zero, h_usdt_usd) + progressive(MR9, zero, h_usdt_usdc) + progressive(MR9, zero, h_usdc_usd)
    ru_mmr = np.maximum(np.maximum(np.maximum(mr1, mr2), mr6) + mr3 + mr4 + mr5 + mr9, mr7)
    ru_imr = PARAMS["imr_factor"] * ru_mmr
    # currencies and account
    equity = (c["cash_balance"] + np.bincount(settle, weights=np.where(option, 0.0, upl), minlength=n_cur)
              + np.bincount(settle, weights=option_value, minlength=n_cur) - c["accrued_interest"])
    ccy = c["currency_code"]
    equity_usd = equity * usd
    discounted = np.where(equity > 0, progressive(DISCOUNT, ccy, equity) * usd, equity_usd)
    liability = np.maximum(0.0, -equity)
    borrow_mmr_usd = liability * tier(BORROW_MMR, ccy, liability) * usd
    borrow_imr_usd = liability * tier(BORROW_IMR, ccy, liability) * usd
    acct_c, acct_ru = c["acct_c"], c["acct_ru"]
    adjusted = np.bincount(acct_c, weights=discounted, minlength=n)
    deriv_mmr = np.bincount(acct_ru, weights=ru_mmr, minlength=n)
    mr8 = np.bincount(acct_c, weights=borrow_mmr_usd, minlength=n)
    borrow_imr = np.bincount(acct_c, weights=borrow_imr_usd, minlength=n)
    mmr = deriv_mmr + mr8
    liquidation_cost = PARAMS["liquidation_fee_rate"] * np.bincount(acct_c, weights=liability * usd + borrow_mmr_usd, minlength=n)
    denom = mmr + liquidation_cost
    with np.errstate(divide="ignore", invalid="ignore"):
        margin_ratio = np.where(denom > 0, adjusted / denom, np.inf)
    return {
        "upl": upl, "option_value": option_value, "cash_delta": cash_delta, "shock_delta": shock_delta,
        "mr4_basis_factor": basis_factor, "option_sign": sign,
        "option_sd": sd, "option_d1": d1, "option_delta": delta, "model_value_usd": model_value, "vega_usd": vega,
        "theta_usd": theta, "rate_pnl_up": rate_up, "rate_pnl_down": rate_down,
        **{name: UL_PARAMS[name][pos_ul] for name in ("mr4_rate", "mr4_perpetual_rate")},
        **{name: UL_PARAMS[name][ru_ul] for name in ("mr1_move_1", "mr1_move_2", "mr1_move_3", "mr1_vol_up", "mr1_vol_down",
                                                     "mr6_move", "mr7_rate")},
        "option_scenario_pnl": option_scenario_pnl, "option_extreme_pnl": option_extreme_pnl,
        "shock_cash_delta": d1_cash_delta, "derivatives_cash_delta": deriv_cash_delta, "spot_usd": spot_usd,
        "spot_in_use_usd": spot_in_use, "price_move": price_move, "vol_change": vol_change, "scenario_pnl": scenario_pnl,
        "mr1": mr1, "mr1_price_move": price_move[rows, worst], "mr1_vol_change": mr1_vol_change,
        "mr1_vol_state": np.sign(mr1_vol_change), "mr2": mr2, "mr3": mr3, "mr4": mr4, "mr5": mr5,
        "extreme_move": extreme_move, "extreme_pnl": extreme_pnl, "mr6": mr6, "mr6_price_move": extreme_move[rows, worst6],
        "mr7_raw": mr7_raw, "mr7": mr7, "usdt_cash_delta": usdt, "usdc_cash_delta": usdc, "usd_cash_delta": usd_cd,
        "hedge_usdt_usd": h_usdt_usd, "hedge_usdt_usdc": h_usdt_usdc, "hedge_usdc_usd": h_usdc_usd, "mr9": mr9,
        "risk_unit_mmr": ru_mmr, "risk_unit_imr": ru_imr,
        "equity": equity, "equity_usd": equity_usd, "discounted_equity": discounted, "liability": liability,
        "borrow_mmr_usd": borrow_mmr_usd, "borrow_imr_usd": borrow_imr_usd,
        "total_equity": np.bincount(acct_c, weights=equity_usd, minlength=n), "adjusted_equity": adjusted,
        "derivatives_mmr": deriv_mmr, "mr8": mr8, "borrow_imr": borrow_imr, "mmr": mmr,
        "imr": np.bincount(acct_ru, weights=ru_imr, minlength=n) + borrow_imr, "liquidation_cost": liquidation_cost,
        "margin_ratio": margin_ratio,
        "warning": margin_ratio <= PARAMS["warning_level"], "liquidation": margin_ratio <= PARAMS["liquidation_level"],
        "index_price_not_given": (idx == 0) & ~option, "usd_margined_options": option & (c["quote_ccy"] != 2),
    }


# ---------------------------------------------------------------- synthetic accounts


def synthetic_columns(n: int, seed: int = 1) -> dict[str, Any]:
    """n accounts as columns: what handwritten_numpy reads, and what engine_collections passes to the engine."""
    rng = np.random.default_rng(seed)
    nc, npos, nu = len(CURRENCIES), len(SLOTS), len(UNDERLYINGS)
    slot = np.tile(np.arange(npos), n)
    acct_p, acct_c = np.repeat(np.arange(n), npos), np.repeat(np.arange(n), nc)

    def per_slot(values: list[Any], dtype: Any = float) -> np.ndarray:
        return np.array(values, dtype=dtype)[slot]

    ul = per_slot([UNDERLYINGS.index(s[1]) for s in SLOTS], np.intp)
    ct = per_slot([CONTRACT_TYPES.index(s[2]) for s in SLOTS], np.int8)
    opt_type = per_slot([0 if s[3] == "call" else 1 for s in SLOTS], np.int8)
    settle_local = per_slot([CURRENCIES.index(s[5]) for s in SLOTS], np.intp)
    option, expiring = ct == 2, per_slot([not s[0].endswith("SWAP") for s in SLOTS], bool)
    px = np.array(PRICES)[ul]  # the underlying's USD price (BTC and ETH lead CURRENCIES)
    strike = np.where(option, np.round(px * rng.uniform(0.7, 1.3, n * npos), -3), 0.0)
    intrinsic = np.maximum(np.where(opt_type == 0, 1.0, -1.0) * (px - strike), 0.0) / px  # options are priced in coin
    mark = np.where(option, intrinsic + rng.uniform(0.003, 0.04, n * npos), px * rng.uniform(0.98, 1.02, n * npos))
    max_size = per_slot([s[8] for s in SLOTS], np.int64)
    cur = np.tile(np.arange(nc), n)
    cash_range = np.array([[-1.0, 30.0], [-20.0, 400.0], [-600000.0, 800000.0], [-100000.0, 300000.0]])
    return {
        "acct_c": acct_c, "acct_p": acct_p, "acct_ru": np.repeat(np.arange(n), nu), "slot": slot, "currency_code": cur,
        "cash_balance": rng.uniform(cash_range[cur, 0], cash_range[cur, 1]), "usd_price": np.tile(np.array(PRICES), n),
        "accrued_interest": rng.uniform(0, 5, n * nc),
        # the spot of BTC and ETH joins the account's risk unit of that name; stablecoins join none
        "spot_row": np.where(cur < nu, acct_c * nu + cur, -1),
        "underlying": ul, "ru_row": acct_p * nu + ul, "ru_underlying": np.tile(np.arange(nu), n),
        "contract_type": ct, "option_type": opt_type, "quote_ccy": per_slot([QUOTES.index(s[4]) for s in SLOTS], np.int8),
        "settle_local": settle_local, "settle_row": acct_p * nc + settle_local,
        "size": rng.integers(-max_size, max_size + 1).astype(float),
        "ct_val": per_slot([s[6] for s in SLOTS]), "ct_mult": per_slot([s[7] for s in SLOTS]),
        "avg_price": mark * rng.uniform(0.8, 1.2, n * npos), "mark_price": mark,
        "time_to_expiry": np.where(expiring, rng.uniform(2 / 365, 0.5, n * npos), 0.0), "strike": strike,
        "implied_vol": np.where(option, rng.uniform(0.35, 0.9, n * npos), 0.0),
        "index_price": np.where(option, 0.0, px * rng.uniform(0.999, 1.001, n * npos)),
    }


def engine_collections(c: dict[str, Any]) -> dict[str, Any]:
    """The same columns in the engine's `columns()` form (text as (categories, codes) pairs, settle as row numbers)."""
    return {
        "currencies": {"account": c["acct_c"], "currency": (CURRENCIES, c["currency_code"]), "cash_balance": c["cash_balance"],
                       "usd_price": c["usd_price"], "accrued_interest": c["accrued_interest"]},
        "positions": {"account": c["acct_p"], "inst_id": ([s[0] for s in SLOTS], c["slot"]), "underlying": (UNDERLYINGS, c["underlying"]),
                      "contract_type": c["contract_type"], "option_type": c["option_type"], "quote_ccy": c["quote_ccy"],
                      "settle_currency": c["settle_local"], "size": c["size"], "ct_val": c["ct_val"], "ct_mult": c["ct_mult"],
                      "avg_price": c["avg_price"], "mark_price": c["mark_price"], "time_to_expiry": c["time_to_expiry"],
                      "strike": c["strike"], "implied_vol": c["implied_vol"], "index_price": c["index_price"]},
    }


def block_columns(c: dict[str, Any], a0: int, a1: int) -> dict[str, Any]:
    """Accounts a0..a1 of synthetic_columns, their row numbers made block-local."""
    nc, npos, nu = len(CURRENCIES), len(SLOTS), len(UNDERLYINGS)
    out: dict[str, Any] = {}
    for name, col in c.items():
        per = {c["acct_c"].size: nc, c["acct_p"].size: npos, c["acct_ru"].size: nu}[col.size]
        out[name] = col[a0 * per:a1 * per]
    for name, per in (("acct_c", 0), ("acct_p", 0), ("acct_ru", 0), ("ru_row", nu), ("settle_row", nc)):
        out[name] = out[name] - a0 * max(per, 1)
    out["spot_row"] = np.where(out["spot_row"] >= 0, out["spot_row"] - a0 * nu, -1)
    return out
