"""The supervised model of inspection outcomes on top of the unsupervised theft score.

Below ``TREES_MIN_LABELS`` outcomes it is a ``ShrunkLogistic``: a logistic regression
around the unsupervised score whose other weights are shrunk towards 0 unless the held-out
folds say that they help, so that a few dozen labels calibrate the ranking and cannot make
it worse. From there on, boosted trees on every signal, calibrated together with the
unsupervised score (``SupervisedModel``). ``scorer.py`` trains it when the labels hold at
least ``labels.MIN_CLASS_LABELS`` thefts and as many other outcomes.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl
from scipy.optimize import minimize
from scipy.special import expit
from sklearn.base import ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from ami.vocabulary import InspectionOutcome
from models.anomaly.days import FEATURES
from models.anomaly.labels import MIN_CLASS_LABELS, labels_in_memory
from models.anomaly.rules import SCORED_CODES


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, 1e-4, 1.0 - 1e-4)
    return np.log(q / (1.0 - q))


def _supervised_features(frame: pl.DataFrame) -> np.ndarray:
    """Signals and unsupervised parts for the supervised model; missing stays NaN."""
    exprs = [
        *[pl.col(f"s_{code}") for code in SCORED_CODES],
        pl.col("raw_score"),
        pl.col("isolation"),
        pl.col("drop").clip(-2.0, 1.0),
        pl.col("drop_latest").clip(-2.0, 1.0),
        pl.col("drop_z").clip(-20.0, 20.0),
        pl.col("zero_share_recent") - pl.col("zero_share_hist"),
        pl.col("partial_days_recent") - pl.col("partial_days_hist"),
        pl.col("peak_zero_recent") - pl.col("peak_zero_hist"),
        (pl.col("cv_recent") / pl.col("cv_base")).clip(0.0, 5.0),
        pl.col("profile_corr"),
        pl.col("best_lag_h").abs().cast(pl.Float64),
        pl.col("peak_share_recent") - pl.col("peak_share_hist"),
        (pl.col("norm_cv_recent") / pl.col("norm_cv_hist")).clip(0.0, 10.0),
        pl.col("rough_rel").clip(0.0, 10.0),
        pl.col("peer_level").clip(0.0, 10.0),
        pl.col("yoy_rel").clip(0.0, 10.0),
        (1.0 - pl.col("trafo_rel_ratio")).clip(-2.0, 1.0),
        pl.col("nonmeasured_share_recent"),
        pl.col("is_solar").cast(pl.Float64),
        pl.col("is_lighting").cast(pl.Float64),
        # the whole history: what changed, how strongly, whether it goes on
        pl.col("change_stat"), pl.col("persistence"),
        *[pl.col(f"chg_{name}").clip(-50.0, 50.0) for name in FEATURES],
        (pl.col("kwh_day_after") / pl.col("kwh_day_before")).clip(0.0, 10.0),
    ]
    out = frame.select([e.cast(pl.Float64).fill_nan(None).alias(f"x{i}") for i, e in
                        enumerate(exprs)])
    return out.to_numpy().astype(np.float64)  # nulls → NaN, which the trees handle


#: From this many inspection outcomes on, boosted trees learn them; below, a linear model
#: around the unsupervised score (``ShrunkLogistic``).
TREES_MIN_LABELS = 300
#: Penalties the few-label model chooses from by cross-validation; ``inf``: the labels only
#: calibrate the unsupervised score (its ranking unchanged).
SHRINK_PENALTIES = (3.0, 10.0, 30.0, 100.0, float("inf"))
#: Penalty on the unsupervised logit's slope away from 1: outcomes that the unsupervised
#: score already separates must not stretch it until every suspect reads 1.0 (a tie).
SLOPE_PENALTY = 1.0


def _trees(n_labels: int, seed: int) -> ClassifierMixin:
    """Boosted trees for hundreds of outcomes (``TREES_MIN_LABELS`` on)."""
    return HistGradientBoostingClassifier(
        max_iter=150, learning_rate=0.08, max_leaf_nodes=15,
        min_samples_leaf=max(3, n_labels // 40), l2_regularization=1.0, random_state=seed)


class ShrunkLogistic:
    """A logistic regression around the unsupervised score, shrunk towards it.

    logit P(theft) = a + b·logit(unsupervised) + β·x, with x the standardised change
    features of the whole history and an L2 penalty on β chosen by cross-validation among
    ``SHRINK_PENALTIES``. A few dozen outcomes (a new loss team's first inspections, ten
    thefts among them) cannot teach thirty signals: unless the held-out folds say that
    they help, β stays near 0 and the labels only calibrate the unsupervised ranking —
    they never make it worse by memorising the few thefts seen.
    """

    def __init__(self, penalty: float, center: np.ndarray, scale: np.ndarray,
                 weights: np.ndarray) -> None:
        self.penalty, self.center, self.scale, self.weights = penalty, center, scale, weights

    @classmethod
    def train(cls, x: np.ndarray, offset: np.ndarray, y: np.ndarray, *, seed: int
              ) -> ShrunkLogistic:
        """The strongest penalty within a standard error of the best out-of-fold fit.

        The "one standard error" rule (glmnet's ``lambda.1se``): among penalties whose
        held-out log-likelihood is within one standard error (over the folds) of the best,
        the strongest — with forty outcomes, a better fold score is mostly luck.
        """
        folds = list(StratifiedKFold(min(5, int(y.sum()), int((~y).sum())), shuffle=True,
                                     random_state=seed).split(x, y))
        scores = np.array([[_log_likelihood(
            cls.fit(x[train], offset[train], y[train], penalty).decision(
                x[test], offset[test]), y[test]) for train, test in folds]
            for penalty in SHRINK_PENALTIES])
        best = int(scores.mean(axis=1).argmax())
        bar = scores[best].mean() - scores[best].std(ddof=1) / np.sqrt(len(folds))
        chosen = max(i for i in range(len(SHRINK_PENALTIES)) if scores[i].mean() >= bar)
        return cls.fit(x, offset, y, SHRINK_PENALTIES[chosen])

    @classmethod
    def fit(cls, x: np.ndarray, offset: np.ndarray, y: np.ndarray,
            penalty: float) -> ShrunkLogistic:
        """The penalised maximum-likelihood fit for one penalty (NaN features at the median)."""
        with np.errstate(all="ignore"):
            center = np.nan_to_num(np.nanmedian(x, axis=0))
            filled = np.where(np.isnan(x), center, x)
            scale = filled.std(axis=0)
        scale = np.where(scale > 1e-9, scale, 1.0)
        z = (filled - center) / scale if np.isfinite(penalty) else filled[:, :0]
        target = y.astype(np.float64)
        lam = penalty if np.isfinite(penalty) else 0.0

        def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
            margin = w[0] + w[1] * offset + z @ w[2:]
            gradient = expit(margin) - target
            value = (-_log_likelihood(margin, y) + lam * float(w[2:] @ w[2:])
                     + SLOPE_PENALTY * (w[1] - 1.0) ** 2)
            grad = np.concatenate([[gradient.sum(),
                                    gradient @ offset + 2.0 * SLOPE_PENALTY * (w[1] - 1.0)],
                                   z.T @ gradient + 2.0 * lam * w[2:]])
            return value, grad

        start = np.zeros(2 + z.shape[1])
        start[1] = 1.0
        # Every feature points towards theft: the labels may weigh it more or less, never
        # turn evidence of theft into evidence of innocence (a bypass stays on top).
        bounds = [(None, None), (0.0, None)] + [(0.0, None)] * z.shape[1]
        weights = minimize(loss, start, jac=True, method="L-BFGS-B", bounds=bounds).x
        return cls(penalty, center, scale, weights)

    def decision(self, x: np.ndarray, offset: np.ndarray) -> np.ndarray:
        """The logit of theft per row."""
        z = (np.where(np.isnan(x), self.center, x) - self.center) / self.scale
        return self.weights[0] + self.weights[1] * offset + z[:, : len(self.weights) - 2] \
            @ self.weights[2:]


def _log_likelihood(margin: np.ndarray, y: np.ndarray) -> float:
    """Sum of log P(y) of a logistic model with these margins (stable for large |margin|)."""
    return float(-np.logaddexp(0.0, np.where(y, -margin, margin)).sum())


def _change_features(frame: pl.DataFrame) -> np.ndarray:
    """The whole history's change, per feature, for the few-label model; missing = NaN.

    t statistics run from 0 to a few hundred (a bypass): on a log scale, so that a
    handful of labels cannot give one meter's extreme value a weight that outshouts
    every other meter (and saturates the probability at 1 for many).
    """
    def signed_log(expr: pl.Expr) -> pl.Expr:
        return expr.sign() * expr.abs().log1p()

    exprs = [signed_log(pl.col("change_stat")), pl.col("persistence"),
             *[signed_log(pl.col(f"chg_{name}")) for name in FEATURES]]
    return frame.select([e.cast(pl.Float64).fill_nan(None).alias(f"x{i}")
                         for i, e in enumerate(exprs)]).to_numpy().astype(np.float64)


class SupervisedModel:
    """A model of inspection outcomes on top of the unsupervised score.

    It learns from the signals of inspected meters (theft = 1; no issue, meter fault,
    billing error = 0). Below ``TREES_MIN_LABELS`` outcomes it is a ``ShrunkLogistic``
    around the unsupervised score. From there on, boosted trees on every signal, and a
    logistic calibrator, fitted on their out-of-fold predictions together with the
    unsupervised score, turns both into a calibrated probability of theft.
    """

    def __init__(self, n_labels: int, *, linear: ShrunkLogistic | None = None,
                 trees: ClassifierMixin | None = None,
                 calibrator: LogisticRegression | None = None,
                 columns: np.ndarray | None = None) -> None:
        self.n_labels, self.linear = n_labels, linear
        self.trees, self.calibrator = trees, calibrator
        self.columns = columns  # the features that had values among the labelled meters

    @classmethod
    def train(cls, frame: pl.DataFrame, labels: pl.DataFrame, *, seed: int,
              memory: timedelta) -> SupervisedModel | None:
        """The model, or None when the labels cannot support one (too few of a class)."""
        joined = labels_in_memory(frame, labels, memory)
        y = (joined["outcome"] == InspectionOutcome.THEFT).to_numpy()
        positives, negatives = int(y.sum()), int((~y).sum())
        if min(positives, negatives) < MIN_CLASS_LABELS:
            return None
        unsupervised = _logit(joined["raw_score"].to_numpy())
        if len(y) < TREES_MIN_LABELS:
            return cls(len(y), linear=ShrunkLogistic.train(
                _change_features(joined), unsupervised, y, seed=seed))
        x = _supervised_features(joined)
        columns = np.flatnonzero(np.isfinite(x).sum(axis=0) >= 2)
        x = x[:, columns]
        folds = StratifiedKFold(5, shuffle=True, random_state=seed)
        trees = _trees(len(y), seed)
        out_of_fold = cross_val_predict(trees, x, y, cv=folds, method="predict_proba")[:, 1]
        calibrator = LogisticRegression(C=1.0).fit(
            np.column_stack([_logit(out_of_fold), unsupervised]), y
        )
        return cls(len(y), trees=trees.fit(x, y), calibrator=calibrator, columns=columns)

    def probability(self, frame: pl.DataFrame) -> np.ndarray:
        """Calibrated probability of theft per row of an unsupervised frame [0-1]."""
        unsupervised = _logit(frame["raw_score"].to_numpy())
        if self.linear is not None:
            margin = self.linear.decision(_change_features(frame), unsupervised)
            return np.asarray(expit(margin), dtype=np.float64)
        assert self.trees is not None
        assert self.calibrator is not None
        trees = self.trees.predict_proba(_supervised_features(frame)[:, self.columns])[:, 1]
        z = np.column_stack([_logit(trees), unsupervised])
        return np.asarray(self.calibrator.predict_proba(z)[:, 1], dtype=np.float64)
