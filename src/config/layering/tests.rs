//! Tests of the layering: precedence, typing of environment values, errors.

use super::super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn file(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.toml");
    std::fs::write(&p, text).unwrap();
    (dir, p)
}

#[test]
fn defaults_need_no_file() {
    let s = Settings::load_from(None, &[]).unwrap();
    assert_eq!(s.server.bind, "127.0.0.1:8080");
    assert_eq!(s.database.url.expose(), "./data/tessera.db");
    assert_eq!(s.namespace(), "http://127.0.0.1:8080/");
    assert_eq!(s.keys.algorithm, Algorithm::RS256);
    assert_eq!(s.server.environment, Environment::Development);
}

#[test]
fn env_overrides_are_typed() {
    let s = Settings::load_from(
        None,
        &env(&[
            ("TESSERA_DATABASE__POOL_SIZE", "3"),
            ("TESSERA_ISSUER", "https://id.example.com/"),
            ("TESSERA_CLAIMS__NAMESPACE", ""),
            ("DATABASE_URL", "postgres://u:pw@h/db"),
            ("TESSERA_ENV", "production"),
            ("TESSERA_KEYS__ALGORITHM", "EdDSA"),
            ("TESSERA_DOMAINS__PROTOCOL", "tcp"),
        ]),
    )
    .unwrap();
    assert_eq!(s.database.pool_size, 3);
    assert_eq!(s.issuer, "https://id.example.com");
    assert_eq!(s.namespace(), "");
    assert_eq!(s.database.url.expose(), "postgres://u:pw@h/db");
    assert_eq!(s.server.environment, Environment::Production);
    assert_eq!(s.keys.algorithm, Algorithm::EdDSA);
    assert_eq!(s.domains.protocol, DnsProtocol::Tcp);
    assert!(!format!("{s:?}").contains("pw"));
}

#[test]
fn file_secrets_survive_env_layering() {
    // The layering never round-trips through serialized (redacted) secrets.
    let (_dir, p) = file("[database]\nurl = 'postgres://u:pw@h/db'\n[connectors.github]\nclient_id = 'c'\nclient_secret = 's3cret'\n");
    let s = Settings::load_from(Some(&p), &env(&[("TESSERA_DATABASE__POOL_SIZE", "2")])).unwrap();
    assert_eq!(s.database.url.expose(), "postgres://u:pw@h/db");
    let gh = s.connectors.github.unwrap();
    assert_eq!(gh.client_secret.expose(), "s3cret");
}

#[test]
fn defaults_layer_applies_without_file_or_env() {
    let s = Settings::load_from(None, &[]).unwrap();
    assert_eq!(s.database.pool_size, 8);
    assert_eq!(s.server.bind, "127.0.0.1:8080");
    assert_eq!(s.tokens.access_token_ttl_secs, 3600);
    assert!(s.smtp.is_none());
}

#[test]
fn file_layer_overrides_defaults_key_by_key() {
    let (_dir, p) = file("[database]\npool_size = 3\n[server]\nbind = '0.0.0.0:9000'\n");
    let s = Settings::load_from(Some(&p), &[]).unwrap();
    assert_eq!(s.database.pool_size, 3);
    assert_eq!(s.server.bind, "0.0.0.0:9000");
    // Keys the file leaves out keep their defaults, also in a section it sets.
    assert_eq!(s.database.url.expose(), "./data/tessera.db");
    assert_eq!(s.database.acquire_timeout_secs, 5);
    assert_eq!(s.tokens.access_token_ttl_secs, 3600);
}

#[test]
fn env_layer_overrides_file_and_defaults() {
    let (_dir, p) = file(
        "[database]\nurl = 'from-file.db'\npool_size = 3\n[server]\nbind = '0.0.0.0:9000'\nenvironment = 'production'\n",
    );
    let s = Settings::load_from(
        Some(&p),
        &env(&[
            ("TESSERA_DATABASE__POOL_SIZE", "5"),
            ("TESSERA_TOKENS__ACCESS_TOKEN_TTL_SECS", "60"),
            ("TESSERA_ENV", "development"),
        ]),
    )
    .unwrap();
    assert_eq!(s.database.pool_size, 5, "env over file");
    assert_eq!(s.tokens.access_token_ttl_secs, 60, "env over default");
    assert_eq!(s.server.environment, Environment::Development);
    assert_eq!(s.server.bind, "0.0.0.0:9000", "file where env is silent");
    assert_eq!(s.database.url.expose(), "from-file.db");

    // DATABASE_URL over the file; TESSERA_DATABASE__URL over DATABASE_URL,
    // in either order.
    let s = Settings::load_from(Some(&p), &env(&[("DATABASE_URL", "alias.db")])).unwrap();
    assert_eq!(s.database.url.expose(), "alias.db");
    for pairs in [
        [
            ("TESSERA_DATABASE__URL", "own.db"),
            ("DATABASE_URL", "alias.db"),
        ],
        [
            ("DATABASE_URL", "alias.db"),
            ("TESSERA_DATABASE__URL", "own.db"),
        ],
    ] {
        let s = Settings::load_from(Some(&p), &env(&pairs)).unwrap();
        assert_eq!(s.database.url.expose(), "own.db");
    }
}

#[test]
fn env_text_stays_text_where_the_key_is_text() {
    let s = Settings::load_from(
        None,
        &env(&[
            ("TESSERA_SMTP__HOST", "mail"),
            ("TESSERA_SMTP__FROM", "id@example.com"),
            ("TESSERA_SMTP__PASSWORD", "0123"),
            ("TESSERA_SMTP__PORT", "2525"),
            ("TESSERA_TOKENS__DEFAULT_AUDIENCE", "123"),
            ("TESSERA_CONNECTORS__DEV__ENABLED", "false"),
            (
                "TESSERA_DOMAINS__NAMESERVERS",
                "['127.0.0.1:53', '127.0.0.2:53']",
            ),
        ]),
    )
    .unwrap();
    let smtp = s.smtp.unwrap();
    assert_eq!(smtp.password.unwrap().expose(), "0123");
    assert_eq!(smtp.port, 2525);
    assert_eq!(smtp.tls, SmtpTls::StartTls);
    assert_eq!(s.tokens.default_audience.as_deref(), Some("123"));
    assert_eq!(s.connectors.dev.enabled, Some(false));
    assert_eq!(s.domains.nameservers, ["127.0.0.1:53", "127.0.0.2:53"]);
}

#[test]
fn unknown_env_vars_are_ignored_and_reported() {
    // What Kubernetes injects for a Service named `tessera`, and a typo.
    let vars = env(&[
        ("TESSERA_PORT", "tcp://10.0.0.7:8080"),
        ("TESSERA_PORT_8080_TCP_ADDR", "10.0.0.7"),
        ("TESSERA_SERVICE_HOST", "10.0.0.7"),
        ("TESSERA_SERVICE_PORT", "8080"),
        ("TESSERA_DATABASE__URLL", "x"),
        ("TESSERA_DATABASE__POOL_SIZE", "4"),
        ("TESSERA_LOG", "debug"),
        ("TESSERA_CONFIG", "/etc/tessera.toml"),
        ("PATH", "/usr/bin"),
    ]);
    let loaded = super::load(None, &vars).unwrap();
    assert_eq!(
        loaded.ignored,
        [
            "TESSERA_PORT",
            "TESSERA_PORT_8080_TCP_ADDR",
            "TESSERA_SERVICE_HOST",
            "TESSERA_SERVICE_PORT",
            "TESSERA_DATABASE__URLL",
        ]
    );
    assert_eq!(loaded.settings.database.pool_size, 4);
    assert_eq!(loaded.settings.database.url.expose(), "./data/tessera.db");
    assert!(Settings::load_from(None, &vars).is_ok());
}

#[test]
fn known_env_var_with_a_bad_value_is_an_error_naming_it() {
    for (var, value, key) in [
        ("TESSERA_DATABASE__POOL_SIZE", "many", "database.pool_size"),
        ("TESSERA_DATABASE__POOL_SIZE", "-1", "database.pool_size"),
        (
            "TESSERA_CONNECTORS__DEV__ENABLED",
            "maybe",
            "connectors.dev.enabled",
        ),
        ("TESSERA_ISSUER__HOST", "x", "issuer"),
        ("TESSERA_SMTP__HOST", "mail", "smtp"),
    ] {
        let vars = env(&[("TESSERA_SERVICE_HOST", "10.0.0.7"), (var, value)]);
        let msg = Settings::load_from(None, &vars).unwrap_err().to_string();
        assert!(
            msg.starts_with(&format!("environment variable {var}: ")) && msg.contains(key),
            "{msg}"
        );
    }
    let msg = Settings::load_from(None, &env(&[("TESSERA_SMTP__HOST", "mail")]))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("missing field `from`"), "{msg}");
}

#[test]
fn unknown_file_key_is_fatal_and_names_the_file_whatever_the_env_sets() {
    let (_dir, p) = file("[database]\npoolsize = 3\n");
    let vars = env(&[
        ("TESSERA_DATABASE__POOL_SIZE", "2"),
        ("TESSERA_SERVICE_HOST", "10.0.0.7"),
    ]);
    let msg = Settings::load_from(Some(&p), &vars)
        .unwrap_err()
        .to_string();
    assert!(
        msg.ends_with(
            "t.toml: database.poolsize: unknown field `poolsize`, expected one of `url`, `pool_size`, `connect_timeout_secs`, `acquire_timeout_secs`, `migrate_on_start`"
        ),
        "{msg}"
    );
    let (_dir, p) = file("tessera_port = 'tcp://10.0.0.7:8080'\n");
    let msg = Settings::load_from(Some(&p), &[]).unwrap_err().to_string();
    assert!(msg.contains("t.toml: tessera_port: "), "{msg}");
}

#[test]
fn unreadable_and_malformed_files_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.toml");
    let msg = Settings::load_from(Some(&missing), &[])
        .unwrap_err()
        .to_string();
    assert!(msg.contains("missing.toml: cannot read"), "{msg}");
    let (_dir, p) = file("[smtp]\npassword = \"hunter2\n");
    let msg = Settings::load_from(Some(&p), &[]).unwrap_err().to_string();
    assert!(msg.starts_with(&format!("{}: ", p.display())), "{msg}");
    assert!(
        !msg.contains("hunter2"),
        "the source line is not echoed: {msg}"
    );
}

#[test]
fn bad_typed_env_value_is_named() {
    let err =
        Settings::load_from(None, &env(&[("TESSERA_DATABASE__POOL_SIZE", "many")])).unwrap_err();
    assert!(err.to_string().contains("database.pool_size"), "{err}");
}

#[test]
fn bad_enum_in_env_names_variable_key_and_allowed_values() {
    for (var, value, key, allowed) in [
        (
            "TESSERA_ENV",
            "staging",
            "server.environment",
            "development or production",
        ),
        (
            "TESSERA_KEYS__ALGORITHM",
            "HS256",
            "keys.algorithm",
            "RS256, ES256 or EdDSA",
        ),
        (
            "TESSERA_DOMAINS__PROTOCOL",
            "quic",
            "domains.protocol",
            "udp or tcp",
        ),
    ] {
        let msg = Settings::load_from(None, &env(&[(var, value)]))
            .unwrap_err()
            .to_string();
        assert!(
            msg.starts_with(&format!("environment variable {var}: {key}: ")),
            "{msg}"
        );
        assert!(msg.contains(value) && msg.contains(allowed), "{msg}");
    }
}

#[test]
fn bad_enum_in_file_names_file_key_and_allowed_values() {
    let (_dir, p) = file("[smtp]\nhost = 'h'\nfrom = 'a@b.com'\ntls = 'ssl'\n");
    let msg = Settings::load_from(Some(&p), &[]).unwrap_err().to_string();
    assert!(msg.contains("t.toml: smtp.tls: "), "{msg}");
    assert!(
        msg.contains("`ssl`") && msg.contains("none, starttls or tls"),
        "{msg}"
    );

    let (_dir, p) = file("[[actions]]\nname = 'crm'\nkind = 'webhook'\non_error = 'retry'\n");
    let msg = Settings::load_from(Some(&p), &[]).unwrap_err().to_string();
    assert!(msg.contains("actions[0].on_error (action crm): "), "{msg}");
    assert!(msg.contains("deny or continue"), "{msg}");

    let (_dir, p) =
        file("[[actions]]\nname = 'crm'\nkind = 'webhook'\ntriggers = ['post_login', 'logout']\n");
    let msg = Settings::load_from(Some(&p), &[]).unwrap_err().to_string();
    assert!(
        msg.contains("actions[0].triggers[1] (action crm): "),
        "{msg}"
    );
    assert!(msg.contains("post_login or credentials_exchange"), "{msg}");
}

#[test]
fn unknown_file_key_is_named() {
    let (_dir, p) = file("[database]\nurl = 'x'\npoolsize = 3\n");
    let msg = Settings::load_from(Some(&p), &[]).unwrap_err().to_string();
    assert!(msg.contains("t.toml") && msg.contains("poolsize"), "{msg}");
}

#[test]
fn env_reference_secret() {
    let (_dir, p) = file("[database]\nurl = 'env:TESSERA_TEST_NOT_SET_XYZ'\n");
    let msg = Settings::load_from(Some(&p), &[]).unwrap_err().to_string();
    assert!(msg.contains("TESSERA_TEST_NOT_SET_XYZ"), "{msg}");
}

#[test]
fn example_config_is_valid() {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/example.toml");
    let s = Settings::load_from(Some(&p), &[]).unwrap();
    assert_eq!(s.server.bind, Settings::default().server.bind);
}

#[test]
fn production_refuses_dev_connector() {
    let msg = Settings::load_from(
        None,
        &env(&[
            ("TESSERA_ENV", "production"),
            ("TESSERA_CONNECTORS__DEV__ENABLED", "true"),
        ]),
    )
    .unwrap_err()
    .to_string();
    assert!(msg.contains("connectors.dev.enabled"), "{msg}");
    let s = Settings::load_from(None, &env(&[("TESSERA_ENV", "production")])).unwrap();
    assert!(!s.dev_connector_enabled());
}
