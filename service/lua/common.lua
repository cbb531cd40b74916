-- Shared by every Herald script (prepended when the scripts are loaded).
-- Herald keys all start with 'herald:'; Herald runs on one Redis (not Cluster), as ARQ does.
-- Not 'digested': an item waits in its recipient's buffer until its digest takes it
-- (digest_taken.lua indexes it then).
local FINISHED = {sent = true, failed = true, cancelled = true, suppressed = true, bounced = true, complained = true}

local function now_ms()
  local now = redis.call('TIME')
  return tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
end

-- While a mover to PostgreSQL runs (service.archive), the finished ones wait in an index of
-- their own, scored by when they finished; a Redis-only deployment writes nothing more.
local function index_finished(id)
  if redis.call('EXISTS', 'herald:archiving') == 1 then redis.call('ZADD', 'herald:idx:finished', now_ms(), id) end
end

local function mark_finished(id, old, new)
  if FINISHED[new] then
    index_finished(id)
  elseif old and FINISHED[old] then
    redis.call('ZREM', 'herald:idx:finished', id)
  end
end

local function move_status_index(id, old, new, created_ms)
  if old == new then return end
  if old then redis.call('ZREM', 'herald:idx:status:' .. old, id) end
  redis.call('ZADD', 'herald:idx:status:' .. new, created_ms, id)
  mark_finished(id, old, new)
end

-- A notification moved to PostgreSQL leaves its fingerprint under herald:x:{id}: a repeat of its
-- request is still a repeat. `record_key` is 'herald:n:{id}'.
local function archived_fingerprint(record_key)
  return redis.call('GET', 'herald:x:' .. string.sub(record_key, 10))
end

local function is_active(status)
  return status == 'scheduled' or status == 'queued' or status == 'sending' or status == 'retrying'
end

-- Why a recipient must not get this category now: '' when it may. A complaint's suppression
-- ('"scope":"optional"') still lets through what is always sent (category '').
-- `channel`: '' or 'email' checks the suppression list (addresses that bounced or complained);
-- the other channels only the preferences, by category and by category:channel.
local function refusal(suppressed_key, prefs_key, email, category, channel)
  local by_mail = channel == nil or channel == '' or channel == 'email'
  if email ~= '' and by_mail then
    local entry = redis.call('HGET', suppressed_key, email)
    if entry and (category ~= '' or not string.find(entry, '"scope":"optional"', 1, true)) then
      return 'suppressed'
    end
  end
  if category == '' or email == '' then return '' end
  if redis.call('HGET', prefs_key, category) == '0' then return 'opted_out' end
  if not by_mail and redis.call('HGET', prefs_key, category .. ':' .. channel) == '0' then return 'opted_out' end
  if by_mail and redis.call('HGET', prefs_key, category .. ':email') == '0' then return 'opted_out' end
  return ''
end

local function refusal_text(why, category)
  if why == 'suppressed' then return 'recipient is suppressed' end
  return 'recipient opted out of ' .. category
end

local function extend_ttl(key, ttl)
  local current = redis.call('TTL', key)
  if current >= 0 and current < tonumber(ttl) then redis.call('EXPIRE', key, ttl) end
  if current == -1 then redis.call('EXPIRE', key, ttl) end
end

-- A record's attempts and events lists live exactly as long as the record.
local function sync_attempts_ttl(record_key, id)
  local ttl = redis.call('PTTL', record_key)
  for _, list in ipairs({'herald:a:' .. id, 'herald:e:' .. id}) do
    if ttl > 0 then redis.call('PEXPIRE', list, ttl) else redis.call('PERSIST', list) end
  end
end

-- The category whose opt-out applies to a record ('' when it is always sent).
local function checked_category(record_key, always_sent)
  local category = redis.call('HGET', record_key, 'category') or ''
  if string.find(always_sent, ',' .. category .. ',', 1, true) then return '' end
  return category
end

-- The ARQ queue (lane) a notification's jobs go to; records made before lanes have none.
local function record_queue(record_key, default)
  return redis.call('HGET', record_key, 'queue') or default
end

-- ARQ's enqueue_job(..., _job_id=id): the job is written unless one (or its result) is there.
local function enqueue(job_key, result_key, queue, id, payload, expiry_ms, score)
  if redis.call('EXISTS', job_key, result_key) > 0 then return 0 end
  redis.call('SET', job_key, payload, 'PX', expiry_ms)
  redis.call('ZADD', queue, score, id)
  return 1
end

-- The dashboard's last hour: one hash per minute (service/timeline.py), gone after two hours.
local function count_minute(minute, field, n)
  local key = 'herald:minute:' .. minute
  redis.call('HINCRBY', key, field, n)
  redis.call('EXPIRE', key, 7200)
end

-- RFC 3339 UTC with milliseconds, as Python's service.models.iso writes it (Redis's Lua has no
-- os.date): the civil date of a day count, after Howard Hinnant's days_from_civil inverse.
local function os_date_iso(ms)
  local secs = math.floor(ms / 1000)
  local z = math.floor(secs / 86400) + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local day = doy - math.floor((153 * mp + 2) / 5) + 1
  local month = mp < 10 and mp + 3 or mp - 9
  local year = yoe + era * 400 + (month <= 2 and 1 or 0)
  local rest = secs % 86400
  return string.format('%04d-%02d-%02dT%02d:%02d:%02d.%03dZ', year, month, day, math.floor(rest / 3600),
    math.floor(rest % 3600 / 60), rest % 60, ms % 1000)
end

-- The product's webhooks hear of it (service.outbox): only while an endpoint is registered, so
-- that a deployment without webhooks writes nothing more.
local function announce(kind, id)
  if redis.call('EXISTS', 'herald:webhooks') == 0 then return end
  local at = os_date_iso(now_ms())
  -- Capped far above what a running dispatcher leaves (it deletes what it has handed out), so
  -- that a deployment whose workers are all down for days cannot fill Redis with it.
  redis.call('XADD', 'herald:outbox', 'MAXLEN', '~', 1000000, '*', 'type', kind, 'id', id, 'at', at)
end

local ANNOUNCED = {sent = true, failed = true, cancelled = true, suppressed = true, bounced = true, complained = true}

-- A notification reaching one of the statuses the webhooks' event types name.
local function announce_status(old, new, id)
  if old ~= new and ANNOUNCED[new] then announce('notification.' .. new, id) end
end
