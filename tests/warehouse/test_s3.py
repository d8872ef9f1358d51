"""The warehouse on S3-compatible storage: a real S3 API (moto's server) on 127.0.0.1."""

from pathlib import Path

import boto3
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from ami.orchestrate import run_chain_direct
from ami.settings import Settings, get_settings
from tests.quality.test_vee import write_landing
from tests.warehouse.frames import meter_day
from warehouse import Warehouse, partition_meta, write_partition
from warehouse.maintenance import compact_bronze, status, verify

pytestmark = pytest.mark.slow


def bucket(endpoint: str, name: str = "ami-wh") -> str:
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=name)
    return f"s3://{name}/lang-son"


def test_partitions_round_trip_on_s3(s3: str) -> None:
    wh = Warehouse.at(bucket(s3))
    assert not wh.local
    data = meter_day(["M2", "M1"], [0.5, 1.25])
    meta = write_partition(data, "meter_day", {"date": "2026-10-01"}, warehouse=wh,
                           sort_by=("meter_id",))
    again = write_partition(data, "meter_day", {"date": "2026-10-01"}, warehouse=wh,
                            sort_by=("meter_id",))
    assert again.checksum == meta.checksum  # same bytes: rewriting changes nothing
    assert partition_meta(wh, "meter_day", {"date": "2026-10-01"}) == again
    assert wh.partitions("meter_day", "date") == ["2026-10-01"]
    assert_frame_equal(wh.scan("meter_day", date="2026-10-01").drop("date").collect(),
                       data.sort("meter_id"))
    keys = {o["Key"] for o in boto3.client("s3", endpoint_url=s3).list_objects_v2(
        Bucket="ami-wh")["Contents"]}
    assert keys == {"lang-son/gold/meter_day/date=2026-10-01/part-0.parquet",
                    "lang-son/gold/meter_day/date=2026-10-01/_partition.json"}
    assert verify(wh) == []
    # a file damaged in the bucket is named by verify
    boto3.client("s3", endpoint_url=s3).put_object(
        Bucket="ami-wh", Key="lang-son/gold/meter_day/date=2026-10-01/part-0.parquet",
        Body=b"PAR1 not really")
    [problem] = verify(wh)
    assert problem.path == "gold/meter_day/date=2026-10-01/part-0.parquet"
    assert "Parquet" in problem.problem


def test_the_whole_chain_runs_on_s3(s3: str, settings: Settings, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMI_WAREHOUSE", bucket(s3))
    get_settings.cache_clear()
    on_s3 = get_settings()
    write_landing(tmp_path / "landing")
    run_chain_direct(str(tmp_path / "landing"), settings=on_s3)
    wh = Warehouse.at(on_s3.warehouse)
    silver = wh.scan("readings", date="2026-10-01").collect()
    assert silver.height == 4 * 48
    assert wh.partitions("balance_day", "date") == ["2026-10-01"]
    partitions, bronze = status(wh)
    assert {"readings", "meter_day", "balance_day", "balance_month"} <= set(partitions["table"])
    delivered = len((tmp_path / "landing" / "readings_2026-10-01.csv").read_text().splitlines())
    assert bronze.filter(pl.col("table") == "readings")["rows"].sum() == delivered - 1
    assert verify(wh) == []
    again = run_chain_direct(str(tmp_path / "landing"), settings=on_s3)
    assert again.rows_loaded == 0
    # a second delivery, then compaction of bronze: what silver reads is unchanged
    (tmp_path / "landing" / "readings_2026-10-01.csv").write_text(
        (tmp_path / "landing" / "readings_2026-10-01.csv").read_text().replace(",0.3,", ",0.35,"))
    run_chain_direct(str(tmp_path / "landing"), settings=on_s3)
    before = wh.scan("readings", date="2026-10-01").collect()
    merged = [c for c in compact_bronze(wh) if c.table == "readings"]
    assert merged and merged[0].inputs == 2
    assert len(wh.bronze_parts("filedrop", "readings")) == 1
    from quality.vee import vee_day

    vee_day("2026-10-01", settings=on_s3)
    assert_frame_equal(wh.scan("readings", date="2026-10-01").collect(), before)
