import math

import numpy as np
import pytest

from monas.train.curves import CurveStopper, fit_learning_curve, learning_curve

HALF_EPOCHS = np.arange(1, 41) / 2  # 0.5 .. 20


def saturating(x, limit=88.0, amplitude=60.0, rate=0.35):
    return limit - amplitude * np.exp(-rate * x)


@pytest.mark.parametrize("limit, rate", [(88.0, 0.35), (62.0, 1.2), (95.0, 0.15)])
def test_fit_recovers_the_limit_of_a_clean_curve(limit, rate):
    y = saturating(HALF_EPOCHS[:12], limit=limit, rate=rate)
    a, b, c = fit_learning_curve(HALF_EPOCHS[:12], y)
    assert a == pytest.approx(limit, abs=0.05)
    assert b == pytest.approx(math.exp(rate), rel=1e-3)
    assert learning_curve(20.0, a, b, c) == pytest.approx(saturating(20.0, limit=limit, rate=rate), abs=0.05)


def test_fit_recovers_the_limit_through_small_noise():
    rng = np.random.default_rng(0)
    errors = []
    for _ in range(10):
        y = saturating(HALF_EPOCHS) + rng.normal(0.0, 0.5, len(HALF_EPOCHS))
        a, _, _ = fit_learning_curve(HALF_EPOCHS, y)
        errors.append(abs(a - 88.0))
    assert np.mean(errors) < 0.5 and max(errors) < 1.0


def test_fit_failures_give_none():
    assert fit_learning_curve([0.5, 1.0], [20.0, 30.0]) is None  # fewer points than parameters
    assert fit_learning_curve([0.5, 1.0, 1.5], [20.0, float("nan"), 30.0]) is None
    assert fit_learning_curve([0.5, 1.0, 1.5], [20.0, 30.0]) is None


def test_a_failing_fit_is_no_prediction_and_does_not_crash(monkeypatch):
    import scipy.optimize

    def fails(*args, **kwargs):
        raise RuntimeError("Optimal parameters not found: maxfev exceeded")

    monkeypatch.setattr("monas.train.curves.curve_fit", fails)
    assert scipy.optimize.curve_fit is not fails
    stopper = CurveStopper(final_epoch=20.0)
    for x in HALF_EPOCHS[:8]:
        assert stopper.update(x, saturating(x)) is False
    assert stopper.prediction is None and stopper.predictions == [None] * 8


def test_clean_curve_converges_on_the_final_accuracy():
    stopper = CurveStopper(final_epoch=20.0)
    stopped_at = next(x for x in HALF_EPOCHS if stopper.update(x, saturating(x)))
    # Fits start at the 3rd point and 3 predictions are needed: the 5th point at the
    # earliest. (Here the 6th: the fit to the first 3 points lands far off, at 174 %.)
    assert 2.5 <= stopped_at <= 3.0
    assert stopper.converged and not stopper.hopeless
    assert stopper.prediction == pytest.approx(saturating(20.0), abs=0.5)


def test_noisy_rising_curve_does_not_stop_early():
    # Slowly rising (still ~1.5 points an epoch at epoch 10) with 1 point of noise: the
    # fits disagree until the curve has bent. The clean curve above stops at 2.5; on
    # these seeds the engine stopped after 4.5 to 14.5 epochs (median 7), predicting the
    # final accuracy within 0.3 to 3.9 points.
    stops, errors = [], []
    for seed in range(6):
        rng = np.random.default_rng(seed)
        stopper = CurveStopper(final_epoch=20.0)
        curve = saturating(HALF_EPOCHS, 90.0, 70.0, 0.04) + rng.normal(0.0, 1.0, len(HALF_EPOCHS))
        stops.append(next((x for x, y in zip(HALF_EPOCHS, curve) if stopper.update(x, y)), 20.0))
        errors.append(abs(stopper.prediction - saturating(20.0, 90.0, 70.0, 0.04)))
    assert min(stops) >= 4.0 and np.median(stops) >= 6.0
    assert np.median(errors) < 3.0


def test_failed_updates_break_the_window():
    stopper = CurveStopper(final_epoch=20.0)
    stopper.predictions = [80.0, None, 80.1]
    stopper.epochs, stopper.accuracies = [0.5, 1.0, 1.5], [10.0, 20.0, 30.0]
    stopper.update(2.0, 35.0)  # one more prediction: the window still holds the None
    assert stopper.predictions[1] is None and not stopper.converged


def run_until_stop(stopper, curve):
    return next((x for x, y in zip(HALF_EPOCHS, curve) if stopper.update(x, y)), None)


def test_hopeless_networks_stop_before_their_prediction_converges():
    rng = np.random.default_rng(3)
    poor = saturating(HALF_EPOCHS, 45.0, 35.0, 0.04) + rng.normal(0.0, 1.0, len(HALF_EPOCHS))
    patient = CurveStopper(final_epoch=20.0)
    impatient = CurveStopper(final_epoch=20.0, stop_below=45.0)
    hopeless_at, converged_at = run_until_stop(impatient, poor), run_until_stop(patient, poor)
    assert impatient.hopeless and not impatient.converged and impatient.prediction < 45.0
    assert hopeless_at < (converged_at or 21.0)
    assert patient.converged and not patient.hopeless  # stop_below=0 never gives up


def test_promising_networks_are_not_given_up():
    rng = np.random.default_rng(3)
    good = saturating(HALF_EPOCHS, 90.0, 70.0, 0.04) + rng.normal(0.0, 1.0, len(HALF_EPOCHS))
    stopper = CurveStopper(final_epoch=20.0, stop_below=45.0)
    run_until_stop(stopper, good)
    assert not stopper.hopeless


def test_bad_settings_and_decreasing_epochs_are_rejected():
    with pytest.raises(ValueError, match="final_epoch"):
        CurveStopper(final_epoch=0.0)
    with pytest.raises(ValueError, match="min_points"):
        CurveStopper(final_epoch=5.0, min_points=2)
    stopper = CurveStopper(final_epoch=5.0)
    stopper.update(1.0, 50.0)
    with pytest.raises(ValueError, match="increase"):
        stopper.update(1.0, 55.0)
