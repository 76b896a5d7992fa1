-- Reserved: another branch of issue 7 adds migration 0005. This
-- placeholder keeps the numbers gapless until it merges; delete this file
-- when that one arrives.
SELECT 1;
