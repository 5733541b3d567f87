-- A password someone else chose (the generated first admin's) must be replaced at first sign-in
-- (#18): until then the user may only change it. Cleared by any password change.
ALTER TABLE users ADD COLUMN must_change_password INTEGER NOT NULL DEFAULT 0;
