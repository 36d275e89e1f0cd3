//! `tessera bench`: a load generator for a running server. It starts
//! nothing itself; it runs N concurrent connections for D seconds per
//! scenario and prints requests/s and p50/p99/max latency.
//!
//! Scenarios: `client_credentials` (needs a confidential client allowed that
//! grant), `refresh` (logs in once per connection through the dev connector,
//! then refreshes with rotation, so it needs the dev connector and a client
//! with a redirect URI and the refresh grant), `jwks`, `discovery`.

use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use clap::Args;
use sha2::{Digest, Sha256};

#[derive(Args)]
pub struct BenchArgs {
    /// Base URL of the running server.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// More instances on the same database (repeatable): the refresh scenario
    /// sends each connection's successive rotations to `--url` and these in
    /// turn, so every rotation may land on another instance.
    #[arg(long = "also-url")]
    pub also_url: Vec<String>,
    /// Concurrent connections.
    #[arg(long, default_value_t = 32)]
    pub connections: usize,
    /// Seconds per scenario.
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Scenarios to run (repeatable): client_credentials, refresh, jwks, discovery. Default: all.
    #[arg(long = "scenario")]
    pub scenarios: Vec<String>,
    /// Confidential client for client_credentials.
    #[arg(long, env = "TESSERA_BENCH_CLIENT_ID")]
    pub client_id: Option<String>,
    #[arg(long, env = "TESSERA_BENCH_CLIENT_SECRET")]
    pub client_secret: Option<String>,
    /// Client for the refresh scenario (defaults to --client-id).
    #[arg(long)]
    pub refresh_client_id: Option<String>,
    #[arg(long)]
    pub refresh_client_secret: Option<String>,
    /// Redirect URI registered for the refresh client.
    #[arg(long)]
    pub redirect_uri: Option<String>,
}

/// Written by hand: the client secrets never show.
impl std::fmt::Debug for BenchArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redact = |s: &Option<String>| s.as_ref().map(|_| crate::config::REDACTED);
        f.debug_struct("BenchArgs")
            .field("url", &self.url)
            .field("connections", &self.connections)
            .field("duration", &self.duration)
            .field("scenarios", &self.scenarios)
            .field("client_id", &self.client_id)
            .field("client_secret", &redact(&self.client_secret))
            .field("refresh_client_id", &self.refresh_client_id)
            .field(
                "refresh_client_secret",
                &redact(&self.refresh_client_secret),
            )
            .field("redirect_uri", &self.redirect_uri)
            .finish()
    }
}

/// Why a bench run could not start or a scenario could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("{0}")]
    Http(#[from] reqwest::Error),
    #[error("unknown scenario `{0}`")]
    UnknownScenario(String),
    /// A scenario lacks an argument it needs (the text names it).
    #[error("{0}")]
    Usage(&'static str),
    #[error("authorize did not redirect (is the dev connector enabled?)")]
    NoAuthorizeRedirect,
    #[error("authorize did not start a login transaction")]
    NoTransaction,
    #[error("dev login did not redirect")]
    NoLoginRedirect,
    #[error("no code in {0}")]
    NoCode(String),
    #[error("no refresh_token in {0}")]
    NoRefreshToken(serde_json::Value),
}

struct Report {
    name: String,
    ok: usize,
    errors: usize,
    elapsed: Duration,
    latencies_us: Vec<u64>,
}

impl Report {
    fn print(&mut self) {
        self.latencies_us.sort_unstable();
        let pct = |p: f64| -> f64 {
            if self.latencies_us.is_empty() {
                return 0.0;
            }
            let idx = ((self.latencies_us.len() as f64 - 1.0) * p).round() as usize;
            self.latencies_us[idx] as f64 / 1000.0
        };
        let rps = self.ok as f64 / self.elapsed.as_secs_f64();
        println!(
            "{:<20} {:>10.0} req/s   p50 {:>7.2} ms   p99 {:>7.2} ms   max {:>8.2} ms   ok {:>8}   errors {}",
            self.name,
            rps,
            pct(0.50),
            pct(0.99),
            self.latencies_us.last().copied().unwrap_or(0) as f64 / 1000.0,
            self.ok,
            self.errors
        );
    }
}

pub async fn run(args: BenchArgs) -> Result<(), BenchError> {
    let scenarios = if args.scenarios.is_empty() {
        vec![
            "client_credentials".into(),
            "refresh".into(),
            "jwks".into(),
            "discovery".into(),
        ]
    } else {
        args.scenarios.clone()
    };
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(args.connections)
        .build()?;
    println!(
        "tessera bench: {} connections, {} s per scenario, against {}",
        args.connections, args.duration, args.url
    );
    for s in scenarios {
        let mut report = match s.as_str() {
            "jwks" => get_loop(&args, &http, "jwks", "/.well-known/jwks.json").await,
            "discovery" => {
                get_loop(
                    &args,
                    &http,
                    "discovery",
                    "/.well-known/openid-configuration",
                )
                .await
            }
            "client_credentials" => client_credentials(&args, &http).await?,
            "refresh" => refresh(&args, &http).await?,
            other => return Err(BenchError::UnknownScenario(other.to_string())),
        };
        report.print();
    }
    Ok(())
}

/// Runs `connections` workers until the deadline; each call returns Ok on success.
async fn drive<S, F, Fut>(name: &str, args: &BenchArgs, states: Vec<S>, op: F) -> Report
where
    S: Send + 'static,
    F: Fn(S) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = (S, bool)> + Send,
{
    let deadline = Instant::now() + Duration::from_secs(args.duration);
    let started = Instant::now();
    let mut handles = Vec::new();
    for st in states {
        let op = op.clone();
        handles.push(tokio::spawn(async move {
            let mut st = st;
            let mut lat = Vec::with_capacity(16 * 1024);
            let (mut ok, mut errors) = (0usize, 0usize);
            while Instant::now() < deadline {
                let t = Instant::now();
                let (next, success) = op(st).await;
                st = next;
                if success {
                    ok += 1;
                    lat.push(t.elapsed().as_micros() as u64);
                } else {
                    errors += 1;
                }
            }
            (ok, errors, lat)
        }));
    }
    let mut report = Report {
        name: name.to_string(),
        ok: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        latencies_us: Vec::new(),
    };
    for h in handles {
        if let Ok((ok, errors, lat)) = h.await {
            report.ok += ok;
            report.errors += errors;
            report.latencies_us.extend(lat);
        }
    }
    report.elapsed = started.elapsed();
    report
}

async fn get_loop(args: &BenchArgs, http: &reqwest::Client, name: &str, path: &str) -> Report {
    let url = format!("{}{path}", args.url);
    let states = (0..args.connections)
        .map(|_| (http.clone(), url.clone()))
        .collect();
    drive(
        name,
        args,
        states,
        |(http, url): (reqwest::Client, String)| async move {
            let ok = match http.get(&url).send().await {
                Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                Err(_) => false,
            };
            ((http, url), ok)
        },
    )
    .await
}

async fn client_credentials(
    args: &BenchArgs,
    http: &reqwest::Client,
) -> Result<Report, BenchError> {
    let (Some(id), Some(secret)) = (args.client_id.clone(), args.client_secret.clone()) else {
        return Err(BenchError::Usage(
            "client_credentials needs --client-id and --client-secret",
        ));
    };
    let url = format!("{}/oauth/token", args.url);
    let states = (0..args.connections)
        .map(|_| (http.clone(), url.clone(), id.clone(), secret.clone()))
        .collect();
    Ok(drive(
        "client_credentials",
        args,
        states,
        |(http, url, id, secret): (reqwest::Client, String, String, String)| async move {
            let ok = match http
                .post(&url)
                .basic_auth(&id, Some(&secret))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
            {
                Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                Err(_) => false,
            };
            ((http, url, id, secret), ok)
        },
    )
    .await)
}

/// Logs one bench user in through the dev connector and returns its refresh token.
async fn dev_login(
    base: &str,
    client_id: &str,
    client_secret: Option<&str>,
    redirect_uri: &str,
    n: usize,
) -> Result<String, BenchError> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()?;
    let verifier = crate::secrets::new_token();
    let challenge = B64.encode(Sha256::digest(verifier.as_bytes()));
    let res = http
        .get(format!("{base}/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", redirect_uri),
            ("scope", "openid offline_access"),
            ("state", "bench"),
            ("connection", "dev"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await?;
    let location = res
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .ok_or(BenchError::NoAuthorizeRedirect)?
        .to_string();
    let tx = url::Url::parse(&format!("{base}{location}"))
        .ok()
        .and_then(|u| {
            u.query_pairs()
                .find(|(k, _)| k == "tx")
                .map(|(_, v)| v.to_string())
        })
        .ok_or(BenchError::NoTransaction)?;
    let email = format!("bench-{n}@bench.example.com");
    let res = http
        .post(format!("{base}/callback/dev"))
        .form(&[
            ("tx", tx.as_str()),
            ("email", &email),
            ("name", "Bench"),
            ("email_verified", "true"),
        ])
        .send()
        .await?;
    let location = res
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .ok_or(BenchError::NoLoginRedirect)?
        .to_string();
    let code = url::Url::parse(&location)
        .ok()
        .and_then(|u| {
            u.query_pairs()
                .find(|(k, _)| k == "code")
                .map(|(_, v)| v.to_string())
        })
        .ok_or_else(|| BenchError::NoCode(location.clone()))?;
    let mut req = http.post(format!("{base}/oauth/token"));
    req = match client_secret {
        Some(s) => req.basic_auth(client_id, Some(s)),
        None => req,
    };
    let mut form = vec![
        ("grant_type", "authorization_code".to_string()),
        ("code", code),
        ("redirect_uri", redirect_uri.to_string()),
        ("code_verifier", verifier),
    ];
    if client_secret.is_none() {
        form.push(("client_id", client_id.to_string()));
    }
    let body: serde_json::Value = req.form(&form).send().await?.json().await?;
    match body.get("refresh_token").and_then(|t| t.as_str()) {
        Some(t) => Ok(t.to_string()),
        None => Err(BenchError::NoRefreshToken(body)),
    }
}

async fn refresh(args: &BenchArgs, http: &reqwest::Client) -> Result<Report, BenchError> {
    let client_id = args
        .refresh_client_id
        .clone()
        .or_else(|| args.client_id.clone())
        .ok_or(BenchError::Usage(
            "refresh needs --refresh-client-id (or --client-id)",
        ))?;
    let secret = args
        .refresh_client_secret
        .clone()
        .or_else(|| args.client_secret.clone());
    let redirect = args
        .redirect_uri
        .clone()
        .ok_or(BenchError::Usage("refresh needs --redirect-uri"))?;
    let urls: std::sync::Arc<Vec<String>> = std::sync::Arc::new(
        std::iter::once(&args.url)
            .chain(&args.also_url)
            .map(|u| format!("{u}/oauth/token"))
            .collect(),
    );
    let mut states = Vec::new();
    for n in 0..args.connections {
        let rt = dev_login(&args.url, &client_id, secret.as_deref(), &redirect, n).await?;
        states.push((
            http.clone(),
            (urls.clone(), n),
            client_id.clone(),
            secret.clone(),
            rt,
        ));
    }
    type Urls = (std::sync::Arc<Vec<String>>, usize);
    type St = (reqwest::Client, Urls, String, Option<String>, String);
    Ok(drive(
        "refresh_token",
        args,
        states,
        |(http, (urls, turn), id, secret, rt): St| async move {
            let url = (urls[turn % urls.len()]).clone();
            let url = (urls, turn + 1, url);
            let mut req = http.post(&url.2);
            let mut form = vec![
                ("grant_type", "refresh_token".to_string()),
                ("refresh_token", rt.clone()),
            ];
            match &secret {
                Some(s) => req = req.basic_auth(&id, Some(s)),
                None => form.push(("client_id", id.clone())),
            }
            let next = match req.form(&form).send().await {
                Ok(r) if r.status().is_success() => {
                    r.json::<serde_json::Value>().await.ok().and_then(|b| {
                        b.get("refresh_token")
                            .and_then(|t| t.as_str())
                            .map(str::to_string)
                    })
                }
                _ => None,
            };
            let (urls, turn, _) = url;
            match next {
                Some(n) => ((http, (urls, turn), id, secret, n), true),
                None => ((http, (urls, turn), id, secret, rt), false),
            }
        },
    )
    .await)
}
