"""One rule decides what every step of the chain rebuilds: ``warehouse.catalog.is_stale``."""

from pathlib import Path

import pytest

from tests.warehouse.frames import meter_day
from warehouse import Warehouse, is_stale, source, source_key, write_partition

DAY, OTHER = {"date": "2026-10-02"}, {"date": "2026-10-01"}


@pytest.fixture
def wh(tmp_path: Path) -> Warehouse:
    warehouse = Warehouse.at(tmp_path)
    write_partition(meter_day(["M1"], [1.0]), "meter_day", OTHER, warehouse=warehouse)
    return warehouse


def build(wh: Warehouse, sources: dict[str, str]) -> None:
    write_partition(meter_day(["M1"], [2.0]), "meter_day", DAY, warehouse=wh, sources=sources)


def test_a_partition_never_written_is_stale(wh: Warehouse) -> None:
    assert is_stale(wh, "meter_day", DAY, {"meters": "abc"})


def test_built_from_what_it_would_be_built_from_today_is_current(wh: Warehouse) -> None:
    build(wh, {"meters": "abc", "figures": "v2"})
    assert not is_stale(wh, "meter_day", DAY, {"meters": "abc", "figures": "v2"})


@pytest.mark.parametrize("now", [
    pytest.param({"meters": "abd", "figures": "v2"}, id="a-source-changed"),
    pytest.param({"meters": "abc", "figures": "v2", "network:T1": "x"}, id="a-new-source"),
    pytest.param({"meters": "abc"}, id="a-recorded-source-is-gone"),
])
def test_other_sources_make_it_stale(wh: Warehouse, now: dict[str, str]) -> None:
    build(wh, {"meters": "abc", "figures": "v2"})
    assert is_stale(wh, "meter_day", DAY, now)


def test_a_partition_the_build_found_itself_must_still_be_what_it_was(wh: Warehouse) -> None:
    # VEE records the like-day readings it read; `now` cannot know them in advance.
    found = source_key("meter_day", OTHER)
    assert found == "meter_day:2026-10-01"
    build(wh, {"meters": "abc", found: source(wh, "meter_day", OTHER)})
    assert not is_stale(wh, "meter_day", DAY, {"meters": "abc"})
    write_partition(meter_day(["M1"], [9.0]), "meter_day", OTHER, warehouse=wh)
    assert is_stale(wh, "meter_day", DAY, {"meters": "abc"})
