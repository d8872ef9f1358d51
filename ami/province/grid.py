"""The static province: branches → feeders → transformers (TBA) → customers by group.

``build_grid`` draws the grid and its customers (contracted capacity, mean load, rooftop
solar, demand response, transformer sizing and I²R-like loss coefficients) into a
``Province``; the injections (``ami.province.injections``) are added to it afterwards.
``meters_table`` is the customer-system export of that grid, moves as two periods.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from ami.province.clock import iso_utc, utc_instant
from ami.province.spec import ProvinceSpec
from ami.reference import BRANCH_NAMES
from ami.vocabulary import CustomerGroup, MeterRole, texts

#: Customer groups of the synthetic province (its group indices; none is "other").
GROUPS = texts(group for group in CustomerGroup if group != CustomerGroup.OTHER)
GROUP_SHARES = (0.85, 0.08, 0.03, 0.02, 0.02)
#: Contracted capacity range per group [kW].
CONTRACTED_KW = ((3, 15), (5, 50), (30, 500), (10, 100), (2, 20))
#: Average load as a share of contracted capacity, range per group [-]; for public lighting
#: the power when the lights are on.
LOAD_FACTOR = ((0.03, 0.07), (0.10, 0.25), (0.20, 0.45), (0.08, 0.18), (0.70, 0.90))
TX_SIZES_KVA = np.array([50, 75, 100, 160, 180, 250, 320, 400, 560, 630, 750, 1000])
COMMUNES = ("Hoàng Văn Thụ", "Tam Thanh", "Đông Kinh", "Chi Lăng", "Vĩnh Trại", "Đồng Đăng",
            "Na Sầm", "Thất Khê", "Bình Gia", "Bắc Sơn", "Văn Quan", "Lộc Bình", "Đình Lập",
            "Hữu Lũng", "Cao Lộc", "Mai Pha", "Hoàng Đồng", "Quảng Lạc")


@dataclass
class Province:
    """The static part: customers (arrays indexed by customer) and transformers."""

    meter_id: np.ndarray
    customer_id: np.ndarray
    group: np.ndarray
    tx: np.ndarray            # transformer index before any move
    contracted_kw: np.ndarray
    solar_kwp: np.ndarray     # 0 when none
    dr: np.ndarray
    level_kw: np.ndarray      # mean load [kW]
    jitter: np.ndarray        # timing shift of the daily shape [intervals]
    lit_compliant: np.ndarray
    tx_ids: np.ndarray
    tx_feeder: np.ndarray
    tx_branch: np.ndarray
    tx_kva: np.ndarray
    tx_p0_kw: np.ndarray
    tx_k: np.ndarray
    feeder_ids: np.ndarray
    branch_ids: np.ndarray
    commune: np.ndarray
    injections: list[dict[str, object]] = field(default_factory=list)
    theft: dict[int, dict[str, float | str | int]] = field(default_factory=dict)
    fault: dict[int, dict[str, float | str | int]] = field(default_factory=dict)
    outage: dict[int, tuple[int, int, int]] = field(default_factory=dict)
    move: dict[int, tuple[int, int, int]] = field(default_factory=dict)   # i → (new tx, day, k)
    advertising: dict[int, bool] = field(default_factory=dict)  # i → cuts its evening lights
    solar_install: dict[int, tuple[int, float]] = field(default_factory=dict)  # i → (day, kWp)

    def solar_on(self, d: int) -> np.ndarray:
        """Rooftop solar per customer on day ``d`` [kWp]: new installs from their day on."""
        if not self.solar_install:
            return self.solar_kwp
        kwp = self.solar_kwp.copy()
        for i, (day, size) in self.solar_install.items():
            if d >= day:
                kwp[i] = size
        return kwp


def build_grid(spec: ProvinceSpec, rng: np.random.Generator) -> Province:
    """Grid and customers of a spec, drawn from ``rng``; no injections yet."""
    n = spec.meters
    n_branch = max(1, min(11, n // 250))
    n_tx = max(1, round(n / 60))
    n_feeder = max(n_branch, -(-n_tx // 20))
    branch_ids = np.array(sorted(BRANCH_NAMES)[:n_branch])
    feeder_branch = np.arange(n_feeder) % n_branch
    feeder_ids = np.array([f"{branch_ids[b]}-{471 + i // n_branch}"
                           for i, b in enumerate(feeder_branch)])
    tx_feeder = np.arange(n_tx) % n_feeder
    tx_branch = feeder_branch[tx_feeder]
    tx_ids = np.array([f"{branch_ids[b]}-T{t + 1:04d}" for t, b in enumerate(tx_branch)])
    # Customers per transformer vary (10–150 typical): gamma weights, every TBA gets one.
    weights = rng.gamma(2.5, size=n_tx)
    tx = rng.choice(n_tx, size=n, p=weights / weights.sum())
    tx[: min(n, n_tx)] = np.arange(min(n, n_tx))
    tx = np.sort(tx)
    group = rng.choice(len(GROUPS), size=n, p=GROUP_SHARES)
    lo = np.array([c[0] for c in CONTRACTED_KW])[group]
    hi = np.array([c[1] for c in CONTRACTED_KW])[group]
    contracted = np.round(rng.uniform(lo, hi), 1)
    lf_lo = np.array([c[0] for c in LOAD_FACTOR])[group]
    lf_hi = np.array([c[1] for c in LOAD_FACTOR])[group]
    level = contracted * rng.uniform(lf_lo, lf_hi)
    solar = np.zeros(n)
    eligible = np.isin(group, (0, 3))
    has_solar = eligible & (rng.random(n) < spec.solar_share * 1.1)
    solar[has_solar] = np.where(group == 3, rng.uniform(10, 50, n),
                                rng.uniform(3, 10, n))[has_solar].round(1)
    dr = np.isin(group, (1, 2)) & (rng.random(n) < 0.2)
    # Transformer sizing from diversified demand, then I²R-like loss coefficients.
    demand = np.bincount(tx, weights=level * 2.2, minlength=n_tx)
    kva = TX_SIZES_KVA[np.minimum(np.searchsorted(TX_SIZES_KVA, demand / 0.8),
                                  len(TX_SIZES_KVA) - 1)]
    p0 = 0.002 * kva
    k = rng.uniform(0.04, 0.09, n_tx) / kva
    commune_of_branch = {b: [COMMUNES[(i * 3 + j) % len(COMMUNES)] for j in range(3)]
                         for i, b in enumerate(branch_ids)}
    commune = np.array([commune_of_branch[branch_ids[tx_branch[t]]][t % 3] for t in tx])
    return Province(
        meter_id=np.array([f"PC{i + 1:09d}" for i in range(n)]),
        customer_id=np.array([f"KH{i + 1:09d}" for i in range(n)]),
        group=group, tx=tx, contracted_kw=contracted, solar_kwp=solar, dr=dr,
        level_kw=level,
        # Lights switch on timers and photocells: no timing jitter, unlike people.
        jitter=np.where(group == 4, 0, rng.integers(-1, 2, n)), lit_compliant=rng.random(n) >= 0.2,
        tx_ids=tx_ids, tx_feeder=tx_feeder, tx_branch=tx_branch, tx_kva=kva, tx_p0_kw=p0,
        tx_k=k, feeder_ids=feeder_ids, branch_ids=branch_ids, commune=commune,
    )


def meters_table(p: Province, spec: ProvinceSpec) -> pl.DataFrame:
    """The customer-system export: customer and total meters, moves as two periods.

    A new rooftop solar install is two periods on the same transformer too: without
    ``solar_kwp`` until the local midnight of its day, with it from then. ``tags`` (last) is
    ``advertising`` for customers with outdoor advertising lighting, null otherwise.
    """
    since = iso_utc(datetime(2020, 1, 1, tzinfo=UTC))
    rows = []
    for i in range(len(p.meter_id)):
        solar = float(p.solar_kwp[i]) if p.solar_kwp[i] > 0 else None
        base = {
            "meter_id": p.meter_id[i], "customer_id": p.customer_id[i],
            "meter_role": MeterRole.CUSTOMER.value,
            "customer_group": GROUPS[p.group[i]], "commune": p.commune[i],
            "contracted_kw": float(p.contracted_kw[i]),
            "dr_participant": bool(p.dr[i]), "network_node": None,
            "tags": "advertising" if i in p.advertising else None,
        }
        periods: list[tuple[int, str, str | None, float | None]] = [
            (int(p.tx[i]), since, None, solar)]
        if i in p.move:
            new, day, k = p.move[i]
            moment = iso_utc(utc_instant(spec.start + timedelta(days=day),
                                         k * spec.interval_minutes))
            periods = [(int(p.tx[i]), since, moment, solar),
                       (new, moment, None, solar)]
        elif i in p.solar_install:
            day, kwp = p.solar_install[i]
            moment = iso_utc(utc_instant(spec.start + timedelta(days=day)))
            periods = [(int(p.tx[i]), since, moment, None), (int(p.tx[i]), moment, None, kwp)]
        for t, valid_from, valid_to, solar_kwp in periods:
            rows.append({**base, "solar_kwp": solar_kwp, "transformer_id": p.tx_ids[t],
                         "feeder_id": p.feeder_ids[p.tx_feeder[t]],
                         "branch_id": p.branch_ids[p.tx_branch[t]],
                         "valid_from": valid_from, "valid_to": valid_to})
    for t, tx_id in enumerate(p.tx_ids):
        rows.append({"meter_id": f"TT-{tx_id}", "customer_id": None,
                     "meter_role": MeterRole.TRANSFORMER_TOTAL.value, "customer_group": None,
                     "commune": None, "contracted_kw": None, "solar_kwp": None,
                     "dr_participant": False, "network_node": None, "transformer_id": tx_id,
                     "feeder_id": p.feeder_ids[p.tx_feeder[t]],
                     "branch_id": p.branch_ids[p.tx_branch[t]], "valid_from": since,
                     "valid_to": None, "tags": None})
    columns = ["meter_id", "customer_id", "meter_role", "customer_group", "transformer_id",
               "feeder_id", "branch_id", "commune", "contracted_kw", "solar_kwp",
               "dr_participant", "valid_from", "valid_to", "network_node", "tags"]
    schema = dict.fromkeys(columns, pl.String) | {"contracted_kw": pl.Float64,
                                                "solar_kwp": pl.Float64,
                                                "dr_participant": pl.Boolean}
    return pl.DataFrame(rows, schema=schema).select(columns)
