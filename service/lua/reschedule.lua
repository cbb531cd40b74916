-- Move a scheduled notification to another time; its ARQ job moves with it.
-- KEYS: 1 record, 2 pending, 3 job, 4 queue unless the record names one, 5 job in progress
-- ARGV: 1 due ms, 2 send_at text, 3 ttl s, 4 job payload, 5 job expiry ms
-- Returns {applied, status before ('' if the record is gone)}
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {0, ''} end
if status ~= 'scheduled' or redis.call('EXISTS', KEYS[5]) == 1 then return {0, status} end
local id = redis.call('HGET', KEYS[1], 'id')
redis.call('HSET', KEYS[1], 'due_ms', ARGV[1], 'send_at', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
sync_attempts_ttl(KEYS[1], id)
extend_ttl('herald:idx:to:' .. (redis.call('HGET', KEYS[1], 'to_email') or ''), ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[1], id)
-- The job carries only the id, so moving its score in ARQ's queue is all a reschedule needs.
if redis.call('EXISTS', KEYS[3]) == 0 then redis.call('SET', KEYS[3], ARGV[4]) end
redis.call('PEXPIRE', KEYS[3], ARGV[5])
redis.call('ZADD', record_queue(KEYS[1], KEYS[4]), ARGV[1], id)
return {1, status}
