-- Drop a record from Redis now that PostgreSQL has it, unless it changed after it was read
-- (a late bounce, a retry): then it stays, and the mover takes it again.
-- KEYS: 1 record, 2 attempts, 3 events, 4 what stays of it (herald:x:{id}, '' for nothing),
--       5 index by recipient, 6 index by template
-- ARGV: 1 status, 2 attempts, 3 events, 4 fields, as read; 5 how long what stays lives without a
--       ttl on the record (ms)
-- Returns 1 when dropped, 0 when it changed
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= ARGV[1] or redis.call('HLEN', KEYS[1]) ~= tonumber(ARGV[4])
   or redis.call('LLEN', KEYS[2]) ~= tonumber(ARGV[2]) or redis.call('LLEN', KEYS[3]) ~= tonumber(ARGV[3]) then
  return 0
end
local id = redis.call('HGET', KEYS[1], 'id')
local ttl = redis.call('PTTL', KEYS[1])
if ttl <= 0 then ttl = tonumber(ARGV[5]) end
if KEYS[4] ~= '' then
  redis.call('SET', KEYS[4], redis.call('HGET', KEYS[1], 'fingerprint') or '', 'PX', ttl)
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
for _, index in ipairs({'herald:idx:all', 'herald:idx:status:' .. status, 'herald:idx:finished', KEYS[5], KEYS[6]}) do
  if index ~= '' then redis.call('ZREM', index, id) end
end
return 1
