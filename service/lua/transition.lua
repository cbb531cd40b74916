-- Change a notification only if its status is one of those allowed.
-- KEYS: 1 record, 2 pending, 3 attempts, 4 delivery stats
-- ARGV: 1 allowed statuses (',a,b,' or '*'), 2 pending score ('' keep, '-' remove, else set),
--       3 ttl s ('' keep), 4 attempt JSON ('' none), 5 JSON object of delivery stats to add ('' none),
--       6.. fields and values
-- Returns {applied, status before ('' if the record is gone)}
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {0, ''} end
if ARGV[1] ~= '*' and not string.find(ARGV[1], ',' .. status .. ',', 1, true) then
  return {0, status}
end
local id = redis.call('HGET', KEYS[1], 'id')
if #ARGV > 5 then redis.call('HSET', KEYS[1], unpack(ARGV, 6)) end
local new = redis.call('HGET', KEYS[1], 'status')
move_status_index(id, status, new, redis.call('HGET', KEYS[1], 'created_ms') or 0)
announce_status(status, new, id)
if ARGV[2] == '-' then redis.call('ZREM', KEYS[2], id)
elseif ARGV[2] ~= '' then redis.call('ZADD', KEYS[2], ARGV[2], id) end
if ARGV[3] ~= '' then redis.call('EXPIRE', KEYS[1], ARGV[3]) end
if ARGV[4] ~= '' then
  redis.call('RPUSH', KEYS[3], ARGV[4])
  redis.call('HINCRBY', KEYS[1], 'attempt_count', 1)
end
if ARGV[5] ~= '' then
  for field, n in pairs(cjson.decode(ARGV[5])) do
    -- Sums are floats even when a value happens to be whole (cjson makes 1.0 a 1).
    if string.sub(field, -4) == '|sum' then redis.call('HINCRBYFLOAT', KEYS[4], field, tostring(n))
    else redis.call('HINCRBY', KEYS[4], field, n) end
  end
  -- The dashboard's timeline counts what became of the notification (sent, retrying, failed),
  -- not the attempt's outcome: a timeout that will be retried is not a failure.
  count_minute(math.floor(tonumber(redis.call('TIME')[1]) / 60), new, 1)
end
sync_attempts_ttl(KEYS[1], id)
return {1, status}
