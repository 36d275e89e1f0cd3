//! The [`Email`] newtype: an email address as Tessera stores and compares it.
//!
//! Parse, don't validate: an `Email` exists only after [`Email::parse`], so
//! code that takes one (linking identities, matching invitations, auto-enroll
//! by domain) never re-checks a string. The syntax is RFC 5322's addr-spec as
//! the `email_address` crate reads it, narrowed for an identity provider.

use std::fmt;

/// An email address: trimmed, lowercased (emails compare case-insensitively
/// here, and are stored lowercased), and
/// * an RFC 5322 addr-spec (`email_address`): a dot-atom or quoted local part
///   of at most 64 octets, `@`, a domain of at most 254 octets;
/// * with a dotted domain (`alice@example` is refused) and no domain literal
///   (`alice@[10.0.0.1]`) or display name (`Alice <alice@example.com>`);
/// * without whitespace, control characters, `<>,;` (even quoted: they break
///   mail headers and log lines) or invisible formatting characters
///   (zero-width, bidi controls: look-alike addresses on invitation pages).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Email(String);

/// Why a string is not an [`Email`]. Both say the same to a person; the
/// source is there for logs.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EmailError {
    #[error("not a valid email address")]
    Syntax(#[source] email_address::Error),
    #[error("not a valid email address")]
    Character,
}

impl Email {
    pub fn parse(input: &str) -> Result<Self, EmailError> {
        let s = input.trim().to_lowercase();
        if s.chars().any(forbidden) {
            return Err(EmailError::Character);
        }
        let options = email_address::Options::default()
            .without_display_text()
            .without_domain_literal()
            .with_required_tld();
        email_address::EmailAddress::parse_with_options(&s, options).map_err(EmailError::Syntax)?;
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part after the last `@` (lowercase, as given: not IDNA-encoded).
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(_, d)| d)
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

fn forbidden(c: char) -> bool {
    c.is_whitespace()
        || c.is_control()
        || matches!(c, '<' | '>' | ',' | ';')
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<Email> for String {
    fn from(e: Email) -> Self {
        e.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises() -> Result<(), EmailError> {
        let e = Email::parse("  Alice.Smith+Tag@Example.COM ")?;
        assert_eq!(e.as_str(), "alice.smith+tag@example.com");
        assert_eq!(e.domain(), "example.com");
        assert_eq!(e.to_string(), e.as_str());
        assert_eq!(Email::parse("bob@eu.acme.co.uk")?.domain(), "eu.acme.co.uk");
        // Quoted local parts and internationalised addresses are RFC-valid.
        assert_eq!(
            Email::parse("\"a.b\"@example.com")?.as_str(),
            "\"a.b\"@example.com"
        );
        assert_eq!(Email::parse("JÖRG@Bücher.de")?.as_str(), "jörg@bücher.de");
        assert_eq!(Email::parse("jörg@bücher.de")?.domain(), "bücher.de");
        Ok(())
    }

    #[test]
    fn refuses() {
        let long_local = format!("{}@example.com", "a".repeat(65));
        let long_domain = format!("a@{}.com", "b".repeat(260));
        for bad in [
            "",
            "alice",
            "@example.com",
            "alice@",
            "alice@example",
            "alice@.com",
            "alice@example.com.",
            "alice@example..com",
            "alice@-example.com",
            "alice@@example.com",
            "alice@b@example.com",
            "al ice@example.com",
            "\"al ice\"@example.com",
            "\"a,b\"@example.com",
            "alice@[127.0.0.1]",
            "Alice <alice@example.com>",
            "alice@example.com, bob@example.com",
            "alice;@example.com",
            "ali\u{202E}ce@example.com",
            "ali\u{200B}ce@example.com",
            "alice\n@example.com",
            "alice@exa\u{0}mple.com",
            ".alice@example.com",
            "alice.@example.com",
            "al..ice@example.com",
            &long_local,
            &long_domain,
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn message_names_no_detail() {
        let e = Email::parse("alice").unwrap_err();
        assert_eq!(e.to_string(), "not a valid email address");
        assert!(std::error::Error::source(&e).is_some());
    }
}
