"""Statistics for comparing RL runs (Agarwal et al. 2021): IQM, stratified bootstrap intervals, P(improvement).

Built on ``scipy.stats`` (``trim_mean``, ``bootstrap``, ``mannwhitneyu``), not on hand-rolled resampling.
"""

from __future__ import annotations

import warnings
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
    from scipy.stats import DegenerateDataWarning, bootstrap

    with warnings.catch_warnings():
        # A statistic that is the same in every resample (a ratio whose numerator is 0 in every run, say) has that
        # value as its interval; scipy says so with a warning meant for its BCa method
        warnings.simplefilter("ignore", DegenerateDataWarning)
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


def kaplan_meier_median(
    times: Sequence[float], reached: Sequence[bool], confidence: float = 0.95
) -> tuple[float | None, float | None, float | None]:
    """Median time to threshold by Kaplan-Meier, for runs right-censored at their budget, with an interval.

    A run that never reached the threshold is not a run that reached it at the budget: it only says the time is
    longer. The median is the first time at which the estimated fraction of runs still below the threshold is at
    most one half; its interval comes from the pointwise band of that fraction (scipy's ``ecdf`` on
    ``CensoredData``, log-log band): from the first time the band's lower edge is at most one half to the first time
    its upper edge is.

    :param times: steps to threshold, or the budget for runs that never reached it
    :param reached: whether each run reached the threshold
    :param confidence: the interval's level
    :return: ``(median, low, high)``; ``None`` where the estimate never falls to one half within the data (more
        than half the runs censored: the median is beyond the budget)
    """
    from scipy import stats

    times_array = np.asarray(times, dtype=float)
    reached_array = np.asarray(reached, dtype=bool)
    if not reached_array.any():
        return None, None, None
    data = stats.CensoredData(uncensored=times_array[reached_array], right=times_array[~reached_array])
    survival = stats.ecdf(data).sf
    grid = np.unique(times_array)
    point = survival.evaluate(grid)
    with warnings.catch_warnings():  # the log-log band is undefined where the estimate is 0 or 1: the point there
        warnings.simplefilter("ignore", RuntimeWarning)
        band = survival.confidence_interval(confidence, method="log-log")
        low, high = band.low.evaluate(grid), band.high.evaluate(grid)
    low, high = np.where(np.isnan(low), point, low), np.where(np.isnan(high), point, high)

    def first_at_most_half(values: np.ndarray) -> float | None:
        index = np.flatnonzero(values <= 0.5 + 1e-12)
        return float(grid[index[0]]) if index.size else None

    return first_at_most_half(point), first_at_most_half(low), first_at_most_half(high)


def run_time_profile(
    strata: Sequence[Sequence[float]],
    taus: Sequence[float] | np.ndarray,
    confidence: float = 0.95,
    resamples: int = 2_000,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A performance profile of time to threshold: the fraction of runs there within each ``tau``, with bands.

    Each stratum (task) weighs the same, whatever its number of runs, and the band at each ``tau`` is a stratified
    percentile bootstrap (each task's runs resampled on their own; a task with one run, or with every run on one
    side of ``tau``, is the same in every resample and held fixed), as
    Agarwal et al. (2021) draw their score profiles; the profile is of time, as Dolan and Moré's (2002) of solvers.
    A run that never reached the threshold is ``inf`` (censored): it counts at no ``tau``, so the profile stays
    below 1 by the fraction of runs that never got there.

    :param strata: one list per task of each run's time to threshold (steps, or steps over a reference such as
        scratch's IQM on that task), ``inf`` where it never reached it
    :param taus: the times at which to evaluate the profile
    :param confidence: the bands' level
    :param resamples: bootstrap resamples
    :param seed: seed of the resampling
    :return: ``(fraction, low, high)``, each an array over ``taus``
    """
    samples = tuple(np.asarray(stratum, dtype=float) for stratum in strata)
    if not samples or any(len(sample) == 0 for sample in samples):
        raise ValueError("run_time_profile needs at least one run in every stratum")
    fraction, low, high = (np.empty(len(taus)) for _ in range(3))
    for index, tau in enumerate(taus):
        inside = [(np.isfinite(sample) & (sample <= tau)).astype(float) for sample in samples]
        fraction[index] = np.mean([np.mean(stratum) for stratum in inside])
        # A stratum every resample of which is the same (one run, or all its runs on one side of tau) is held fixed
        varying = tuple(stratum for stratum in inside if np.ptp(stratum) > 0)
        fixed = sum(float(np.mean(stratum)) for stratum in inside if np.ptp(stratum) == 0)
        if not varying:
            low[index] = high[index] = fraction[index]
            continue

        def share(*resampled: np.ndarray, axis: int = -1, fixed: float = fixed) -> np.ndarray:
            return (sum(np.mean(stratum, axis=axis) for stratum in resampled) + fixed) / len(samples)

        low[index], high[index] = _percentile_bootstrap(varying, share, confidence, resamples, seed)
    return fraction, low, high
