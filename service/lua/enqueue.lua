-- Queue a notification's `deliver` job if it has none (the sweeper's repair).
-- KEYS: 1 job, 2 job result, 3 queue
-- ARGV: 1 notification id, 2 job payload, 3 job expiry ms, 4 score ms
-- Returns 1 if the job was written, 0 if one was already there
return enqueue(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[3], ARGV[4])
