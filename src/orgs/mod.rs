//! Organizations: the rules, no HTTP. Every org-scoped operation takes an
//! [`OrgMember`], which only [`OrgMember::load`] can build after reading the
//! caller's membership from the database (CONVENTIONS rule 7).

pub mod admin;
pub mod claims;
pub mod domains;
pub mod invitations;
pub mod members;
pub mod membership;
pub mod org;
pub mod roles;

pub use membership::OrgMember;

/// The built-in permissions of SPEC §3.
pub const PERMISSIONS: &[&str] = &[
    "org:read",
    "org:manage",
    "org:delete",
    "org:members:read",
    "org:members:write",
    "org:invitations",
    "org:roles",
    "org:domains",
    "org:audit:read",
];

pub const OWNER: &str = "owner";
pub const ADMIN: &str = "admin";
pub const MEMBER: &str = "member";

#[derive(Debug, thiserror::Error)]
pub enum OrgError {
    /// Also what a non-member gets for any org: existence is never leaked.
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Conflict(String),
    /// Used, expired, revoked or declined: it existed and is gone.
    #[error("{0}")]
    Gone(String),
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
    /// No connection could be had (pool timeout, database down).
    #[error(transparent)]
    Unavailable(crate::db::DbError),
}

impl OrgError {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            message: message.into(),
        }
    }
}

impl From<crate::db::DbError> for OrgError {
    fn from(e: crate::db::DbError) -> Self {
        match e {
            crate::db::DbError::Query(q) => OrgError::Db(q),
            other => OrgError::Unavailable(other),
        }
    }
}

/// A validated org slug: `[a-z0-9-]{2,63}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slug(String);

impl Slug {
    pub fn parse(s: &str) -> Result<Self, OrgError> {
        let ok = (2..=63).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !ok {
            return Err(OrgError::invalid(
                "slug",
                "use 2-63 characters of a-z, 0-9 and -",
            ));
        }
        // `{org}` is an id or a slug: a slug shaped like an id would let an
        // org pose as another in URLs and in the `org_slug` claim.
        if uuid::Uuid::try_parse(s).is_ok() {
            return Err(OrgError::invalid(
                "slug",
                "must not look like an organization id (a UUID)",
            ));
        }
        Ok(Self(s.to_string()))
    }

    /// A slug derived from a display name (uniqueness is the caller's job).
    pub fn from_name(name: &str) -> Self {
        let mut out = String::new();
        for c in name.to_lowercase().chars() {
            if c.is_ascii_alphanumeric() {
                out.push(c);
            } else if !out.ends_with('-') {
                out.push('-');
            }
        }
        let mut s: String = out.trim_matches('-').chars().take(48).collect();
        s = s.trim_end_matches('-').to_string();
        if s.len() < 2 || uuid::Uuid::try_parse(&s).is_ok() {
            s = format!("org-{s}").trim_end_matches('-').to_string();
        }
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A permission string: built-in or app-defined (`images:generate`).
pub fn check_permission_name(p: &str) -> Result<(), OrgError> {
    let ok = (1..=64).contains(&p.len())
        && p.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && p.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b':' | b'_' | b'.' | b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(OrgError::invalid(
            "permissions",
            format!("`{}` is not a valid permission (1-64 of a-z 0-9 : _ . -, starting with a letter or digit)", p.chars().take(70).collect::<String>()),
        ))
    }
}

pub fn check_name(field: &'static str, name: &str, max: usize) -> Result<String, OrgError> {
    let t = name.trim();
    if t.is_empty() || t.chars().count() > max {
        return Err(OrgError::invalid(
            field,
            format!("must be 1-{max} characters"),
        ));
    }
    if t.chars().any(|c| c.is_control()) {
        return Err(OrgError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert!(Slug::parse("acme").is_ok());
        assert!(Slug::parse("a").is_err());
        assert!(Slug::parse("Acme").is_err());
        assert!(Slug::parse("ac me").is_err());
        assert!(Slug::parse(&"a".repeat(64)).is_err());
        assert_eq!(Slug::from_name("Acme, Inc.").as_str(), "acme-inc");
        assert_eq!(Slug::from_name("!").as_str(), "org");
        assert_eq!(Slug::from_name("Ünïcode Team").as_str(), "n-code-team");
        let id = "01a233a2-d077-704b-b488-1270279712ec";
        assert!(Slug::parse(id).is_err(), "a slug must not look like an id");
        assert_eq!(Slug::from_name(id).as_str(), format!("org-{id}"));
    }

    #[test]
    fn permissions() {
        assert!(check_permission_name("images:generate").is_ok());
        assert!(check_permission_name("org:members:write").is_ok());
        assert!(check_permission_name("").is_err());
        assert!(check_permission_name("Bad Perm").is_err());
        assert!(check_permission_name(":x").is_err());
    }
}
