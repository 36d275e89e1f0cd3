//! Server-rendered HTML pages: accessible, no JavaScript, one stylesheet.
//!
//! Each page is a function that builds its markup with maud's `html!`, which
//! escapes every interpolated value (`&`, `<`, `>`, `"`; attribute values are
//! always double-quoted) and is checked at compile time. Only [`PreEscaped`]
//! opts out, and it is used for nothing but the doctype. Handlers call one
//! page function and [`render`] it with a status.
//!
//! The look is `assets/tessera.css`, compiled into the binary and served at
//! [`STYLESHEET_PATH`], so the pages' Content-Security-Policy allows styles
//! from `'self'` only (no `'unsafe-inline'`) and no script at all.

use actix_web::http::{header, StatusCode};
use actix_web::HttpResponse;
use maud::{html, Markup, PreEscaped};

use crate::orgs::org::MembershipView;
use crate::upstream::Connection;

/// Where [`stylesheet`] is routed (`http/mod.rs`) and every page links to.
pub const STYLESHEET_PATH: &str = "/assets/tessera.css";

const STYLESHEET: &str = include_str!("../../assets/tessera.css");

/// No script, styles from the stylesheet only, never framed. `form-action`
/// also governs the redirect that answers a form post (the dev form and the
/// org picker end in a redirect to the client's redirect URI), hence
/// `http: https:` besides `'self'`.
const CSP: &str =
    "default-src 'none'; style-src 'self'; form-action 'self' http: https:; frame-ancestors 'none'";

/// Percent-encodes a query value.
pub fn qs(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A page as the response: HTML, never cached, never framed, no referrer.
pub fn render(status: StatusCode, page: Markup) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .body(page.into_string())
}

/// `GET /assets/tessera.css`: the stylesheet of every page. Cached for an
/// hour: a release that changes it shows the new look within that.
pub async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(STYLESHEET)
}

/// The frame of every page: `title` in the tab and as the heading.
pub fn layout(title: &str, content: Markup) -> Markup {
    html! {
        (PreEscaped("<!doctype html>\n"))
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Tessera" }
                link rel="stylesheet" href=(STYLESHEET_PATH);
            }
            body {
                main {
                    h1 { (title) }
                    (content)
                }
            }
        }
    }
}

/// An error page with an optional "try again" link.
pub fn error_page(status: StatusCode, message: &str, retry: Option<&str>) -> HttpResponse {
    render(status, error(message, retry))
}

fn error(message: &str, retry: Option<&str>) -> Markup {
    layout(
        "Sign-in problem",
        html! {
            p.error role="alert" { (message) }
            @if let Some(r) = retry {
                p { a.button href=(r) { "Try again" } }
            }
        },
    )
}

fn dev_warning() -> Markup {
    html! {
        p.warning role="alert" {
            strong { "Development login." }
            " Anyone can sign in as anyone here. This connector must never be enabled in production."
        }
    }
}

/// `GET /login?tx=…`: the connection chooser.
pub fn login(connections: &[Connection], tx: &str, dev: bool) -> Markup {
    layout(
        "Sign in",
        html! {
            p { "Choose how to sign in." }
            nav aria-label="Sign-in methods" {
                @for c in connections {
                    a.button href={ "/login/" (c.as_str()) "?tx=" (qs(tx)) } {
                        "Continue with " (c.display_name())
                    }
                }
            }
            @if dev { (dev_warning()) }
        },
    )
}

/// `GET /login/dev?tx=…`: the dev connector's form (email prefilled from `login_hint`).
pub fn dev_login(tx: &str, hint: &str) -> Markup {
    layout(
        "Dev sign-in",
        html! {
            (dev_warning())
            form method="post" action="/callback/dev" {
                input type="hidden" name="tx" value=(tx);
                label for="email" { "Email" }
                input id="email" name="email" type="email" required autocomplete="email" value=(hint);
                label for="name" { "Name" }
                input id="name" name="name" type="text" autocomplete="name";
                label {
                    input type="checkbox" name="email_verified" value="true" checked;
                    " Treat the email as verified"
                }
                button type="submit" { "Sign in" }
            }
        },
    )
}

/// `GET /login/organization?tx=…`: one button per membership.
pub fn org_picker(tx: &str, memberships: &[MembershipView]) -> Markup {
    layout(
        "Choose an organization",
        html! {
            p { "Choose the organization to continue with." }
            form method="post" action="/login/organization" {
                input type="hidden" name="tx" value=(tx);
                @for m in memberships {
                    button type="submit" name="organization" value=(m.organization.id) {
                        (m.organization.name) " " small { "(" (m.role) ")" }
                    }
                }
            }
        },
    )
}

/// `GET /logout` without a redirect back to a client.
pub fn signed_out() -> Markup {
    layout("Signed out", html! { p { "You are signed out." } })
}

/// What the invitation page shows.
pub struct Invitation<'a> {
    pub inviter: &'a str,
    pub org: &'a str,
    pub role: &'a str,
    /// `/authorize?…&invitation=…` for the configured client, if there is one.
    pub accept_url: Option<&'a str>,
    /// `YYYY-MM-DD HH:MM`, UTC.
    pub expires: &'a str,
}

/// `GET /invitations/{token}`: names the inviter, the org and the role.
pub fn invitation(i: &Invitation<'_>) -> Markup {
    layout(
        &format!("Join {}", i.org),
        html! {
            p {
                (i.inviter) " invited you to join " strong { (i.org) } " as " strong { (i.role) } "."
            }
            @match i.accept_url {
                Some(url) => p { a.button href=(url) { "Sign in and accept" } },
                None => p { "Open the application and sign in to accept this invitation." },
            }
            p { small { "The invitation expires on " (i.expires) " UTC." } }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str = r#"<b>"A&B" 'x'</b>"#;
    const ESCAPED: &str = "&lt;b&gt;&quot;A&amp;B&quot; 'x'&lt;/b&gt;";

    fn main_of(page: Markup) -> String {
        let s = page.into_string();
        let start = s.find("<main>").expect("main") + "<main>".len();
        let end = s.find("</main>").expect("/main");
        s[start..end].to_string()
    }

    #[test]
    fn layout_links_the_stylesheet_and_escapes_the_title() {
        let s = layout(HOSTILE, html! {}).into_string();
        assert!(
            s.starts_with("<!doctype html>\n<html lang=\"en\"><head>"),
            "{s}"
        );
        assert!(
            s.contains(&format!("<title>{ESCAPED} · Tessera</title>")),
            "{s}"
        );
        assert!(s.contains(r#"<link rel="stylesheet" href="/assets/tessera.css">"#));
        assert!(s.contains(&format!("<h1>{ESCAPED}</h1>")), "{s}");
        assert!(!s.contains("<style") && !s.contains("<script"), "{s}");
        assert!(STYLESHEET.contains(".warning{") && STYLESHEET.contains(".error{"));
    }

    #[test]
    fn error_page_markup() {
        assert_eq!(
            main_of(error(HOSTILE, Some("/login?tx=a&b"))),
            format!(
                r#"<h1>Sign-in problem</h1><p class="error" role="alert">{ESCAPED}</p><p><a class="button" href="/login?tx=a&amp;b">Try again</a></p>"#
            )
        );
        assert!(!main_of(error("m", None)).contains("Try again"));
    }

    #[test]
    fn login_and_dev_form_markup() {
        let page = main_of(login(&[Connection::Google, Connection::Dev], "t/x+", true));
        assert_eq!(
            page,
            concat!(
                r#"<h1>Sign in</h1><p>Choose how to sign in.</p><nav aria-label="Sign-in methods">"#,
                r#"<a class="button" href="/login/google?tx=t%2Fx%2B">Continue with Google</a>"#,
                r#"<a class="button" href="/login/dev?tx=t%2Fx%2B">Continue with Dev login (unsafe)</a></nav>"#,
                r#"<p class="warning" role="alert"><strong>Development login.</strong> Anyone can sign in as anyone here. This connector must never be enabled in production.</p>"#,
            )
        );
        assert!(!main_of(login(&[Connection::Google], "t", false)).contains("warning"));

        let form = main_of(dev_login("tx1", HOSTILE));
        for field in [
            r#"<form method="post" action="/callback/dev">"#,
            r#"<input type="hidden" name="tx" value="tx1">"#,
            r#"<label for="email">Email</label>"#,
            &format!(
                r#"<input id="email" name="email" type="email" required autocomplete="email" value="{ESCAPED}">"#
            ),
            r#"<label for="name">Name</label><input id="name" name="name" type="text" autocomplete="name">"#,
            r#"<label><input type="checkbox" name="email_verified" value="true" checked> Treat the email as verified</label>"#,
            r#"<button type="submit">Sign in</button></form>"#,
            "Development login.",
        ] {
            assert!(form.contains(field), "{field} in {form}");
        }
    }

    #[test]
    fn org_picker_markup() {
        let m = MembershipView {
            organization: crate::orgs::org::MembershipOrg {
                id: "o1".into(),
                slug: "acme".into(),
                name: HOSTILE.into(),
                personal: false,
            },
            role: "<owner>".into(),
            role_id: "r1".into(),
            permissions: vec![],
            joined_at: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH.naive_utc(),
        };
        assert_eq!(
            main_of(org_picker("tx1", &[m])),
            format!(
                r#"<h1>Choose an organization</h1><p>Choose the organization to continue with.</p><form method="post" action="/login/organization"><input type="hidden" name="tx" value="tx1"><button type="submit" name="organization" value="o1">{ESCAPED} <small>(&lt;owner&gt;)</small></button></form>"#
            )
        );
    }

    #[test]
    fn invitation_and_signed_out_markup() {
        let mut i = Invitation {
            inviter: "Ann <a@x>",
            org: HOSTILE,
            role: "admin",
            accept_url: Some("/authorize?client_id=web&invitation=t"),
            expires: "2030-01-02 03:04",
        };
        let page = invitation(&i).into_string();
        assert!(
            page.contains(&format!("<title>Join {ESCAPED} · Tessera</title>")),
            "{page}"
        );
        assert_eq!(
            main_of(invitation(&i)),
            format!(
                r#"<h1>Join {ESCAPED}</h1><p>Ann &lt;a@x&gt; invited you to join <strong>{ESCAPED}</strong> as <strong>admin</strong>.</p><p><a class="button" href="/authorize?client_id=web&amp;invitation=t">Sign in and accept</a></p><p><small>The invitation expires on 2030-01-02 03:04 UTC.</small></p>"#
            )
        );
        i.accept_url = None;
        assert!(main_of(invitation(&i))
            .contains("<p>Open the application and sign in to accept this invitation.</p>"));
        assert_eq!(
            main_of(signed_out()),
            "<h1>Signed out</h1><p>You are signed out.</p>"
        );
    }
}
