-- Custom claims the post-login actions added at /authorize, carried to the token exchange.
ALTER TABLE authorization_codes ADD COLUMN hook_claims TEXT;
