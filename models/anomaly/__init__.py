"""Theft/waste anomaly scoring of customer meters (signals → scores → reasons).

``score_meters`` is the entry point used by the CLI (``ami anomalies score``) and the DAGs;
``compute_signals`` and ``AnomalyScorer`` are its two halves.
"""

from models.anomaly.scorer import OUTPUT_COLUMNS, AnomalyScorer, score_meters
from models.anomaly.signals import SIGNAL_COLUMNS, compute_signals

__all__ = ["OUTPUT_COLUMNS", "SIGNAL_COLUMNS", "AnomalyScorer", "compute_signals", "score_meters"]
