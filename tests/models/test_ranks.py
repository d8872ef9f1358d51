"""The array ranks of the day features (``models.anomaly.ranks``) are Polars' ranks."""

import numpy as np
import polars as pl

from models.anomaly.ranks import order_key, sort_rows, subset_ranks


def test_ranks_follow_polars_order() -> None:
    """NaN of either sign above inf and tied, -0.0 tied with 0.0, as ``Series.rank``."""
    values = np.array([[0.0, -0.0, np.inf, np.copysign(np.nan, -1.0), -np.inf, np.nan,
                        np.inf, -1e-300, 1e-300, -2.0, 3.0, np.nan]])
    ranks = subset_ranks(sort_rows(order_key(values)), np.ones(values.shape, bool))
    assert ranks[0].tolist() == pl.Series(values[0]).rank("average").to_list()
