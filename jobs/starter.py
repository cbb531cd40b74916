"""ARQ's worker with a cheaper job start: one Redis round trip fills every free slot.

ARQ 0.28 starts jobs one after another in its poll loop, each with WATCH, EXISTS, ZSCORE and
MULTI/EXEC. At a few hundred jobs a second those round trips set the pace, and a loopback write
costs the worker more CPU than anything Herald does per message. Here one script makes the
same checks for as many candidates as there are free slots (the job is still queued, is due,
is not running elsewhere) and marks those in progress, as ARQ's transaction would.

A job's finish is one script call too (`_FINISH`), and the finishes of one turn of the loop
share a round trip (service.coalesce): ARQ sends a MULTI/EXEC transaction per job.

Two more changes, each measured against the 200 ms benchmark server:
- Cheap starts alone made things worse: slots that free together start together, reach the
  SMTP server together, finish together and free together again; the worker settled into
  waves, idle while the server waited and swamped when it answered. Starts now wait their
  turn (`jobs.pacer`) before they are marked, so they are spread a little faster than jobs finish.
- ARQ leaves start_jobs as soon as every slot is taken and looks again after poll_delay;
  slots that freed meanwhile sat idle (a tenth of them on average). start_jobs now waits for
  a slot to free while it still has candidates, up to FULL_WAIT_SECONDS per call.

A worker may also serve a spare queue (`ctx["spare_queue"]`: the default lane's worker serves
the bulk lane). Its jobs take only the slots its own queue leaves free, once its own due jobs
have all started, and never the last RESERVE_SHARE of them: an urgent job that arrives while
the spare queue is deep finds a slot at the next poll instead of waiting for a send to end.
"""

from __future__ import annotations

import asyncio
import logging

import arq.worker
from arq.constants import abort_jobs_ss, in_progress_key_prefix, job_key_prefix, retry_key_prefix
from arq.utils import timestamp_ms, to_ms
from redis.commands.core import AsyncScript

from jobs.pacer import Pacer
from service.coalesce import Coalescer
from service.ids import new_id

log = logging.getLogger("arq.worker")

# Walks the candidates in order and marks up to ARGV[3] of them in progress: those still queued,
# due, and not running elsewhere. The mark holds ARGV[4], unique to the call, so that a call
# redis-py retries after a dropped connection finds its own marks and counts them as started.
# Answers how many candidates it looked at, then each started id and score.
_START = """
local now, lease, wanted, mark = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3]), ARGV[4]
local started, looked = {}, 0
for i = 2, #KEYS do
  if #started >= wanted * 2 then break end
  looked = i - 1
  local id = ARGV[i + 3]
  local score = redis.call('ZSCORE', KEYS[1], id)
  local held = redis.call('GET', KEYS[i])
  if score and tonumber(score) <= now and (not held or held == mark) then
    redis.call('SET', KEYS[i], mark, 'PX', lease)
    started[#started + 1] = id
    started[#started + 1] = score
  end
end
table.insert(started, 1, looked)
return started
"""
# ARQ's finish_job without a result to keep, as one script: the same writes, with nothing run
# between them, like its MULTI/EXEC (though a write that errors stops the rest, where EXEC goes
# on; these only fail on keys of the wrong type). The queue entry goes first, so that a finished
# job leaves the queue even then.
# KEYS: in-progress, retry, job, abort set, queue.
# ARGV: 1 keep the in-progress mark this many ms ('' = delete it), 2 finished ('1') or back to
#       the queue, 3 score to add when back ('' = none), 4 job id.
_FINISH = """
if ARGV[2] == '1' then
  redis.call('ZREM', KEYS[5], ARGV[4])
  redis.call('DEL', KEYS[2], KEYS[3])
  redis.call('ZREM', KEYS[4], ARGV[4])
elseif ARGV[3] ~= '' then
  redis.call('ZINCRBY', KEYS[5], ARGV[3], ARGV[4])
end
if ARGV[1] == '' then redis.call('DEL', KEYS[1]) else redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return 1
"""
# While start_jobs runs, ARQ's poll loop (heartbeat, crons, finished tasks) does not: one call
# waits for slots or for its turn at most this long in all.
FULL_WAIT_SECONDS = 1.0
# Candidates sent per round trip: enough to fill the free slots past a few taken elsewhere.
_LOOK_AHEAD = 8
# The share of a worker's slots that its spare queue's jobs may never take.
RESERVE_SHARE = 0.25


class Worker(arq.worker.Worker):
    """`arq.worker.Worker` with a cheaper, evenly paced job start; every option is ARQ's."""

    _start_script: AsyncScript | None = None
    _finish_script: Coalescer | None = None
    _pacer: Pacer | None = None
    # Made on first use: ARQ's command line reads the options from __init__'s signature.
    _freed_event: asyncio.Event | None = None
    _spare_jobs: dict[str, str] | None = None

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        # The queue keeps running jobs until they finish: this worker's own need no asking.
        waiting = [job_id for job_id in map(bytes.decode, job_ids) if not self._running(job_id)]
        deadline = self.loop.time() + FULL_WAIT_SECONDS
        left = await self._start_from(self.queue_name, waiting, deadline=deadline)
        spare = self.ctx.get("spare_queue")
        if spare and not left and self.allow_pick_jobs:
            await self._start_spare(spare)

    async def _start_spare(self, queue: str) -> None:
        """Fills the spare room as it frees for at most one poll_delay: longer would keep the poll
        loop from seeing new jobs of the worker's own queue, which waits that long anyway."""
        deadline = self.loop.time() + self.poll_delay_s
        if self._spare_room() <= 0 and not await self._wait_freed(deadline):
            return
        # As many as ARQ reads of the worker's own queue: the first may be running in bulk workers.
        job_ids = await self.pool.zrangebyscore(queue, "-inf", timestamp_ms(), start=0, num=self.queue_read_limit)
        waiting = [job_id for job_id in map(bytes.decode, job_ids) if not self._running(job_id)]
        while waiting and self.allow_pick_jobs:
            if (room := self._spare_room()) <= 0:
                if not await self._wait_freed(deadline):
                    return
                continue
            left = await self._start_from(queue, waiting, deadline=deadline, limit=room)
            if left == len(waiting):  # the pacer's turn is past the deadline
                return
            waiting = waiting[len(waiting) - left:]

    def _spare_room(self) -> int:
        reserve = max(1, round(self.max_jobs * RESERVE_SHARE))
        return min(self.max_jobs - self.job_counter, self.max_jobs - reserve - len(self._from_spare()))

    async def _start_from(self, queue: str, waiting: list[str], *, deadline: float, limit: int | None = None) -> int:
        """Starts jobs of `queue` from `waiting` in order, at most `limit`; answers how many were
        left unlooked-at (out of slots or time)."""
        while waiting and limit != 0:
            slots = await self._take_slots(deadline, limit)
            if not slots:
                return len(waiting)
            try:
                looked, started = await self._start_some(queue, waiting, slots, deadline)
            except BaseException:  # Redis gave up, or the worker is stopping: nothing was started
                self._give_back(slots)
                raise
            waiting = waiting[looked:]
            for job_id, score in started:
                self._launch(queue, job_id, score)
            self._give_back(slots - len(started))
            limit = None if limit is None else limit - len(started)
            if not looked:  # stopping, or out of time
                return len(waiting)
        return len(waiting)

    def _launch(self, queue: str, job_id: str, score: int) -> None:
        if queue != self.queue_name:
            self._from_spare()[job_id] = queue
        task = self.loop.create_task(self._run(job_id, score))
        task.add_done_callback(lambda _: self._job_done(job_id))
        self.tasks[job_id] = task

    def _job_done(self, job_id: str) -> None:
        self._from_spare().pop(job_id, None)
        self._release_sem_dec_counter_on_complete()

    async def _start_some(self, queue: str, waiting: list[str], slots: int,
                          deadline: float) -> tuple[int, list[tuple[str, int]]]:
        """Waits for the pacer's turn, then marks up to as many jobs as it allows."""
        pacer = self._paced()
        if (pause := pacer.pause(self.loop.time())) > 0:
            if self.loop.time() + pause > deadline:
                return 0, []
            await asyncio.sleep(pause)
        if not self.allow_pick_jobs:  # SIGTERM came while this waited
            return 0, []
        allowed = pacer.allowed(self.loop.time(), slots)
        looked, started = await self._mark_started(queue, waiting[: allowed * 2 + _LOOK_AHEAD], allowed)
        pacer.started(len(started), self.loop.time())
        return looked, started

    def _give_back(self, slots: int) -> None:
        for _ in range(slots):
            self._release_sem_dec_counter_on_complete()

    async def _take_slots(self, deadline: float, limit: int | None = None) -> int:
        """Every free slot (at most `limit`), waiting until `deadline` for one; 0 if none freed."""
        if self.job_counter >= self.max_jobs and not await self._wait_freed(deadline):
            return 0
        taken = 0
        while self.job_counter < self.max_jobs and taken != limit:
            await self.sem.acquire()  # ARQ keeps one permit more than max_jobs: this never waits
            self.job_counter += 1
            taken += 1
        return taken

    async def _wait_freed(self, deadline: float) -> bool:
        """Whether a slot freed before `deadline`."""
        self._freed().clear()
        try:
            async with asyncio.timeout_at(deadline):
                await self._freed().wait()
        except TimeoutError:
            return False
        return True

    def _release_sem_dec_counter_on_complete(self) -> None:
        super()._release_sem_dec_counter_on_complete()
        self._freed().set()

    def _freed(self) -> asyncio.Event:
        if self._freed_event is None:
            self._freed_event = asyncio.Event()
        return self._freed_event

    async def _mark_started(self, queue: str, job_ids: list[str], slots: int) -> tuple[int, list[tuple[str, int]]]:
        if self._start_script is None:  # the pool exists only once the worker runs
            self._start_script = self.pool.register_script(_START)
        keys = [queue, *(in_progress_key_prefix + job_id for job_id in job_ids)]
        lease_ms = int(self.in_progress_timeout_s * 1000)
        args = [timestamp_ms(), lease_ms, slots, new_id(), *job_ids]
        looked, *flat = await self._start_script(keys=keys, args=args, client=self.pool)
        started = [(flat[n].decode(), int(float(flat[n + 1]))) for n in range(0, len(flat), 2)]
        return int(looked), started

    async def finish_job(self, job_id: str, finish: bool, result_data: bytes | None, result_timeout_s: float | None,
                         keep_result_forever: bool, incr_score: int | None, keep_in_progress: float | None) -> None:
        if finish and result_data:  # a result to keep (Herald keeps none): ARQ's own transaction
            await super().finish_job(job_id, finish, result_data, result_timeout_s, keep_result_forever, incr_score,
                                     keep_in_progress)
            return
        keep = "" if keep_in_progress is None else to_ms(keep_in_progress)
        await self._finish(job_id, keep=keep, finish=finish, incr_score=incr_score)

    async def finish_failed_job(self, job_id: str, result_data: bytes | None) -> None:
        """A job that could not run (expired, out of tries) leaves the queue it came from."""
        if result_data is not None and (self.keep_result_forever or self.keep_result_s > 0):
            await super().finish_failed_job(job_id, result_data)
            return
        await self._finish(job_id, keep="", finish=True, incr_score=None)

    async def _finish(self, job_id: str, *, keep: str | int, finish: bool, incr_score: int | None) -> None:
        if self._finish_script is None:
            self._finish_script = Coalescer(self.pool.register_script(_FINISH))
        keys = [in_progress_key_prefix + job_id, retry_key_prefix + job_id, job_key_prefix + job_id, abort_jobs_ss,
                self._from_spare().get(job_id, self.queue_name)]
        await self._finish_script(keys, [keep, "1" if finish else "0", incr_score or "", job_id])

    def _from_spare(self) -> dict[str, str]:
        """The queue of each running job taken from the spare queue."""
        if self._spare_jobs is None:
            self._spare_jobs = {}
        return self._spare_jobs

    def _paced(self) -> Pacer:
        if self._pacer is None:
            self._pacer = Pacer(self.max_jobs)
        return self._pacer

    def _running(self, job_id: str) -> bool:
        task = self.tasks.get(job_id)
        return task is not None and not task.done()

    async def _run(self, job_id: str, score: int) -> None:
        began = self.loop.time()
        try:
            await self.run_job(job_id, score)
        finally:
            self._paced().finished(self.loop.time() - began)
