-- Trent's tables on PostgreSQL. The same shape as the embedded SQLite store:
-- a key record is JSON beside the columns that are searched. Text columns
-- that are ordered for pagination use the "C" collation, so pages come in
-- byte order whatever the database's locale (as in SQLite).

CREATE TABLE keys (
    region   text COLLATE "C" NOT NULL,
    account  text COLLATE "C" NOT NULL,
    key_id   text COLLATE "C" NOT NULL,
    revision bigint NOT NULL,
    due_at   bigint,
    record   text NOT NULL,
    PRIMARY KEY (region, account, key_id)
);
CREATE INDEX keys_due ON keys (due_at) WHERE due_at IS NOT NULL;

CREATE TABLE aliases (
    region     text COLLATE "C" NOT NULL,
    account    text COLLATE "C" NOT NULL,
    name       text COLLATE "C" NOT NULL,
    target     text COLLATE "C" NOT NULL,
    created_at bigint NOT NULL,
    updated_at bigint NOT NULL,
    PRIMARY KEY (region, account, name)
);
CREATE INDEX aliases_target ON aliases (region, account, target);

CREATE TABLE key_usage (
    region     text COLLATE "C" NOT NULL,
    account    text COLLATE "C" NOT NULL,
    key_id     text COLLATE "C" NOT NULL,
    operation  text NOT NULL,
    at         bigint NOT NULL,
    request_id text NOT NULL,
    event_id   text NOT NULL DEFAULT '',
    PRIMARY KEY (region, account, key_id)
);

CREATE TABLE grants (
    region   text COLLATE "C" NOT NULL,
    account  text COLLATE "C" NOT NULL,
    key_id   text COLLATE "C" NOT NULL,
    grant_id text COLLATE "C" NOT NULL,
    retiring text COLLATE "C",
    record   text NOT NULL,
    PRIMARY KEY (region, account, key_id, grant_id)
);
CREATE INDEX grants_retiring ON grants (region, retiring, key_id, grant_id)
    WHERE retiring IS NOT NULL;

CREATE TABLE meta (
    name  text PRIMARY KEY,
    value bytea NOT NULL
);

-- Background work that runs once across the nodes: who holds it, until
-- when (the database's clock, so the nodes' clocks do not matter).
CREATE TABLE leases (
    name   text PRIMARY KEY,
    holder text NOT NULL,
    until  timestamptz NOT NULL
);
