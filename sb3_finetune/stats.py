"""Statistics for comparing RL runs (Agarwal et al. 2021): IQM, stratified bootstrap intervals, P(improvement).

Built on ``scipy.stats`` (``trim_mean``, ``bootstrap``, ``mannwhitneyu``), not on hand-rolled resampling.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def iqm(values: Sequence[float] | np.ndarray) -> float:
    """Interquartile mean: the mean of the middle 50% of the values (25% trimmed from each end).

    :param values: one number per run
    :return: the IQM
    """
    from scipy.stats import trim_mean

    return float(trim_mean(np.asarray(values, dtype=float), 0.25))


def _pooled_iqm(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
    return _iqm_along(np.concatenate(samples, axis=axis), axis)


def _iqm_along(values: np.ndarray, axis: int) -> np.ndarray:
    from scipy.stats import trim_mean

    return trim_mean(values, 0.25, axis=axis)


def _percentile_bootstrap(
    samples: tuple[np.ndarray, ...], statistic, confidence: float, resamples: int, seed: int
) -> tuple[float, float]:
    """Scipy's percentile bootstrap, each sample resampled on its own (stratified); returns the interval."""
    from scipy.stats import bootstrap

    result = bootstrap(
        samples,
        statistic,
        confidence_level=confidence,
        n_resamples=resamples,
        method="percentile",
        vectorized=True,
        random_state=np.random.default_rng(seed),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def iqm_interval(
    strata: Sequence[Sequence[float]], confidence: float = 0.95, resamples: int = 2_000, seed: int = 0
) -> tuple[float, float, float]:
    """IQM over all runs, with a stratified bootstrap interval: each stratum (task) is resampled on its own.

    :param strata: runs per task (one list per task; a single list for one task)
    :param confidence: confidence level
    :param resamples: bootstrap resamples
    :param seed: seed of the resampling
    :return: ``(iqm, low, high)``
    """
    samples = tuple(np.asarray(stratum, dtype=float) for stratum in strata)
    point = float(_pooled_iqm(*samples))
    if all(len(sample) < 2 for sample in samples) or all(np.ptp(sample) == 0 for sample in samples):
        return point, point, point
    return (point, *_percentile_bootstrap(samples, _pooled_iqm, confidence, resamples, seed))


def iqm_ratio_interval(
    numerator: Sequence[float],
    denominator: Sequence[float],
    confidence: float = 0.95,
    resamples: int = 2_000,
    seed: int = 0,
) -> tuple[float, float, float]:
    """``IQM(numerator) / IQM(denominator)`` with a bootstrap interval (the two groups resampled independently).

    :param numerator: runs of one arm (e.g. steps to threshold, fine-tuned)
    :param denominator: runs of the other (e.g. from scratch)
    :param confidence: confidence level
    :param resamples: bootstrap resamples
    :param seed: seed of the resampling
    :return: ``(ratio, low, high)``
    """
    a, b = np.asarray(numerator, dtype=float), np.asarray(denominator, dtype=float)

    def ratio(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
        bottom = _iqm_along(y, axis)
        return _iqm_along(x, axis) / np.where(bottom == 0, np.nan, bottom)

    point = float(ratio(a, b))
    if len(a) < 2 or len(b) < 2:
        return point, point, point
    return (point, *_percentile_bootstrap((a, b), ratio, confidence, resamples, seed))


def probability_of_improvement(x: Sequence[float], y: Sequence[float]) -> float:
    """``P(X > Y)`` for a run of X and a run of Y drawn at random, ties counting one half (Mann-Whitney U / nm).

    :param x: scores of one arm (higher is better)
    :param y: scores of the other
    :return: the probability
    """
    from scipy.stats import mannwhitneyu

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    statistic = mannwhitneyu(x, y, alternative="two-sided").statistic
    return float(statistic / (len(x) * len(y)))
