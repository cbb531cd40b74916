-- Put a dead letter (a `failed` notification) back in the queue under the same id, unless its
-- recipient may no longer get it.
-- KEYS: 1 record, 2 pending, 3 job, 4 job result, 5 queue unless the record names one, 6 suppressed
-- ARGV: 1 now ms, 2 job payload, 3 job expiry ms, 4 ttl s, 5 always-sent categories (',a,b,')
-- Returns {1, status before} when requeued, {2, refusal} when refused, {0, status} otherwise
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {0, ''} end
if status ~= 'failed' then return {0, status} end
local id = redis.call('HGET', KEYS[1], 'id')
local email = redis.call('HGET', KEYS[1], 'to_email') or ''
local why = refusal(KEYS[6], 'herald:prefs:' .. email, email, checked_category(KEYS[1], ARGV[5]),
                  redis.call('HGET', KEYS[1], 'channel') or '')
if why ~= '' then return {2, why} end
local tries = redis.call('HGET', KEYS[1], 'attempt_count') or '0'
-- round_start: the attempts before this round do not count against MAX_TRIES again.
redis.call('HSET', KEYS[1], 'status', 'queued', 'error', '', 'due_ms', ARGV[1], 'round_start', tries)
redis.call('EXPIRE', KEYS[1], ARGV[4])
sync_attempts_ttl(KEYS[1], id)
move_status_index(id, status, 'queued', redis.call('HGET', KEYS[1], 'created_ms') or 0)
redis.call('ZADD', KEYS[2], ARGV[1], id)
-- ARQ refuses a _job_id while its result key exists: the old run's result must go.
redis.call('DEL', KEYS[4])
enqueue(KEYS[3], KEYS[4], record_queue(KEYS[1], KEYS[5]), id, ARGV[2], ARGV[3], ARGV[1])
return {1, status}
