-- healthcode schema 9: reserved. A colleague's change (issue 9) brings its
-- own 0009; this placeholder only keeps the numbering contiguous on the
-- branch that added 0010_contact_notices.sql, and is replaced by theirs when
-- both are merged.
SELECT 1;
