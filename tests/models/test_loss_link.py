"""The correlation of a meter's day energy with its transformer's day loss (``loss_corr``)."""

from datetime import date, timedelta

import polars as pl

from models.anomaly.tables import MIN_LOSS_DAYS, _loss_link

DAYS = [date(2026, 9, 1) + timedelta(days=d) for d in range(MIN_LOSS_DAYS + 6)]


def _link(kwh: dict[str, list[float]], loss: list[float]) -> dict[str, float | None]:
    days = pl.DataFrame([{"meter_id": m, "day": d, "kwh_day": v}
                         for m, values in kwh.items() for d, v in zip(DAYS, values, strict=True)])
    info = pl.DataFrame({"meter_id": list(kwh), "transformer_id": ["T1"] * len(kwh)})
    losses = pl.DataFrame({"transformer_id": "T1", "day": DAYS, "loss_kwh": loss})
    out = _loss_link(days, info, losses)
    return dict(zip(out["meter_id"], out["loss_corr"], strict=True))


def test_a_drop_that_shows_as_loss_correlates_negatively() -> None:
    n = len(DAYS)
    loss = [5.0] * (n // 2) + [9.0 + 0.1 * d for d in range(n - n // 2)]
    corr = _link({"thief": [10.0] * (n // 2) + [3.0 - 0.05 * d for d in range(n - n // 2)],
                  "neighbour": [8.0 + (d % 3) for d in range(n)]}, loss)
    assert corr["thief"] is not None and corr["thief"] < -0.9
    assert corr["neighbour"] is not None and abs(corr["neighbour"]) < 0.5


def test_a_series_that_never_moves_has_no_correlation() -> None:
    """0.1 summed in another order differs in the last bit; that is not ±1."""
    n = len(DAYS)
    flat = [0.1 + 0.2 if d % 2 else 0.3 for d in range(n)]  # 0.30000000000000004 and 0.3
    assert len(set(flat)) == 2
    corr = _link({"street_light": flat, "home": [4.0 + (d % 5) for d in range(n)]},
                 [3.0 + (d % 4) for d in range(n)])
    assert corr["street_light"] is None
    assert corr["home"] is not None
    assert _link({"home": [4.0 + (d % 5) for d in range(n)]}, [2.5] * n)["home"] is None


def test_too_few_days_have_no_correlation() -> None:
    short = {"m": [1.0 + d for d in range(len(DAYS))]}
    loss = [1.0 + d for d in range(len(DAYS))]
    days = pl.DataFrame([{"meter_id": "m", "day": d, "kwh_day": v}
                         for d, v in zip(DAYS[:MIN_LOSS_DAYS - 1], short["m"], strict=False)])
    info = pl.DataFrame({"meter_id": ["m"], "transformer_id": ["T1"]})
    losses = pl.DataFrame({"transformer_id": "T1", "day": DAYS, "loss_kwh": loss})
    assert _loss_link(days, info, losses)["loss_corr"].to_list() == [None]
    assert _link(short, loss)["m"] is not None and _link(short, loss)["m"] > 0.99
