-- Write a new notification, index it, and queue its ARQ job (or fold it into a digest), in one
-- round trip.
-- KEYS: 1 record, 2 pending, 3 suppressed, 4 prefs, 5 job, 6 job result, 7 queue, 8 audit,
--       9 index of all, 10 index by recipient, 11 index by template,
--       12 digest buffer ('' unless folded into a digest), 13 recipients with a pending digest,
--       14 the Message-ID's index entry ('' for none),
--       15 for another channel's delivery, its notification's first record ('' for that one)
-- ARGV: 1 ttl s, 2 due ms ('' for no pending entry), 3 email ('' skips the suppression check),
--       4 category ('' skips preferences), 5 job payload ('' for no job), 6 job score ms,
--       7 job expiry ms, 8 audit entry ('' for none), 9 oldest audit id kept, 10 created ms,
--       11 digest buffer ttl s, 12 record: a JSON array of field, value, ... (strings), starting with id,
--       13 the Message-ID index entry's ttl s, 14 channel ('' for email)
-- Returns {created, existing fingerprint, refusal ('' / suppressed / opted_out)}
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {0, redis.call('HGET', KEYS[1], 'fingerprint') or '', ''}
end
-- The other channels' deliveries are written before the first: once it exists, a repeat (or a
-- conflicting request) must not add any.
if KEYS[15] ~= '' and redis.call('EXISTS', KEYS[15]) == 1 then
  return {0, redis.call('HGET', KEYS[15], 'fingerprint') or '', ''}
end
local archived = archived_fingerprint(KEYS[1]) or (KEYS[15] ~= '' and archived_fingerprint(KEYS[15]))
if archived then return {0, archived, ''} end
-- One JSON argument rather than fifty: packing each argument costs the web process more than
-- decoding them costs Redis.
local fields = cjson.decode(ARGV[12])
local id = fields[2]
-- First the one write that can fail on its arguments: an error must leave nothing half done.
if ARGV[8] ~= '' then
  redis.call('XADD', KEYS[8], 'MINID', '~', ARGV[9], '*', 'entry', ARGV[8])
end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('EXPIRE', KEYS[1], ARGV[1])
local status = redis.call('HGET', KEYS[1], 'status')
local why = refusal(KEYS[3], KEYS[4], ARGV[3], ARGV[4], ARGV[14])
if why ~= '' then
  status = 'suppressed'
  redis.call('HSET', KEYS[1], 'status', status, 'error', refusal_text(why, ARGV[4]))
  announce('notification.suppressed', id)
elseif KEYS[12] ~= '' then
  redis.call('RPUSH', KEYS[12], id)
  redis.call('EXPIRE', KEYS[12], ARGV[11])
  redis.call('SADD', KEYS[13], ARGV[3])
else
  if ARGV[2] ~= '' then redis.call('ZADD', KEYS[2], ARGV[2], id) end
  if ARGV[5] ~= '' then enqueue(KEYS[5], KEYS[6], KEYS[7], id, ARGV[5], ARGV[7], ARGV[6]) end
end
-- A bounce or a provider's event names the Message-ID (or the VERP token made from it), not the id.
if KEYS[14] ~= '' then redis.call('SET', KEYS[14], id, 'EX', ARGV[13]) end
local created_ms = ARGV[10]
redis.call('ZADD', KEYS[9], created_ms, id)
if KEYS[10] ~= '' then
  redis.call('ZADD', KEYS[10], created_ms, id)
  extend_ttl(KEYS[10], ARGV[1])
end
redis.call('ZADD', KEYS[11], created_ms, id)
move_status_index(id, false, status, created_ms)
count_minute(math.floor(tonumber(created_ms) / 60000), 'accepted', 1)
return {1, '', why}
