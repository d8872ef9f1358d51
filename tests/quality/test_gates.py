"""Great Expectations gates: a real chain on a tiny landing zone, then corrupted partitions."""

import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from ami.errors import NoDataError, QualityGateError
from ami.orchestrate import run_chain_direct
from ami.settings import Settings, get_settings
from quality import gates
from quality.gates import GateResult, check_gold_day, check_silver_day
from tests.quality.test_vee import write_landing
from warehouse import Warehouse
from warehouse.state import read_json

DAY = "2026-10-01"
DAY_START = datetime(2026, 9, 30, 17, 0, tzinfo=UTC)  # local midnight starting 2026-10-01
METERS = """meter_id,customer_id,meter_role,customer_group,transformer_id,feeder_id,branch_id,commune,contracted_kw,solar_kwp,dr_participant,valid_from,valid_to,network_node
TT-A,,transformer_total,,A,F1,LS01,Xã A,,,false,2020-01-01T00:00:00Z,,
PC1,K1,customer,residential,A,F1,LS01,Xã A,5,,false,2020-01-01T00:00:00Z,,
PC2,K2,customer,residential,A,F1,LS01,Xã A,5,,false,2020-01-01T00:00:00Z,,
"""
CHROMIUM = Path("/usr/bin/chromium")


def write_clean_landing(folder: Path) -> None:
    """Three meters, every 30-minute interval of the day measured."""
    folder.mkdir(parents=True)
    (folder / "meters.csv").write_text(METERS, encoding="utf-8")
    lines = ["meter_id,interval_end,interval_minutes,kwh_import,kwh_export"]
    for k in range(1, 49):
        stamp = (DAY_START + timedelta(minutes=30 * k)).strftime("%Y-%m-%dT%H:%M:%SZ")
        lines += [f"TT-A,{stamp},30,1.2,", f"PC1,{stamp},30,0.5,", f"PC2,{stamp},30,0.4,"]
    (folder / f"readings_{DAY}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The warehouse the real chain builds from the clean landing zone (built once)."""
    root = tmp_path_factory.mktemp("gates")
    data = root / "data"
    write_clean_landing(root / "landing")
    with pytest.MonkeyPatch.context() as monkeypatch:
        for key, value in {"AMI_DATA_DIR": data, "AMI_WAREHOUSE": data / "warehouse",
                           "AMI_LANDING": root / "landing", "AMI_TRUTH_DIR": data / "truth",
                           "AMI_REPORTS_DIR": data / "reports",
                           "AMI_AIRFLOW_HOME": data / "airflow"}.items():
            monkeypatch.setenv(key, str(value))
        get_settings.cache_clear()
        run_chain_direct(str(root / "landing"), settings=get_settings())
        get_settings.cache_clear()
    return data / "warehouse"


@pytest.fixture
def day_settings(settings: Settings, built: Path) -> Settings:
    """Settings of this test with its own copy of the built warehouse."""
    shutil.copytree(built, settings.warehouse)
    return settings


def rewrite(settings: Settings, table: str, change: Callable[[pl.DataFrame], pl.DataFrame]
            ) -> None:
    """Corrupt a partition in place, as a faulty job or a hand edit would."""
    path = Warehouse.at(settings.warehouse).data_file(table, {"date": DAY})
    change(pl.read_parquet(path)).write_parquet(path)


def corrupt_silver(frame: pl.DataFrame) -> pl.DataFrame:
    """A duplicated (meter_id, interval_end), a negative value, an unknown quality."""
    row = pl.int_range(pl.len())
    frame = frame.with_columns(
        pl.when(row == 5).then(-0.7).otherwise(pl.col("kwh_import")).alias("kwh_import"),
        pl.when(row == 9).then(pl.lit("bogus")).otherwise(pl.col("quality")).alias("quality"),
        pl.when(row == 9).then(pl.lit("manual")).otherwise(pl.col("rule")).alias("rule"),
    )
    return pl.concat([frame, frame.slice(20, 1)]).sort("meter_id", "interval_end")


def names(result: GateResult) -> dict[str, str]:
    return {f"{f.suite}: {f.expectation}": f.observed for f in result.failed}


def test_every_whole_table_fact_is_described(settings: Settings) -> None:
    for name in ("silver_readings_totals", "gold_meter_day_totals"):
        columns = {e.column for e in gates.suites(settings=settings)[name].expectations}
        assert columns - {"rows", "missing_share"} <= set(gates.FACTS)


def test_clean_silver_day_passes(day_settings: Settings) -> None:
    result = check_silver_day(DAY, settings=day_settings)
    assert (result.decision, result.success, result.failed) == ("pass", True, ())
    assert result.rows == result.rows_validated == 3 * 48
    assert result.docs_path.is_file()
    assert result.docs_path.is_relative_to(Path(day_settings.data_dir).resolve() / "data_docs")
    assert (Path(day_settings.data_dir) / "data_docs" / "index.html").is_file()
    record = read_json(Warehouse.at(day_settings.warehouse), f"gx/silver_readings/{DAY}.json")
    assert record["decision"] == "pass"
    assert record["docs_path"] == str(result.docs_path)
    assert record["facts"]["duplicate_keys"] == 0


def test_corrupted_silver_day_names_what_failed(day_settings: Settings) -> None:
    rewrite(day_settings, "readings", corrupt_silver)
    warn = day_settings.model_copy(update={"gx_silver_gate": "warn"})
    result = check_silver_day(DAY, settings=warn)  # does not raise under "warn"
    assert (result.decision, result.success) == ("warn", False)
    failed = names(result)
    assert "-0.7" in failed["silver_readings: expect_column_values_to_be_between(kwh_import)"]
    assert "'bogus'" in failed["silver_readings: expect_column_values_to_be_in_set(quality)"]
    unique = failed["silver_readings: expect_compound_columns_to_be_unique(meter_id, interval_end)"]
    assert unique.startswith("2 of 145 rows")  # both copies of the duplicated key
    totals = {k.split("(")[1].rstrip(")"): v for k, v in failed.items() if "_totals" in k}
    assert totals == {"duplicate_keys": "1", "negative_kwh": "1", "unknown_quality": "1"}
    assert {f.severity for f in result.failed} == {"error"}


def test_block_raises_with_the_docs_path(day_settings: Settings) -> None:
    rewrite(day_settings, "readings", corrupt_silver)
    assert day_settings.gx_silver_gate == "block"
    with pytest.raises(QualityGateError) as caught:
        check_silver_day(DAY, settings=day_settings)
    error = caught.value
    message = str(error)
    assert Path(error.docs_path).is_file()
    for needle in ("silver_readings", DAY, "expect_compound_columns_to_be_unique",
                   "expect_column_values_to_be_in_set(quality)", error.docs_path,
                   "AMI_GX_SILVER_GATE=warn"):
        assert needle in message
    record = read_json(Warehouse.at(day_settings.warehouse), f"gx/silver_readings/{DAY}.json")
    assert record["decision"] == "block"


def test_completeness_only_warns(day_settings: Settings) -> None:
    def lose_pc1(frame: pl.DataFrame) -> pl.DataFrame:  # a third of the day is missing
        gone = pl.col("meter_id") == "PC1"
        return frame.with_columns(
            pl.when(gone).then(None).otherwise(pl.col("kwh_import")).alias("kwh_import"),
            pl.when(gone).then(pl.lit("missing")).otherwise(pl.col("quality")).alias("quality"),
            pl.when(gone).then(pl.lit("no_reading")).otherwise(pl.col("rule")).alias("rule"),
        )

    rewrite(day_settings, "readings", lose_pc1)
    result = check_silver_day(DAY, settings=day_settings)  # policy "block", yet no raise
    assert result.decision == "warn"
    [failure] = result.failed
    assert failure.expectation == "expect_column_max_to_be_between(missing_share)"
    assert (failure.severity, failure.observed) == ("warning", "0.3333")


def test_gold_passes_on_a_real_day(day_settings: Settings) -> None:
    result = check_gold_day(DAY, settings=day_settings)
    assert (result.decision, result.failed, result.rows) == ("pass", (), 3)
    assert read_json(Warehouse.at(day_settings.warehouse), f"gx/gold_meter_day/{DAY}.json")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param(lambda f: pl.concat([f, f.head(1)]),
                     ["gold_meter_day: expect_column_values_to_be_unique(meter_id)",
                      "gold_meter_day_totals: expect_column_max_to_be_between(duplicate_keys)"],
                     id="meter-twice"),
        pytest.param(lambda f: f.with_columns(pl.col("kwh_import") * -1),
                     ["gold_meter_day: expect_column_values_to_be_between(kwh_import)",
                      "gold_meter_day_totals: expect_column_max_to_be_between(negative_kwh)"],
                     id="negative-energy"),
        pytest.param(lambda f: f.with_columns(pl.col("n_missing") + 1),
                     ["gold_meter_day_totals: expect_column_max_to_be_between(counts_mismatch)"],
                     id="counts-do-not-add-up"),
        pytest.param(lambda f: f.with_columns(pl.col("measured_share") + 0.5),
                     ["gold_meter_day: expect_column_values_to_be_between(measured_share)",
                      "gold_meter_day_totals: expect_column_max_to_be_between("
                      "measured_share_out_of_range)"],
                     id="share-above-one"),
        pytest.param(lambda f: f.drop("kwh_export"),
                     ["gold_meter_day: expect_table_columns_to_match_set",
                      "gold_meter_day_totals: expect_column_max_to_be_between(schema_mismatches)",
                      "gold_meter_day_totals: expect_column_max_to_be_between(negative_kwh)"],
                     id="column-dropped"),
    ],
)
def test_gold_fails_on_a_corrupted_day(day_settings: Settings,
                                       change: Callable[[pl.DataFrame], pl.DataFrame],
                                       expected: list[str]) -> None:
    rewrite(day_settings, "meter_day", change)
    with pytest.raises(QualityGateError, match="gold_meter_day"):
        check_gold_day(DAY, settings=day_settings)
    result = check_gold_day(DAY, settings=day_settings.model_copy(
        update={"gx_gold_gate": "warn"}))
    assert result.decision == "warn"
    assert set(expected) <= set(names(result))


def test_a_sampled_day_still_checks_every_row(day_settings: Settings,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gates, "FULL_ROWS_LIMIT", 10)  # as if the day had millions of rows
    sampled = (pl.col("meter_id").hash(seed=gates.SAMPLE_SEED) % gates.SAMPLE_MODULUS == 0)
    frame = Warehouse.at(day_settings.warehouse).read("readings", {"date": DAY})
    outside = frame.filter(~sampled)["meter_id"].unique().sort()[0]

    def break_outside(frame: pl.DataFrame) -> pl.DataFrame:  # unsorted, outside the sample
        bad = (pl.col("meter_id") == outside) & (pl.int_range(pl.len()).over("meter_id") == 3)
        frame = frame.with_columns(
            pl.when(bad).then(-1.5).otherwise(pl.col("kwh_import")).alias("kwh_import"))
        return pl.concat([frame.filter(pl.col("meter_id") == outside).head(2), frame])

    rewrite(day_settings, "readings", break_outside)
    result = check_silver_day(DAY, settings=day_settings.model_copy(
        update={"gx_silver_gate": "warn"}))
    assert result.rows == 3 * 48 + 2
    assert result.rows_validated < result.rows  # a sample, plus the flagged rows
    failed = names(result)
    assert failed["silver_readings_totals: expect_column_max_to_be_between(duplicate_keys)"] == "2"
    assert failed["silver_readings_totals: expect_column_max_to_be_between(negative_kwh)"] == "1"
    # the flagged rows reach GX, so its pages show the offending values
    assert "-1.5" in failed["silver_readings: expect_column_values_to_be_between(kwh_import)"]
    assert "silver_readings: expect_compound_columns_to_be_unique(meter_id, interval_end)" in failed


def test_a_day_without_partition_is_no_data(day_settings: Settings) -> None:
    with pytest.raises(NoDataError, match="2026-10-09"):
        check_gold_day("2026-10-09", settings=day_settings)


def test_old_results_leave_the_data_docs(day_settings: Settings) -> None:
    first = check_gold_day(DAY, settings=day_settings)
    results = Path(day_settings.data_dir).resolve() / "gx" / "validations" / "gold_meter_day"
    [run] = list(results.glob(f"{DAY}/*"))
    old = "20200101T000000.000000Z"  # validated long before DOCS_RETENTION_DAYS
    shutil.copytree(run, run.with_name(old))
    shutil.copytree(first.docs_path.parent, first.docs_path.parent.with_name(old))
    old_page = first.docs_path.parent.with_name(old) / first.docs_path.name
    check_gold_day(DAY, settings=day_settings)
    assert not run.with_name(old).exists()
    assert not old_page.exists()  # GX drops pages whose results are gone
    assert first.docs_path.is_file()  # recent runs stay
    index = (Path(day_settings.data_dir) / "data_docs" / "index.html").read_text(encoding="utf-8")
    assert old not in index and run.name in index


def dump_dom(page: Path) -> str:
    """The page as a headless browser renders it, with every network name unresolvable."""
    if not CHROMIUM.exists():
        pytest.fail("chromium not found: run `make .tools/chromium.ok` (part of `make test`)")
    done = subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--no-first-run",
         "--host-resolver-rules=MAP * ~NOTFOUND",  # offline: CDN assets cannot load
         "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    )
    return done.stdout


def test_data_docs_open_offline_in_a_browser(day_settings: Settings) -> None:
    rewrite(day_settings, "readings", corrupt_silver)
    result = check_silver_day(DAY, settings=day_settings.model_copy(
        update={"gx_silver_gate": "warn"}))
    page = dump_dom(result.docs_pages[0])
    assert "silver_readings" in page
    assert "quality is one of measured, estimated, edited, missing" in page
    assert "bogus" in page and "-0.7" in page  # the offending values, not only counts
    index = dump_dom(Path(day_settings.data_dir) / "data_docs" / "index.html")
    link = result.docs_pages[0].relative_to(Path(day_settings.data_dir).resolve() / "data_docs")
    assert f'href="{link.as_posix()}"' in index  # the table is in the HTML, not left to jQuery
    assert "silver_readings_totals" in index


def test_many_days_are_checked_with_one_docs_build(settings: Settings, tmp_path: Path) -> None:
    from quality.gates import check_silver_days

    landing = tmp_path / "landing"
    write_landing(landing)
    # a second day: the first one's rows a day later
    day1 = (landing / "readings_2026-10-01.csv").read_text()
    (landing / "readings_2026-10-02.csv").write_text(
        day1.replace("2026-10-01T", "2026-10-02T").replace("2026-09-30T", "2026-10-01T"))
    run_chain_direct(str(landing), settings=settings)
    results = check_silver_days(["2026-10-01", "2026-10-02"], settings=settings)
    assert [r.day for r in results] == ["2026-10-01", "2026-10-02"]
    for result in results:
        assert all(page.exists() for page in result.docs_pages)
    index = (settings.data_dir / "data_docs" / "index.html").read_text(encoding="utf-8")
    assert "2026-10-02" in index
