"""earthzoo.scoring: the bootstrap interval of the RMSE ratio over initial times and
the per-channel verdicts (beats / stops) on small synthetic errors, and the
per-init squared errors that evaluate hands to them."""

from __future__ import annotations

import math

import numpy as np
import pytest
import xarray as xr
from earthzoo import scoring
from earthzoo.data import make_dataset, regular_lat, regular_lon
from earthzoo.metrics import evaluate

HOURS = [6.0, 12.0, 18.0, 24.0]


def test_ratio_is_the_ratio_of_rmses_and_its_interval_holds_it():
    rng = np.random.default_rng(1)
    ref = rng.uniform(1.0, 2.0, size=(16, 3))
    model = ref * rng.uniform(0.2, 0.6, size=(16, 3))
    r = scoring.rmse_ratio(model, ref)
    assert np.allclose(r["ratio"], np.sqrt(model.mean(0)) / np.sqrt(ref.mean(0)))
    for k in range(3):
        assert r["low"][k] < r["ratio"][k] < r["high"][k] < 1


def test_errors_in_a_fixed_proportion_give_an_interval_of_zero_width():
    # every resample of the init times gives the same ratio (the errors are paired)
    ref = np.random.default_rng(2).uniform(1.0, 5.0, size=(16, 2))
    r = scoring.rmse_ratio(0.49 * ref, ref)
    assert np.allclose(r["ratio"], 0.7) and np.allclose(r["low"], 0.7) and np.allclose(r["high"], 0.7)


def test_two_initial_times_bound_the_interval_by_the_single_time_ratios():
    # resamples of 2 inits: {0,0}, {1,1} (1/4 each) and {0,1}: the 5 % and 95 % points are
    # the ratios of init 0 and init 1 alone
    model, ref = np.array([[1.0], [9.0]]), np.array([[4.0], [4.0]])
    r = scoring.rmse_ratio(model, ref)
    assert math.isclose(r["ratio"][0], math.sqrt(5.0 / 4.0))
    assert math.isclose(r["low"][0], 0.5) and math.isclose(r["high"][0], 1.5)


def test_the_interval_narrows_with_more_initial_times():
    rng = np.random.default_rng(3)

    def width(n):
        ref = rng.uniform(1.0, 2.0, size=(n, 1))
        r = scoring.rmse_ratio(ref * rng.uniform(0.3, 1.5, size=(n, 1)), ref)
        return r["high"][0] - r["low"][0]

    assert width(256) < width(16) / 2


def test_one_initial_time_has_no_interval():
    r = scoring.rmse_ratio([[1.0, 4.0]], [[4.0, 4.0]])
    assert r["ratio"] == [0.5, 1.0] and r["low"] == [None, None] and r["high"] == [None, None]


def _acc(factors_by_channel, n=16, seed=0):
    """Synthetic scores: persistence errors growing with lead, climatology errors flat
    at 3, the model's errors = persistence's times a factor per (init, lead)."""
    rng = np.random.default_rng(seed)
    metrics = {"forecast": {}, "persistence": {}, "climatology": {}}
    for ch, factors in factors_by_channel.items():
        pers = rng.uniform(0.5, 1.5, size=(n, len(HOURS))) * np.arange(1, len(HOURS) + 1)
        clim = np.full((n, len(HOURS)), 3.0)
        model = pers * np.array([f(n) for f in factors]).T
        for name, mse in (("forecast", model), ("persistence", pers), ("climatology", clim)):
            metrics[name][ch] = {"rmse": list(np.sqrt(mse.mean(0))), "mse_by_init": mse.tolist()}
    return {"channels": list(factors_by_channel), "lead_time_hours": HOURS, "n_init": n, "units": {"z": "m2 s-2", "u": "m s-1"}, "metrics": metrics}


def _const(v):
    return lambda n: np.full(n, v)


def _split(lo, hi):
    return lambda n: np.where(np.arange(n) % 2 == 0, lo, hi)  # half the inits much better, half much worse


def test_skill_names_the_leads_it_beats_and_where_it_stops():
    acc = _acc({"z": [_const(0.25), _const(0.5), _split(0.1, 1.9), _const(1.5)], "u": [_const(1.2)] + [_const(0.5)] * 3})
    s = scoring.skill(acc, "persistence")
    assert s["z"]["calls"] == ["beats", "beats", "tie", "worse"]
    assert s["z"]["beats_at_hours"] == [6.0, 12.0] and s["z"]["stops_at_hours"] == 18.0
    assert s["z"]["low"][2] < 1 < s["z"]["high"][2]
    # worse at the first lead: it never started beating persistence, so it never "stops"
    assert s["u"]["calls"] == ["worse", "beats", "beats", "beats"] and s["u"]["stops_at_hours"] is None
    # against climatology (MSE 3): persistence x 0.25 at 6 h beats it, persistence x 1.5 at 24 h does not
    c = scoring.skill(acc, "climatology")["z"]
    assert c["calls"][0] == "beats" and c["calls"][3] == "worse"
    assert math.isclose(c["ratio"][3], math.sqrt(np.mean(np.array(acc["metrics"]["forecast"]["z"]["mse_by_init"])[:, 3]) / 3.0))


def test_verdict_beats_at_the_first_lead_and_names_where_each_channel_stops():
    acc = _acc({"z": [_const(0.25), _const(0.5), _const(1.5), _const(1.5)], "u": [_const(0.36)] * 4})
    v = scoring.persistence_verdict(acc)
    assert v["beats_persistence"] is True
    assert math.isclose(v["rmse_ratio_vs_persistence"]["z"], 0.5) and math.isclose(v["rmse_ratio_vs_persistence"]["u"], 0.6)
    assert "over 16 initial times" in v["verdict"] and "worst channel u" in v["verdict"]
    assert v["verdict"].endswith("; stops beating persistence at 18 h on z; still beats it at the last lead (24 h) on u")
    assert v["channels"]["level"] == 0.9 and set(v["channels"]) >= {"persistence", "climatology"}


def test_a_tie_at_the_first_lead_is_not_a_win():
    # the mean ratio is below 1 but the interval straddles 1: not claimed as beating persistence
    acc = _acc({"z": [_split(0.05, 1.7)] + [_const(0.5)] * 3})
    v = scoring.persistence_verdict(acc)
    r = v["channels"]["persistence"]["z"]
    assert r["ratio"][0] < 1 < r["high"][0]
    assert v["beats_persistence"] is False and "does NOT beat persistence up to 6 h over 16 initial times on z" in v["verdict"]


def test_evaluate_per_init_errors_average_to_the_rmse():
    rng = np.random.default_rng(0)
    h6 = np.timedelta64(6, "h")
    times = np.datetime64("2001-01-01T00", "ns") + np.arange(10) * h6
    truth = make_dataset(rng.normal(size=(10, 2, 9, 16)).cumsum(0).astype(np.float32), times, ["z", "u"], regular_lat(9), regular_lon(16))
    t = truth["fields"].values.astype(np.float64)
    inits, leads = [0, 2, 4], [1, 2]
    f = np.stack([np.stack([t[i + k] + rng.normal(scale=0.1, size=t[0].shape) for k in leads]) for i in inits])
    fc = xr.DataArray(f, dims=("init_time", "lead_time", "channel", "lat", "lon"), coords={"init_time": times[inits], "lead_time": np.array(leads) * h6, "channel": ["z", "u"], "lat": truth["lat"].values, "lon": truth["lon"].values})
    acc = evaluate(fc, truth, per_init=True)
    assert acc["units"] == {"z": "m2 s-2", "u": "m s-1"}
    for name in ("forecast", "persistence"):
        for ch in ("z", "u"):
            m = np.array(acc["metrics"][name][ch]["mse_by_init"])
            assert m.shape == (3, 2)
            assert np.allclose(np.sqrt(m.mean(0)), acc["metrics"][name][ch]["rmse"])
    assert "mse_by_init" not in evaluate(fc, truth)["metrics"]["forecast"]["z"]
    v = scoring.persistence_verdict(acc)
    assert v["beats_persistence"] is True  # noise of 0.1 against a random walk of unit steps


@pytest.mark.parametrize("inits", [16, 21])
def test_test_inits_gives_16_held_out_times_when_there_are_enough(inits):
    idx = scoring.test_inits(70, 70 + inits + 8, 8, 16)
    assert len(idx) == 16 and len(set(idx)) == 16 and idx[0] == 70 and idx[-1] == 70 + inits - 1


def test_a_model_that_is_persistence_to_a_hair_is_marginal_not_a_win():
    # 0.01 % better than persistence at every initial time: significant, and still not a win
    acc = _acc({"z": [_const(0.9998)] * 4, "u": [_const(0.25)] * 4})
    s = scoring.skill(acc, "persistence")["z"]
    assert s["high"][0] < 1 and s["calls"] == ["marginal"] * 4 and s["beats_at_hours"] == [] and s["stops_at_hours"] is None
    v = scoring.persistence_verdict(acc)
    assert v["beats_persistence"] is False
    assert "on z 0.999900 (90% interval 0.999900-0.999900, under 1% better: marginal)" in v["verdict"]
    assert scoring.fmt_ratio(0.99996) == "0.999960" and scoring.fmt_ratio(0.7014) == "0.7014"
