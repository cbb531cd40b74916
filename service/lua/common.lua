-- Shared by every Herald script (prepended when the scripts are loaded).
-- Herald keys all start with 'herald:'; Herald runs on one Redis (not Cluster), as ARQ does.
local function move_status_index(id, old, new, created_ms)
  if old == new then return end
  if old then redis.call('ZREM', 'herald:idx:status:' .. old, id) end
  redis.call('ZADD', 'herald:idx:status:' .. new, created_ms, id)
end

local function is_active(status)
  return status == 'scheduled' or status == 'queued' or status == 'sending' or status == 'retrying'
end

-- Why a recipient must not get this category now: '' when it may.
local function refusal(suppressed_key, prefs_key, email, category)
  if email ~= '' and redis.call('HEXISTS', suppressed_key, email) == 1 then return 'suppressed' end
  if category ~= '' and redis.call('HGET', prefs_key, category) == '0' then return 'opted_out' end
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

-- A record's attempts list lives exactly as long as the record.
local function sync_attempts_ttl(record_key, id)
  local ttl = redis.call('PTTL', record_key)
  local attempts = 'herald:a:' .. id
  if ttl > 0 then redis.call('PEXPIRE', attempts, ttl) else redis.call('PERSIST', attempts) end
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
