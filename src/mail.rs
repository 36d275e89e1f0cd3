//! Outgoing mail: SMTP through `lettre` when `[smtp]` is configured, else a
//! log mailer that writes the message (and its link) to the log.

use std::time::Duration;

use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{SmtpSettings, SmtpTls};

/// Why the mailer could not be set up, or an email not be sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("smtp: {0}")]
    Tls(#[source] lettre::transport::smtp::Error),
    #[error("smtp.from: {0}")]
    From(#[source] lettre::address::AddressError),
    #[error("recipient: {0}")]
    Recipient(#[source] lettre::address::AddressError),
    #[error("building the message: {0}")]
    Build(#[source] lettre::error::Error),
    /// The last attempt's error, after every attempt failed.
    #[error("{0}")]
    Delivery(#[source] lettre::transport::smtp::Error),
}

/// One email, text and HTML.
#[derive(Clone)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// The bodies carry links with secret tokens (invitations): never in `Debug`.
impl std::fmt::Debug for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Email")
            .field("to", &self.to)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

pub enum Mailer {
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        from: Mailbox,
        attempts: u32,
        backoff: Duration,
    },
    Log,
}

impl Mailer {
    pub fn from_settings(smtp: Option<&SmtpSettings>) -> Result<Self, MailError> {
        let Some(s) = smtp else {
            return Ok(Self::Log);
        };
        let mut b =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(s.host.clone()).port(s.port);
        b = match s.tls {
            SmtpTls::None => b.tls(Tls::None),
            mode => {
                let params = TlsParameters::new(s.host.clone()).map_err(MailError::Tls)?;
                if mode == SmtpTls::Tls {
                    b.tls(Tls::Wrapper(params))
                } else {
                    b.tls(Tls::Required(params))
                }
            }
        };
        if let (Some(u), Some(p)) = (&s.username, &s.password) {
            b = b.credentials(Credentials::new(u.clone(), p.expose().to_string()));
        }
        b = b.timeout(Some(Duration::from_secs(s.timeout_secs)));
        Ok(Self::Smtp {
            transport: b.build(),
            from: s.from.parse().map_err(MailError::From)?,
            attempts: s.attempts.max(1),
            backoff: Duration::from_millis(s.retry_backoff_ms),
        })
    }

    /// Sends with bounded retries. `Ok(true)`: delivered to the SMTP server;
    /// `Ok(false)`: logged only (no SMTP configured).
    pub async fn send(&self, email: &Email) -> Result<bool, MailError> {
        match self {
            Self::Log => {
                tracing::info!(to = %email.to, subject = %email.subject, body = %email.text, "email (no SMTP configured; logged instead)");
                Ok(false)
            }
            Self::Smtp {
                transport,
                from,
                attempts,
                backoff,
            } => {
                let to: Mailbox = email.to.parse().map_err(MailError::Recipient)?;
                let message = Message::builder()
                    .from(from.clone())
                    .to(to)
                    .subject(email.subject.clone())
                    .multipart(
                        MultiPart::alternative()
                            .singlepart(
                                SinglePart::builder()
                                    .header(ContentType::TEXT_PLAIN)
                                    .body(email.text.clone()),
                            )
                            .singlepart(
                                SinglePart::builder()
                                    .header(ContentType::TEXT_HTML)
                                    .body(email.html.clone()),
                            ),
                    )
                    .map_err(MailError::Build)?;
                let mut wait = *backoff;
                let mut attempt = 1;
                loop {
                    match transport.send(message.clone()).await {
                        Ok(_) => return Ok(true),
                        Err(e) => {
                            tracing::warn!(attempt, error = %e, to = %email.to, "email delivery failed");
                            if attempt >= *attempts {
                                return Err(MailError::Delivery(e));
                            }
                            tokio::time::sleep(wait).await;
                            wait = wait.saturating_mul(2);
                            attempt += 1;
                        }
                    }
                }
            }
        }
    }
}

/// The invitation email: names the org and the inviter, carries the link.
/// The HTML part is built with maud, which escapes every value; the text
/// part needs no escaping.
pub fn invitation_email(to: &str, org: &str, inviter: &str, role: &str, link: &str) -> Email {
    Email {
        to: to.to_string(),
        subject: format!("{inviter} invited you to join {org}"),
        text: format!(
            "{inviter} invited you to join {org} as {role}.\n\nAccept the invitation:\n{link}\n\nIf you did not expect this, ignore this email; the link expires on its own.\n"
        ),
        html: maud::html! {
            p { (inviter) " invited you to join " strong { (org) } " as " (role) "." }
            p { a href=(link) { "Accept the invitation" } }
            p { "If you did not expect this, ignore this email; the link expires on its own." }
        }
        .into_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invitation_email_escapes_and_debug_hides_the_link() {
        let e = invitation_email(
            "bob@example.com",
            "<Acme>",
            "Ann",
            "member",
            "https://id.example.com/invitations/s3cret-token",
        );
        assert!(e.html.contains("&lt;Acme&gt;"), "{}", e.html);
        assert_eq!(
            e.html,
            concat!(
                "<p>Ann invited you to join <strong>&lt;Acme&gt;</strong> as member.</p>",
                r#"<p><a href="https://id.example.com/invitations/s3cret-token">Accept the invitation</a></p>"#,
                "<p>If you did not expect this, ignore this email; the link expires on its own.</p>"
            )
        );
        assert_eq!(
            e.text,
            "Ann invited you to join <Acme> as member.\n\nAccept the invitation:\nhttps://id.example.com/invitations/s3cret-token\n\nIf you did not expect this, ignore this email; the link expires on its own.\n"
        );
        assert_eq!(e.subject, "Ann invited you to join <Acme>");
        assert!(e.text.contains("s3cret-token"));
        let dbg = format!("{e:?}");
        assert!(!dbg.contains("s3cret-token"), "{dbg}");
        assert!(dbg.contains("bob@example.com"), "{dbg}");
    }
}
