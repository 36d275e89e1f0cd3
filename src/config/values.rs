//! The closed sets of values a setting may take, as enums.
//!
//! Each is read from (and written as) its lower-case name, through `FromStr`,
//! so a bad value in the file or the environment is a [`UnknownValue`] that
//! lists the allowed names; `crate::config::layering` adds the key.

use std::str::FromStr;

/// A value that is not one of the names a setting allows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported {what} `{value}` (use {})", list(allowed))]
pub struct UnknownValue {
    /// What the value names ("algorithm", "trigger", …).
    pub what: &'static str,
    pub value: String,
    pub allowed: &'static [&'static str],
}

/// `a`, `a or b`, `a, b or c`.
fn list(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// Declares a fieldless enum read from and written as fixed names, with
/// `as_str`, `ALL`, `FromStr` (error: [`UnknownValue`]), `Display`, serde.
macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident ($what:literal) {
            $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];
            /// The names `FromStr` accepts, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            /// The name in config files, JSON and logs.
            pub fn as_str(&self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::config::UnknownValue;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok(Self::$variant),)+
                    other => Err($crate::config::UnknownValue {
                        what: $what,
                        value: other.to_string(),
                        allowed: Self::NAMES,
                    }),
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = <::std::string::String>::deserialize(d)?;
                raw.parse().map_err(::serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use named_enum;

named_enum! {
    /// JWS algorithm of Tessera's signing keys (RFC 7518 §3.1, RFC 8037 §3.1).
    pub enum Algorithm ("algorithm") {
        RS256 = "RS256",
        ES256 = "ES256",
        EdDSA = "EdDSA",
    }
}

impl Algorithm {
    /// Same as `str::parse`; kept for callers that name it.
    pub fn parse(s: &str) -> Result<Self, UnknownValue> {
        Self::from_str(s)
    }
}

named_enum! {
    /// `keys.store`: where signing keys live.
    pub enum KeyStoreKind ("key store") {
        /// `keys.dir`: one node, or a mounted secret.
        Files = "files",
        /// The database, private keys sealed under `keys.encryption_key`.
        Database = "database",
    }
}

named_enum! {
    /// `server.environment`: `production` refuses the dev connector.
    pub enum Environment ("environment") {
        Development = "development",
        Production = "production",
    }
}

named_enum! {
    /// `domains.protocol`: how the resolver talks to the configured nameservers.
    pub enum DnsProtocol ("protocol") {
        Udp = "udp",
        Tcp = "tcp",
    }
}

named_enum! {
    /// `smtp.tls`: plain, STARTTLS required, or TLS from the first byte.
    pub enum SmtpTls ("TLS mode") {
        None = "none",
        StartTls = "starttls",
        Tls = "tls",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for alg in Algorithm::ALL {
            assert_eq!(alg.as_str().parse::<Algorithm>(), Ok(*alg));
            assert_eq!(alg.to_string(), alg.as_str());
        }
        assert_eq!(
            serde_json::to_value(Algorithm::EdDSA).unwrap(),
            serde_json::json!("EdDSA")
        );
        assert_eq!(
            serde_json::from_value::<SmtpTls>(serde_json::json!("starttls")).unwrap(),
            SmtpTls::StartTls
        );
    }

    #[test]
    fn unknown_value_lists_the_allowed_names() {
        let err = "HS256".parse::<Algorithm>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unsupported algorithm `HS256` (use RS256, ES256 or EdDSA)"
        );
        let err = "staging".parse::<Environment>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unsupported environment `staging` (use development or production)"
        );
        let err = serde_json::from_value::<DnsProtocol>(serde_json::json!("quic")).unwrap_err();
        assert!(err.to_string().contains("use udp or tcp"), "{err}");
    }
}
