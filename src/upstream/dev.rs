//! The `dev` connector: a local form that asks for an email and a name and
//! believes them. Loudly unsafe; refused when `TESSERA_ENV=production`.

use crate::accounts::UpstreamProfile;
use crate::email::Email;

/// What the dev form posted.
#[derive(Debug, Default)]
pub struct DevAnswer {
    pub email: Option<String>,
    pub name: Option<String>,
    pub email_verified: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DevError {
    #[error("Enter a valid email address.")]
    InvalidEmail,
}

/// The profile the dev form claims: the email is the subject.
pub fn profile(answer: DevAnswer) -> Result<UpstreamProfile, DevError> {
    let email = Email::parse(answer.email.as_deref().unwrap_or_default())
        .map_err(|_| DevError::InvalidEmail)?;
    let name = answer
        .name
        .filter(|n| !n.trim().is_empty())
        .map(|n| n.chars().take(200).collect::<String>());
    Ok(UpstreamProfile {
        provider: super::Connection::Dev.as_str().into(),
        subject: email.as_str().to_string(),
        login: None,
        email: Some(email.clone()),
        email_verified: answer.email_verified,
        name,
        picture: None,
        raw: serde_json::json!({"email": email.as_str()}),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_the_email() {
        let ok = profile(DevAnswer {
            email: Some(" Alice@Example.com ".into()),
            name: Some("  ".into()),
            email_verified: true,
        })
        .unwrap();
        assert_eq!(ok.subject, "alice@example.com");
        assert_eq!(ok.name, None);
        for bad in [
            "",
            "alice",
            "@example.com",
            "alice@example",
            "alice@.com",
            "Alice <alice@example.com>",
            "alice@[127.0.0.1]",
        ] {
            assert_eq!(
                profile(DevAnswer {
                    email: Some(bad.into()),
                    ..Default::default()
                })
                .unwrap_err(),
                DevError::InvalidEmail,
                "{bad}"
            );
        }
    }
}
