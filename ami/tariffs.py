"""Dated retail electricity tariffs and the VND value of unbilled energy (README "Tariffs").

Retail prices are set by decisions of the Ministry of Industry and Trade (Bộ Công Thương):
a block tariff for households, time-of-use prices for business and production, flat prices
for public administration and public lighting. They live in a dated table, a CSV file:
``ami/tariffs.csv`` ships with the package and the ``tariffs`` setting (``AMI_TARIFFS``)
points to the utility's own copy. The packaged rows are the low-voltage (below 6 kV)
prices of Quyết định 2699/QĐ-BCT (11/10/2024) and 1279/QĐ-BCT (09/05/2025) as we know
them: **the utility must check them against the decisions and keep the table up to date**
(add the complete rows of each new decision under its ``valid_from``, and keep the earlier
rows: months before a change are priced with them).

One row per (valid_from, customer_group, block or time-of-use part):

``valid_from``
    First day the prices apply (``YYYY-MM-DD``). The rows sharing a ``valid_from`` form
    one complete table (every customer group) in force until the next ``valid_from``.
``decision``
    The decision that set the price, e.g. "Quyết định 1279/QĐ-BCT ngày 09/05/2025".
``customer_group``
    One of ``residential``, ``commercial``, ``production``, ``public_admin``,
    ``public_lighting``, ``other``.
``block_from_kwh``, ``block_to_kwh``
    Household monthly blocks [kWh/month] as continuous bounds: the decision's
    "51–100 kWh" is written ``50,100`` (more than 50 up to 100 kWh). The first block
    starts at 0, each block starts where the previous one ends, the last one has an
    empty ``block_to_kwh``. Empty for groups without blocks.
``tou``
    ``normal`` / ``peak`` / ``offpeak`` (giờ bình thường / cao điểm / thấp điểm) for a
    time-of-use group, which then has exactly these three rows; empty otherwise.
``vnd_per_kwh``
    Price [VND/kWh] excluding VAT, a plain positive number (``1984``, no separator).
``note``
    Optional text for people.

Errors name the file, the row (1 = first line below the header), the column and the fix.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from datetime import date, datetime
from functools import reduce
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, NamedTuple

import polars as pl

from ami.errors import ConfigError, InputError, NoDataError
from ami.settings import PACKAGED_TARIFFS
from ami.vocabulary import CustomerGroup, texts
from quality.parse import unreadable_csv

if TYPE_CHECKING:
    from ami.settings import Settings

#: Canonical customer groups; every dated table prices each of them.
GROUPS: tuple[str, ...] = texts(CustomerGroup)
#: Group of meters whose customer group is unknown (null): the household block tariff,
#: the most common contract on the low-voltage network.
DEFAULT_GROUP = CustomerGroup.RESIDENTIAL
#: Parts of a time-of-use price (giờ bình thường / cao điểm / thấp điểm).
TOU_PARTS = ("normal", "peak", "offpeak")
#: Shares of unbilled energy in each time-of-use part. When and how energy was taken
#: around the meter is not known by hour, so it is priced at the normal-hours price:
#: normal hours cover most of the day and their price lies between the off-peak and
#: peak prices, so the estimate neither counts every kWh at the peak price nor at the
#: off-peak one.
DEFAULT_TOU_SHARES: Mapping[str, float] = MappingProxyType({"normal": 1.0})

#: No retail price is this low [VND/kWh]: a lower one is a typing error, usually a dot
#: written as thousands separator ("1.984" read as 1.984 VND/kWh).
MIN_VND_PER_KWH = 100.0

COLUMNS = ("valid_from", "decision", "customer_group", "block_from_kwh", "block_to_kwh",
           "tou", "vnd_per_kwh")
SCHEMA: dict[str, pl.DataType] = {
    "valid_from": pl.Date(), "decision": pl.String(), "customer_group": pl.String(),
    "block_from_kwh": pl.Float64(), "block_to_kwh": pl.Float64(), "tou": pl.String(),
    "vnd_per_kwh": pl.Float64(), "note": pl.String(),
}

_DATE_FIX = "write the first day the prices apply as YYYY-MM-DD, e.g. 2025-05-10"
_BLOCK_FIX = ("household blocks must run from 0 kWh without gaps or overlaps: each "
              "block_from_kwh equals the previous block_to_kwh (the decision's 51–100 kWh "
              "is written 50,100) and the last block has an empty block_to_kwh")


class Block(NamedTuple):
    """One price band of a group: ``from_kwh`` < monthly kWh ≤ ``to_kwh`` (None: no limit)."""

    from_kwh: float
    to_kwh: float | None
    vnd_per_kwh: float


def read_tariffs(path: Path = PACKAGED_TARIFFS) -> pl.DataFrame:
    """The validated tariff table of a CSV file (columns :data:`SCHEMA`, sorted).

    Raises:
        ConfigError: the file does not exist.
        InputError: a bad date, price, block, time-of-use part or customer group, or a
            dated table that does not price every group — naming file, row and column.

    """
    if not path.is_file():
        raise ConfigError(f"tariff table {path} does not exist",
                          fix="set AMI_TARIFFS to the utility's tariff CSV, or unset it to "
                              "use the table shipped with the package")
    try:
        raw = pl.read_csv(path, infer_schema=False, encoding="utf8")
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError) as exc:
        raise unreadable_csv(
            path, exc, what="the tariff table",
            fields_fix="write numbers without thousands separators and quote text that "
            "contains a comma (e.g. the note)") from None
    return parse_tariffs(raw, file=str(path))


def load_tariffs(*, settings: Settings) -> pl.DataFrame:
    """The validated tariff table the settings point to (``AMI_TARIFFS``)."""
    return read_tariffs(settings.tariffs)


def parse_tariffs(raw: pl.DataFrame, *, file: str) -> pl.DataFrame:
    """Typed and validated tariff rows from the text columns of ``file``.

    Raises:
        InputError: see :func:`read_tariffs`.

    """
    missing = [c for c in COLUMNS if c not in raw.columns]
    if missing:
        raise InputError(f"the tariff table has no column {missing[0]!r}", file=file,
                         column=missing[0], fix=f"use the header {','.join(COLUMNS)},note")
    if raw.is_empty():
        raise InputError("the tariff table holds no rows", file=file,
                         fix="add the rows of the tariff in force below the header")
    text = raw.select(
        *[_text(c) for c in COLUMNS],
        _text("note") if "note" in raw.columns else pl.lit(None, pl.String).alias("note"),
        pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("_row"),
    )
    typed = text.with_columns(
        pl.col("valid_from").str.to_date("%Y-%m-%d", strict=False),
        pl.col("customer_group", "tou").str.to_lowercase(),
        pl.col("block_from_kwh", "block_to_kwh", "vnd_per_kwh").cast(pl.Float64, strict=False),
    )
    _check_rows(text, typed, file)
    for (_valid_from, group), part in typed.partition_by(
        "valid_from", "customer_group", as_dict=True, maintain_order=True
    ).items():
        _check_group(part, str(group), file)
    _check_complete(typed, file)
    return (typed.select(list(SCHEMA)).cast(SCHEMA)  # type: ignore[arg-type]
            .sort("valid_from", "customer_group", "block_from_kwh", "tou", nulls_last=True))


def tariff_on(day: date, *, tariffs: pl.DataFrame | None = None) -> pl.DataFrame:
    """The rows of the table in force on ``day`` (the latest ``valid_from`` ≤ ``day``).

    Args:
        day: local calendar day; a datetime counts by its date.
        tariffs: a table from :func:`read_tariffs` / :func:`load_tariffs`; None: the
            table shipped with the package.

    Raises:
        NoDataError: the table starts after ``day`` (the only NoDataError this module
            raises: callers for whom a price is optional, such as the anomaly ranking,
            catch it and leave the value empty).

    """
    table = read_tariffs() if tariffs is None else tariffs
    day = day.date() if isinstance(day, datetime) else day
    start = table.filter(pl.col("valid_from") <= day)["valid_from"].max()
    if start is None:
        first = min(table["valid_from"].to_list(), default=None)
        raise NoDataError(
            f"no retail tariff is in force on {day.isoformat()} (the tariff table starts on "
            f"{first})",
            fix="add the rows of the tariff in force on that day to the tariff table "
                "(AMI_TARIFFS)")
    return table.filter(pl.col("valid_from") == start)


def unbilled_vnd_expr(
    *, on: date, tariffs: pl.DataFrame | None = None,
    tou_shares: Mapping[str, float] | None = None,
) -> pl.Expr:
    """Expression for the VND value of unbilled energy, column ``unbilled_vnd``.

    Reads ``customer_group``, ``billed_kwh_month`` (energy the meter registered over a
    month [kWh]) and ``unbilled_kwh_month`` (energy taken but not registered [kWh]), so
    it also runs in a lazy query. Prices are those in force on ``on`` (excluding VAT);
    the result is rounded to whole đồng.

    - Households (block tariff): the unbilled energy would have been billed on top of the
      billed energy, in the upper blocks: bill(billed + unbilled) − bill(billed). Each
      meter counts as one household (shared meters with several quotas are not modelled).
    - Time-of-use groups: unbilled kWh × Σ share × price of each part, shares
      :data:`DEFAULT_TOU_SHARES` (the normal-hours price) unless ``tou_shares`` is given.
    - Flat groups: unbilled kWh × price.

    A null ``customer_group`` is priced as ``residential`` (:data:`DEFAULT_GROUP`); a group
    the table does not know gives null, as does a null energy. Negative energies count
    as 0. A month over which prices changed is priced wholly at the prices of ``on``.

    Args:
        on: the day whose prices apply (e.g. the last day of the scored window).
        tariffs: a table from :func:`read_tariffs` / :func:`load_tariffs` (pass
            ``load_tariffs(settings=settings)`` to honour ``AMI_TARIFFS``); None: the table
            shipped with the package.
        tou_shares: share of unbilled energy in each part, e.g.
            ``{"normal": 0.6, "peak": 0.2, "offpeak": 0.2}``; the shares add up to 1.

    Raises:
        NoDataError: no tariff is in force on ``on``.
        ConfigError: bad ``tou_shares``.

    """
    blocks = price_blocks(tariff_on(on, tariffs=tariffs), tou_shares=tou_shares)
    group = pl.col("customer_group").fill_null(DEFAULT_GROUP)
    billed = pl.col("billed_kwh_month").clip(lower_bound=0)
    total = billed + pl.col("unbilled_kwh_month").clip(lower_bound=0)
    value: pl.Expr = pl.lit(None, pl.Float64)
    for name, bands in blocks.items():
        priced = _bill(total, bands) - _bill(billed, bands)
        value = pl.when(group == name).then(priced).otherwise(value)
    return value.round(0).alias("unbilled_vnd")


def unbilled_vnd(
    frame: pl.DataFrame, *, on: date, tariffs: pl.DataFrame | None = None,
    tou_shares: Mapping[str, float] | None = None,
) -> pl.Series:
    """The VND value of each row's unbilled energy at its tariff (Float64 ``unbilled_vnd``).

    ``frame`` holds ``customer_group`` (nullable), ``billed_kwh_month`` and
    ``unbilled_kwh_month`` [kWh per month]; pricing as :func:`unbilled_vnd_expr`.

    Raises:
        InputError: a column is missing or a customer group is unknown.
        NoDataError: no tariff is in force on ``on``.
        ConfigError: bad ``tou_shares``.

    """
    for column in ("customer_group", "billed_kwh_month", "unbilled_kwh_month"):
        if column not in frame.columns:
            raise InputError("cannot price unbilled energy without this column",
                             column=column, fix="give customer_group (may be null), "
                             "billed_kwh_month and unbilled_kwh_month [kWh per month]")
    unknown = frame.filter(~pl.col("customer_group").is_in(GROUPS))["customer_group"]
    if unknown.len():
        raise InputError(f"unknown customer group(s) {sorted(unknown.unique().to_list())}",
                         column="customer_group", fix=f"use one of {', '.join(GROUPS)}, "
                         "or null for a household")
    expr = unbilled_vnd_expr(on=on, tariffs=tariffs, tou_shares=tou_shares)
    return frame.select(expr).to_series()


def price_blocks(
    rows: pl.DataFrame, *, tou_shares: Mapping[str, float] | None = None,
) -> dict[str, list[Block]]:
    """Price bands of each group of one dated table (:func:`tariff_on`).

    A time-of-use group gets one band at its blended price: Σ share × price of each part,
    shares ``tou_shares`` (default :data:`DEFAULT_TOU_SHARES`).
    """
    shares = _shares(tou_shares)
    blocks: dict[str, list[Block]] = {}
    for (name,), part in rows.sort("block_from_kwh").partition_by(
        "customer_group", as_dict=True, maintain_order=True
    ).items():
        if part["tou"].is_not_null().any():
            price = dict(zip(part["tou"], part["vnd_per_kwh"], strict=True))
            blended = sum(share * price[tou] for tou, share in shares.items())
            blocks[str(name)] = [Block(0.0, None, blended)]
        else:
            blocks[str(name)] = [
                Block(lo or 0.0, hi, price) for lo, hi, price in
                part.select("block_from_kwh", "block_to_kwh", "vnd_per_kwh").iter_rows()
            ]
    return blocks


def _text(column: str) -> pl.Expr:
    """A text column without surrounding spaces; empty text is null."""
    stripped = pl.col(column).str.strip_chars()
    return pl.when(stripped != "").then(stripped).alias(column)


def _bill(kwh: pl.Expr, bands: list[Block]) -> pl.Expr:
    """Energy charge [VND] of a month's ``kwh`` filling the bands from the lowest."""
    return reduce(operator.add, [
        band.vnd_per_kwh * (kwh - band.from_kwh).clip(
            lower_bound=0,
            upper_bound=None if band.to_kwh is None else band.to_kwh - band.from_kwh)
        for band in bands
    ])


def _shares(tou_shares: Mapping[str, float] | None) -> Mapping[str, float]:
    """Validated time-of-use shares."""
    shares = DEFAULT_TOU_SHARES if tou_shares is None else tou_shares
    wrong = [k for k in shares if k not in TOU_PARTS]
    if wrong or any(s < 0 for s in shares.values()) or abs(sum(shares.values()) - 1) > 1e-9:
        raise ConfigError(f"time-of-use shares {dict(shares)} are not a split of the energy",
                          fix=f"give shares ≥ 0 of {', '.join(TOU_PARTS)} adding up to 1")
    return shares


def _check_rows(text: pl.DataFrame, typed: pl.DataFrame, file: str) -> None:
    """Raise on the first row with a value that cannot be a tariff."""
    both = text.select(pl.col(pl.String).fill_null("").name.suffix("_text")).hstack(typed)
    number_fix = "write {0} as a plain number (a dot for decimals, no thousands separator)"
    problems = [
        (pl.col("valid_from").is_null(), "valid_from",
         "valid_from {valid_from_text!r} is not a date", _DATE_FIX),
        (pl.col("decision").is_null(), "decision", "the decision is empty",
         "name the decision that set the price, e.g. Quyết định 1279/QĐ-BCT ngày 09/05/2025"),
        (~pl.col("customer_group").is_in(GROUPS).fill_null(value=False), "customer_group",
         "unknown customer group {customer_group_text!r}", f"use one of {', '.join(GROUPS)}"),
        (pl.col("vnd_per_kwh_text") == "", "vnd_per_kwh", "the price is empty",
         "give the price in VND/kWh excluding VAT, e.g. 1984"),
        (pl.col("vnd_per_kwh").is_null(), "vnd_per_kwh",
         "the price {vnd_per_kwh_text!r} is not a number",
         number_fix.format("the price in VND/kWh excluding VAT") + ", e.g. 1984"),
        (pl.col("vnd_per_kwh") <= 0, "vnd_per_kwh", "the price {vnd_per_kwh_text} is not positive",
         "give the price in VND/kWh excluding VAT, e.g. 1984"),
        (pl.col("vnd_per_kwh") < MIN_VND_PER_KWH, "vnd_per_kwh",
         "the price {vnd_per_kwh_text} VND/kWh is implausibly low",
         "write the price without a thousands separator: 1984, not 1.984"),
        *[(pl.col(c).is_null() & (pl.col(f"{c}_text") != ""), c,
           f"{c} {{{c}_text!r}} is not a number", number_fix.format("the block limit [kWh]"))
          for c in ("block_from_kwh", "block_to_kwh")],
        (pl.col("block_from_kwh") < 0, "block_from_kwh", "the block starts below 0 kWh",
         _BLOCK_FIX),
        (pl.col("block_to_kwh") <= pl.col("block_from_kwh").fill_null(0), "block_to_kwh",
         "the block ends at or below its start", _BLOCK_FIX),
        (~pl.col("tou").is_in(TOU_PARTS), "tou", "unknown time-of-use part {tou_text!r}",
         f"use one of {', '.join(TOU_PARTS)}, or leave it empty"),
        (pl.col("tou").is_not_null()
         & pl.any_horizontal(pl.col("block_from_kwh", "block_to_kwh").is_not_null()), "tou",
         "a row cannot be both a household block and a time-of-use part",
         "leave tou empty on block rows, or the block columns empty on time-of-use rows"),
    ]
    for failed, column, message, fix in problems:
        bad = both.filter(failed.fill_null(value=False))
        if bad.height:
            first = bad.row(0, named=True)
            raise InputError(message.format(**first), file=file, row=first["_row"],
                             column=column, fix=fix)


def _check_group(part: pl.DataFrame, group: str, file: str) -> None:
    """Raise unless the rows of one group on one date form a tariff: blocks, TOU or flat."""
    day = part["valid_from"][0]
    where = f"{group} on {day}"
    rows = part.sort("block_from_kwh", "_row", nulls_last=True).iter_rows(named=True)
    listed = list(rows)
    if any(r["tou"] is not None for r in listed):
        seen: dict[str, int] = {}
        for r in listed:
            if r["tou"] is None:
                raise InputError(f"{where} mixes time-of-use prices and a row without a part",
                                 file=file, row=r["_row"], column="tou",
                                 fix=f"give each row one of {', '.join(TOU_PARTS)}")
            if r["tou"] in seen:
                raise InputError(f"{where}: the {r['tou']} price is given twice (also row "
                                 f"{seen[r['tou']]})", file=file, row=r["_row"], column="tou",
                                 fix="keep one row per time-of-use part")
            seen[r["tou"]] = r["_row"]
        absent = [p for p in TOU_PARTS if p not in seen]
        if absent:
            raise InputError(f"{where} has no {absent[0]} price", file=file,
                             row=listed[0]["_row"], column="tou",
                             fix=f"give the three parts {', '.join(TOU_PARTS)}")
        return
    flat = [r for r in listed if r["block_from_kwh"] is None and r["block_to_kwh"] is None]
    if len(flat) == len(listed):
        if len(flat) > 1:
            raise InputError(f"{where} has more than one price (also row {flat[0]['_row']})",
                             file=file, row=flat[1]["_row"], column="customer_group",
                             fix="keep one row, or give household blocks or time-of-use parts")
        return
    end: float | None = 0.0
    for r in listed:
        lo, row = r["block_from_kwh"], r["_row"]
        if lo is None:
            raise InputError(f"{where} has household blocks but this row has no block start",
                             file=file, row=row, column="block_from_kwh", fix=_BLOCK_FIX)
        if end is None:
            raise InputError(f"{where}: the block from {lo:g} kWh overlaps the block above "
                             "that has no upper limit", file=file, row=row,
                             column="block_from_kwh", fix=_BLOCK_FIX)
        if lo != end:
            kind = "overlaps the previous block" if lo < end else \
                f"leaves {end:g}–{lo:g} kWh without a price"
            raise InputError(f"{where}: the block from {lo:g} kWh {kind}", file=file, row=row,
                             column="block_from_kwh", fix=_BLOCK_FIX)
        end = r["block_to_kwh"]
    if end is not None:
        raise InputError(f"{where}: the last block ends at {end:g} kWh, leaving more energy "
                         "without a price", file=file, row=listed[-1]["_row"],
                         column="block_to_kwh", fix=_BLOCK_FIX)


def _check_complete(typed: pl.DataFrame, file: str) -> None:
    """Raise when a dated table does not price every customer group."""
    for (day,), part in typed.partition_by("valid_from", as_dict=True,
                                           maintain_order=True).items():
        absent = [g for g in GROUPS if g not in set(part["customer_group"])]
        if absent:
            raise InputError(
                f"the tariff of {day} has no price for {', '.join(absent)}", file=file,
                row=int(part["_row"].min()), column="customer_group",  # type: ignore[arg-type]
                fix="each valid_from starts a complete table: give every customer group its "
                    "rows (copy the unchanged ones from the previous table)")
