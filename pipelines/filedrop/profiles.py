"""Source profiles: how a head-end's files map onto the canonical contract.

A profile is a YAML file (see ``profiles/``): encodings to try, delimiter, decimal comma,
timestamp format and zone, whether intervals are labelled by their start or end, and the
column names. Adding a vendor is adding a file, not code. A file's profile is detected
from its header: the first profile whose mapped header holds every required column.
"""

from __future__ import annotations

import codecs
import csv
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pyarrow as pa
import yaml

from ami.errors import ConfigError, InputError
from ami.instants import instant
from pipelines.filedrop.settings import REQUIRED_COLUMNS, TIME_COLUMNS

BUILT_IN = Path(__file__).parent / "profiles"

#: Canonical columns holding decimal numbers (decimal comma is converted in these).
NUMERIC_COLUMNS = ("kwh_import", "kwh_export", "register_kwh_import", "register_kwh_export",
                   "contracted_kw", "solar_kwp", "recovered_kwh", "temp_c_mean", "target_kw")


@dataclass(frozen=True)
class Profile:
    """One source profile."""

    name: str
    description: str = ""
    encodings: tuple[str, ...] = ("utf-8-sig",)
    delimiter: str = ","
    decimal_comma: bool = False
    timestamp_format: str | None = None
    timezone: str | None = None   # zone of times written without one (None: refused)
    interval_label: str = "end"
    columns: dict[str, str] = field(default_factory=dict)

    @property
    def canonical(self) -> bool:
        """True when files need no mapping at all."""
        return (not self.columns and self.timestamp_format is None and not self.decimal_comma
                and self.timezone is None and self.interval_label == "end")

    def mapped(self, header: list[str]) -> list[str]:
        """Canonical names of a header (unknown names stay as they are)."""
        return [self.columns.get(name.strip(), name.strip()) for name in header]


def load_profiles(extra: Path | None = None) -> list[Profile]:
    """Built-in profiles (canonical first) plus the YAML files of ``extra``."""
    paths = sorted(BUILT_IN.glob("*.yaml"), key=lambda p: (p.stem != "canonical", p.stem))
    if extra is not None:
        paths += sorted(Path(extra).glob("*.yaml"))
    profiles = []
    for path in paths:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            data["encodings"] = tuple(data.get("encodings", ("utf-8-sig",)))
            data["columns"] = dict(data.get("columns") or {})
            profiles.append(Profile(**data))
        except (yaml.YAMLError, TypeError, KeyError) as exc:
            raise ConfigError(f"source profile {path} is not valid ({exc})",
                              fix="compare it with pipelines/filedrop/profiles/vn_hes_v1.yaml") \
                from None
    return profiles


def encoding_of(data: bytes, profile: Profile, name: str) -> str:
    """The first of the profile's encodings that decodes ``data`` (a file's first bytes).

    ``data`` may end inside a multi-byte letter; the cut is ignored.
    """
    for encoding in profile.encodings:
        try:
            text = codecs.getincrementaldecoder(encoding)().decode(data, final=False)
        except UnicodeDecodeError:
            continue
        if "\x00" not in text:  # NULs: UTF-16 or binary read through a one-byte code page
            return encoding
    raise InputError(f"the file is not in any of {', '.join(profile.encodings)}", file=name,
                     fix="export it as UTF-8 (or add its encoding to the source profile)")


def is_utf8(encoding: str) -> bool:
    """True for UTF-8 with or without a byte-order mark."""
    return codecs.lookup(encoding).name in ("utf-8", "utf-8-sig")


def header_of(data: bytes, profile: Profile, encoding: str) -> list[str]:
    """Canonical column names of a file from its first line (BOM and quotes removed)."""
    first = data.split(b"\n", 1)[0].decode(encoding).lstrip("\ufeff").rstrip("\r")
    names = next(csv.reader([first], delimiter=profile.delimiter), [])
    # Windows-1258 writes Vietnamese letters decomposed (base + combining mark).
    return profile.mapped([unicodedata.normalize("NFC", n) for n in names])


def detect(data: bytes, kind: str, profiles: list[Profile], name: str) -> Profile:
    """The first profile whose mapped header holds every required column of ``kind``."""
    seen = []
    decoded = False
    first_line = data.split(b"\n", 1)[0]
    for profile in profiles:
        try:
            header = header_of(data, profile, encoding_of(first_line, profile, name))
        except (InputError, UnicodeDecodeError):
            continue
        decoded = True
        if all(column in header for column in REQUIRED_COLUMNS[kind]):
            return profile
        seen.append(profile.delimiter.join(header)[:120])
    if not decoded:
        encodings = sorted({e for p in profiles for e in p.encodings})
        raise InputError(f"the text is in none of the known encodings ({', '.join(encodings)})",
                         file=name, row=1,
                         fix="export the file as UTF-8, or add a source profile with its "
                             "encoding")
    raise InputError(
        f"no source profile matches the header {seen[0] if seen else '(none)'!r}", file=name,
        row=1, column=REQUIRED_COLUMNS[kind][0],
        fix=f"a {kind} file needs the columns {', '.join(REQUIRED_COLUMNS[kind])} (or a "
            "source profile mapping its headers onto them)",
    )


def to_canonical(table: pa.Table, kind: str, profile: Profile, *, encoding: str,
                 default_minutes: int = 30) -> pa.Table:
    """A batch of rows in canonical value formats (names are already canonical).

    Values that cannot be converted stay as received, so that VEE quarantines them with
    the reason and the original text.
    """
    utf8 = is_utf8(encoding)
    if profile.canonical and utf8:
        return table
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    if not utf8:  # Windows-1258 writes letters decomposed: compose them (NFC)
        frame = frame.with_columns(pl.col(pl.String).str.normalize("NFC"))
    if profile.decimal_comma:
        frame = frame.with_columns(
            pl.col(c).str.replace(",", ".", literal=True)
            for c in NUMERIC_COLUMNS if c in frame.columns)
    column = TIME_COLUMNS.get(kind)
    if (profile.timestamp_format or profile.timezone or profile.interval_label != "end") \
            and column in frame.columns:
        minutes = (
            pl.col("interval_minutes").str.strip_chars().cast(pl.Int64, strict=False)
            if "interval_minutes" in frame.columns else pl.lit(None, pl.Int64)
        ).fill_null(default_minutes)
        frame = frame.with_columns(_canonical_instant(column, kind, profile, minutes))
    return frame.to_arrow()


def _canonical_instant(column: str, kind: str, profile: Profile, minutes: pl.Expr) -> pl.Expr:
    """ISO 8601 UTC text labelled by the interval end; unparsable text unchanged.

    The profile's own format (local time of its zone) is tried first, then any ISO 8601
    instant (:mod:`ami.instants`; one written without a zone is local time of the
    profile's zone, when it names one).
    """
    text = pl.col(column).str.strip_chars()
    parsed = instant(text, zone=profile.timezone)
    if profile.timestamp_format:
        local = text.str.strptime(pl.Datetime("us"), profile.timestamp_format, strict=False)
        own = local.dt.replace_time_zone(profile.timezone or "UTC", ambiguous="earliest",
                                         non_existent="null").dt.convert_time_zone("UTC")
        parsed = pl.coalesce(own, parsed)
    if kind == "readings" and profile.interval_label == "start":
        parsed = parsed + pl.duration(minutes=minutes)
    return pl.coalesce(parsed.dt.strftime("%Y-%m-%dT%H:%M:%S%.fZ"), pl.col(column)).alias(column)
