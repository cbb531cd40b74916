-- Put a notification moved to PostgreSQL back in Redis, as it was, so that what changes records
-- (a retry, a late bounce) works on it as on any other; the mover takes it again afterwards.
-- KEYS: 1 record, 2 attempts, 3 events, 4 index by recipient, 5 index by template
-- ARGV: 1 record: a JSON array of field, value, ...; 2 attempts, 3 events: JSON arrays of JSON
--       strings; 4 created ms; 5 ttl ms unless what stays of it (herald:x:{id}) has one
-- Returns 1 when restored, 0 when Redis has it already
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(cjson.decode(ARGV[1])))
local id = redis.call('HGET', KEYS[1], 'id')
local ttl = redis.call('PTTL', 'herald:x:' .. id)
if ttl <= 0 then ttl = tonumber(ARGV[5]) end
redis.call('PEXPIRE', KEYS[1], ttl)
for i, list in ipairs({ARGV[2], ARGV[3]}) do
  for _, item in ipairs(cjson.decode(list)) do redis.call('RPUSH', KEYS[i + 1], item) end
end
sync_attempts_ttl(KEYS[1], id)
local status = redis.call('HGET', KEYS[1], 'status')
for _, index in ipairs({'herald:idx:all', 'herald:idx:status:' .. status, KEYS[4], KEYS[5]}) do
  if index ~= '' then redis.call('ZADD', index, ARGV[4], id) end
end
if FINISHED[status] or status == 'digested' then index_finished(id) end  -- to be moved again
return 1
