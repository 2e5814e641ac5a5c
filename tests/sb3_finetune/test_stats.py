import numpy as np
import pytest

from sb3_finetune.stats import iqm, iqm_interval, iqm_ratio_interval, probability_of_improvement, run_time_profile


def test_iqm_by_hand():
    # The middle half of 1..8 is 3, 4, 5, 6.
    assert iqm([8, 1, 7, 2, 6, 3, 5, 4]) == pytest.approx(4.5)
    # An outlier does not move it.
    assert iqm([1, 2, 3, 4, 5, 6, 7, 1_000]) == pytest.approx(4.5)


def test_interval_contains_the_true_mean_of_a_synthetic_sample():
    rng = np.random.default_rng(0)
    sample = rng.normal(10.0, 2.0, size=200)
    point, low, high = iqm_interval([sample])
    assert low < 10.0 < high
    assert low <= point <= high and high - low < 1.5


def test_stratified_interval_pools_the_strata():
    point, low, high = iqm_interval([[1.0, 1.0, 1.0, 1.0], [3.0, 3.0, 3.0, 3.0]])
    assert point == pytest.approx(2.0) and low == high == point  # no spread: nothing to resample
    rng = np.random.default_rng(1)
    point, low, high = iqm_interval([rng.normal(0, 1, 30), rng.normal(5, 1, 30)])
    assert low < point < high


def test_ratio_interval():
    ratio, low, high = iqm_ratio_interval([10, 12, 11, 9, 10, 11], [100, 110, 90, 105, 95, 100])
    assert ratio == pytest.approx(0.105, abs=0.01)
    assert low < ratio < high < 1.0


def test_probability_of_improvement():
    assert probability_of_improvement([5, 6, 7], [1, 2, 3]) == 1.0
    assert probability_of_improvement([1, 2, 3], [5, 6, 7]) == 0.0
    assert probability_of_improvement([1, 2], [1, 2]) == 0.5


def test_kaplan_meier_median_without_censoring_is_the_empirical_median():
    from sb3_finetune.stats import kaplan_meier_median

    median, low, high = kaplan_meier_median(list(range(1, 11)), [True] * 10)
    assert median == 5.0
    assert low is not None and low <= 5.0 and (high is None or high >= 5.0)


def test_kaplan_meier_median_by_hand_with_a_censored_run():
    from sb3_finetune.stats import kaplan_meier_median

    # S(1) = 4/5, run 2 censored, S(3) = 0.8 * 2/3 = 0.53, S(4) = 0.53 * 1/2 = 0.27: the median is 4, not 3.
    median, _, _ = kaplan_meier_median([1, 2, 3, 4, 5], [True, False, True, True, True])
    assert median == 4.0


def test_kaplan_meier_median_beyond_the_budget_is_none():
    from sb3_finetune.stats import kaplan_meier_median

    assert kaplan_meier_median([100, 200, 1000, 1000, 1000], [True, True, False, False, False])[0] is None
    assert kaplan_meier_median([1000, 1000], [False, False]) == (None, None, None)


def test_run_time_profile_by_hand_weighs_each_task_the_same():
    # Task one: 2 of its 8 runs within 0.5, 6 within 1; task two: 1 of its 2 runs within 0.5 and never the other.
    one = [0.1, 0.4, 0.6, 0.7, 0.8, 0.9, 3.0, np.inf]
    two = [0.3, np.inf]
    fraction, low, high = run_time_profile([one, two], [0.0, 0.5, 1.0, 1e9])
    np.testing.assert_allclose(fraction, [0.0, (2 / 8 + 1 / 2) / 2, (6 / 8 + 1 / 2) / 2, (7 / 8 + 1 / 2) / 2])
    assert np.all(np.diff(fraction) >= 0)
    assert np.all((low <= fraction) & (fraction <= high)) and np.all((low >= 0) & (high <= 1))
    assert low[0] == high[0] == 0.0  # no run within 0: no resample has one
    assert low[2] < fraction[2] < high[2]


def test_run_time_profile_counts_a_censored_run_at_no_time_and_needs_runs():
    fraction, low, high = run_time_profile([[1.0, 2.0, np.inf, np.inf]], [2.0, np.inf])
    np.testing.assert_allclose(fraction, [0.5, 0.5])  # never reached: below every tau, even an infinite one
    everyone, low, high = run_time_profile([[1.0, 1.5]], [2.0])
    assert everyone[0] == low[0] == high[0] == 1.0
    with pytest.raises(ValueError, match="every stratum"):
        run_time_profile([[1.0], []], [1.0])
