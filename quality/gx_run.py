"""Running the quality gates' GX Checkpoints, and what GX reports back as failures.

One call builds its own ephemeral GX context (suites in memory, results and the Data
Docs site on disk: ``quality.data_docs``), runs one Checkpoint per (day, suite, batch)
and builds the Data Docs once; calls in separate processes may run side by side (the
index page is rewritten by whichever finishes last). What the gates validate and how
they decide is ``quality.gates``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import great_expectations as gx
from great_expectations.core.run_identifier import RunIdentifier

from ami.settings import Settings
from quality.data_docs import DOCS_SITE, page_path, project_config, prune_results

__all__ = ["DayBatches", "DayOutcome", "FailedExpectation", "run_checkpoints"]

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class FailedExpectation:
    """One expectation that did not hold, with what GX observed."""

    suite: str
    expectation: str
    severity: Severity
    observed: str


#: One day's batches: (suite name, data asset name, pandas frame).
DayBatches = tuple[str, list[tuple[str, str, Any]]]
#: One day's outcome: failed expectations, (Data Docs page, success) per validation, and
#: the run time.
DayOutcome = tuple[list[FailedExpectation], list[tuple[Path, bool]], str]


def _target(kwargs: Mapping[str, Any]) -> str:
    """Readable domain of an expectation: column(s) and row condition."""
    target = kwargs.get("column") or ", ".join(kwargs.get("column_list") or ())
    condition = kwargs.get("row_condition")
    if isinstance(condition, Mapping) and condition.get("type") == "comparison":
        target += (f" where {condition['column']['name']} {condition['operator']} "
                   f"{condition['parameter']!r}")
    elif condition:
        target += f" where {condition}"
    return target


def _observed(result: Any) -> str:
    """What GX observed, in one short line."""
    info = result.exception_info or {}
    messages = [info.get("exception_message")] if "raised_exception" in info else [
        value.get("exception_message") for value in info.values() if isinstance(value, dict)]
    if raised := [m for m in messages if m]:
        return f"error: {raised[0]}"
    found = result.result or {}
    if "observed_value" in found:
        value = found["observed_value"]
        return f"{value:.4g}" if isinstance(value, float) else str(value)
    if "unexpected_count" in found:
        counts = found.get("partial_unexpected_counts") or [
            {"value": value, "count": 1} for value in found.get("partial_unexpected_list") or []]
        examples = ", ".join(
            _short(item["value"]) + (f" ×{item['count']}" if item["count"] > 1 else "")
            for item in counts[:5])
        return (f"{found['unexpected_count']} of {found.get('element_count')} rows"
                + (f", e.g. {examples}" if examples else ""))
    return "failed"


def _short(value: Any) -> str:
    """An unexpected value as a person reads it (a key as ``PC1 @ 2026-10-01T03:30Z``)."""
    if isinstance(value, Mapping):
        value = list(value.values())
    if isinstance(value, list | tuple):
        return " @ ".join(_short(part) for part in value)
    if isinstance(value, datetime):
        return value.isoformat()
    return repr(value)


def _failures(suite: str, validation: Any) -> list[FailedExpectation]:
    failed = []
    for result in validation.results:
        if result.success:
            continue
        config = result.expectation_config
        severity = getattr(getattr(config, "severity", None), "value", "critical")
        target = _target(config.kwargs)
        failed.append(FailedExpectation(
            suite=suite,
            expectation=f"{config.type}({target})" if target else config.type,
            severity="warning" if severity in ("warning", "info") else "error",
            observed=_observed(result),
        ))
    return failed


def run_checkpoints(source_name: str, suites: Iterable[gx.ExpectationSuite],
                    runs: list[DayBatches], *, settings: Settings) -> dict[str, DayOutcome]:
    """Run one Checkpoint per (day, suite, asset, pandas frame); Data Docs built once.

    ``suites`` are every suite of the gates: the docs index drops the pages of suites it
    does not know. Rebuilding the docs site reads every stored result, so it happens once
    per call, not once per validation: a backfill of many days stays linear.
    """
    out: dict[str, DayOutcome] = {}
    keys: dict[str, list[tuple[Any, bool]]] = {}
    now = datetime.now(UTC)
    prune_results(settings, now)
    context = gx.get_context(mode="ephemeral", project_config=project_config(settings))
    for suite in suites:
        context.suites.add(suite)
    source = context.data_sources.add_pandas(source_name)
    assets: dict[str, Any] = {}
    for day, batches in runs:
        run_id = RunIdentifier(run_name=day, run_time=now)
        failed: list[FailedExpectation] = []
        keys[day] = []
        for suite_name, asset, frame in batches:
            if asset not in assets:
                assets[asset] = source.add_dataframe_asset(asset)
            batch = assets[asset].add_batch_definition_whole_dataframe(f"{asset}-{day}")
            definition = context.validation_definitions.add(gx.ValidationDefinition(
                name=f"{suite_name}-{day}", data=batch, suite=context.suites.get(suite_name)))
            checkpoint = context.checkpoints.add(gx.Checkpoint(
                name=f"{suite_name}-{day}", validation_definitions=[definition],
                result_format="SUMMARY"))
            outcome = checkpoint.run(batch_parameters={"dataframe": frame}, run_id=run_id)
            for key, validation in outcome.run_results.items():
                failed += _failures(suite_name, validation)
                keys[day].append((key, bool(validation.success)))
        out[day] = (failed, [], str(now.isoformat()))
    context.build_data_docs(site_names=[DOCS_SITE])
    for day, (failed, _, run_time) in out.items():
        out[day] = (failed, [(page_path(context, key), ok) for key, ok in keys[day]], run_time)
    return out
