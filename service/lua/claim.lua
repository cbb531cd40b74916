-- The worker takes a due notification for sending, unless the recipient may no longer get it.
-- It reads, checks and takes the record in this one round trip, and gets the record back.
-- KEYS: 1 record, 2 pending, 3 suppressed
-- ARGV: 1 now ms, 2 early tolerance ms (another host's clock may run ahead),
--       3 lease: pending score while sending, 4 ttl s once finished,
--       5 always-sent categories (',a,b,'),
--       6 mode: 'look' writes nothing; 'take' leaves a record already `sending` as it is (its
--         interrupted attempt is recorded first); 'retake' takes it anyway
-- Returns {code, detail, record (field, value, ...) where given}:
--   {0, status ('' if gone)} nothing to do; {3, ''} not due yet; {4, due ms} due within the tolerance;
--   {5, status, record} looked, nothing written; {2, refusal} refused, written as `suppressed`;
--   {1, status before, record as it was before} claimed

-- The address its index, list and preferences are keyed by. Records from before `to_email`:
-- addresses are ASCII (IDNA domains), so Lua's lower is Python's.
local function recipient(record)
  if record.to_email and record.to_email ~= '' then return record.to_email end
  local email = cjson.decode(record.to).email
  return type(email) == 'string' and string.lower(email) or ''
end

-- The category whose opt-out applies ('' when always sent: by category, or a digest carrying such items).
local function opt_out_category(record, always_sent)
  local category = record.category or ''
  if record.always_send == '1' or string.find(always_sent, ',' .. category .. ',', 1, true) then return '' end
  return category
end

local function refuse(record, why, category)
  local status, id = record.status, record.id
  redis.call('HSET', KEYS[1], 'status', 'suppressed', 'error', refusal_text(why, category))
  redis.call('ZREM', KEYS[2], id)
  redis.call('EXPIRE', KEYS[1], ARGV[4])
  sync_attempts_ttl(KEYS[1], id)
  move_status_index(id, status, 'suppressed', record.created_ms or 0)
  announce('notification.suppressed', id)
  -- Counted with the workers' delivery figures (service.metrics reads this hash).
  redis.call('HINCRBY', 'herald:stats', 'd|suppressed|' .. (record.template or '') .. '|' .. (record.category or ''), 1)
  count_minute(math.floor(tonumber(ARGV[1]) / 60000), 'suppressed', 1)
end

local flat = redis.call('HGETALL', KEYS[1])
local record = {}
for i = 1, #flat, 2 do record[flat[i]] = flat[i + 1] end
local status = record.status
if not status then return {0, ''} end
if not is_active(status) then return {0, status} end
local early = (tonumber(record.due_ms) or 0) - tonumber(ARGV[1])
if early > tonumber(ARGV[2]) then return {3, ''} end
if early > 0 then return {4, record.due_ms} end
local mode = ARGV[6]
if mode == 'look' or (mode == 'take' and status == 'sending') then return {5, status, flat} end
local email = recipient(record)
local category = opt_out_category(record, ARGV[5])
local why = refusal(KEYS[3], 'herald:prefs:' .. email, email, category, record.channel)
if why ~= '' then
  refuse(record, why, category)
  return {2, why}
end
redis.call('HSET', KEYS[1], 'status', 'sending')
redis.call('ZADD', KEYS[2], ARGV[3], record.id)
move_status_index(record.id, status, 'sending', record.created_ms or 0)
return {1, status, flat}
