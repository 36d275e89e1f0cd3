ALTER TABLE authorization_codes DROP COLUMN hook_claims;
