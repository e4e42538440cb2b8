"""Putting jobs on an outbox's lanes, and waking its workers for them (bot.outbox drains them).

A job goes on its lane's outbox stream, then an entry naming the lane goes on the
outbox's work stream, which its workers read. The work stream is in a slot of its
own, so the two are steps apart: a process that dies between them leaves a job
nothing wakes a worker for, which the wake-ups here find and mend.
"""

from __future__ import annotations

import redis

from bot.lanes import IDLE_SCRIPT, ONCE_SCRIPT, lane_named
from bot.store import OutboxKeys


class OutboxQueue:
    """Put jobs on an outbox's lanes and wake its workers for them."""

    def __init__(self, redis_client: redis.Redis, keys: OutboxKeys) -> None:
        self.redis = redis_client
        self.keys = keys
        self._once = redis_client.register_script(ONCE_SCRIPT)
        self._idle = redis_client.register_script(IDLE_SCRIPT)

    def put(self, lane: str, *jobs: dict[str, str]) -> None:
        """Append jobs to lane's outbox and wake a worker for it."""
        with self.redis.pipeline(transaction=True) as pipe:
            for job in jobs:
                pipe.xadd(self.keys.outbox(lane), job)
            pipe.execute()
        # The work stream is in another slot: a step of its own, after the jobs.
        self.redis.xadd(self.keys.work, {"lane": lane})

    def put_once(self, lane: str, name: str, job: dict[str, str], keep: int) -> bool:
        """Append job to lane's outbox unless a job called name was, within keep seconds.

        Claiming the name and appending the job are one step, so however many
        processes try at once, exactly one queues it; tell whether this one did.
        """
        fields = [part for item in job.items() for part in item]
        queued = self._once(
            keys=[self.keys.once(lane, name), self.keys.outbox(lane)], args=[keep, *fields]
        )
        if queued:
            self.redis.xadd(self.keys.work, {"lane": lane})
        return bool(queued)

    def wake_if_idle(self, lane: str, after: float) -> bool:
        """Wake a worker for lane if a job has waited after seconds with no worker on it.

        The work entry is added in a step of its own after the job: a process
        that died between the two left the job with nothing to wake a worker.
        """
        if not self._waited(lane, after):
            return False
        self.redis.xadd(self.keys.work, {"lane": lane})
        return True

    def wake_stranded(self, after: float) -> int:
        """Wake a worker for each lane whose first job has waited after seconds with nothing to wake one.

        A lane's wake-up is its own step after its job, except in a single
        Redis's commit: a process killed between the two (a commit on a cluster,
        a notice, a lane a worker took from a pacing room and then died with)
        leaves the job with no work entry and no worker. A lane that waits its
        turn behind a backlog has its entry in the work stream, and is left to it.
        The clock runs this now and then; returns how many lanes it woke.
        """
        waiting = [
            lane
            for key in self.redis.scan_iter(
                match=self.keys.outbox_pattern, count=1000, _type="stream"
            )
            if self._waited(lane := self.keys.lane_of(key), after)
        ]
        if not waiting:
            return 0
        named = self._lanes_named_by_work()
        stranded = [lane for lane in waiting if lane not in named]
        with self.redis.pipeline(transaction=False) as pipe:
            for lane in stranded:
                pipe.xadd(self.keys.work, {"lane": lane})
            pipe.execute()
        return len(stranded)

    def _waited(self, lane: str, after: float) -> bool:
        """Tell whether lane's first job not done has waited after seconds with no worker on it."""
        job_id = self._idle(
            keys=[self.keys.lock(lane), self.keys.state(lane), self.keys.outbox(lane)]
        )
        if not job_id:
            return False
        seconds, micros = self.redis.time()
        return seconds + micros / 1e6 - int(job_id.split("-")[0]) / 1000 >= after

    def _lanes_named_by_work(self) -> set[str]:
        """Return the lanes the work stream's entries name (entries done are deleted)."""
        lanes: set[str] = set()
        start = "-"
        while entries := self.redis.xrange(self.keys.work, min=start, count=10_000):
            lanes.update(lane for _id, fields in entries if (lane := lane_named(fields)))
            start = f"({entries[-1][0]}"
        return lanes
