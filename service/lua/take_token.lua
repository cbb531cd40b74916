-- A token bucket as GCRA: KEYS[1] holds the bucket's "theoretical arrival time" (seconds, the
-- server's clock, so every process agrees). KEYS[2], if present, holds a factor in (0, 1] that
-- slows the rate down while it lives. ARGV: rate per second, burst (requests allowed at once).
-- Returns "0" when a token was taken, else the seconds to wait before one is available.
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local rate = tonumber(ARGV[1])
if KEYS[2] then
  local factor = tonumber(redis.call('GET', KEYS[2]))
  if factor and factor > 0 and factor < 1 then rate = rate * factor end
end
local interval = 1 / rate
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local wait = tat + interval - tonumber(ARGV[2]) * interval - now
if wait > 0 then return string.format('%.6f', wait) end
redis.call('SET', KEYS[1], string.format('%.6f', tat + interval), 'PX', math.ceil((tat + interval - now) * 1000) + 1000)
return '0'
