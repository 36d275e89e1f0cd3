//! Server-rendered HTML pages: accessible, no JavaScript, everything escaped.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;

pub use crate::html::esc;

/// Percent-encodes a query value.
pub fn qs(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A full page. `body` must already be escaped.
pub fn page(status: StatusCode, title: &str, body: &str) -> HttpResponse {
    let html = format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Tessera</title>
<style>
body{{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem;color:#111;line-height:1.5}}
a.button,button{{display:block;width:100%;padding:.7rem;margin:.5rem 0;border:1px solid #333;border-radius:.4rem;background:#fff;color:#111;text-align:center;text-decoration:none;font-size:1rem;cursor:pointer}}
a.button:focus,button:focus,input:focus{{outline:3px solid #2563eb;outline-offset:2px}}
label{{display:block;margin-top:.8rem}} input[type=email],input[type=text]{{width:100%;padding:.5rem;font-size:1rem;box-sizing:border-box}}
.warning{{border:2px solid #b91c1c;background:#fee2e2;padding:.7rem;border-radius:.4rem}}
.error{{border:2px solid #b45309;background:#fef3c7;padding:.7rem;border-radius:.4rem}}
</style>
</head>
<body>
<main>
<h1>{title}</h1>
{body}
</main>
</body>
</html>"#,
        title = esc(title),
    );
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("X-Frame-Options", "DENY"))
        .insert_header(("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' http: https:; frame-ancestors 'none'"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .body(html)
}

/// An error page with an optional "try again" link.
pub fn error_page(status: StatusCode, message: &str, retry: Option<&str>) -> HttpResponse {
    let mut body = format!(r#"<p class="error" role="alert">{}</p>"#, esc(message));
    if let Some(r) = retry {
        body.push_str(&format!(
            r#"<p><a class="button" href="{}">Try again</a></p>"#,
            esc(r)
        ));
    }
    page(status, "Sign-in problem", &body)
}
