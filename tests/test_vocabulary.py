"""One vocabulary (README "One vocabulary"), checked on the source tree.

The domain's words are ``ami.vocabulary`` members and never bare string literals elsewhere,
and one normaliser reads head-end event codes for VEE and the anomaly evidence alike.
"""

import ast
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from ami.orchestrate import run_chain_direct
from ami.settings import Settings
from ami.vocabulary import (
    CustomerGroup,
    EventCategory,
    InspectionOutcome,
    MeterRole,
    Quality,
    Rule,
    event_category,
    texts,
)
from models.anomaly.events import event_signals
from models.anomaly.readings import Window
from warehouse import Warehouse

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("ami", "pipelines", "quality", "warehouse", "models", "reports", "app", "dags")
HOME = "ami/vocabulary.py"
VOCABULARY = (Quality, Rule, MeterRole, CustomerGroup, EventCategory, InspectionOutcome)
WORDS = {member.value: f"{enum.__name__}.{member.name}"
         for enum in VOCABULARY for member in enum}

#: Modules not yet moved to the vocabulary (none left); ``test_exclusions_are_still_needed``
#: says when an entry can go.
NOT_YET: set[str] = set()

#: (module, word) → (literals of that word there, why they are not the vocabulary's word).
#: The counts are exact: one more literal of the word in the module fails the scan, one
#: fewer asks for the entry to shrink.
ALLOWED: dict[tuple[str, str], tuple[int, str]] = {
    ("ami/province/injections.py", "theft"): (
        2, "the synthetic truth's injection category (theft / fault / outage / move …), "
        "not an inspection outcome"),
    ("quality/evaluate.py", "theft"): (
        2, "the synthetic truth's injection category, read back to score VEE"),
    ("ami/province/injections.py", "power_off"): (
        1, "the head-end event code the generator writes (the canonical code of the "
        "power_off category in EVENT_CODES), not the category"),
    ("quality/vee.py", "estimated"): (
        2, "a finding's action (estimated / left missing), not a silver quality"),
    ("ami/cli.py", "estimated"): (1, "the VEE record's count field of that name"),
    ("ami/reference.py", "estimated"): (
        1, "a finding's action (estimated / left missing), named for people"),
    ("ami/cli.py", "missing"): (1, "the VEE record's count field of that name"),
}

#: Calls whose first argument names a column: ``pl.col("measured")`` is no quality value.
NAMING_CALLS = {"col", "alias"}


def _called(func: ast.expr) -> str | None:
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else None


def vocabulary_literals(source: str) -> list[tuple[int, str]]:
    """(line, word) of each string literal that is a vocabulary word used as a value.

    Not values: docstrings, the text of f-strings, and column names (``NAMING_CALLS``).
    """
    tree = ast.parse(source)
    names: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                names.add(id(first.value))
        elif isinstance(node, ast.JoinedStr):
            names.update(id(part) for part in node.values if isinstance(part, ast.Constant))
        elif isinstance(node, ast.Call) and node.args and _called(node.func) in NAMING_CALLS:
            names.add(id(node.args[0]))
    return sorted((node.lineno, node.value) for node in ast.walk(tree)
                  if isinstance(node, ast.Constant) and isinstance(node.value, str)
                  and node.value in WORDS and id(node) not in names)


def modules(package: str) -> list[str]:
    return sorted(str(path.relative_to(ROOT)) for path in (ROOT / package).rglob("*.py"))


def literals_of(module: str) -> list[tuple[int, str]]:
    return vocabulary_literals((ROOT / module).read_text(encoding="utf-8"))


def test_each_word_names_one_member() -> None:
    assert len(WORDS) == sum(len(enum) for enum in VOCABULARY)


@pytest.mark.parametrize("package", PACKAGES)
def test_no_vocabulary_word_is_a_bare_literal(package: str) -> None:
    problems = []
    for module in modules(package):
        if module == HOME or module in NOT_YET:
            continue
        found = literals_of(module)
        counts = Counter(word for _, word in found)
        for word, n in sorted(counts.items()):
            allowed = ALLOWED.get((module, word), (0, ""))[0]
            if n != allowed:
                lines = [line for line, w in found if w == word]
                problems.append(f"{module} lines {lines}: {n} literal(s) {word!r}, "
                                f"{allowed} allowed: write {WORDS[word]}")
        problems += [f"{module}: ALLOWED lists {word!r}, which is no longer there"
                     for (where, word) in ALLOWED if where == module and word not in counts]
    assert problems == []


def test_the_scan_finds_a_planted_literal() -> None:
    # The rule above must be able to fail.
    planted = (
        'import polars as pl\n'
        'kept = pl.col("quality") == "measured"\n'
        'ROLES = ("customer", "feeder_head")\n'
        'def f(outcome): return outcome in {"theft"}\n'
    )
    assert vocabulary_literals(planted) == [(2, "measured"), (3, "customer"),
                                            (3, "feeder_head"), (4, "theft")]


def test_names_and_prose_are_not_values() -> None:
    source = (
        '"""measured"""\n'
        'import polars as pl\n'
        'def f(x):\n'
        '    """missing"""\n'
        '    return pl.col("measured").alias("estimated"), f"{x}missing"\n'
    )
    assert vocabulary_literals(source) == []


def test_exclusions_are_still_needed() -> None:
    # Once a module excluded above is clean, drop it from NOT_YET so it stays clean.
    assert [module for module in sorted(NOT_YET) if not literals_of(module)] == []


@pytest.mark.parametrize(
    ("code", "category"),
    [
        pytest.param("Power Down", EventCategory.POWER_OFF, id="words"),
        pytest.param("power-down", EventCategory.POWER_OFF, id="hyphen"),
        pytest.param("POWER_DOWN", EventCategory.POWER_OFF, id="upper"),
        pytest.param("  power  failure ", EventCategory.POWER_OFF, id="padded"),
        pytest.param("Terminal Cover Removed", EventCategory.TAMPER, id="tamper"),
        pytest.param("reverse-current", EventCategory.REVERSE, id="reverse"),
        pytest.param("Clock Adjusted", EventCategory.CLOCK, id="clock"),
        pytest.param("time-sync", EventCategory.CLOCK, id="time-sync"),
        pytest.param("power_on", None, id="end-of-outage"),
        pytest.param("firmware upgrade", None, id="unknown"),
        pytest.param(None, None, id="null"),
    ],
)
def test_event_category_of_head_end_codes(code: str | None,
                                          category: EventCategory | None) -> None:
    frame = pl.DataFrame({"event_code": [code]}, schema={"event_code": pl.String})
    assert frame.select(event_category(pl.col("event_code")))["event_code"][0] == category


def test_texts_are_plain_strings_polars_can_mix() -> None:
    # A list of members would be read as Polars' Enum dtype and fail on "all".
    mixed = pl.Series([*texts(CustomerGroup), "all"])
    assert mixed.dtype == pl.String
    assert type(texts(Quality)[0]) is str


# --- a head-end's spellings of an outage mean the same in VEE and in the evidence ---------

DAY1 = datetime(2026, 9, 30, 17, 0, tzinfo=UTC)  # local midnight starting 2026-10-01
SPELLINGS = {"P1": "Power Down", "P2": "power-down", "P3": "POWER_DOWN"}
METERS_HEADER = ("meter_id,customer_id,meter_role,customer_group,transformer_id,feeder_id,"
                 "branch_id,commune,contracted_kw,solar_kwp,dr_participant,valid_from,"
                 "valid_to,network_node")


def _landing(landing: Path) -> None:
    """Transformers P1-P3 and Q: customers at zero on day 2 while the total meter delivers.

    Each P has its customer's power-off event spelt one way; Q has only a power_on.
    """
    transformers = [*SPELLINGS, "Q"]
    rows = [f"{meter},,{role},{group},{tx},F1,LS01,Xã A,5,,false,2020-01-01T00:00:00Z,,"
            for tx in transformers
            for meter, role, group in ((f"TT-{tx}", "transformer_total", ""),
                                       (f"PC-{tx}", "customer", "residential"))]
    (landing / "meters.csv").write_text("\n".join([METERS_HEADER, *rows]) + "\n",
                                        encoding="utf-8")
    for day in (0, 1):
        start = DAY1 + timedelta(days=day)
        lines = ["meter_id,interval_end,interval_minutes,kwh_import,kwh_export"]
        for tx in transformers:
            for k in range(1, 49):
                at = f"{start + timedelta(minutes=30 * k):%Y-%m-%dT%H:%M:%SZ}"
                varied = 1 + (k % 5) / 10  # no value repeats all day (no flat line)
                lines.append(f"TT-{tx},{at},30,{0.5 * varied},")
                lines.append(f"PC-{tx},{at},30,{0.4 * varied if day == 0 else 0},")
        name = f"readings_{(start + timedelta(hours=7)).date().isoformat()}.csv"
        (landing / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    at = f"{DAY1 + timedelta(days=1, hours=3):%Y-%m-%dT%H:%M:%SZ}"
    events = [f"PC-{tx},{at},{code}" for tx, code in SPELLINGS.items()]
    (landing / "events_2026-10-02.csv").write_text(
        "\n".join(["meter_id,event_at,event_code", *events, f"PC-Q,{at},power_on"]) + "\n",
        encoding="utf-8")


def test_head_end_spellings_of_an_outage_agree(settings: Settings, tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    _landing(landing)
    run_chain_direct(str(landing), settings=settings)
    findings = Warehouse.at(settings.warehouse).scan("findings").collect().filter(
        (pl.col("date") == "2026-10-02") & (pl.col("level") == "transformer"))
    vee = dict(findings.select("node_id", "rule").iter_rows())
    assert vee == {"P1": "transformer_outage", "P2": "transformer_outage",
                   "P3": "transformer_outage", "Q": "transformer_data_fault"}

    at = DAY1 + timedelta(days=1, hours=3)
    events = pl.DataFrame(
        [(f"PC-{tx}", at, code) for tx, code in SPELLINGS.items()] + [("PC-Q", at, "power_on")],
        schema={"meter_id": pl.String, "event_at": pl.Datetime("us", "UTC"),
                "event_code": pl.String}, orient="row")
    window = Window(DAY1 + timedelta(days=2), date(2026, 9, 25), date(2026, 10, 1),
                    date(2026, 10, 2))
    counted = event_signals(events, window, settings=settings)
    evidence = dict(counted.select("meter_id", "power_off_events_recent").iter_rows())
    assert evidence == {"PC-P1": 1, "PC-P2": 1, "PC-P3": 1}


def test_every_vee_rule_and_event_category_has_a_vietnamese_name() -> None:
    from ami.reference import EVENT_CATEGORY_NAMES, VEE_RULE_NAMES
    from ami.vocabulary import EventCategory, Finding, Rule

    assert set(VEE_RULE_NAMES) == {*texts(Rule), *texts(Finding)}
    assert set(EVENT_CATEGORY_NAMES) == set(texts(EventCategory))
