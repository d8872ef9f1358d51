"""Few inspection outcomes: a logistic model around the unsupervised score, shrunk to it."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit
from sklearn.metrics import roc_auc_score

from models.anomaly.supervised import SHRINK_PENALTIES, ShrunkLogistic


def _population(seed: int, n: int = 400) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features, unsupervised logit and truth: one feature tells theft, the others noise."""
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.2
    offset = rng.normal(0.0, 1.0, n) + 1.0 * y           # the unsupervised score: weak
    x = rng.normal(0.0, 1.0, (n, 6))
    x[:, 0] += 2.5 * y                                    # what the labels can teach
    return x, offset, y


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_feature_the_labels_show_improves_the_ranking(seed: int) -> None:
    x, offset, y = _population(seed)
    labelled = np.arange(len(y)) % 2 == 0
    model = ShrunkLogistic.train(x[labelled], offset[labelled], y[labelled], seed=seed)
    held = ~labelled
    assert np.isfinite(model.penalty)
    assert roc_auc_score(y[held], model.decision(x[held], offset[held])) \
        > roc_auc_score(y[held], offset[held]) + 0.05


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_noise_leaves_the_unsupervised_ranking(seed: int) -> None:
    """Forty outcomes and features without information: the labels only calibrate."""
    x, offset, y = _population(seed, n=80)
    x[:, 0] = np.random.default_rng(seed + 10).normal(0.0, 1.0, len(y))  # no signal left
    labelled = np.arange(len(y)) % 2 == 0
    model = ShrunkLogistic.train(x[labelled], offset[labelled], y[labelled], seed=seed)
    held = ~labelled
    assert np.abs(model.weights[2:]).max(initial=0.0) < 0.5  # standardised: a nudge
    assert roc_auc_score(y[held], model.decision(x[held], offset[held])) \
        >= roc_auc_score(y[held], offset[held]) - 0.03


def test_evidence_of_theft_never_counts_against_it() -> None:
    """Labels in which a feature ran against theft cannot push a bypass down the list."""
    x, offset, y = _population(4)
    x[:, 1] -= 2.0 * y                                    # thefts seen had less of feature 1
    model = ShrunkLogistic.fit(x, offset, y, SHRINK_PENALTIES[0])
    assert (model.weights[1:] >= 0.0).all()
    bypass = np.zeros((1, 6))
    bypass[0, 1] = 50.0                                   # far out on feature 1
    plain = np.zeros((1, 6))
    assert model.decision(bypass, np.array([3.0]))[0] >= model.decision(plain,
                                                                        np.array([3.0]))[0]


def test_missing_features_count_as_the_median() -> None:
    x, offset, y = _population(5)
    model = ShrunkLogistic.fit(x, offset, y, SHRINK_PENALTIES[1])
    gap = np.full((1, 6), np.nan)
    median = np.nanmedian(x, axis=0)[None, :]
    assert model.decision(gap, np.array([0.5])) == pytest.approx(
        model.decision(median, np.array([0.5])))


def test_outcomes_the_score_already_separates_keep_its_order() -> None:
    """Labels split cleanly by the unsupervised score: no stretch into ties at 1.0."""
    rng = np.random.default_rng(6)
    offset = np.sort(rng.normal(0.0, 2.0, 60))
    y = np.arange(60) >= 50                                # the top ten are the thefts
    x = rng.normal(0.0, 1.0, (60, 4))
    model = ShrunkLogistic.train(x, offset, y, seed=6)
    probability = expit(model.decision(np.zeros((60, 4)), offset))
    assert (np.diff(probability) > 0).all()                # the order, strictly
    assert probability.max() < 1.0 - 1e-6
