//! Outgoing mail: SMTP through `lettre` when `[smtp]` is configured, else a
//! log mailer that writes the message (and its link) to the log.

use std::time::Duration;

use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::SmtpSettings;
use crate::html::esc;

/// One email, text and HTML.
#[derive(Debug, Clone)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
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
    pub fn from_settings(smtp: Option<&SmtpSettings>) -> Result<Self, String> {
        let Some(s) = smtp else {
            return Ok(Self::Log);
        };
        let mut b =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(s.host.clone()).port(s.port);
        b = match s.tls.as_str() {
            "none" => b.tls(Tls::None),
            mode => {
                let params =
                    TlsParameters::new(s.host.clone()).map_err(|e| format!("smtp: {e}"))?;
                if mode == "tls" {
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
            from: s.from.parse().map_err(|e| format!("smtp.from: {e}"))?,
            attempts: s.attempts.max(1),
            backoff: Duration::from_millis(s.retry_backoff_ms),
        })
    }

    /// Sends with bounded retries. `Ok(true)`: delivered to the SMTP server;
    /// `Ok(false)`: logged only (no SMTP configured).
    pub async fn send(&self, email: &Email) -> Result<bool, String> {
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
                let to: Mailbox = email.to.parse().map_err(|e| format!("recipient: {e}"))?;
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
                    .map_err(|e| format!("building the message: {e}"))?;
                let mut wait = *backoff;
                let mut last = String::new();
                for attempt in 1..=*attempts {
                    match transport.send(message.clone()).await {
                        Ok(_) => return Ok(true),
                        Err(e) => {
                            last = e.to_string();
                            tracing::warn!(attempt, error = %last, to = %email.to, "email delivery failed");
                            if attempt < *attempts {
                                tokio::time::sleep(wait).await;
                                wait *= 2;
                            }
                        }
                    }
                }
                Err(last)
            }
        }
    }
}

/// The invitation email: names the org and the inviter, carries the link.
pub fn invitation_email(to: &str, org: &str, inviter: &str, role: &str, link: &str) -> Email {
    Email {
        to: to.to_string(),
        subject: format!("{inviter} invited you to join {org}"),
        text: format!(
            "{inviter} invited you to join {org} as {role}.\n\nAccept the invitation:\n{link}\n\nIf you did not expect this, ignore this email; the link expires on its own.\n"
        ),
        html: format!(
            "<p>{} invited you to join <strong>{}</strong> as {}.</p><p><a href=\"{}\">Accept the invitation</a></p><p>If you did not expect this, ignore this email; the link expires on its own.</p>",
            esc(inviter),
            esc(org),
            esc(role),
            esc(link)
        ),
    }
}
