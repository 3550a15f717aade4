-- healthcode schema (sqlite): the regions whose codes this region accepts
-- (healthcode.TrustedPeer): each peer's signed trust list as last fetched
-- from its source, with the entity tag to ask whether it changed.
CREATE TABLE trusted_peers (
    source     TEXT    PRIMARY KEY,
    region     TEXT    NOT NULL,
    list       BLOB    NOT NULL,
    etag       TEXT    NOT NULL,
    fetched_at INTEGER NOT NULL
) STRICT;
