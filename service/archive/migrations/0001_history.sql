-- Finished notifications (a record with its attempts and events, as Redis held them) and audit
-- entries. Both are partitioned by day of creation (Unix ms), so that retention drops a whole
-- day's table instead of deleting rows; partitions are made as rows arrive (service.archive.schema).

CREATE TABLE herald_notifications (
    id          text COLLATE "C" NOT NULL,  -- ordered bytewise, as Redis orders a sorted set's ties
    created_ms  bigint NOT NULL,
    status      text   NOT NULL,
    template    text   NOT NULL,
    recipient   text   NOT NULL,  -- the address lower-cased, or a profile's id (service.keys.recipient_email)
    channel     text   NOT NULL,
    failed_ms   bigint,
    record      jsonb  NOT NULL,  -- every field of the Redis hash, as strings
    attempts    jsonb  NOT NULL,
    events      jsonb  NOT NULL,
    archived_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (id, created_ms)
) PARTITION BY RANGE (created_ms);

-- What the history's filters walk, newest first; the id breaks ties as the cursor does.
CREATE INDEX herald_notifications_created ON herald_notifications (created_ms DESC, id DESC);
CREATE INDEX herald_notifications_recipient ON herald_notifications (recipient, created_ms DESC, id DESC);
CREATE INDEX herald_notifications_status ON herald_notifications (status, created_ms DESC, id DESC);
CREATE INDEX herald_notifications_template ON herald_notifications (template, created_ms DESC, id DESC);
-- The PRIMARY KEY leads with the id: GET by id is one index probe per day kept.

CREATE TABLE herald_audit (
    at_ms  bigint NOT NULL,  -- the Redis stream id it had, ms-seq
    seq    bigint NOT NULL,
    actor  text   NOT NULL,
    entry  jsonb  NOT NULL,
    PRIMARY KEY (at_ms, seq)
) PARTITION BY RANGE (at_ms);

CREATE INDEX herald_audit_actor ON herald_audit (actor, at_ms DESC, seq DESC);
