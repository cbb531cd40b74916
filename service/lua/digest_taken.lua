-- The items a period's digest holds leave the recipient's buffer, and each records which digest
-- carried it; items that came after stay for the next period. A second flush of the same
-- digest removes nothing more.
-- KEYS: 1 digest buffer, 2 recipients with a pending digest
-- ARGV: 1 email, 2 digest notification id, 3.. ids of the items in the digest
for i = 3, #ARGV do
  redis.call('LREM', KEYS[1], 0, ARGV[i])
  if redis.call('EXISTS', 'herald:n:' .. ARGV[i]) == 1 then
    redis.call('HSET', 'herald:n:' .. ARGV[i], 'digest_id', ARGV[2])
    index_finished(ARGV[i])  -- done with now: the mover may take it (service.archive)
  end
end
if redis.call('LLEN', KEYS[1]) == 0 then redis.call('SREM', KEYS[2], ARGV[1]) end
return redis.call('LLEN', KEYS[1])
