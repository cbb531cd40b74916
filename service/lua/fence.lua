-- Writes nothing itself: the Coalescer that sends it ends the batch with a fence write and WAIT
-- (REDIS_WAIT_REPLICAS), so that awaiting it says the replicas have everything written before it.
return 1
