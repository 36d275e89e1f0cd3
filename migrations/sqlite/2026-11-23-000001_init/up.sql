-- Tessera's whole schema. UUIDs and JSON are TEXT, times are UTC TIMESTAMP
-- (no time zone), so one diesel schema serves SQLite and PostgreSQL.

CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    email TEXT,
    email_verified BOOLEAN NOT NULL DEFAULT FALSE,
    name TEXT,
    picture TEXT,
    app_metadata TEXT NOT NULL DEFAULT '{}',
    last_active_org_id TEXT REFERENCES organizations (id) ON DELETE SET NULL,
    logins_count BIGINT NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX users_email_idx ON users (email);

CREATE TABLE identities (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider TEXT NOT NULL,
    subject TEXT NOT NULL,
    login TEXT,
    email TEXT,
    email_verified BOOLEAN NOT NULL DEFAULT FALSE,
    profile TEXT NOT NULL DEFAULT '{}',
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (provider, subject)
);
CREATE INDEX identities_user_id_idx ON identities (user_id);
CREATE INDEX identities_login_idx ON identities (provider, login);

CREATE TABLE organizations (
    id TEXT PRIMARY KEY NOT NULL,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    logo_url TEXT,
    metadata TEXT NOT NULL DEFAULT '{}',
    personal BOOLEAN NOT NULL DEFAULT FALSE,
    preferred_connection TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- A role with org_id NULL is built in and shared by every org.
CREATE TABLE roles (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT REFERENCES organizations (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    permissions TEXT NOT NULL DEFAULT '[]',
    built_in BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (org_id, name)
);
CREATE INDEX roles_org_id_idx ON roles (org_id);

CREATE TABLE organization_members (
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role_id TEXT NOT NULL REFERENCES roles (id),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX organization_members_user_id_idx ON organization_members (user_id);
CREATE INDEX organization_members_role_id_idx ON organization_members (role_id);

-- Removed members are remembered so domain auto-enrolment does not re-add them.
CREATE TABLE organization_member_removals (
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    removed_at TIMESTAMP NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX organization_member_removals_user_id_idx ON organization_member_removals (user_id);

CREATE TABLE organization_invitations (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    email TEXT,
    github_login TEXT,
    github_id TEXT,
    role_id TEXT NOT NULL REFERENCES roles (id),
    token_hash TEXT NOT NULL UNIQUE,
    inviter_id TEXT REFERENCES users (id) ON DELETE SET NULL,
    delivery_status TEXT NOT NULL DEFAULT 'pending',
    expires_at TIMESTAMP NOT NULL,
    accepted_at TIMESTAMP,
    accepted_by TEXT REFERENCES users (id) ON DELETE SET NULL,
    declined_at TIMESTAMP,
    revoked_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX organization_invitations_org_id_idx ON organization_invitations (org_id);
CREATE INDEX organization_invitations_email_idx ON organization_invitations (email);
CREATE INDEX organization_invitations_github_id_idx ON organization_invitations (github_id);
CREATE INDEX organization_invitations_role_id_idx ON organization_invitations (role_id);

CREATE TABLE organization_domains (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    domain TEXT NOT NULL,
    verification_token TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    auto_enroll BOOLEAN NOT NULL DEFAULT FALSE,
    enroll_role_id TEXT REFERENCES roles (id),
    record_seen TEXT,
    verified_at TIMESTAMP,
    last_checked_at TIMESTAMP,
    failing_since TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (org_id, domain)
);
CREATE INDEX organization_domains_org_id_idx ON organization_domains (org_id);
-- A domain is verified by at most one org at a time.
CREATE UNIQUE INDEX organization_domains_verified_idx ON organization_domains (domain)
    WHERE status IN ('verified', 'failing');

CREATE TABLE clients (
    id TEXT PRIMARY KEY NOT NULL,
    secret_hash TEXT,
    name TEXT NOT NULL,
    redirect_uris TEXT NOT NULL DEFAULT '[]',
    post_logout_redirect_uris TEXT NOT NULL DEFAULT '[]',
    grant_types TEXT NOT NULL DEFAULT '[]',
    scopes TEXT NOT NULL DEFAULT '[]',
    audiences TEXT NOT NULL DEFAULT '[]',
    allowed_origins TEXT NOT NULL DEFAULT '[]',
    public BOOLEAN NOT NULL DEFAULT FALSE,
    first_party BOOLEAN NOT NULL DEFAULT FALSE,
    organization_usage TEXT NOT NULL DEFAULT 'optional',
    source TEXT NOT NULL DEFAULT 'cli',
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- Orgs a machine-to-machine client may get org-scoped tokens for.
CREATE TABLE client_organizations (
    client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (client_id, org_id)
);
CREATE INDEX client_organizations_org_id_idx ON client_organizations (org_id);

-- One /authorize request in flight, bound to the browser by a cookie whose hash is stored.
CREATE TABLE login_transactions (
    id TEXT PRIMARY KEY NOT NULL,
    browser_hash TEXT NOT NULL,
    client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    redirect_uri TEXT NOT NULL,
    scope TEXT NOT NULL,
    state TEXT,
    nonce TEXT,
    code_challenge TEXT,
    code_challenge_method TEXT,
    prompt TEXT,
    login_hint TEXT,
    max_age BIGINT,
    connection TEXT,
    organization TEXT,
    invitation TEXT,
    audience TEXT,
    upstream_state_hash TEXT,
    upstream_verifier TEXT,
    upstream_nonce TEXT,
    user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
    expires_at TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX login_transactions_client_id_idx ON login_transactions (client_id);
CREATE INDEX login_transactions_user_id_idx ON login_transactions (user_id);
CREATE INDEX login_transactions_upstream_state_hash_idx ON login_transactions (upstream_state_hash);
CREATE INDEX login_transactions_expires_at_idx ON login_transactions (expires_at);

CREATE TABLE sessions (
    id TEXT PRIMARY KEY NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    connection TEXT NOT NULL,
    auth_time TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);

CREATE TABLE authorization_codes (
    code_hash TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_id TEXT REFERENCES sessions (id) ON DELETE SET NULL,
    redirect_uri TEXT NOT NULL,
    scope TEXT NOT NULL,
    nonce TEXT,
    code_challenge TEXT,
    code_challenge_method TEXT,
    audience TEXT,
    org_id TEXT REFERENCES organizations (id) ON DELETE SET NULL,
    connection TEXT NOT NULL,
    auth_time TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP,
    access_token_jti TEXT,
    access_token_expires_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX authorization_codes_client_id_idx ON authorization_codes (client_id);
CREATE INDEX authorization_codes_user_id_idx ON authorization_codes (user_id);

-- Rotated on every use; every token of a login shares family_id so reuse revokes them all.
CREATE TABLE refresh_tokens (
    id TEXT PRIMARY KEY NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    family_id TEXT NOT NULL,
    parent_id TEXT,
    client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_id TEXT REFERENCES sessions (id) ON DELETE SET NULL,
    code_hash TEXT,
    scope TEXT NOT NULL,
    audience TEXT,
    org_id TEXT REFERENCES organizations (id) ON DELETE SET NULL,
    connection TEXT NOT NULL,
    auth_time TIMESTAMP NOT NULL,
    access_token_jti TEXT,
    access_token_expires_at TIMESTAMP,
    family_expires_at TIMESTAMP NOT NULL,
    idle_expires_at TIMESTAMP NOT NULL,
    rotated_at TIMESTAMP,
    revoked_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX refresh_tokens_family_id_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_id_idx ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_client_id_idx ON refresh_tokens (client_id);
CREATE INDEX refresh_tokens_code_hash_idx ON refresh_tokens (code_hash);
CREATE INDEX refresh_tokens_org_id_idx ON refresh_tokens (org_id);

-- Deny list of revoked access-token ids, honoured by introspection until exp.
CREATE TABLE revoked_tokens (
    jti TEXT PRIMARY KEY NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP NOT NULL
);
CREATE INDEX revoked_tokens_expires_at_idx ON revoked_tokens (expires_at);

-- No foreign key to organizations: the audit trail outlives the org.
CREATE TABLE audit_events (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT,
    actor_id TEXT,
    actor_type TEXT NOT NULL DEFAULT 'user',
    action TEXT NOT NULL,
    target_type TEXT,
    target_id TEXT,
    ip TEXT,
    detail TEXT NOT NULL DEFAULT '{}',
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX audit_events_org_id_idx ON audit_events (org_id, created_at);
CREATE INDEX audit_events_actor_id_idx ON audit_events (actor_id);

-- Leases so that one process at a time runs a background job (e.g. domain re-checks).
CREATE TABLE job_leases (
    name TEXT PRIMARY KEY NOT NULL,
    holder TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL
);

-- Built-in roles and permissions of SPEC §3.
INSERT INTO roles (id, org_id, name, description, permissions, built_in, created_at, updated_at) VALUES
  ('owner', NULL, 'owner', 'Everything, including deleting the organization and transferring ownership',
   '["org:read","org:manage","org:delete","org:members:read","org:members:write","org:invitations","org:roles","org:domains","org:audit:read"]',
   TRUE, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
  ('admin', NULL, 'admin', 'Everything but deleting the organization and transferring ownership',
   '["org:read","org:manage","org:members:read","org:members:write","org:invitations","org:roles","org:domains","org:audit:read"]',
   TRUE, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
  ('member', NULL, 'member', 'Read the organization and its members',
   '["org:read","org:members:read"]',
   TRUE, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP);
