-- An optional CEL condition of a policy (issue 8): over device.*, user.*
-- and request.*; '' means none. Validated (compiled and type-checked)
-- before it is stored.
ALTER TABLE policies ADD COLUMN condition TEXT NOT NULL DEFAULT '';
