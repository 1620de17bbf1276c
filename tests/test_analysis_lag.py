"""Replication lag from synthetic probe series with known answers (reports/lag.py).

Every series is the primary's view of the other members (`RunBuilder.view`), as the probes
record it, plus the members' answers about themselves.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from analysis_helpers import healthy, load

from contract.rundir import UNREACHABLE
from reports.analyse import analyse
from reports.lag import MemberLag, lag_samples, replication_lag
from reports.phases import phase_windows
from reports.synthetic.builder import RunBuilder
from reports.verdicts import Verdict

UP = {"m0": ("PRIMARY", 1), "m1": ("SECONDARY", 1), "m2": ("SECONDARY", 1)}


def lags(b: RunBuilder, tmp_path: Path, recovery_s: float = 30.0) -> dict[str, MemberLag]:
    data = load(b, tmp_path)
    assert data.probes is not None
    windows = phase_windows(data.faults, data.run_start, data.run_end, recovery_s)
    samples = lag_samples(data.probes, data.run_start, data.run_end)
    return {m.member: m for m in replication_lag(samples, windows)}


def caught_up(b: RunBuilder, start: float, end: float, every: float = 0.25) -> None:
    for t in np.arange(start, end - 1e-9, every):
        b.probe_round(float(t), UP)


def lag_verdict(b: RunBuilder, tmp_path: Path) -> tuple[Verdict, float | None, str]:
    b.verify()
    summary = analyse(b.write_to(tmp_path / "analysed"))
    result = next(r for r in summary.results if r.slo == "replication_lag")
    return result.verdict, result.measured, result.explanation


def test_an_idle_gap_after_the_load_is_not_judged(tmp_path: Path) -> None:
    # The false alarm seen on region-outage: the load ends at 60 s; 11.5 s later, while the
    # cluster drains idle, one write makes every member look 11 s behind for a moment.
    b = RunBuilder()
    healthy(b, 0, 60)
    caught_up(b, 0, 60)
    b.view(71.5, "m0", {"m1": ("SECONDARY", 11.0), "m2": ("SECONDARY", 11.0)})
    found = lags(b, tmp_path)
    assert (found["m1"].max_lag_s, found["m2"].max_steady_lag_s) == (0.0, 0.0)
    assert found["m1"].samples == 240  # four answers a second from 0 to 60, none after
    verdict, measured, _ = lag_verdict(b, tmp_path)
    assert (verdict, measured) == (Verdict.PASS, 0.0)


def test_the_first_write_after_an_idle_spell_is_bounded_by_the_time_since_caught_up(
    tmp_path: Path,
) -> None:
    # Inside the load, a member seen caught up at 20.0 cannot miss anything older than 20.0:
    # a sample at 20.25 showing the primary's 11 s jump is a lag of at most 0.25 s.
    b = RunBuilder()
    healthy(b, 0, 60)
    caught_up(b, 0, 20.25)
    b.view(20.25, "m0", {"m1": ("SECONDARY", 11.0), "m2": ("SECONDARY", 0.0)})
    caught_up(b, 20.5, 60)
    found = lags(b, tmp_path)
    assert found["m1"].max_lag_s == pytest.approx(0.25)
    assert found["m1"].max_at == pytest.approx(b.origin + 20.25)


def test_a_real_lag_grows_and_fails_the_target_naming_the_member(tmp_path: Path) -> None:
    b = RunBuilder()
    healthy(b, 0, 60)
    caught_up(b, 0, 20)
    for t in range(21, 45):  # from 20 on, m2 applies half a second of writes per second
        b.view(float(t), "m0", {"m1": ("SECONDARY", 0.0), "m2": ("SECONDARY", 0.5 * (t - 20))})
    caught_up(b, 45, 60)
    found = lags(b, tmp_path)
    assert found["m2"].max_steady_lag_s == 12.0
    assert found["m2"].max_steady_at == pytest.approx(b.origin + 44)
    assert found["m1"].max_steady_lag_s == 0.0
    verdict, measured, explanation = lag_verdict(b, tmp_path)
    assert (verdict, measured) == (Verdict.FAIL, 12.0)
    assert "(m2)" in explanation


def test_a_down_member_is_reported_apart_and_not_judged(tmp_path: Path) -> None:
    # m2 is killed at 20 (the fault), heals at 30, catches up RECOVERING 10 s behind, and is
    # back as SECONDARY at 32; the recovery window is 5 s, so 35-60 is steady again.
    b = RunBuilder()
    healthy(b, 0, 60)
    b.fault("f1", 20.0, heal=30.0, members=["m2"], target="secondary")
    caught_up(b, 0, 20)
    for t in np.arange(20, 30, 0.25):
        b.view(float(t), "m0", {"m1": ("SECONDARY", 0.0), "m2": (UNREACHABLE, None)})
    for t in np.arange(30, 32, 0.25):
        b.view(float(t), "m0", {"m1": ("SECONDARY", 0.0), "m2": ("RECOVERING", 10.0 - 4 * (t - 30))})
    caught_up(b, 32, 60)
    found = lags(b, tmp_path, recovery_s=5.0)
    m2 = found["m2"]
    assert m2.unavailable_samples == 48
    assert m2.unavailable_s == pytest.approx(12.0)
    assert m2.max_catching_up_s == 10.0
    assert (m2.max_lag_s, m2.max_steady_lag_s) == (0.0, 0.0)
    b.slos = {"windows": {"recovery_s": "5s"}}
    verdict, measured, _ = lag_verdict(b, tmp_path)
    assert (verdict, measured) == (Verdict.PASS, 0.0)


def test_only_the_primarys_own_answers_count(tmp_path: Path) -> None:
    # A secondary knows the primary's position from heartbeats only: its view of m2 is late.
    b = RunBuilder()
    healthy(b, 0, 60)
    caught_up(b, 0, 60)
    b.view(30.0, "m0", {"m2": ("SECONDARY", 30.0)}, observer="m1")
    found = lags(b, tmp_path)
    assert found["m2"].max_lag_s == 0.0


def failover(b: RunBuilder, applied: dict[str, tuple[float, float]]) -> None:
    """m0, PRIMARY in term 1 and writing at every probe round, is killed at 30; m1, holding all
    it wrote (its last entry is from 29.75), is elected at 40 and writes in term 2 from then on.
    `applied`, per other secondary: the time of the last old-term entry it applies, and when it
    catches up with m1."""
    healthy(b, 0, 60)
    b.fault("f1", 30.0, heal=59.0)
    last = {"m1": (29.75, 40.0), **applied}
    for t in np.arange(0, 60, 0.25).tolist():
        if t >= 40:  # an answer while m1 is primary: m0 gone, the others behind until caught up
            states = {"m0": None, "m1": ("PRIMARY", 2)}
            behind = {m: t < up for m, (_, up) in last.items()}
            optimes = {m: (1, old) if behind[m] else (2, t) for m, (old, _) in last.items()}
        elif t >= 30:  # the election gap: no primary, nobody writes
            states = {"m0": None, "m1": ("SECONDARY", 2)}
            behind = dict.fromkeys(last, False)
            optimes = {m: (1, old) for m, (old, _) in last.items()}
        else:
            states = {"m0": ("PRIMARY", 1), "m1": ("SECONDARY", 1)}
            behind = {m: t > old for m, (old, _) in last.items()}
            optimes = {"m0": (1, t)} | {m: (1, min(t, old)) for m, (old, _) in last.items()}
        states |= {m: ("SECONDARY", states["m1"][1]) for m in applied}  # type: ignore[index]
        # The dates' difference, as the probe records it: the writer's latest entry's minus the
        # member's, whenever the member is behind.
        lag = {m: t - optimes[m][1] if behind[m] else 0.0 for m in last}
        b.probe_round(t, states, lag=lag, optimes=optimes)


def test_a_secondary_holding_the_whole_old_term_does_not_lag_by_the_election_gap(
    tmp_path: Path,
) -> None:
    # At 40 the new primary's first term-2 entry is 10.25 s newer than m2's last entry, the last
    # m0 wrote: m2 misses only what m1 wrote since its last answer in term 1, at 39.75.
    b = RunBuilder()
    failover(b, {"m2": (29.75, 40.25)})
    found = lags(b, tmp_path)
    assert found["m2"].max_lag_s == pytest.approx(0.25)
    assert found["m2"].max_at == pytest.approx(b.origin + 40.0)


def test_a_secondary_behind_the_new_primary_still_lags(tmp_path: Path) -> None:
    # m2 holds the whole old term but receives nothing of the new one until 43.25: at 43 it
    # misses 3.25 s of m1's writes (not the 13.25 s its dates differ by). m3 stopped applying
    # at 25, before the kill: it misses old-term entries too, and its full 18 s lag stands.
    b = RunBuilder(members=["m0", "m1", "m2", "m3"])
    failover(b, {"m2": (29.75, 43.25), "m3": (25.0, 43.25)})
    found = lags(b, tmp_path)
    assert found["m2"].max_lag_s == pytest.approx(3.25)
    assert found["m2"].max_at == pytest.approx(b.origin + 43.0)
    assert found["m3"].max_lag_s == pytest.approx(18.0)
    assert found["m3"].max_at == pytest.approx(b.origin + 43.0)
