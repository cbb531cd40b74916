-- Put a dead letter (a `failed` notification) back in the queue under the same id.
-- KEYS: 1 record, 2 pending, 3 job, 4 job result, 5 queue
-- ARGV: 1 now ms, 2 job payload, 3 job expiry ms, 4 ttl s
-- Returns {applied, status before ('' if the record is gone)}
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {0, ''} end
if status ~= 'failed' then return {0, status} end
local id = redis.call('HGET', KEYS[1], 'id')
local tries = redis.call('HGET', KEYS[1], 'attempt_count') or '0'
-- round_start: the attempts before this round do not count against MAX_TRIES again.
redis.call('HSET', KEYS[1], 'status', 'queued', 'error', '', 'due_ms', ARGV[1], 'round_start', tries)
redis.call('EXPIRE', KEYS[1], ARGV[4])
move_status_index(id, status, 'queued', redis.call('HGET', KEYS[1], 'created_ms') or 0)
redis.call('ZADD', KEYS[2], ARGV[1], id)
-- ARQ refuses a _job_id while its result key exists: the old run's result must go.
redis.call('DEL', KEYS[4])
if redis.call('EXISTS', KEYS[3]) == 0 then
  redis.call('SET', KEYS[3], ARGV[2], 'PX', ARGV[3])
  redis.call('ZADD', KEYS[5], ARGV[1], id)
end
return {1, status}
