// @generated-style: written by hand to match migrations/*/2026-11-23-000001_init.
// Types are the portable subset MultiConnection supports (Text, Bool, BigInt, Timestamp).

diesel::table! {
    users (id) {
        id -> Text,
        email -> Nullable<Text>,
        email_verified -> Bool,
        name -> Nullable<Text>,
        picture -> Nullable<Text>,
        app_metadata -> Text,
        last_active_org_id -> Nullable<Text>,
        logins_count -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    identities (id) {
        id -> Text,
        user_id -> Text,
        provider -> Text,
        subject -> Text,
        login -> Nullable<Text>,
        email -> Nullable<Text>,
        email_verified -> Bool,
        profile -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    organizations (id) {
        id -> Text,
        slug -> Text,
        name -> Text,
        logo_url -> Nullable<Text>,
        metadata -> Text,
        personal -> Bool,
        preferred_connection -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    roles (id) {
        id -> Text,
        org_id -> Nullable<Text>,
        name -> Text,
        description -> Text,
        permissions -> Text,
        built_in -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    organization_members (org_id, user_id) {
        org_id -> Text,
        user_id -> Text,
        role_id -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    organization_member_removals (org_id, user_id) {
        org_id -> Text,
        user_id -> Text,
        removed_at -> Timestamp,
    }
}

diesel::table! {
    organization_invitations (id) {
        id -> Text,
        org_id -> Text,
        email -> Nullable<Text>,
        github_login -> Nullable<Text>,
        github_id -> Nullable<Text>,
        role_id -> Text,
        token_hash -> Text,
        inviter_id -> Nullable<Text>,
        delivery_status -> Text,
        expires_at -> Timestamp,
        accepted_at -> Nullable<Timestamp>,
        accepted_by -> Nullable<Text>,
        declined_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    organization_domains (id) {
        id -> Text,
        org_id -> Text,
        domain -> Text,
        verification_token -> Text,
        status -> Text,
        auto_enroll -> Bool,
        enroll_role_id -> Nullable<Text>,
        record_seen -> Nullable<Text>,
        verified_at -> Nullable<Timestamp>,
        last_checked_at -> Nullable<Timestamp>,
        failing_since -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    clients (id) {
        id -> Text,
        secret_hash -> Nullable<Text>,
        name -> Text,
        redirect_uris -> Text,
        post_logout_redirect_uris -> Text,
        grant_types -> Text,
        scopes -> Text,
        audiences -> Text,
        allowed_origins -> Text,
        public -> Bool,
        first_party -> Bool,
        organization_usage -> Text,
        source -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    client_organizations (client_id, org_id) {
        client_id -> Text,
        org_id -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    login_transactions (id) {
        id -> Text,
        browser_hash -> Text,
        client_id -> Text,
        redirect_uri -> Text,
        scope -> Text,
        state -> Nullable<Text>,
        nonce -> Nullable<Text>,
        code_challenge -> Nullable<Text>,
        code_challenge_method -> Nullable<Text>,
        prompt -> Nullable<Text>,
        login_hint -> Nullable<Text>,
        max_age -> Nullable<BigInt>,
        connection -> Nullable<Text>,
        organization -> Nullable<Text>,
        invitation -> Nullable<Text>,
        audience -> Nullable<Text>,
        upstream_state_hash -> Nullable<Text>,
        upstream_verifier -> Nullable<Text>,
        upstream_nonce -> Nullable<Text>,
        user_id -> Nullable<Text>,
        expires_at -> Timestamp,
        created_at -> Timestamp,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        token_hash -> Text,
        user_id -> Text,
        connection -> Text,
        auth_time -> Timestamp,
        expires_at -> Timestamp,
        last_seen_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    authorization_codes (code_hash) {
        code_hash -> Text,
        client_id -> Text,
        user_id -> Text,
        session_id -> Nullable<Text>,
        redirect_uri -> Text,
        scope -> Text,
        nonce -> Nullable<Text>,
        code_challenge -> Nullable<Text>,
        code_challenge_method -> Nullable<Text>,
        audience -> Nullable<Text>,
        org_id -> Nullable<Text>,
        connection -> Text,
        auth_time -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
        access_token_jti -> Nullable<Text>,
        access_token_expires_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        hook_claims -> Nullable<Text>,
    }
}

diesel::table! {
    refresh_tokens (id) {
        id -> Text,
        token_hash -> Text,
        family_id -> Text,
        parent_id -> Nullable<Text>,
        client_id -> Text,
        user_id -> Text,
        session_id -> Nullable<Text>,
        code_hash -> Nullable<Text>,
        scope -> Text,
        audience -> Nullable<Text>,
        org_id -> Nullable<Text>,
        connection -> Text,
        auth_time -> Timestamp,
        access_token_jti -> Nullable<Text>,
        access_token_expires_at -> Nullable<Timestamp>,
        family_expires_at -> Timestamp,
        idle_expires_at -> Timestamp,
        rotated_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    revoked_tokens (jti) {
        jti -> Text,
        expires_at -> Timestamp,
        revoked_at -> Timestamp,
    }
}

diesel::table! {
    signing_keys (kid) {
        kid -> Text,
        alg -> Text,
        state -> Text,
        created_at -> Timestamp,
        activates_at -> Timestamp,
        retired_at -> Nullable<Timestamp>,
        public_jwk -> Text,
        kek_id -> Text,
        sealed_data_key -> Text,
        sealed_private_key -> Text,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Text,
        org_id -> Nullable<Text>,
        actor_id -> Nullable<Text>,
        actor_type -> Text,
        action -> Text,
        target_type -> Nullable<Text>,
        target_id -> Nullable<Text>,
        ip -> Nullable<Text>,
        detail -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    job_leases (name) {
        name -> Text,
        holder -> Text,
        expires_at -> Timestamp,
    }
}

diesel::joinable!(identities -> users (user_id));

diesel::joinable!(organization_members -> organizations (org_id));

diesel::joinable!(organization_members -> users (user_id));

diesel::joinable!(organization_members -> roles (role_id));

diesel::joinable!(roles -> organizations (org_id));

diesel::joinable!(organization_invitations -> organizations (org_id));

diesel::joinable!(organization_domains -> organizations (org_id));

diesel::joinable!(refresh_tokens -> clients (client_id));

diesel::joinable!(authorization_codes -> clients (client_id));

diesel::joinable!(sessions -> users (user_id));

diesel::joinable!(client_organizations -> organizations (org_id));

diesel::allow_tables_to_appear_in_same_query!(
    users,
    identities,
    organizations,
    roles,
    organization_members,
    organization_member_removals,
    organization_invitations,
    organization_domains,
    clients,
    client_organizations,
    login_transactions,
    sessions,
    authorization_codes,
    refresh_tokens,
    revoked_tokens,
    signing_keys,
    audit_events,
    job_leases,
);
