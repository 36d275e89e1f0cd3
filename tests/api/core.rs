//! The issuance core's fixes (issue 10): atomic domain removal, the slug
//! race, and stored JSON that does not decode being an error, never a default.

use serde_json::json;

use crate::both_backends;
use crate::helpers::{claims, owner_with_org, spec, Backend, TestApp, Tokens};

both_backends!(
    domain_removal_and_its_audit_event_are_one_transaction,
    concurrent_renames_to_one_slug_are_one_200_and_one_409,
    corrupt_app_metadata_is_an_error_not_an_empty_object,
    corrupt_role_permissions_are_an_error_not_an_empty_list,
);

/// Runs a statement on the test database.
async fn exec(app: &TestApp, sql: &str) {
    use diesel::RunQueryDsl;
    let (db, sql) = (app.state.db.clone(), sql.to_string());
    tokio::task::spawn_blocking(move || {
        let mut conn = db.get().unwrap();
        diesel::sql_query(sql).execute(&mut *conn).unwrap();
    })
    .await
    .unwrap();
}

/// Makes every insert of `action` into audit_events fail.
async fn fail_audit(app: &TestApp, action: &str) {
    match app.backend {
        Backend::Sqlite => {
            exec(
                app,
                &format!(
                    "CREATE TRIGGER fail_audit BEFORE INSERT ON audit_events \
                     WHEN NEW.action = '{action}' BEGIN SELECT RAISE(ABORT, 'audit down'); END"
                ),
            )
            .await
        }
        Backend::Postgres => {
            exec(
                app,
                &format!(
                    "CREATE FUNCTION fail_audit() RETURNS trigger LANGUAGE plpgsql AS $$ \
                     BEGIN IF NEW.action = '{action}' THEN RAISE EXCEPTION 'audit down'; END IF; \
                     RETURN NEW; END $$"
                ),
            )
            .await;
            exec(
                app,
                "CREATE TRIGGER fail_audit BEFORE INSERT ON audit_events \
                 FOR EACH ROW EXECUTE FUNCTION fail_audit()",
            )
            .await
        }
    }
}

async fn domain_removal_and_its_audit_event_are_one_transaction(b: Backend) {
    let (app, _client, owner) = owner_with_org(b, "acme").await;
    let t = Some(owner.access_token.as_str());
    let (s, d) = app
        .api(
            "POST",
            "/api/orgs/acme/domains",
            t,
            Some(json!({"domain": "acme.com"})),
        )
        .await;
    assert_eq!(s, 201, "{d}");
    let id = d["id"].as_str().unwrap().to_string();
    let path = format!("/api/orgs/acme/domains/{id}");

    // The audit write fails: the removal must not happen either.
    fail_audit(&app, "domain_removed").await;
    let (s, _) = app.api("DELETE", &path, t, None).await;
    assert_eq!(s, 500);
    let (_, list) = app.api("GET", "/api/orgs/acme/domains", t, None).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1, "{list}");

    let drop = match app.backend {
        Backend::Sqlite => "DROP TRIGGER fail_audit",
        Backend::Postgres => "DROP TRIGGER fail_audit ON audit_events",
    };
    exec(&app, drop).await;
    let (s, _) = app.api("DELETE", &path, t, None).await;
    assert_eq!(s, 204);
    let (_, list) = app.api("GET", "/api/orgs/acme/domains", t, None).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 0);
    let (_, log) = app.api("GET", "/api/orgs/acme/audit-log", t, None).await;
    let removed = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "domain_removed")
        .cloned()
        .expect("domain_removed audited");
    assert_eq!(removed["ip"], "127.0.0.1", "{removed}");
}

async fn concurrent_renames_to_one_slug_are_one_200_and_one_409(b: Backend) {
    let app = TestApp::spawn(b).await;
    let client = app.web_client().await;
    let alice = app.api_user(&client, "alice@one.com").await;
    let bob = app.api_user(&client, "bob@two.com").await;
    for (t, slug) in [(&alice, "one"), (&bob, "two")] {
        let (s, _) = app
            .api(
                "POST",
                "/api/orgs",
                Some(&t.access_token),
                Some(json!({"name": slug, "slug": slug})),
            )
            .await;
        assert_eq!(s, 201);
    }
    // Each round renames both orgs to one new slug at the same time: the
    // loser gets 409 whether it loses at the check or at the unique index.
    let (mut one, mut two) = ("one".to_string(), "two".to_string());
    for round in 0..12 {
        let target = format!("taken-{round}");
        let body = json!({ "slug": target });
        let (path_one, path_two) = (format!("/api/orgs/{one}"), format!("/api/orgs/{two}"));
        let (a, b) = tokio::join!(
            app.api(
                "PATCH",
                &path_one,
                Some(&alice.access_token),
                Some(body.clone()),
            ),
            app.api(
                "PATCH",
                &path_two,
                Some(&bob.access_token),
                Some(body.clone()),
            ),
        );
        let mut statuses = [a.0, b.0];
        statuses.sort();
        assert_eq!(statuses, [200, 409], "round {round}: {} / {}", a.1, b.1);
        let loser = if a.0 == 409 { &a.1 } else { &b.1 };
        assert_eq!(loser["error"], "conflict", "{loser}");
        if a.0 == 200 {
            one = target;
        } else {
            two = target;
        }
    }
}

async fn admin_token(app: &TestApp) -> Tokens {
    let mut sp = spec("ops");
    sp.grant_types = vec!["client_credentials".into()];
    sp.scopes = vec!["manage".into()];
    let ops = app.register(sp).await;
    app.token(
        &ops,
        &[("grant_type", "client_credentials"), ("scope", "manage")],
    )
    .await
    .json()
    .await
    .unwrap()
}

async fn corrupt_app_metadata_is_an_error_not_an_empty_object(b: Backend) {
    let app = TestApp::spawn(b).await;
    let client = app.web_client().await;
    let t = app.api_user(&client, "meta@example.com").await;
    let sub = claims(&t.access_token)["sub"].as_str().unwrap().to_string();
    let admin = admin_token(&app).await;
    let dry_run = json!({"user_id": sub, "client_id": "web"});
    let (s, _) = app
        .api(
            "POST",
            "/api/admin/hooks/dry-run",
            Some(&admin.access_token),
            Some(dry_run.clone()),
        )
        .await;
    assert_eq!(s, 200);
    exec(
        &app,
        &format!("UPDATE users SET app_metadata = 'not json' WHERE id = '{sub}'"),
    )
    .await;
    let (s, body) = app
        .api(
            "POST",
            "/api/admin/hooks/dry-run",
            Some(&admin.access_token),
            Some(dry_run),
        )
        .await;
    assert_eq!(s, 500, "{body}");
    assert_eq!(body["error"], "server_error");
    // Nothing overwrote it.
    let kept = app
        .count(format!(
            "SELECT COUNT(*) AS n FROM users WHERE id = '{sub}' AND app_metadata = 'not json'"
        ))
        .await;
    assert_eq!(kept, 1);
}

async fn corrupt_role_permissions_are_an_error_not_an_empty_list(b: Backend) {
    let (app, _client, owner) = owner_with_org(b, "acme").await;
    let t = Some(owner.access_token.as_str());
    let (s, _) = app.api("GET", "/api/orgs/acme", t, None).await;
    assert_eq!(s, 200);
    exec(
        &app,
        "UPDATE roles SET permissions = '{broken' WHERE name = 'owner' AND org_id IS NULL",
    )
    .await;
    let (s, body) = app.api("GET", "/api/orgs/acme", t, None).await;
    assert_eq!(s, 500, "{body}");
    assert_eq!(body["error"], "server_error");
}
