"""The attacks the theft scorer is evaluated on, and the faults and look-alikes beside them.

The six attacks of Jokar et al. (2016) plus bypass, each from an onset day to the end of
the series, on one meter's days × intervals of energy ``x`` (``inject``):

- ``h1`` x·α, α ∈ [0.1, 0.8] drawn per day;
- ``h2`` zero over a random window of 4–16 h every day;
- ``h3`` x·γₜ, γₜ ∈ [0.1, 0.8] drawn per interval;
- ``h4`` mean(x)·γₜ (the day's mean), γₜ ∈ [0.1, 0.8] per interval;
- ``h5`` mean(x) flat over the day;
- ``h6`` the day reversed in time;
- ``bypass`` zero from the onset on.

Negatives that fool simple detectors in real data are injected the same way: meter faults
(``FAULTS``: stuck register, lost intervals, clock offset, spikes, days without
communication) and look-alikes (``LOOKALIKES``: a household away for a week or two on
standby load, a legitimate lasting change of level). ``evaluate.py`` applies them to a
synthetic province, ``evaluate_real.py`` the attacks to real readings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ATTACKS = ("h1", "h2", "h3", "h4", "h5", "h6", "bypass")
FAULTS = ("stuck", "gaps", "clock_offset", "spikes", "no_communication")
LOOKALIKES = ("vacation", "level_change")


def inject(kind: str, x: np.ndarray, onset: int, per_day: int, rng: np.random.Generator
           ) -> tuple[np.ndarray, np.ndarray]:
    """Registered energy and presence of one meter (days × intervals) after ``kind``."""
    y, present = x.copy(), np.ones(x.shape, dtype=bool)
    if kind in _INJECTIONS:
        _INJECTIONS[kind](Injection(x, y, present, onset, per_day, rng))
    return np.round(np.clip(y, 0.0, None), 3), present


@dataclass(frozen=True)
class Injection:
    """One meter's true load ``x`` and the arrays an injection writes (days × intervals)."""

    x: np.ndarray
    y: np.ndarray  # registered energy, a copy of x to modify
    present: np.ndarray  # False = the interval never reaches the head-end
    onset: int
    per_day: int
    rng: np.random.Generator

    @property
    def span(self) -> int:
        """Days from the onset to the end."""
        return self.x.shape[0] - self.onset


def _h1(m: Injection) -> None:
    m.y[m.onset :] = m.x[m.onset :] * m.rng.uniform(0.1, 0.8, (m.span, 1))


def _h2(m: Injection) -> None:
    t = np.arange(m.per_day)[None, :]
    start = m.rng.integers(0, m.per_day, (m.span, 1))
    length = m.rng.integers(4 * m.per_day // 24, 16 * m.per_day // 24 + 1, (m.span, 1))
    m.y[m.onset :] = np.where((t - start) % m.per_day < length, 0.0, m.x[m.onset :])


def _h3(m: Injection) -> None:
    m.y[m.onset :] = m.x[m.onset :] * m.rng.uniform(0.1, 0.8, (m.span, m.per_day))


def _day_mean(x: np.ndarray) -> np.ndarray:
    """Each day's mean interval energy (days × 1) over the intervals read: a gap is no zero."""
    seen = ~np.isnan(x)
    total = np.where(seen, x, 0.0).sum(axis=1, keepdims=True)
    return total / np.maximum(seen.sum(axis=1, keepdims=True), 1)


def _h4(m: Injection) -> None:
    mean = _day_mean(m.x[m.onset :])
    m.y[m.onset :] = mean * m.rng.uniform(0.1, 0.8, (m.span, m.per_day))


def _h5(m: Injection) -> None:
    m.y[m.onset :] = _day_mean(m.x[m.onset :])


def _h6(m: Injection) -> None:
    m.y[m.onset :] = m.x[m.onset :, ::-1]


def _bypass(m: Injection) -> None:
    m.y[m.onset :] = 0.0


def _stuck(m: Injection) -> None:
    # The register repeats one interval value for several days (a frozen meter).
    m.y[m.onset : m.onset + int(m.rng.integers(3, 8))] = m.x[m.onset, 0]


def _gaps(m: Injection) -> None:
    m.present[m.onset :] = m.rng.random((m.span, m.per_day)) > 0.3


def _clock_offset(m: Injection) -> None:
    cut = m.onset * m.per_day
    m.y.reshape(-1)[cut:] = np.roll(m.x.reshape(-1), m.per_day // 24)[cut:]


def _spikes(m: Injection) -> None:
    cells = m.rng.integers(0, m.span * m.per_day, 6)
    m.y[m.onset :].reshape(-1)[cells] *= 40.0  # a view: the days after the onset


def _no_communication(m: Injection) -> None:
    m.present[m.onset : m.onset + int(m.rng.integers(3, 10))] = False


def _vacation(m: Injection) -> None:
    stop = min(m.x.shape[0], m.onset + int(m.rng.integers(5, 15)))
    standby = m.x[: m.onset].mean() * m.rng.uniform(0.1, 0.3)
    m.y[m.onset : stop] = standby * m.rng.lognormal(0.0, 0.2, (stop - m.onset, m.per_day))


def _level_change(m: Injection) -> None:
    m.y[m.onset :] = m.x[m.onset :] * m.rng.uniform(0.6, 0.8)


_INJECTIONS = {
    "h1": _h1, "h2": _h2, "h3": _h3, "h4": _h4, "h5": _h5, "h6": _h6, "bypass": _bypass,
    "stuck": _stuck, "gaps": _gaps, "clock_offset": _clock_offset, "spikes": _spikes,
    "no_communication": _no_communication, "vacation": _vacation, "level_change": _level_change,
}
