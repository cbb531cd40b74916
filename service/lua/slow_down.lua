-- Halve (ARGV[1]) a bucket's speed for a while: KEYS[1] holds the factor, down to ARGV[2] at
-- least; each slowdown renews the expiry (ARGV[3] seconds), after which full speed returns.
local factor = tonumber(redis.call('GET', KEYS[1])) or 1
factor = math.max(tonumber(ARGV[2]), factor * tonumber(ARGV[1]))
redis.call('SET', KEYS[1], string.format('%.4f', factor), 'EX', ARGV[3])
return string.format('%.4f', factor)
