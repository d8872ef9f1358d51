"""Synthetic province generator for the demo, the tests and the benchmarks.

Branches → feeders → transformers (TBA) → customers by group, 30-minute load with daily,
weekly and seasonal shape, rooftop solar, demand response, transformer total meters with
I²R-like technical loss, injected theft and meter faults, topology moves. Writes a landing
zone in the canonical contract and, separately, a ground-truth folder that the pipeline
never reads. Deterministic for a seed.

The meter faults and their rendering into delivered rows work on any meters × intervals
matrix of energy (``plan_faults`` → ``apply_faults`` per day → ``delivered_readings``,
``registers_frame``, ``fault_events``, ``fault_truth``), so that the same fault mix can be
injected into real readings (``quality.evaluate.evaluate_vee_readings``).

Modules: ``spec`` (what to generate), ``grid`` (branches, feeders, transformers, customers,
the meters table), ``injections`` (thefts, outages, moves, their events and labels),
``load`` (one day's load, solar, theft and transformer flows), ``faults`` (meter faults on
any matrix), ``delivery`` (the rows a head-end delivers), ``writing`` (landing and truth
files), ``clock`` (local days as UTC instants), ``calendar`` (day types, dusk, temperature)
``generate`` (``build_province`` and ``generate_province``, which put them together) and
``daily`` (``daily_truth``: the per-meter daily truth of a spec, simulated without files).

Known savings behaviours for evaluating the savings module (``ProvinceSpec``:
``office_saving_pct``, ``saving_from``, ``advertising_share``, ``advertising_compliance``,
``new_solar_share``): offices save a share from a date, advertising-lit commercial customers
(``tags`` in meters.csv) cut their evening peak in May–July, demand-response participants
are listed per event, and some customers install rooftop solar during the span; their truth
is in ``advertising.csv``, ``dr_truth.parquet`` and ``solar_installs.csv`` (``generate``).
"""

from ami.province.clock import day_ends
from ami.province.daily import daily_truth, temperature_frame
from ami.province.delivery import delivered_readings, events_frame, registers_frame
from ami.province.faults import (
    FAULT_KINDS,
    DayFaults,
    advance_registers,
    apply_faults,
    fault_events,
    fault_injections,
    fault_marks,
    fault_truth,
    never_reporting,
    plan_faults,
)
from ami.province.generate import generate_province
from ami.province.injections import THEFT_KINDS
from ami.province.spec import GenerationSummary, ProvinceSpec
from ami.province.writing import (
    labels_frame,
    write_fault_truth,
    write_frame,
    write_injections,
    write_true_readings,
)
from ami.reference import BRANCH_NAMES

__all__ = ["BRANCH_NAMES", "FAULT_KINDS", "THEFT_KINDS", "DayFaults", "GenerationSummary",
           "ProvinceSpec", "advance_registers", "apply_faults", "daily_truth", "day_ends",
           "delivered_readings", "events_frame", "fault_events", "fault_injections",
           "fault_marks", "fault_truth", "generate_province", "labels_frame",
           "never_reporting", "plan_faults", "registers_frame", "temperature_frame",
           "write_fault_truth", "write_frame", "write_injections", "write_true_readings"]
