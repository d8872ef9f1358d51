"""Small cases of the vectorised helpers behind the VEE rules."""

import warnings

import numpy as np
import pytest

from quality.grid import run_lengths, runs
from quality.rules import row_quantiles


@pytest.mark.parametrize("q", [0.0, 0.5, 0.9, 1.0])
def test_row_quantiles_equal_numpy_nanpercentile(q: float) -> None:
    rng = np.random.default_rng(3)
    values = rng.lognormal(size=(200, 48))
    values[rng.random(values.shape) < 0.25] = np.nan
    values[7] = np.nan  # a meter without any value reads 0
    (ours,) = row_quantiles(values, (q,))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = np.nan_to_num(np.nanpercentile(values, 100 * q, axis=1))
    np.testing.assert_allclose(ours, expected, rtol=1e-12)


def test_runs_and_their_lengths() -> None:
    mask = np.array([[0, 1, 1, 0, 1], [1, 1, 1, 1, 1], [0, 0, 0, 0, 0]], dtype=bool)
    rows, first, length = runs(mask)
    assert list(zip(rows, first, length, strict=True)) == [(0, 1, 2), (0, 4, 1), (1, 0, 5)]
    assert run_lengths(mask).tolist() == [[0, 2, 2, 0, 1], [5] * 5, [0] * 5]
