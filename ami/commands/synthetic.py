"""The synthetic province: ``ami demo`` (generate it and run the whole chain) and ``ami synth``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ami.commands.common import console, log_path, new_progress, parse_day
from ami.settings import Settings, get_settings

if TYPE_CHECKING:
    from ami.province import ProvinceSpec
    from pipelines.hes_api.simulator import Simulator


def demo(
    *,
    meters: Annotated[int, typer.Option(min=1, help="Customer meters in the province.")] = 3000,
    days: Annotated[int, typer.Option(min=1, max=800, help="Days of data.")] = 61,
    start: Annotated[str, typer.Option(help="First local day, YYYY-MM-DD.")] = "2026-09-01",
    seed: Annotated[int, typer.Option(help="Seed of the synthetic province.")] = 42,
    api: Annotated[bool, typer.Option(
        help="Deliver the readings through the head-end API simulator on 127.0.0.1 "
             "instead of as files.")] = False,
    last_year: Annotated[bool, typer.Option(
        help="Also deliver the report month of the year before (same province), so that "
             "savings have their same-period baseline.")] = True,
) -> None:
    """Generate a synthetic province and run the whole chain through the Airflow DAGs."""
    from contextlib import ExitStack

    from ami.chain import CHAIN
    from ami.orchestrate import run_dags
    from ami.province import ProvinceSpec, generate_province
    from ami.summary import print_summary

    settings = get_settings()
    first = parse_day(start)
    spec = ProvinceSpec(meters=meters, start=first, days=days, seed=seed)
    month = _last_full_month(first, days)
    before = _same_month_last_year(spec, month) if last_year else None
    _reset_if_other_province(spec, settings, api=api, before=before)
    began = time.monotonic()
    with new_progress() as progress, ExitStack() as stack:
        if before is not None:  # first, so that this year's meters and truth files win
            old = progress.add_task(f"Sinh dữ liệu cùng kỳ năm trước ({before.start:%Y-%m})",
                                    total=before.days)
            generate_province(
                before, Path(settings.landing), settings.truth_dir / "last_year",
                progress=lambda done, total: progress.update(old, completed=done, total=total))
        gen = progress.add_task("Sinh dữ liệu tỉnh mẫu (synthetic province)", total=days)
        summary = generate_province(
            spec, Path(settings.landing), settings.truth_dir,
            progress=lambda done, total: progress.update(gen, completed=done, total=total),
        )
        ingest_params: dict[str, object] = {"landing": str(settings.landing)}
        if api:
            ingest_params["api_url"] = stack.enter_context(_head_end_simulator(settings)).url
        steps = progress.add_task("Chạy các DAG Airflow", total=len(CHAIN))
        log = log_path(settings, "demo")

        def on_step(state: str, dag_id: str) -> None:
            if state == "start":
                progress.update(steps, description=f"DAG {dag_id}")
            elif state == "done":
                progress.advance(steps)

        run_dags(list(CHAIN), {"ami_ingest": ingest_params,
                               "ami_monthly_report": {"month": month}},
                 settings=settings, log=log, on_step=on_step)
    print_summary(console, month=month, settings=settings, generation=summary,
                  seconds=time.monotonic() - began)


def synth(
    *,
    landing: Annotated[Path, typer.Option(help="Landing folder to write.")],
    truth: Annotated[Path, typer.Option(help="Ground-truth folder to write.")],
    meters: Annotated[int, typer.Option(min=1)] = 3000,
    days: Annotated[int, typer.Option(min=1)] = 61,
    start: Annotated[str, typer.Option()] = "2026-09-01",
    seed: Annotated[int, typer.Option()] = 42,
    file_format: Annotated[str, typer.Option("--format", help="csv, csv.gz or parquet")] = "csv.gz",
) -> None:
    """Write a synthetic province (landing zone + ground truth) without running the chain."""
    from ami.province import ProvinceSpec, generate_province

    spec = ProvinceSpec(meters=meters, start=parse_day(start), days=days, seed=seed,
                        file_format=file_format)
    with new_progress() as progress:
        task = progress.add_task("Sinh dữ liệu", total=days)
        result = generate_province(spec, landing, truth, progress=lambda d, t: progress.update(
            task, completed=d, total=t))
    console.print(result)


@contextmanager
def _head_end_simulator(settings: Settings) -> Iterator[Simulator]:
    """Move the demo's readings files behind the HES API simulator and run it.

    The simulator serves ``data/hes/`` on a free port of 127.0.0.1 with a throw-away
    bearer token, which the DAG tasks read from ``SOURCES__HES_API__TOKEN`` (set for the
    run only, unless the environment already has one).
    """
    import os
    import secrets

    from pipelines.hes_api.simulator import TOKEN_ENV, start_simulator

    feed = settings.data_dir / "hes"
    feed.mkdir(parents=True, exist_ok=True)
    for path in Path(settings.landing).glob("readings*"):
        path.replace(feed / path.name)
    given = os.environ.get(TOKEN_ENV)
    token = given or secrets.token_urlsafe(24)
    os.environ[TOKEN_ENV] = token
    try:
        with start_simulator(feed, token=token) as simulator:
            yield simulator
    finally:
        if given is None:
            os.environ.pop(TOKEN_ENV, None)


def _reset_if_other_province(spec: object, settings: Settings, *, api: bool = False,
                             before: object = None) -> None:
    """Start the demo's folders afresh when they hold another province (or delivery).

    The same spec regenerates identical files, so a rerun loads nothing new and shows the
    chain is idempotent; another spec would leave the old province's files mixed in.
    """
    import json
    import shutil
    from dataclasses import asdict

    marker = settings.truth_dir / "spec.json"
    wanted = json.dumps({**asdict(spec), "api": api,  # type: ignore[call-overload]
                         "last_year": asdict(before) if before else None},  # type: ignore[call-overload]
                        default=str, sort_keys=True)
    if marker.exists() and marker.read_text(encoding="utf-8") == wanted:
        return
    for folder in (Path(settings.landing), settings.truth_dir, Path(settings.warehouse),
                   settings.reports_dir, settings.data_dir / "hes"):
        shutil.rmtree(folder, ignore_errors=True)
    settings.truth_dir.mkdir(parents=True, exist_ok=True)
    marker.write_text(wanted, encoding="utf-8")


def _same_month_last_year(spec: ProvinceSpec, month: str) -> ProvinceSpec | None:
    """The spec of ``month`` a year earlier (the same province), unless the span has it."""
    from dataclasses import replace
    from datetime import timedelta

    first = date(int(month[:4]) - 1, int(month[5:7]), 1)
    if first >= spec.start:
        return None
    following = (first + timedelta(days=32)).replace(day=1)
    # Parquet and no interval truth: the history month is there for its baseline only,
    # and it costs a fraction of the gzip-compressed CSV files to write.
    return replace(spec, start=first, days=(min(following, spec.start) - first).days,
                   file_format="parquet", write_true_readings=False)


def _last_full_month(first: date, days: int) -> str:
    """The last calendar month fully covered by ``days`` days from ``first`` (or the last)."""
    from datetime import timedelta

    last = first + timedelta(days=days - 1)
    following = last + timedelta(days=1)
    if following.month != last.month:
        return f"{last:%Y-%m}"
    previous = last.replace(day=1) - timedelta(days=1)
    return f"{previous:%Y-%m}" if previous >= first else f"{last:%Y-%m}"
