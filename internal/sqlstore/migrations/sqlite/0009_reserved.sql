-- healthcode schema 09: reserved. A colleague's change brings its own
-- 0009; this placeholder only keeps the numbering contiguous on the branch
-- that added 0011_recoveries.sql, and is replaced by theirs when both are
-- merged.
SELECT 1;
