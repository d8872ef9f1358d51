"""Synthetic province generator for the demo, the tests and the benchmarks.

Branches → feeders → transformers (TBA) → customers by group, 30-minute load with daily,
weekly and seasonal shape, rooftop solar, demand response, transformer total meters with
I²R-like technical loss, injected theft and meter faults, topology moves. Writes a landing
zone in the canonical contract and, separately, a ground-truth folder that the pipeline
never reads. Deterministic for a seed.
"""

from ami.province.generate import (
    FAULT_KINDS,
    THEFT_KINDS,
    GenerationSummary,
    ProvinceSpec,
    generate_province,
)
from ami.reference import BRANCH_NAMES

__all__ = ["BRANCH_NAMES", "FAULT_KINDS", "THEFT_KINDS", "GenerationSummary", "ProvinceSpec",
           "generate_province"]
