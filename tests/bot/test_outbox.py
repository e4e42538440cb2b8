"""The outbox engine on its own: a real Redis and a plain perform function, nothing of Slack.

Its lanes here belong to an outbox named "sms", as the SMS outbox's will.
"""

from __future__ import annotations

import threading
import time

import pytest
import redis

from bot.lanes import Deferred, Job, Parked, Stuck, Transient, conversation_lane, queue_lane
from bot.metrics import Counters
from bot.outbox import Outbox
from bot.outbox_health import Health
from bot.store import Keys
from tests.bot.domain import recording
from tests.dialog import TestClock, eventually


@pytest.fixture
def keys(redis_prefix: str) -> Keys:
    return Keys(redis_prefix)


class Performer:
    """Do jobs by writing them down; fail each job as its fields say, once (or always)."""

    def __init__(self) -> None:
        self.done: list[tuple[str, str, bool]] = []
        self.ids: dict[str, str] = {}

    def perform(self, job: Job) -> bool:
        self.done.append((job.lane, job.fields["n"], job.again))
        self.ids[job.fields["n"]] = job.id
        fail = job.fields.get("fail")
        if fail == "transient" and not job.again:
            raise Transient("not this time")
        if fail == "stuck" and not job.again:
            raise Stuck("not in channel")
        if fail == "stuck always":
            raise Stuck("not in channel")
        if fail == "rate limited" and self.attempts(job.fields["n"]) == 1:
            raise Transient("rate limited", retry_after=0.01)
        if fail == "defer" and job.followed:
            raise Deferred("would wait")
        if fail == "park" and self.attempts(job.fields["n"]) == 1:
            raise Parked("not its turn")
        return job.kind != "refresh"

    def attempts(self, n: str) -> int:
        return sum(1 for _lane, done, _again in self.done if done == n)


def dead_letters(redis_server: redis.Redis, keys: Keys) -> list[dict[str, str]]:
    return [fields for _id, fields in redis_server.xrange(keys.outboxes("sms").dead)]


def outbox(
    redis_server: redis.Redis,
    keys: Keys,
    performer: Performer,
    dead_letter_after: float = 300.0,
    clock: TestClock | None = None,
) -> Outbox:
    return Outbox(
        "sms",
        redis_server,
        keys,
        performer.perform,
        Counters(redis_server, keys),
        must_deliver=frozenset({"text"}),
        coalesced=frozenset({"refresh"}),
        done_counter="texts_out",
        retry_counter="delivery_retries",
        max_backoff=0.01,
        stuck_backoff=0.01,
        dead_letter_after=dead_letter_after,
        clock=clock,
    )


def test_each_lane_is_done_in_order_and_a_retry_is_told_its_job_was_in_flight(
    redis_server: redis.Redis, keys: Keys
) -> None:
    performer = Performer()
    sms = outbox(redis_server, keys, performer)
    sales, twelve = queue_lane("sales"), conversation_lane(12)
    sms.queue.put(
        sales, {"kind": "text", "n": "1"}, {"kind": "text", "n": "2", "fail": "transient"}
    )
    sms.queue.put(twelve, {"kind": "text", "n": "3"})
    sms.run_until_idle()
    assert performer.done == [
        (sales, "1", False),
        (sales, "2", False),
        (sales, "2", True),
        (twelve, "3", False),
    ]
    counted = Counters(redis_server, keys).read()
    assert (counted["texts_out"], counted["delivery_retries"]) == (3, 1)
    assert sms.backlog() == 0
    names = keys.outboxes("sms")
    assert redis_server.xlen(names.outbox(sales)) == 0, "done jobs keep nothing"
    assert not redis_server.exists(names.outbox(sales), names.state(sales)), "an idle lane no keys"
    assert redis_server.hget(names.state(sales), "inflight") is None
    assert not redis_server.exists(keys.work), "the Slack outbox's work is its own"


def test_a_drain_acknowledges_the_work_entry_that_woke_it_unless_another_worker_has_the_lane(
    redis_server: redis.Redis, keys: Keys
) -> None:
    performer = Performer()
    sms = outbox(redis_server, keys, performer)
    sms.ensure_group()
    lane = conversation_lane(7)
    sms.queue.put(lane, {"kind": "text", "n": "1"})
    sms.queue.put(lane, {"kind": "text", "n": "2"})  # two entries: the second finds nothing left
    work = keys.outboxes("sms").work
    entries = redis_server.xreadgroup(keys.outboxes("sms").group, "w", {work: ">"}, count=2)
    [(first, _f), (second, _g)] = entries[0][1]
    assert sms.drain(lane, first) is True
    assert [n for _lane, n, _again in performer.done] == ["1", "2"]
    assert redis_server.xrange(work) == [(second, {"lane": lane})]  # the first one is gone
    assert sms.drain(lane, second) is True  # taken, nothing to do, let go and acknowledged
    assert redis_server.xlen(work) == 0
    assert redis_server.xpending(work, keys.outboxes("sms").group)["pending"] == 0
    # Without an entry (a lane a room handed over) there is nothing to acknowledge.
    sms.queue.put(lane, {"kind": "text", "n": "3"})
    assert sms.drain(lane) is True
    # A lane another worker holds: its entry stays pending, for whoever reclaims it.
    names = keys.outboxes("sms")
    redis_server.set(names.lock(lane), "another worker", px=60_000)
    sms.queue.put(lane, {"kind": "text", "n": "4"})
    [[_stream, [(third, _h)]]] = redis_server.xreadgroup(names.group, "w", {work: ">"}, count=1)
    assert sms.drain(lane, third) is False
    assert redis_server.xpending(work, names.group)["pending"] == 1
    assert [n for _lane, n, _again in performer.done] == ["1", "2", "3"]


def test_a_jobs_own_writes_go_in_the_round_trip_that_marks_it_done_and_only_if_it_was_done(
    redis_server: redis.Redis, keys: Keys
) -> None:
    """A new card's record goes with its step: a drained job costs the take and that step."""
    done = keys.outboxes("sms").outbox("done-by-hand")

    class Writing(Performer):
        def perform(self, job: Job) -> bool:
            job.with_step.append(lambda pipe: pipe.sadd(done, job.fields["n"]))
            return super().perform(job)

    trips: list[list[str]] = []
    client = recording(redis_server, [], trips)
    performer = Writing()
    sms = outbox(client, keys, performer)
    lane = conversation_lane(7)
    sms.queue.put(lane, {"kind": "text", "n": "1", "fail": "transient"})
    trips.clear()
    assert sms.drain(lane) is True
    assert [n for _lane, n, _again in performer.done] == ["1", "1"]
    assert redis_server.smembers(done) == {"1"}
    # The take, the failed attempt's retry count and mark, then one step: its counter,
    # the job's write, the script that moves the cursor and lets go of the lane.
    assert trips[0] == ["EVALSHA"]
    assert trips[-1] == ["HINCRBY", "SADD", "EVALSHA"]
    assert sum(1 for trip in trips if "SADD" in trip) == 1


def test_a_lane_whose_wake_up_was_lost_is_woken_once_its_job_has_waited_with_no_worker_on_it(
    redis_server: redis.Redis, keys: Keys
) -> None:
    performer = Performer()
    sms = outbox(redis_server, keys, performer)
    names = keys.outboxes("sms")
    stranded, held = conversation_lane(7), queue_lane("sales")
    # Jobs without their wake-ups, as a process killed between the two steps leaves them.
    redis_server.xadd(names.outbox(stranded), {"kind": "text", "n": "1"})
    redis_server.xadd(names.outbox(held), {"kind": "text", "n": "2"})
    redis_server.set(names.lock(held), "another worker", px=60_000)
    redis_server.xadd(keys.outbox(7), {"kind": "text"})  # the Slack outbox's: not this one's
    behind = conversation_lane(8)
    sms.queue.put(behind, {"kind": "text", "n": "3"})  # its work entry waits its turn

    assert sms.queue.wake_stranded(after=3600) == 0, "not waited long enough"
    assert sms.queue.wake_stranded(after=0) == 1, (
        "a lane a worker holds, or with work queued, is left"
    )
    assert redis_server.xlen(names.work) == 2
    sms.run_until_idle()
    assert sorted(performer.done) == [(stranded, "1", False), (behind, "3", False)]
    assert sms.queue.wake_stranded(after=0) == 0, "a drained lane keeps no jobs"


def test_stuck_jobs_are_dead_lettered_at_once_unless_they_must_be_delivered_and_refreshes_coalesce(
    redis_server: redis.Redis, keys: Keys
) -> None:
    performer = Performer()
    sms = outbox(redis_server, keys, performer)
    lane = queue_lane("sales")
    sms.queue.put(
        lane,
        {"kind": "notice", "n": "1", "fail": "stuck"},
        {"kind": "text", "n": "2", "fail": "stuck"},
        {"kind": "refresh", "n": "3"},
        {"kind": "refresh", "n": "4"},
    )
    sms.run_until_idle()
    assert performer.done == [
        (lane, "1", False),  # dead-lettered: a person must fix it, and nothing waits for it
        (lane, "2", False),
        (lane, "2", True),  # held up until done (a person fixed it in time)
        (lane, "4", False),  # the later refresh does for both
    ]
    assert [letter["kind"] for letter in dead_letters(redis_server, keys)] == ["notice"]


def test_a_job_refused_until_its_time_is_up_is_dead_lettered_and_the_next_goes_out(
    redis_server: redis.Redis, keys: Keys
) -> None:
    performer = Performer()
    sms = outbox(redis_server, keys, performer, dead_letter_after=0.1)
    lane = conversation_lane(12)
    sms.queue.put(
        lane,
        {"kind": "text", "n": "1", "body": "call me back", "fail": "stuck always"},
        {"kind": "text", "n": "2", "body": "thanks"},
    )
    sms.run_until_idle()
    assert performer.attempts("1") > 2, "retried while a person could still fix it"
    assert performer.done[-1] == (lane, "2", False), "the job behind it went out"
    [letter] = dead_letters(redis_server, keys)
    at = letter.pop("at")
    assert float(at) > 0
    # What finds the job, never what it carried: forget could not erase a copy here.
    assert letter == {
        "lane": lane,
        "job": performer.ids["1"],
        "kind": "text",
        "reason": "not in channel",
    }
    counted = Counters(redis_server, keys)
    assert counted.read_per_outbox(["sms", "slack"]) == {"dead_letters": {"sms": 1, "slack": 0}}
    assert counted.read()["texts_out"] == 1
    assert sms.backlog() == 0
    names = keys.outboxes("sms")
    assert redis_server.xlen(names.outbox(lane)) == 0, "done and dead jobs keep nothing"
    assert redis_server.hget(names.state(lane), "inflight") is None


def test_once_a_lane_waited_in_vain_a_job_refused_alike_is_dead_lettered_at_once(
    redis_server: redis.Redis, keys: Keys
) -> None:
    performer = Performer()
    sms = outbox(redis_server, keys, performer, dead_letter_after=0.1)
    lane = queue_lane("sales")
    sms.queue.put(
        lane,
        {"kind": "notice", "n": "1", "fail": "stuck always"},
        {"kind": "text", "n": "2", "fail": "stuck always"},
        {"kind": "text", "n": "3", "fail": "stuck always"},
        {"kind": "text", "n": "4"},
    )
    sms.run_until_idle()
    # The notice given up on at once is no wait for a person: the first text still waits.
    assert [performer.attempts(n) for n in "134"] == [1, 1, 1]
    assert performer.attempts("2") > 2
    assert [letter["job"] for letter in dead_letters(redis_server, keys)] == [
        performer.ids[n] for n in "123"
    ]


def test_health_tells_the_backlog_how_long_its_oldest_work_waited_and_the_dead_letters(
    redis_server: redis.Redis, keys: Keys
) -> None:
    clock = TestClock()
    sms = outbox(redis_server, keys, Performer(), clock=clock)
    names = keys.outboxes("sms")
    assert sms.health() == Health(backlog=0, oldest_pending=0.0, dead_letters=0)
    sms.queue.put(queue_lane("sales"), {"kind": "notice", "n": "1", "fail": "stuck always"})
    # A work entry's id is Redis's wall clock in milliseconds: the test clock starts there.
    [(entry_id, _)] = redis_server.xrange(names.work)
    clock.current = int(entry_id.split("-")[0]) / 1000
    clock.advance(60)
    assert 59 < sms.health().oldest_pending < 62, "queued, no worker has read it"
    sms.ensure_group()
    # A worker reads it and dies: pending, as old as before.
    redis_server.xreadgroup(names.group, "gone", {names.work: ">"}, count=1)
    clock.advance(60)
    sms.queue.put(conversation_lane(12), {"kind": "text", "n": "2"})
    health = sms.health()
    assert health.backlog == 2
    assert 119 < health.oldest_pending < 122
    sms.run_until_idle()
    assert sms.health() == Health(backlog=0, oldest_pending=0.0, dead_letters=1)


def test_a_job_put_once_is_queued_once_and_a_lost_wake_up_is_made_good(
    redis_server: redis.Redis, keys: Keys
) -> None:
    performer = Performer()
    sms = outbox(redis_server, keys, performer)
    lane = queue_lane("digest")
    job = {"kind": "notice", "n": "1"}
    assert [sms.queue.put_once(lane, "2026-11-09", job, keep=60) for _ in range(3)] == [
        True,
        False,
        False,
    ]
    sms.run_until_idle()
    assert performer.done == [(lane, "1", False)]
    assert not sms.queue.put_once(lane, "2026-11-09", job, keep=60), "done, and still claimed"
    assert 0 < redis_server.ttl(keys.outboxes("sms").once(lane, "2026-11-09")) <= 60

    # The job is in the lane but its wake-up was lost (a process died between the two steps).
    redis_server.xadd(keys.outboxes("sms").outbox(lane), {"kind": "notice", "n": "2"})
    sms.run_until_idle()
    assert performer.attempts("2") == 0
    assert not sms.queue.wake_if_idle(lane, after=3600), "not waiting long enough yet"
    assert sms.queue.wake_if_idle(lane, after=0)
    sms.run_until_idle()
    assert performer.attempts("2") == 1
    assert not sms.queue.wake_if_idle(lane, after=0), "nothing waits"


def test_a_rate_limited_job_is_tried_again_as_new_for_a_refusal_did_nothing(
    redis_server: redis.Redis, keys: Keys
) -> None:
    performer = Performer()
    sms = outbox(redis_server, keys, performer)
    lane = conversation_lane(3)
    sms.queue.put(lane, {"kind": "text", "n": "1", "fail": "rate limited"})
    sms.run_until_idle()
    assert performer.done == [(lane, "1", False), (lane, "1", False)]


def test_a_worker_keeps_its_lane_while_a_rate_limit_pauses_it_longer_than_the_lock_lasts(
    redis_server: redis.Redis, keys: Keys
) -> None:
    class Limited(Performer):
        def perform(self, job: Job) -> bool:
            if not self.done:
                self.done.append((job.lane, job.fields["n"], job.again))
                raise Transient("rate limited", retry_after=2.0)
            return super().perform(job)

    performer = Limited()
    sms = Outbox(
        "sms", redis_server, keys, performer.perform, Counters(redis_server, keys), lock_ttl=0.5
    )
    lane = conversation_lane(3)
    sms.queue.put(lane, {"kind": "text", "n": "1"})
    worker = threading.Thread(target=sms.drain, args=(lane,))
    worker.start()
    eventually(lambda: performer.done, message="never tried")
    # All through the pause (2 s, four times the lock's life) the lane is this worker's:
    # the lock is let go only after the job is tried again.
    lock, deadline = keys.outboxes("sms").lock(lane), time.monotonic() + 10
    while worker.is_alive():
        held = redis_server.get(lock)
        assert held or len(performer.done) == 2, "the lane was let go during the pause"
        assert time.monotonic() < deadline, "never tried again"
        worker.join(timeout=0.05)
    assert performer.done == [(lane, "1", False), (lane, "1", False)]


def test_a_deferred_job_goes_after_the_jobs_behind_it(
    redis_server: redis.Redis, keys: Keys
) -> None:
    performer = Performer()
    sms = outbox(redis_server, keys, performer)
    lane = conversation_lane(4)
    sms.queue.put(
        lane,
        {"kind": "refresh", "n": "1", "fail": "defer"},
        {"kind": "text", "n": "2"},
        {"kind": "text", "n": "3"},
    )
    sms.run_until_idle()
    assert performer.done == [
        (lane, "1", False),
        (lane, "2", False),
        (lane, "3", False),
        (lane, "1", False),  # last in the lane now: it waits instead of deferring again
    ]
    assert redis_server.xlen(keys.outboxes("sms").outbox(lane)) == 0


def test_a_parked_lane_is_left_for_whoever_parked_it_to_hand_back(
    redis_server: redis.Redis, keys: Keys
) -> None:
    performer = Performer()
    handed_back: list[str] = []
    parked = conversation_lane(5)

    def next_lanes() -> list[str]:
        lanes = [parked] if performer.attempts("1") == 1 and not handed_back else []
        handed_back.extend(lanes)
        return lanes

    sms = outbox(redis_server, keys, performer)
    sms.next_lanes = next_lanes
    sms.queue.put(parked, {"kind": "text", "n": "1", "fail": "park"}, {"kind": "text", "n": "2"})
    sms.run_until_idle()
    assert performer.done == [(parked, "1", False), (parked, "1", False), (parked, "2", False)]
    assert handed_back == [parked]
    assert sms.backlog() == 0


def test_stopping_wakes_the_workers_waiting_for_work_and_the_wake_up_is_only_acknowledged(
    redis_server: redis.Redis, keys: Keys
) -> None:
    performer = Performer()
    sms = outbox(redis_server, keys, performer)
    sms.start(2)
    sms.queue.put(conversation_lane(6), {"kind": "text", "n": "1"})
    deadline = time.monotonic() + 10
    while sms.backlog() and time.monotonic() < deadline:
        time.sleep(0.01)
    sms.stop(timeout=10)
    assert performer.done == [(conversation_lane(6), "1", False)]
    assert sms.threads == []
    # A wake-up no stopping worker read (it was busy) is for whoever reads it next.
    redis_server.xadd(keys.outboxes("sms").work, {"wake": "gone"})
    sms.run_until_idle()
    assert sms.backlog() == 0
    assert performer.done == [(conversation_lane(6), "1", False)]
