"""Real exports load, or fail loudly: real households through the chain in three forms.

The same real readings (tests/data/realdata, 87 London households) written with ``Z``,
with ``+07:00`` and as the Vietnamese vendor export must give the same silver and the
same anomaly scores; moved ten years back (before any tariff) they still give the whole
ranked list, unpriced, with one note.
"""

from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from ami.cli import main
from ami.settings import get_settings
from tests.realdata import FORMS, START_2013, real_readings, shifted, write_form

pytestmark = pytest.mark.slow

#: The last bits of a float sum depend on the order Polars adds in (the file's chunks, its
#: threads): signals are kept to 1e-9 and day features summed in whole micro-kWh, so the
#: forms agree to that, in every run.
FLOAT_TOLERANCE = 1e-9


def _use_warehouse(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    for key, value in {"AMI_DATA_DIR": root, "AMI_WAREHOUSE": root / "warehouse",
                       "AMI_AIRFLOW_HOME": root / "airflow"}.items():
        monkeypatch.setenv(key, str(value))
    get_settings.cache_clear()


def _silver(root: Path, table: str) -> pl.DataFrame:
    return pl.read_parquet(root / "warehouse" / "silver" / table / "*" / "*.parquet",
                           hive_partitioning=True)


def test_three_forms_of_real_readings_build_the_same_silver(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    readings = real_readings(first=START_2013, days=10)
    built = {}
    for form in FORMS:
        root = tmp_path / form
        write_form(readings, form, root / "landing" / "readings_households.csv")
        _use_warehouse(monkeypatch, root)
        # readings only: no meters file, no customer system
        assert main(["ingest", "--landing", str(root / "landing")]) == 0
        out = capsys.readouterr().out
        assert any("readings_households.csv" in line and line.rstrip(" │").endswith("ok")
                   for line in out.splitlines()), out  # every row loaded is accounted for
        built[form] = {t: _silver(root, t) for t in ("readings", "quarantine", "findings")}
    get_settings.cache_clear()
    silver = built["utc"]["readings"].sort("meter_id", "interval_end")
    assert silver["meter_id"].n_unique() == 87
    assert silver.filter(pl.col("quality") == "measured").height > 0.9 * readings.height
    for form in FORMS[1:]:
        assert_frame_equal(built[form]["readings"].sort("meter_id", "interval_end"), silver)
        for table in ("quarantine", "findings"):
            key = ["date", "rule", *(["_row"] if table == "quarantine" else ["node_id"])]
            columns = [c for c in built["utc"][table].columns
                       if c not in ("evidence", "_file", "_dlt_load_id", "reason",
                                    "interval_end", "kwh_import")]
            assert_frame_equal(built[form][table].select(columns).sort(key),
                               built["utc"][table].select(columns).sort(key))


def _score(readings: Path, out: Path, capsys: pytest.CaptureFixture[str]) -> tuple[pl.DataFrame,
                                                                                   str]:
    assert main(["anomalies", "score", "--readings", str(readings), "--out", str(out)]) == 0
    return pl.read_csv(out, infer_schema_length=None), capsys.readouterr().out


def test_three_forms_of_real_readings_score_the_same(
        tmp_path: Path, settings: object, capsys: pytest.CaptureFixture[str]) -> None:
    readings = real_readings(first=START_2013, days=150)
    scores = {}
    for form in FORMS:
        path = write_form(readings, form, tmp_path / form / "readings.csv")
        scores[form], _ = _score(path, tmp_path / f"{form}.csv", capsys)
    base = scores["utc"]
    assert base.height == 87
    assert sorted(base["rank"]) == list(range(1, 88))
    for form in FORMS[1:]:
        assert_frame_equal(scores[form], base, check_exact=False, rel_tol=FLOAT_TOLERANCE,
                           abs_tol=FLOAT_TOLERANCE)
        assert scores[form]["reasons"].to_list() == base["reasons"].to_list()


def test_real_readings_ten_years_back_still_rank_every_meter(
        tmp_path: Path, settings: object, capsys: pytest.CaptureFixture[str]) -> None:
    readings = real_readings(first=START_2013, days=150)
    now, _ = _score(write_form(readings, "utc", tmp_path / "now.csv"), tmp_path / "a.csv",
                    capsys)
    back = write_form(shifted(readings, weeks=-522), "vendor", tmp_path / "back.csv")
    earlier, printed = _score(back, tmp_path / "b.csv", capsys)
    assert earlier.height == 87
    assert earlier["est_unbilled_vnd_month"].null_count() == 87
    assert earlier["est_unbilled_kwh_month"].null_count() == 0
    assert printed.count("no retail tariff is in force") == 1
    assert "2003-" in printed  # the note names the day that has no tariff
    # ten years back, same weekdays: the same ranking and reasons
    assert earlier["meter_id"].to_list() == now["meter_id"].to_list()
    assert earlier["reason_codes"].to_list() == now["reason_codes"].to_list()
