//! Domain names as an org may claim them.

use super::super::OrgError;

/// Reserved or private top-level names that can never be a public domain.
const RESERVED_TLDS: &[&str] = &[
    "localhost",
    "local",
    "internal",
    "invalid",
    "test",
    "example",
    "lan",
    "home",
    "corp",
    "arpa",
    "onion",
    "localdomain",
];

/// Where a name stands in the Public Suffix List.
#[derive(Debug, PartialEq, Eq)]
enum Registrable {
    /// A registrable domain (eTLD+1, `acme.co.uk`) or a name below one (`eu.acme.com`).
    Yes,
    /// A suffix the list names (`com`, `co.uk`, `github.io`, `vercel.app`): anyone
    /// may register below it, so no org can own it.
    PublicSuffix,
    /// The last label is no suffix the list names (`acme.zzz`): the list's
    /// implicit `*` rule would call it one, but no such TLD is delegated.
    UnknownSuffix,
}

/// Looks the lowercase ASCII name up in the Public Suffix List compiled into
/// the `psl` crate (ICANN and private sections; `cargo update -p psl` brings
/// a newer list). Nothing is downloaded at run time.
fn registrable_domain(ascii: &str) -> Registrable {
    use psl::Psl;
    match psl::List.domain(ascii.as_bytes()) {
        Some(d) if d.suffix().is_known() => Registrable::Yes,
        Some(_) => Registrable::UnknownSuffix,
        None => match psl::List.suffix(ascii.as_bytes()) {
            Some(s) if s.is_known() => Registrable::PublicSuffix,
            _ => Registrable::UnknownSuffix,
        },
    }
}

/// A normalised domain: lowercase ASCII (IDNA), no trailing dot, a
/// registrable domain (eTLD+1) of the Public Suffix List or a name below one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainName(String);

impl DomainName {
    pub fn parse(input: &str) -> Result<Self, OrgError> {
        let bad = |m: &str| OrgError::invalid("domain", m.to_string());
        let s = input.trim();
        if s.is_empty() || s.len() > 253 {
            return Err(bad("must be 1-253 characters"));
        }
        if s.contains("://")
            || s.contains('/')
            || s.contains(':')
            || s.contains('@')
            || s.contains('?')
            || s.contains('#')
        {
            return Err(bad(
                "give a bare domain name: no scheme, path, port or user",
            ));
        }
        let s = s.strip_suffix('.').unwrap_or(s);
        // Confusables: refuse labels that mix Latin letters with Cyrillic or
        // Greek ones (`аcme.com` with a Cyrillic `а`), the usual look-alike trick.
        for label in s.split('.') {
            let latin = label.chars().any(|c| {
                c.is_ascii_alphabetic()
                    || ('\u{00C0}'..='\u{024F}').contains(&c)
                    || ('\u{1E00}'..='\u{1EFF}').contains(&c)
            });
            let lookalike = label
                .chars()
                .any(|c| ('\u{0370}'..='\u{052F}').contains(&c));
            if latin && lookalike {
                return Err(bad(
                    "a label mixes Latin with Cyrillic or Greek letters (possible look-alike)",
                ));
            }
        }
        let host = url::Host::parse(s).map_err(|_| bad("not a valid domain name"))?;
        let ascii = match host {
            url::Host::Domain(d) => d,
            _ => return Err(bad("IP addresses cannot be verified")),
        };
        let labels: Vec<&str> = ascii.split('.').collect();
        if labels.len() < 2 {
            return Err(bad("needs a public suffix (e.g. example.com)"));
        }
        for l in &labels {
            let ok = (1..=63).contains(&l.len())
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-');
            if !ok {
                return Err(bad(
                    "each label must be 1-63 of a-z, 0-9 and - (not at the ends)",
                ));
            }
        }
        let tld = labels.last().copied().unwrap_or_default();
        if RESERVED_TLDS.contains(&tld) {
            return Err(bad("needs a public suffix (e.g. example.com)"));
        }
        if ascii.len() > 253 {
            return Err(bad("must be at most 253 characters"));
        }
        match registrable_domain(&ascii) {
            Registrable::Yes => Ok(Self(ascii)),
            Registrable::PublicSuffix => Err(bad(
                "is a public suffix (like co.uk or github.io), which no one org owns: \
                 give a domain registered under it (e.g. example.co.uk)",
            )),
            Registrable::UnknownSuffix => Err(bad("needs a public suffix (e.g. example.com)")),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation() {
        assert_eq!(DomainName::parse("Acme.COM.").unwrap().as_str(), "acme.com");
        assert_eq!(
            DomainName::parse("bücher.example.de").unwrap().as_str(),
            "xn--bcher-kva.example.de"
        );
        for bad in [
            "http://x",
            "..",
            "localhost",
            "127.0.0.1",
            "[::1]",
            "acme.com:443",
            "acme.com/path",
            "a@acme.com",
            "acme",
            "аpple.com",
            "-acme.com",
            "acme.test",
            "",
            &"a".repeat(300),
            "acme..com",
            "x.123",
        ] {
            assert!(DomainName::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn public_suffixes_are_refused() {
        for ok in [
            "acme.com",
            "eu.acme.com",
            "acme.co.uk",
            "deep.eu.acme.co.uk",
            "acme.github.io",
            "acme.vercel.app",
            "xn--bcher-kva.de",
            "acme.xn--p1ai",
        ] {
            assert_eq!(DomainName::parse(ok).unwrap().as_str(), ok);
        }
        for suffix in [
            "co.uk",
            "github.io",
            "vercel.app",
            "com.au",
            "CO.UK.",
            "s3.amazonaws.com",
        ] {
            let e = DomainName::parse(suffix).unwrap_err().to_string();
            assert!(e.contains("public suffix (like co.uk"), "{suffix}: {e}");
        }
        // A TLD the list does not name (the implicit `*` rule) is no public suffix.
        for unknown in ["acme.zzz", "acme.notatld"] {
            let e = DomainName::parse(unknown).unwrap_err().to_string();
            assert!(e.contains("needs a public suffix"), "{unknown}: {e}");
        }
    }
}
