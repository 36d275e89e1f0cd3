-- Signing keys kept in the database (keys.store = "database"): every
-- instance on the database signs with the same key and publishes the same
-- JWKS. The private key is sealed (AES-256-GCM) with its own data key, which
-- is sealed with the key-encryption key from the config; kek_id says which.
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY NOT NULL,
    alg TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    activates_at TIMESTAMP NOT NULL,
    retired_at TIMESTAMP,
    public_jwk TEXT NOT NULL,
    kek_id TEXT NOT NULL,
    sealed_data_key TEXT NOT NULL,
    sealed_private_key TEXT NOT NULL
);
CREATE INDEX signing_keys_state ON signing_keys (state);
