-- Placeholder for the jit branch's migration 0010 (issue 8 assigns the
-- numbers): the exceptions branch needs 0011 and migrations run without
-- gaps. Replace this file with the real 0010 at merge.
SELECT 1;
