"""Cron triggers: a workflow started on a schedule, exactly once across processes.

A trigger names a workflow (``scale``, ``maintain``, ``update``, ``destroy``,
``orchestrate``), a target (an infrastructure, or an infrastructure group
through an execution group with its concurrency) and a schedule: a cron
expression in a time zone, or an interval in seconds; optionally a first and
a last time and a count of firings.

Every ``occopus-maintain --cyclic`` and every REST service runs a
:class:`TriggerRunner`: an APScheduler interval job (``occo.periodic``) looks
for due firings every :data:`TICK` seconds. A firing is claimed in the store before it runs
(see :mod:`occo.store.triggers`), so however many processes look, each
scheduled time starts one execution (``created_by: trigger:<name>``).

Missed times: a due time is fired late, once, while it is at most ``grace``
seconds old (default :data:`DEFAULT_GRACE`); older ones (every process was
down) are skipped and logged as one ``trigger_missed`` event. A process that
dies right after claiming leaves a queued execution, which any process runs
after :data:`ORPHAN_AFTER` seconds. Pausing skips the times that pass while
paused; resuming continues from the next scheduled time.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from occo.engine.leasing import make_holder
from occo.errors import NotFound, UserInputError
from occo.model.vocabulary import SCHEDULABLE
from occo.store.records import FiringRecord, TriggerRecord

if TYPE_CHECKING:   # annotations only: the store is passed in, not opened here
    from occo.store.store import Store

log = logging.getLogger("occo.triggers")

WORKFLOWS = tuple(str(w) for w in SCHEDULABLE)
DEFAULT_GRACE = 300.0      # seconds a due firing may be late and still run
MAX_GRACE = 7 * 86400.0
MIN_INTERVAL = 1.0
MAX_INTERVAL = 366 * 86400.0
MAX_COUNT = 1_000_000_000
MAX_SCALE = 100_000
TICK = 0.25                # seconds between looks for due firings
RECOVER_EVERY = 5.0
ORPHAN_AFTER = 10.0        # a claimed firing's queued execution nobody started
MAX_PER_TICK = 1_000       # firings one trigger may fire in one look (grace / interval)
NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:@-]{0,127}")
_EPSILON = 1e-6


# --------------------------------------------------------------------------- schedules

@dataclass(frozen=True)
class Schedule:
    """When a trigger fires: pure arithmetic, the same in every process.

    Interval firings fall on ``anchor + k * interval`` (the anchor is the first
    time, or creation plus one interval); cron firings are APScheduler's
    ``CronTrigger`` in the trigger's time zone (so 08:00 stays 08:00 across
    daylight-saving changes).
    """

    cron: str | None
    timezone: str
    interval: float | None
    anchor: float
    first_time: float | None = None
    last_time: float | None = None

    @classmethod
    def of(cls, trigger: TriggerRecord) -> Schedule:
        anchor = trigger.first_time if trigger.first_time is not None else \
            trigger.created_at + (trigger.interval or 0.0)
        return cls(trigger.cron, trigger.timezone, trigger.interval, anchor,
                   trigger.first_time, trigger.last_time)

    def at_or_after(self, t: float) -> float | None:
        """The first firing time at or after ``t``."""
        if self.first_time is not None:
            t = max(t, self.first_time)
        if self.interval is not None:
            k = max(0, math.ceil((t - self.anchor) / self.interval - _EPSILON))
            found: float | None = self.anchor + k * self.interval
        else:
            found = self._cron_from(t)
        return self._bounded(found)

    def after(self, t: float) -> float | None:
        """The first firing time strictly after ``t`` (``t`` usually one itself)."""
        if self.interval is not None:
            k = max(0, math.floor((t - self.anchor) / self.interval + _EPSILON) + 1)
            found = self.anchor + k * self.interval
            while found <= t:
                found += self.interval
            return self._bounded(max(found, self.first_time or found))
        return self.at_or_after(math.floor(t) + 1.0)

    def _cron_from(self, t: float) -> float | None:
        zone = ZoneInfo(self.timezone)
        nxt = self.cron_trigger().get_next_fire_time(None, dt.datetime.fromtimestamp(t, zone))
        return None if nxt is None else nxt.timestamp()

    def cron_trigger(self) -> Any:
        from apscheduler.triggers.cron import CronTrigger

        assert self.cron is not None
        return CronTrigger.from_crontab(crontab_for_apscheduler(self.cron),
                                        timezone=ZoneInfo(self.timezone))

    def _bounded(self, t: float | None) -> float | None:
        if t is None or (self.last_time is not None and t > self.last_time + _EPSILON):
            return None
        return t


DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_DOW_ITEM = re.compile(r"(\*|\d+)(?:-(\d+))?(?:/(\d+))?")


def crontab_for_apscheduler(expression: str) -> str:
    """The expression with a numeric day of week written as names.

    crontab(5) counts days of week from Sunday (0 or 7); APScheduler 3 counts
    from Monday, so ``1-5`` would mean Tuesday to Saturday there. Names mean
    the same to both.
    """
    fields = expression.split()
    if len(fields) != 5 or not any(c.isdigit() for c in fields[4]):
        return expression
    days: list[str] = []
    for item in fields[4].split(","):
        match = _DOW_ITEM.fullmatch(item)
        if match is None:
            days.append(item)       # names (mon-fri) pass; anything else APScheduler judges
            continue
        start, end, step = match.groups()
        low, high = (0, 7) if start == "*" else (int(start), int(end or start))
        if start != "*" and end is None and step is not None:
            high = 7
        if not 0 <= low <= high <= 7:
            raise ValueError(f"day of week {item!r} is not within 0-7")
        days += [DAY_NAMES[d % 7] for d in range(low, high + 1, int(step or 1))]
    fields[4] = ",".join(dict.fromkeys(days))
    return " ".join(fields)

# --------------------------------------------------------------------------- creating

@dataclass(frozen=True)
class TriggerSpec:
    """What a user asks for; :func:`create_trigger` checks every part of it."""

    name: str
    workflow: str
    infra_id: str | None = None
    infra_group_id: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    concurrency: int | None = None
    cron: str | None = None
    timezone: str = "UTC"
    interval: float | None = None
    first_time: float | None = None
    last_time: float | None = None
    count: int | None = None
    grace: float = DEFAULT_GRACE


def create_trigger(store: Store, spec: TriggerSpec, *, created_by: str | None = None,
                   now: float | None = None) -> TriggerRecord:
    """Validate and store a trigger with its first firing time; nothing on bad input."""
    now = time.time() if now is None else now
    _check_name(spec.name)
    if spec.workflow not in WORKFLOWS:
        raise UserInputError(f"unknown workflow '{spec.workflow}' "
                             f"(one of: {', '.join(WORKFLOWS)})")
    if (spec.infra_id is None) == (spec.infra_group_id is None):
        raise UserInputError("a trigger targets an infrastructure or an infrastructure "
                             "group: give exactly one")
    if spec.infra_id is not None:
        store.infras.get(spec.infra_id)
        if spec.concurrency is not None:
            raise UserInputError("concurrency applies to infrastructure groups only")
    else:
        assert spec.infra_group_id is not None
        store.infra_groups.get(spec.infra_group_id)
        if spec.concurrency is not None and not 0 < spec.concurrency <= 1000:
            raise UserInputError(f"concurrency must be 1..1000, not {spec.concurrency}")
    parameters = check_parameters(store, spec)
    _check_schedule(spec)
    record = TriggerRecord(
        name=spec.name, workflow=spec.workflow, infra_id=spec.infra_id,
        infra_group_id=spec.infra_group_id, parameters=parameters,
        concurrency=spec.concurrency, cron=spec.cron, timezone=spec.timezone,
        interval=spec.interval, first_time=spec.first_time, last_time=spec.last_time,
        remaining=spec.count, grace=spec.grace, next_fire_time=None, paused=False,
        created_at=now, created_by=created_by)
    first = Schedule.of(record).at_or_after(now)
    if first is None:
        raise UserInputError("the schedule has no firing time left (its last time has passed)")
    record = TriggerRecord(**{**vars(record), "next_fire_time": first})
    store.triggers.create(record)
    return record


def _check_name(name: str) -> None:
    if not NAME.fullmatch(name):
        raise UserInputError(f"a trigger name is 1-128 letters, digits and _ . : @ - "
                             f"(not starting with . : @ -), not {name!r}")


def _whole(value: Any, what: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise UserInputError(f"{what} must be a whole number in {low}..{high}, not {value!r}")
    return value


def check_parameters(store: Store, spec: TriggerSpec) -> dict[str, Any]:
    """The workflow's parameters, checked (an orchestration file is parsed here)."""
    params = dict(spec.parameters)
    if spec.workflow == "scale":
        node = params.get("node")
        if not isinstance(node, str) or not node:
            raise UserInputError("a scale trigger needs 'node' (the node to scale)")
        if ("set_to" in params) == ("change" in params):
            raise UserInputError("a scale trigger needs exactly one of set_to and change")
        if "set_to" in params:
            _whole(params["set_to"], "set_to", 0, MAX_SCALE)
        elif _whole(params["change"], "change", -MAX_SCALE, MAX_SCALE) == 0:
            raise UserInputError("change must not be 0")
        if spec.infra_id is not None and node not in \
                {n.name for n in store.infras.nodes(spec.infra_id)}:
            raise UserInputError(f"infrastructure {spec.infra_id} has no node '{node}'")
        extra = set(params) - {"node", "set_to", "change"}
    elif spec.workflow == "orchestrate":
        from occo.configure.orchestration import Orchestration

        if not params.get("orchestration"):
            raise UserInputError("an orchestrate trigger needs the orchestration file")
        parsed = Orchestration.from_parameters(params)
        params = {**parsed.to_parameters(),
                  "ignore_cache": bool(params.get("ignore_cache", False)),
                  "concurrency": 1}
        extra = set()
    else:
        extra = set(params)
    if extra:
        raise UserInputError(f"a {spec.workflow} trigger takes no parameter "
                             f"{', '.join(sorted(extra))}")
    return params


def _check_schedule(spec: TriggerSpec) -> None:
    if (spec.cron is None) == (spec.interval is None):
        raise UserInputError("a schedule is a cron expression or an interval: give exactly one")
    try:
        ZoneInfo(spec.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise UserInputError(f"unknown time zone {spec.timezone!r} "
                             "(an IANA name such as Europe/Budapest or UTC)") from None
    if spec.cron is not None:
        if len(spec.cron) > 255:
            raise UserInputError("a cron expression is at most 255 characters")
        try:
            Schedule(spec.cron, spec.timezone, None, 0.0).cron_trigger()
        except ValueError as exc:
            raise UserInputError(f"invalid cron expression {spec.cron!r}: {exc} (five fields: "
                                 "minute hour day month day-of-week)") from None
    elif not MIN_INTERVAL <= float(spec.interval or 0) <= MAX_INTERVAL:
        raise UserInputError(f"an interval is {MIN_INTERVAL:g}..{MAX_INTERVAL:g} seconds, "
                             f"not {spec.interval}")
    if spec.count is not None:
        _whole(spec.count, "count", 1, MAX_COUNT)
    if not 0 <= spec.grace <= MAX_GRACE:
        raise UserInputError(f"grace is 0..{MAX_GRACE:g} seconds, not {spec.grace}")
    if spec.first_time is not None and spec.last_time is not None \
            and spec.last_time < spec.first_time:
        raise UserInputError("the last time is before the first time")


def parse_time(value: str | float | None, zone: str, what: str) -> float | None:
    """A POSIX time, or an ISO 8601 one; without an offset it is read in ``zone``."""
    if value is None or isinstance(value, (int, float)):
        return None if value is None else float(value)
    try:
        parsed = dt.datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=ZoneInfo(zone))
    except (ValueError, ZoneInfoNotFoundError):
        raise UserInputError(f"{what}: {value!r} is not an ISO 8601 time like "
                             "2026-12-24T20:00 (in a known time zone)") from None
    return parsed.timestamp()


def at(t: float | None, zone: str) -> str | None:
    """A POSIX time as ISO 8601 in the trigger's time zone."""
    return None if t is None else \
        dt.datetime.fromtimestamp(t, ZoneInfo(zone)).isoformat(timespec="seconds")


def describe(trigger: TriggerRecord) -> dict[str, Any]:
    """The trigger as interfaces show it: its fields, its state, times in its zone."""
    data = dict(vars(trigger))
    data["state"] = "paused" if trigger.paused else \
        "active" if trigger.next_fire_time is not None else "finished"
    data["next_fire_at"] = at(trigger.next_fire_time, trigger.timezone)
    data["schedule"] = f"cron '{trigger.cron}' {trigger.timezone}" if trigger.cron else \
        f"every {trigger.interval:g} s"
    if "orchestration" in data["parameters"]:      # a stored file is long: count it
        items = trigger.parameters["orchestration"]
        data["parameters"] = {**data["parameters"], "orchestration": f"<{len(items)} item(s)>"}
    return data


def set_paused(store: Store, name: str, paused: bool, now: float | None = None) -> TriggerRecord:
    """Pause (no firing), or resume from the next scheduled time after now."""
    trigger = store.triggers.get(name)
    following = trigger.next_fire_time
    if not paused and trigger.paused:
        exhausted = trigger.remaining is not None and trigger.remaining <= 0
        following = None if exhausted else \
            Schedule.of(trigger).at_or_after(time.time() if now is None else now)
    store.triggers.set_paused(name, paused, following)
    return store.triggers.get(name)


# --------------------------------------------------------------------------- firing

class TriggerRunner:
    """Claims due firings and starts what they name, in this process's threads.

    ``run_execution(id)`` runs a queued execution to its end (unless another
    process started it already); ``run_group(id)`` dispatches an execution
    group. Both are called in a pool of ``workers`` threads.
    """

    def __init__(self, store: Store, *, run_execution: Callable[[str], Any],
                 run_group: Callable[[str], Any], workers: int = 4,
                 holder: str | None = None, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.run_execution = run_execution
        self.run_group = run_group
        self.holder = holder or make_holder()
        self.clock = clock
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="occo-trigger")
        self._last_recovery = 0.0
        self._lock = threading.Lock()

    # -- one look -----------------------------------------------------------------------
    def tick(self) -> list[FiringRecord]:
        """Claim every due firing this process can get; what it claimed."""
        with self._lock:
            now = self.clock()
            claimed: list[FiringRecord] = []
            for trigger in self.store.triggers.due(now):
                claimed += self._fire_due(trigger, now)
            if now - self._last_recovery >= RECOVER_EVERY:
                self._last_recovery = now
                self._recover(now)
            return claimed

    def _fire_due(self, trigger: TriggerRecord, now: float) -> list[FiringRecord]:
        claimed = []
        schedule = Schedule.of(trigger)
        for _ in range(MAX_PER_TICK):
            due = trigger.next_fire_time
            if trigger.paused or due is None or due > now:
                break
            if now - due > trigger.grace:
                self._skip_missed(trigger, schedule, now)
            else:
                firing = self._claim(trigger, schedule.after(due))
                if firing is not None:
                    claimed.append(firing)
            try:
                trigger = self.store.triggers.get(trigger.name)
            except NotFound:
                break            # deleted meanwhile
        return claimed

    def _skip_missed(self, trigger: TriggerRecord, schedule: Schedule, now: float) -> None:
        due = trigger.next_fire_time
        assert due is not None
        resume = schedule.at_or_after(now - trigger.grace)
        if resume is not None and resume <= due:
            resume = schedule.after(due)
        if self.store.triggers.skip(trigger, resume):
            until = "its end" if resume is None else \
                dt.datetime.fromtimestamp(resume, dt.UTC).isoformat()
            message = (f"trigger {trigger.name}: firings from "
                       f"{dt.datetime.fromtimestamp(due, dt.UTC).isoformat()} until {until} "
                       f"missed (no process fired them within the {trigger.grace:g} s grace)")
            log.warning(message)
            self.store.events.add("trigger_missed", message, infra_id=trigger.infra_id,
                                  data={"trigger": trigger.name, "from": due, "until": resume})

    def _claim(self, trigger: TriggerRecord, following: float | None) -> FiringRecord | None:
        parameters = {**trigger.parameters, "fire_time": trigger.next_fire_time}
        if trigger.infra_id is not None:
            execution = {"id": str(uuid.uuid4()), "infra_id": trigger.infra_id,
                         "workflow": trigger.workflow, "parameters": parameters}
            firing = self.store.triggers.claim(trigger, following, self.holder,
                                               execution=execution, now=self.clock())
            if firing is not None:
                self._pool.submit(self._guarded, self.run_execution, execution["id"])
            return firing
        firing = self.store.triggers.claim(trigger, following, self.holder,
                                           execution_group_id=str(uuid.uuid4()),
                                           now=self.clock())
        if firing is not None:
            self._pool.submit(self._guarded, self._start_group, trigger, firing)
        return firing

    def _start_group(self, trigger: TriggerRecord, firing: FiringRecord) -> None:
        from occo.engine.groupops import DEFAULT_CONCURRENCY, start_group

        assert trigger.infra_group_id is not None and firing.execution_group_id is not None
        start_group(self.store, trigger.infra_group_id, trigger.workflow,
                    default_parameters={**trigger.parameters, "fire_time": firing.fire_time},
                    concurrency=trigger.concurrency or DEFAULT_CONCURRENCY,
                    created_by=f"trigger:{trigger.name}", group_id=firing.execution_group_id)
        self.run_group(firing.execution_group_id)

    def _recover(self, now: float) -> None:
        executions, groups = self.store.triggers.orphans(now - ORPHAN_AFTER)
        for execution_id in executions:
            self._pool.submit(self._guarded, self.run_execution, execution_id)
        for firing in groups:
            try:
                trigger = self.store.triggers.get(firing.trigger_name)
            except NotFound:
                continue
            self._pool.submit(self._guarded, self._start_group, trigger, firing)

    @staticmethod
    def _guarded(fn: Callable[..., Any], *args: Any) -> None:
        try:
            fn(*args)
        except Exception:   # a firing's failure is its execution's, not ours
            log.exception("a trigger's execution could not be run")

    def look(self) -> None:
        """:meth:`tick` for a scheduler: errors are logged; the next look tries again."""
        try:
            self.tick()
        except Exception:   # the next look tries again
            log.exception("looking for due trigger firings failed")

    def stop(self) -> None:
        """Wait for what this process claimed to run to its end (stop the looks first)."""
        self._pool.shutdown(wait=True)
