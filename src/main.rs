//! The `tessera` command line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use tessera::app::{AppState, Application, StartError};
use tessera::clock::{Clock, SystemClock};
use tessera::config::Settings;
use tessera::db::DbError;
use tessera::tokens::keys::{self, Algorithm, KeyError};

/// Why a command failed (exit code 1; configuration errors exit earlier with 2).
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error(transparent)]
    Start(#[from] StartError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error(transparent)]
    Register(#[from] tessera::oauth::client::RegisterError),
    #[error(transparent)]
    Org(#[from] tessera::orgs::OrgError),
    #[error(transparent)]
    Bench(#[from] tessera::bench::BenchError),
    #[error("{0}")]
    Serve(#[source] std::io::Error),
    #[error("{0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    #[error(
        "{dir} already holds an active key; use `tessera keys rotate --alg {alg}` to replace it"
    )]
    ActiveKeyExists { dir: String, alg: Algorithm },
    #[error("no client `{0}`")]
    NoClient(String),
    /// `orgs grant-client` failed (its message names the problem).
    #[error("{0}")]
    GrantClient(String),
}

#[derive(Parser)]
#[command(
    name = "tessera",
    version,
    about = "Multi-organization OAuth 2.0 / OpenID Connect server"
)]
struct Cli {
    /// TOML config file (every key can also be set with TESSERA_… variables).
    #[arg(long, global = true, env = "TESSERA_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default): migrates, creates a key if none, listens.
    Serve {
        /// Do not apply pending migrations (run `tessera migrate` first);
        /// start-up fails while any is pending.
        #[arg(long)]
        no_migrate: bool,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage signing keys in the keys directory.
    Keys {
        #[command(subcommand)]
        action: KeysCommand,
    },
    /// Manage OAuth clients in the database.
    Clients {
        #[command(subcommand)]
        action: ClientsCommand,
    },
    /// Admin shortcuts for organizations.
    Orgs {
        #[command(subcommand)]
        action: OrgsCommand,
    },
    /// Load generator: drives a running server and prints throughput and latency.
    Bench(tessera::bench::BenchArgs),
}

#[derive(Subcommand)]
enum OrgsCommand {
    /// List organizations.
    List,
    /// Show an organization (id or slug) with its owners and members.
    Show { org: String },
    /// Let a client get org-scoped client-credentials tokens (`organization=`) for an org.
    GrantClient {
        #[arg(long)]
        org: String,
        #[arg(long)]
        client: String,
    },
}

#[derive(Subcommand)]
enum ClientsCommand {
    /// Register a client. A confidential client's secret is printed once.
    Add {
        /// client_id (default: a random id).
        #[arg(long)]
        id: Option<String>,
        #[arg(long)]
        name: String,
        /// Exact redirect URI (repeatable).
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// Post-logout redirect URI (repeatable).
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// A public client (no secret; PKCE mandatory).
        #[arg(long)]
        public: bool,
        /// Grant type (repeatable): authorization_code, refresh_token, client_credentials.
        #[arg(long = "grant")]
        grants: Vec<String>,
        /// Allowed scope (repeatable). Default: openid profile email offline_access orgs.
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Allowed audience (repeatable; the first is the default).
        #[arg(long = "audience")]
        audiences: Vec<String>,
        /// Extra CORS origin (repeatable).
        #[arg(long = "allowed-origin")]
        allowed_origins: Vec<String>,
        #[arg(long, default_value = "optional")]
        organization_usage: String,
        /// First-party app (no consent screen).
        #[arg(long)]
        first_party: bool,
    },
    /// List clients.
    List,
    /// Remove a client (its tokens stop working).
    Remove { id: String },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create the first (active) key. Refused when a key is already active: use `rotate`.
    Generate {
        /// RS256, ES256 or EdDSA (default: keys.algorithm).
        #[arg(long)]
        alg: Option<Algorithm>,
    },
    /// Create a new active key; the old one retires but stays in the JWKS
    /// until every token it signed has expired.
    Rotate {
        /// RS256, ES256 or EdDSA (default: keys.algorithm).
        #[arg(long)]
        alg: Option<Algorithm>,
    },
    /// List keys with their state.
    List,
    /// After changing `keys.encryption_key` (database store): re-seal every
    /// key's data key under the new KEK. `--from` is the old KEK (a value or
    /// `env:NAME`).
    Rewrap {
        #[arg(long)]
        from: String,
    },
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TESSERA_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("tessera: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("tessera: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(
        cli.command.unwrap_or(Command::Serve { no_migrate: false }),
        settings,
    ));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tessera: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, settings: Settings) -> Result<(), CliError> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    match command {
        Command::Serve { no_migrate } => {
            let mut settings = settings;
            if no_migrate {
                settings.database.migrate_on_start = false;
            }
            if settings.dev_connector_enabled() {
                tracing::warn!("the dev connector is ENABLED: anyone can log in as any email. Never use it in production (TESSERA_ENV=production disables it).");
            }
            let state = AppState::build(settings, clock).await?;
            let app = Application::bind(state)?;
            tracing::info!(port = app.port(), "tessera listening");
            app.run_until_stopped().await.map_err(CliError::Serve)
        }
        Command::Migrate => {
            let db_settings = settings.database.clone();
            let applied = tokio::task::spawn_blocking(move || {
                let db = tessera::db::Db::connect(&db_settings)?;
                db.migrate()
            })
            .await??;
            println!("applied {} migration(s)", applied.len());
            for m in applied {
                println!("  {m}");
            }
            Ok(())
        }
        Command::Keys { action } => match settings.keys.store {
            tessera::config::KeyStoreKind::Files => keys_command(action, &settings, clock.as_ref()),
            tessera::config::KeyStoreKind::Database => {
                let clock = clock.clone();
                tokio::task::spawn_blocking(move || {
                    db_keys_command(action, &settings, clock.as_ref())
                })
                .await?
            }
        },
        Command::Clients { action } => clients_command(action, &settings, clock.as_ref()).await,
        Command::Orgs { action } => orgs_command(action, &settings, clock.as_ref()).await,
        Command::Bench(args) => Ok(tessera::bench::run(args).await?),
    }
}

/// `tessera keys …` with `keys.store = "database"`.
fn db_keys_command(
    action: KeysCommand,
    settings: &Settings,
    clock: &dyn Clock,
) -> Result<(), CliError> {
    use tessera::tokens::keys::{database, Kek};
    let db = tessera::db::Db::connect(&settings.database)?;
    db.migrate()?;
    let kek = database::kek_of(settings)?;
    let alg_of = |a: Option<Algorithm>| a.unwrap_or(settings.keys.algorithm);
    match action {
        KeysCommand::Generate { alg } => {
            let alg = alg_of(alg);
            match database::ensure_active(&db, &kek, alg, clock.now())? {
                Some(meta) => {
                    println!("{}\t{}\t{:?}", meta.kid, meta.alg.as_str(), meta.state);
                    Ok(())
                }
                None => Err(CliError::ActiveKeyExists {
                    dir: "the database".into(),
                    alg,
                }),
            }
        }
        KeysCommand::Rotate { alg } => {
            let alg = alg_of(alg);
            // Publish before use: every instance loads the new key within its
            // reload interval, so it signs only after that (until then the
            // previous key signs, and it stays published for its tokens).
            let delay = settings.keys.reload_interval();
            let meta = database::rotate(&db, &kek, alg, clock.now(), delay)?;
            let pruned = database::prune(&db, settings.max_token_ttl(), clock.now())?;
            println!(
                "new active key {} ({}), published now, signing from {}",
                meta.kid,
                meta.alg.as_str(),
                meta.activation().to_rfc3339()
            );
            for kid in pruned {
                println!("retired {kid} (every token it signed has expired)");
            }
            Ok(())
        }
        KeysCommand::List => {
            print_keys(&database::list(&db)?);
            Ok(())
        }
        KeysCommand::Rewrap { from } => {
            let old = tessera::config::resolve_env_reference(&from)
                .map_err(|e| CliError::Keys(KeyError::Kek(format!("--from: {e}"))))?;
            let old = Kek::parse(&old)
                .map_err(|e| CliError::Keys(KeyError::Kek(format!("--from: {e}"))))?;
            let n = database::rewrap(&db, &old, &kek)?;
            println!("re-sealed {n} key(s) under key-encryption key {}", kek.id());
            Ok(())
        }
    }
}

fn print_keys(keys: &[keys::KeyMeta]) {
    println!("KID\tALG\tSTATE\tCREATED\tRETIRED");
    for m in keys {
        println!(
            "{}\t{}\t{:?}\t{}\t{}",
            m.kid,
            m.alg.as_str(),
            m.state,
            m.created_at.to_rfc3339(),
            m.retired_at.map(|t| t.to_rfc3339()).unwrap_or_default()
        );
    }
}

fn keys_command(
    action: KeysCommand,
    settings: &Settings,
    clock: &dyn Clock,
) -> Result<(), CliError> {
    let dir = &settings.keys.dir;
    let alg_of = |a: Option<Algorithm>| a.unwrap_or(settings.keys.algorithm);
    match action {
        KeysCommand::Generate { alg } => {
            let alg = alg_of(alg);
            let has_active = keys::list_keys(dir)?
                .iter()
                .any(|k| k.state == keys::KeyState::Active);
            if has_active {
                return Err(CliError::ActiveKeyExists {
                    dir: dir.display().to_string(),
                    alg,
                });
            }
            let meta = keys::generate_key(dir, alg, clock.now())?;
            println!("{}\t{}\t{:?}", meta.kid, meta.alg.as_str(), meta.state);
            Ok(())
        }
        KeysCommand::Rotate { alg } => {
            let alg = alg_of(alg);
            let meta = keys::rotate(dir, alg, clock.now())?;
            let pruned = keys::prune(dir, settings.max_token_ttl(), clock.now())?;
            println!("new active key {} ({})", meta.kid, meta.alg.as_str());
            for kid in pruned {
                println!("retired {kid} (every token it signed has expired)");
            }
            Ok(())
        }
        KeysCommand::List => {
            print_keys(&keys::list_keys(dir)?);
            Ok(())
        }
        KeysCommand::Rewrap { .. } => Err(CliError::Keys(KeyError::Kek(
            "keys rewrap is for keys.store = \"database\"; files are protected by their mode"
                .into(),
        ))),
    }
}

async fn clients_command(
    action: ClientsCommand,
    settings: &Settings,
    clock: &dyn Clock,
) -> Result<(), CliError> {
    use tessera::oauth::client;
    let now = clock.now_naive();
    with_db(settings, move |conn| match action {
        ClientsCommand::Add {
            id,
            name,
            redirect_uris,
            post_logout_redirect_uris,
            public,
            grants,
            scopes,
            audiences,
            allowed_origins,
            organization_usage,
            first_party,
        } => {
            let grants = if grants.is_empty() {
                vec![
                    "authorization_code".to_string(),
                    "refresh_token".to_string(),
                ]
            } else {
                grants
            };
            let scopes = if scopes.is_empty() {
                ["openid", "profile", "email", "offline_access", "orgs"]
                    .iter()
                    .map(|s| s.to_string())
                    .collect()
            } else {
                scopes
            };
            let spec = client::ClientSpec {
                client_id: id.unwrap_or_else(|| tessera::secrets::random_token(12)),
                name,
                redirect_uris,
                post_logout_redirect_uris,
                grant_types: grants,
                scopes,
                audiences,
                allowed_origins,
                public,
                first_party,
                organization_usage,
            };
            let secret = client::register(conn, &spec, now)?;
            println!("client_id:     {}", spec.client_id);
            match secret {
                Some(s) => println!("client_secret: {s}\n(shown once: only a hash is stored)"),
                None => println!("public client: no secret; PKCE is mandatory"),
            }
            Ok(())
        }
        ClientsCommand::List => {
            println!("CLIENT_ID\tNAME\tPUBLIC\tGRANTS\tREDIRECT_URIS");
            for c in client::list(conn)? {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    c.id,
                    c.name,
                    c.public,
                    c.grant_type_names().join(","),
                    c.redirect_uris.join(" ")
                );
            }
            Ok(())
        }
        ClientsCommand::Remove { id } => {
            if client::remove(conn, &id)? {
                println!("removed {id}");
                Ok(())
            } else {
                Err(CliError::NoClient(id))
            }
        }
    })
    .await
}

async fn orgs_command(
    action: OrgsCommand,
    settings: &Settings,
    clock: &dyn Clock,
) -> Result<(), CliError> {
    let now = clock.now_naive();
    with_db(settings, move |conn| match action {
        OrgsCommand::List => {
            println!("ID\tSLUG\tNAME\tPERSONAL");
            let mut after: Option<String> = None;
            loop {
                let page = tessera::orgs::admin::list_orgs(conn, after.as_deref(), 200)?;
                for o in &page {
                    println!("{}\t{}\t{}\t{}", o.id, o.slug, o.name, o.personal);
                }
                match page.last() {
                    Some(last) if page.len() == 200 => after = Some(last.id.clone()),
                    _ => break,
                }
            }
            Ok(())
        }
        OrgsCommand::Show { org } => {
            let report = tessera::orgs::admin::org_report(conn, &org)?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        OrgsCommand::GrantClient { org, client } => {
            if tessera::oauth::client::find(conn, &client)?.is_none() {
                return Err(CliError::NoClient(client));
            }
            let id = tessera::orgs::claims::grant_client(conn, &client, &org, now)
                .map_err(|e| CliError::GrantClient(format!("organization `{org}`: {e}")))?;
            println!("client {client} may now request organization={id}");
            Ok(())
        }
    })
    .await
}

/// Runs an admin command against the (migrated) database, off the async runtime.
async fn with_db<F>(settings: &Settings, f: F) -> Result<(), CliError>
where
    F: FnOnce(&mut tessera::db::DbConn) -> Result<(), CliError> + Send + 'static,
{
    let db_settings = settings.database.clone();
    tokio::task::spawn_blocking(move || {
        let db = tessera::db::Db::connect(&db_settings)?;
        db.migrate()?;
        let mut conn = db.get()?;
        f(&mut conn)
    })
    .await?
}
