-- Record one delivery report: its event on the notification, what it does to the notification's
-- status and to the recipient's suppression, once however often the same report arrives.
-- KEYS: 1 record ('' when no notification was found), 2 its events list, 3 the report's
--       dedup key, 4 suppressed, 5 suppressed order, 6 delivery stats, 7 the address's soft
--       bounces ('' without an address), 8 reports that matched no notification
-- ARGV: 1 type, 2 source, 3 event JSON, 4 address ('' when the report names none),
--       5 suppression JSON for a bounce or complaint ('' for none), 6 dedup ttl s, 7 now ms,
--       8 soft bounces that suppress, 9 over at least this many ms, 10 suppression JSON when they do,
--       11 the report, for the list of unmatched ones, 12 error text for the new status
-- Returns {outcome ('recorded' / 'unmatched' / 'duplicate'), status before, status after}

-- A suppression for everything is not narrowed by a later complaint's (optional mail only).
local function suppress(email, entry)
  local current = redis.call('HGET', KEYS[4], email)
  if current and not string.find(current, '"scope":"optional"', 1, true)
     and string.find(entry, '"scope":"optional"', 1, true) then return end
  redis.call('HSET', KEYS[4], email, entry)
  redis.call('ZADD', KEYS[5], 0, email)
end

-- Whether repeated soft bounces now amount to a dead address.
local function soft_limit_reached(now_ms)
  local count = redis.call('HINCRBY', KEYS[7], 'count', 1)
  redis.call('HSETNX', KEYS[7], 'first_ms', now_ms)
  redis.call('PEXPIRE', KEYS[7], tonumber(ARGV[9]) * 2 + 7 * 86400000)
  local first = tonumber(redis.call('HGET', KEYS[7], 'first_ms'))
  return count >= tonumber(ARGV[8]) and now_ms - first >= tonumber(ARGV[9])
end

local STATUS_FOR = {bounced = 'bounced', complained = 'complained'}
-- What a later report may overturn: the SMTP server's 250 (or a failure) was not the end.
local OVERTURNS = {sent = true, failed = true, retrying = true, queued = true}

local function change_status(kind)
  local target = STATUS_FOR[kind]
  local before = redis.call('HGET', KEYS[1], 'status')
  if not target or not OVERTURNS[before] then return before, before end
  local id = redis.call('HGET', KEYS[1], 'id')
  redis.call('HSET', KEYS[1], 'status', target, 'error', ARGV[12])
  redis.call('ZREM', 'herald:pending', id)
  move_status_index(id, before, target, redis.call('HGET', KEYS[1], 'created_ms') or 0)
  announce_status(before, target, id)
  return before, target
end

if not redis.call('SET', KEYS[3], '1', 'NX', 'EX', ARGV[6]) then return {'duplicate', '', ''} end
local kind, email, now_ms = ARGV[1], ARGV[4], tonumber(ARGV[7])
redis.call('HINCRBY', KEYS[6], 'ev|' .. kind .. '|' .. ARGV[2], 1)
count_minute(math.floor(now_ms / 60000), 'ev_' .. kind, 1)
local outcome, before, after = 'unmatched', '', ''
if KEYS[1] ~= '' and redis.call('EXISTS', KEYS[1]) == 1 then
  outcome = 'recorded'
  redis.call('RPUSH', KEYS[2], ARGV[3])
  before, after = change_status(kind)
  sync_attempts_ttl(KEYS[1], redis.call('HGET', KEYS[1], 'id'))
else
  redis.call('XADD', KEYS[8], 'MAXLEN', '~', 10000, '*', 'report', ARGV[11])
end
if email ~= '' then
  local entry = ARGV[5]
  if kind == 'soft_bounce' and KEYS[7] ~= '' and soft_limit_reached(now_ms) then entry = ARGV[10] end
  if kind == 'delivered' and KEYS[7] ~= '' then redis.call('DEL', KEYS[7]) end
  if entry ~= '' then suppress(email, entry) end
end
return {outcome, before or '', after or ''}
