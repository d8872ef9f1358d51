"""Technical loss below each transformer total meter, interval by interval.

The total meter sits on the low-voltage side of the transformer (README "Losses"), so the
technical loss inside a transformer's balance is that of its low-voltage network.

* **power flow** — where the landing zone supplied ``networks/<transformer_id>.json`` (a
  pandapower network): every interval, each bus draws the net power of the customers
  that name it in ``network_node`` (import − export, at ``network_power_factor``), a
  power flow runs, and the losses of the lines are the technical loss.
* **estimate** — elsewhere, from the load curve and the transformer's parameters
  (silver ``transformers``: rated kVA, fixed loss, loss at rated load):
  ``loss(t) = fixed + load_loss × (P(t) / S_rated)²``, with P the network's net load
  (the total meter's power less the loss, solved by fixed-point iteration). Without
  parameters, defaults from settings apply (``estimate_default``): a rating from the
  peak load and typical loss shares — an order of magnitude, said as such.

Non-technical loss = total − technical; a negative value is kept and flagged, never
clipped away.
"""

from __future__ import annotations

import copy
import math
import warnings
from typing import Any

import numpy as np
import polars as pl

from ami.settings import Settings
from ami.vocabulary import MeterRole

#: How the technical loss of a transformer was obtained.
POWER_FLOW, ESTIMATE, ESTIMATE_DEFAULT = "power_flow", "estimate", "estimate_default"


def estimated_loss_kwh(net_kw: pl.Expr, hours: pl.Expr, rated_kva: pl.Expr, fixed_kw: pl.Expr,
                       load_loss_kw: pl.Expr) -> pl.Expr:
    """Loss energy of an interval [kWh] from the total meter's net power in it [kW].

    The total meter measures load + loss and the loss depends on the load: three
    fixed-point steps settle it (the loss is a few per cent of the load).
    """
    load = net_kw
    for _ in range(3):
        load = net_kw - (fixed_kw + load_loss_kw * (load / rated_kva) ** 2)
    return (fixed_kw + load_loss_kw * (load / rated_kva) ** 2) * hours


def power_flow_losses(net: Any, bus_kw: np.ndarray, buses: list[int], *,
                      power_factor: float, hours: float) -> np.ndarray:
    """Line-loss energy per interval [kWh] for bus loads ``bus_kw`` (intervals × buses).

    The network's own loads and generators are switched off and replaced by one load per
    bus carrying the metered net power (negative when solar export exceeds the load).
    """
    import pandapower as pp

    net = copy.deepcopy(net)  # (the caller's network keeps its own loads)
    for table in ("load", "sgen", "storage"):
        frame = getattr(net, table)
        if len(frame):
            frame["in_service"] = False
    tan_phi = math.tan(math.acos(power_factor))
    loads = [pp.create_load(net, bus, p_mw=0.0, q_mvar=0.0) for bus in buses]
    losses = np.zeros(bus_kw.shape[0])
    for t in range(bus_kw.shape[0]):
        p_mw = bus_kw[t] / 1000.0
        net.load.loc[loads, "p_mw"] = p_mw
        net.load.loc[loads, "q_mvar"] = p_mw * tan_phi
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pp.runpp(net, init="results" if t else "auto", numba=False)
        losses[t] = float(net.res_line["pl_mw"].sum()) * 1000.0 * hours
    return losses


def transformer_technical(joined: pl.DataFrame, transformers: pl.DataFrame | None,
                          networks: dict[str, Any], *, settings: Settings) -> pl.DataFrame:
    """Technical loss [kWh] and its method per transformer and interval of ``joined``.

    ``joined``: silver readings with the meter row valid at each (``meter_role``,
    ``transformer_id``, ``network_node``); ``transformers``: silver transformers (or
    None); ``networks``: transformer id → pandapower network.
    """
    power = ((pl.col("kwh_import").fill_null(0.0) - pl.col("kwh_export").fill_null(0.0))
             / (pl.col("interval_minutes") / 60)).alias("net_kw")
    totals = joined.filter(pl.col("meter_role") == MeterRole.TRANSFORMER_TOTAL).group_by(
        "transformer_id", "interval_end").agg(
        power.sum(), (pl.col("interval_minutes").first() / 60).alias("hours"))
    if totals.height == 0:
        return pl.DataFrame(schema={"transformer_id": pl.String(),
                                    "interval_end": pl.Datetime("us", "UTC"),
                                    "technical_loss_kwh": pl.Float64(),
                                    "technical_method": pl.String()})
    params = transformers if transformers is not None else pl.DataFrame(schema={
        "transformer_id": pl.String(), "rated_kva": pl.Float64(),
        "fixed_loss_kw": pl.Float64(), "load_loss_kw": pl.Float64()})
    peak = pl.col("net_kw").max().over("transformer_id")
    rated = pl.coalesce("rated_kva", (peak / settings.default_peak_loading).clip(1.0))
    given = pl.col("rated_kva").is_not_null() & pl.col("fixed_loss_kw").is_not_null() \
        & pl.col("load_loss_kw").is_not_null()
    estimated = totals.join(params, on="transformer_id", how="left").with_columns(
        rated.alias("_rated")).with_columns(
        estimated_loss_kwh(
            pl.col("net_kw"), pl.col("hours"), pl.col("_rated"),
            pl.coalesce("fixed_loss_kw", settings.default_fixed_loss_share * pl.col("_rated")),
            pl.coalesce("load_loss_kw", settings.default_load_loss_share * pl.col("_rated")),
        ).alias("technical_loss_kwh"),
        pl.when(given).then(pl.lit(ESTIMATE)).otherwise(pl.lit(ESTIMATE_DEFAULT))
        .alias("technical_method"),
    ).select("transformer_id", "interval_end", "technical_loss_kwh", "technical_method")
    flows = [_power_flow(joined, tid, net, settings=settings)
             for tid, net in sorted(networks.items())]
    flowed = pl.concat([f for f in flows if f is not None] or [estimated.clear()])
    return pl.concat([estimated.join(flowed, on="transformer_id", how="anti"), flowed])


def _power_flow(joined: pl.DataFrame, transformer_id: str, net: Any, *,
                settings: Settings) -> pl.DataFrame | None:
    """Line losses per interval by power flow; None when too few customers map to buses."""
    from pipelines.networks import bus_of

    rows = joined.filter((pl.col("transformer_id") == transformer_id)
                         & (pl.col("meter_role") == MeterRole.CUSTOMER))
    if rows.height == 0:
        return None
    buses = bus_of(net, rows["network_node"].drop_nulls().unique().to_list())
    rows = rows.with_columns(
        pl.col("network_node").replace_strict(buses, default=None, return_dtype=pl.Int64)
        .alias("_bus"),
        ((pl.col("kwh_import").fill_null(0.0) - pl.col("kwh_export").fill_null(0.0))
         / (pl.col("interval_minutes") / 60)).alias("_kw"))
    energy = float(rows["kwh_import"].fill_null(0.0).sum())
    mapped = rows.filter(pl.col("_bus").is_not_null())
    covered = float(mapped["kwh_import"].fill_null(0.0).sum())
    if mapped.height == 0 or covered < settings.network_coverage * energy:
        return None
    grid = mapped.group_by("interval_end", "_bus").agg(pl.col("_kw").sum()).pivot(
        on="_bus", index="interval_end", values="_kw").sort("interval_end").fill_null(0.0)
    bus_ids = [int(c) for c in grid.columns if c != "interval_end"]
    hours = float(rows["interval_minutes"].mode()[0]) / 60
    losses = power_flow_losses(net, grid.drop("interval_end").to_numpy(), bus_ids,
                               power_factor=settings.network_power_factor, hours=hours)
    return grid.select(pl.lit(transformer_id).alias("transformer_id"), "interval_end",
                       pl.Series("technical_loss_kwh", losses),
                       pl.lit(POWER_FLOW).alias("technical_method"))
