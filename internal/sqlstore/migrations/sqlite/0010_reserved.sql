-- healthcode schema 10: reserved. A colleague's change brings its own
-- 0010; this placeholder only keeps the numbering contiguous on the branch
-- that added 0011_recoveries.sql, and is replaced by theirs when both are
-- merged.
SELECT 1;
