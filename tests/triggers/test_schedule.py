"""Firing times are pure arithmetic: the same in every process, on any day."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from occo.engine.triggers import Schedule, crontab_for_apscheduler

BUDAPEST = ZoneInfo("Europe/Budapest")


def local(*args: int) -> float:
    return dt.datetime(*args, tzinfo=BUDAPEST).timestamp()


def walk(schedule: Schedule, start: float, n: int) -> list[str]:
    out, t = [], schedule.at_or_after(start)
    for _ in range(n):
        assert t is not None
        out.append(dt.datetime.fromtimestamp(t, BUDAPEST).strftime("%a %d %H:%M %z"))
        t = schedule.after(t)
    return out


def test_weekday_mornings_in_a_time_zone_keep_their_local_hour_across_dst() -> None:
    mornings = Schedule("0 8 * * 1-5", "Europe/Budapest", None, 0.0)
    # Friday 26 March 2027 09:00; summer time starts on Sunday the 28th
    assert walk(mornings, local(2027, 3, 26, 9, 0), 3) == [
        "Mon 29 08:00 +0200", "Tue 30 08:00 +0200", "Wed 31 08:00 +0200"]
    evenings = Schedule("0 20 * * *", "Europe/Budapest", None, 0.0)
    assert walk(evenings, local(2027, 3, 27, 20, 0), 2) == [
        "Sat 27 20:00 +0100", "Sun 28 20:00 +0200"]


@pytest.mark.parametrize(("written", "meant"), [
    ("0 8 * * 1-5", "0 8 * * mon,tue,wed,thu,fri"),
    ("0 8 * * 0", "0 8 * * sun"),
    ("0 8 * * 7", "0 8 * * sun"),
    ("0 8 * * 5-7", "0 8 * * fri,sat,sun"),
    ("0 8 * * 1,3,5", "0 8 * * mon,wed,fri"),
    ("0 8 * * mon-fri", "0 8 * * mon-fri"),
    ("*/5 * * * *", "*/5 * * * *"),
])
def test_crontab_days_count_from_sunday_as_in_cron(written: str, meant: str) -> None:
    assert crontab_for_apscheduler(written) == meant


def test_interval_times_fall_on_the_anchor_grid_without_drift() -> None:
    schedule = Schedule(None, "UTC", 0.1, 1000.0)
    t = schedule.at_or_after(999.0)
    for _ in range(10_000):
        assert t is not None
        t = schedule.after(t)
    assert t == pytest.approx(1000.0 + 10_000 * 0.1, abs=1e-6)
    assert schedule.at_or_after(1000.05) == pytest.approx(1000.1)
    assert schedule.after(1000.1 + 1e-9) == pytest.approx(1000.2)


def test_first_and_last_times_bound_the_schedule() -> None:
    schedule = Schedule(None, "UTC", 60.0, 0.0, first_time=600.0, last_time=720.0)
    assert schedule.at_or_after(0.0) == 600.0
    assert schedule.after(660.0) == 720.0
    assert schedule.after(720.0) is None
    cron = Schedule("0 * * * *", "UTC", None, 0.0, first_time=7200.0, last_time=7200.0)
    assert cron.at_or_after(0.0) == 7200.0 and cron.after(7200.0) is None
