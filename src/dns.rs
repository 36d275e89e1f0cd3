//! TXT lookups for domain verification through `hickory-resolver`, with
//! nameservers, protocol, timeout and attempts from config (tests point it at
//! their own DNS server on loopback). Caching is off: a verification must
//! see the record as it is now.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::{Resolver, TokioResolver};
use serde::Serialize;

use crate::config::{DnsProtocol, DomainSettings};

/// Why the resolver could not be set up (serve refuses to start).
#[derive(Debug, thiserror::Error)]
pub enum ResolverError {
    #[error("system resolver: {0}")]
    System(#[source] NetError),
    #[error("domains.nameservers: `{0}` is not ip:port")]
    Nameserver(String),
    #[error("resolver: {0}")]
    Build(#[source] NetError),
}

/// What a TXT lookup found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", content = "values", rename_all = "snake_case")]
pub enum TxtAnswer {
    /// The TXT strings found (multi-string records joined).
    Records(Vec<String>),
    /// The name exists but has no TXT record.
    NoRecord,
    Nxdomain,
    Timeout,
    /// The server failed (SERVFAIL, refused, garbage).
    Error(String),
}

pub struct Dns {
    resolver: TokioResolver,
    timeout: Duration,
}

/// Longest TXT value we keep (a record can carry many 255-byte strings).
const MAX_TXT: usize = 4096;

impl Dns {
    pub fn from_settings(s: &DomainSettings) -> Result<Self, ResolverError> {
        let mut builder = if s.nameservers.is_empty() {
            TokioResolver::builder_tokio().map_err(ResolverError::System)?
        } else {
            let mut servers = Vec::new();
            for ns in &s.nameservers {
                let addr: SocketAddr = ns
                    .parse()
                    .map_err(|_| ResolverError::Nameserver(ns.clone()))?;
                let mut conn = match s.protocol {
                    DnsProtocol::Tcp => ConnectionConfig::tcp(),
                    DnsProtocol::Udp => ConnectionConfig::udp(),
                };
                conn.port = addr.port();
                servers.push(NameServerConfig::new(addr.ip(), true, vec![conn]));
            }
            Resolver::builder_with_config(
                ResolverConfig::from_parts(None, vec![], servers),
                TokioRuntimeProvider::default(),
            )
        };
        let timeout = Duration::from_millis(s.timeout_ms.max(1));
        {
            let opts = builder.options_mut();
            opts.timeout = timeout;
            opts.attempts = s.attempts.max(1);
            opts.cache_size = 0;
        }
        let resolver = builder.build().map_err(ResolverError::Build)?;
        // Hard bound: the resolver retries (attempts + 1) × timeout in the worst case.
        let tries = u32::try_from(s.attempts)
            .unwrap_or(u32::MAX)
            .saturating_add(1);
        let total = timeout.saturating_mul(tries);
        Ok(Self {
            resolver,
            timeout: total,
        })
    }

    pub async fn txt(&self, name: &str) -> TxtAnswer {
        let lookup =
            tokio::time::timeout(self.timeout, self.resolver.txt_lookup(format!("{name}."))).await;
        match lookup {
            Err(_) => TxtAnswer::Timeout,
            Ok(Ok(l)) => {
                let values: Vec<String> = l
                    .answers()
                    .iter()
                    .filter_map(|r| match &r.data {
                        RData::TXT(t) => {
                            let joined: Vec<u8> = t
                                .txt_data
                                .iter()
                                .flat_map(|s| s.iter().copied())
                                .take(MAX_TXT)
                                .collect();
                            Some(String::from_utf8_lossy(&joined).into_owned())
                        }
                        _ => None,
                    })
                    .take(50)
                    .collect();
                if values.is_empty() {
                    TxtAnswer::NoRecord
                } else {
                    TxtAnswer::Records(values)
                }
            }
            Ok(Err(NetError::Dns(DnsError::NoRecordsFound(nr))))
                if nr.response_code == ResponseCode::NXDomain =>
            {
                TxtAnswer::Nxdomain
            }
            Ok(Err(NetError::Dns(DnsError::NoRecordsFound(_)))) => TxtAnswer::NoRecord,
            Ok(Err(NetError::Timeout)) => TxtAnswer::Timeout,
            Ok(Err(e)) => TxtAnswer::Error(e.to_string().chars().take(200).collect()),
        }
    }
}
