-- Placeholder for the policy-checks branch's migration 0009 (issue 8
-- assigns the numbers): the jit branch needs 0010 and migrations
-- run without gaps. Replace this file with the real 0009 at merge.
SELECT 1;
