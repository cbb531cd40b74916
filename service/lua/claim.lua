-- The worker takes a due notification for sending, unless the recipient may no longer get it.
-- KEYS: 1 record, 2 pending, 3 suppressed, 4 prefs
-- ARGV: 1 email, 2 category ('' skips preferences), 3 lease: pending score while sending,
--       4 ttl s once finished
-- Returns {1, status before} when claimed, {2, refusal} when refused, {0, status} otherwise
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {0, ''} end
if not is_active(status) then return {0, status} end
local id = redis.call('HGET', KEYS[1], 'id')
local created_ms = redis.call('HGET', KEYS[1], 'created_ms') or 0
local why = refusal(KEYS[3], KEYS[4], ARGV[1], ARGV[2])
if why ~= '' then
  redis.call('HSET', KEYS[1], 'status', 'suppressed', 'error', refusal_text(why, ARGV[2]))
  redis.call('ZREM', KEYS[2], id)
  redis.call('EXPIRE', KEYS[1], ARGV[4])
  sync_attempts_ttl(KEYS[1], id)
  move_status_index(id, status, 'suppressed', created_ms)
  -- Counted with the workers' delivery figures (service.metrics reads this hash).
  redis.call('HINCRBY', 'herald:stats', 'd|suppressed|' .. (redis.call('HGET', KEYS[1], 'template') or '') ..
             '|' .. (redis.call('HGET', KEYS[1], 'category') or ''), 1)
  return {2, why}
end
redis.call('HSET', KEYS[1], 'status', 'sending')
redis.call('ZADD', KEYS[2], ARGV[3], id)
move_status_index(id, status, 'sending', created_ms)
return {1, status}
