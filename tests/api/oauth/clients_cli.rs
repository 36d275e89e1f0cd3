//! The `clients` CLI (and a smoke check of `orgs list` and `orgs show`).

#[test]
fn clients_cli_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
            .args(args)
            .env("DATABASE_URL", dir.path().join("t.db"))
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let out = run(&[
        "clients",
        "add",
        "--id",
        "cli-app",
        "--name",
        "CLI App",
        "--redirect-uri",
        "http://127.0.0.1:9/cb",
        "--organization-usage",
        "require",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let secret = text
        .lines()
        .find_map(|l| l.strip_prefix("client_secret: "))
        .expect("secret printed once");
    assert!(secret.len() >= 43);
    let list = String::from_utf8_lossy(&run(&["clients", "list"]).stdout).to_string();
    assert!(list.contains("cli-app\tCLI App") && !list.contains(secret));
    assert!(!run(&[
        "clients",
        "add",
        "--id",
        "cli-app",
        "--name",
        "Again",
        "--redirect-uri",
        "http://127.0.0.1:9/cb"
    ])
    .status
    .success());
    let bad = run(&[
        "clients",
        "add",
        "--name",
        "Bad",
        "--redirect-uri",
        "not a url",
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not an absolute URI"));
    let bad = run(&[
        "clients",
        "add",
        "--name",
        "Bad",
        "--public",
        "--grant",
        "client_credentials",
    ]);
    assert!(!bad.status.success());
    let public = run(&[
        "clients",
        "add",
        "--id",
        "spa",
        "--name",
        "SPA",
        "--public",
        "--redirect-uri",
        "http://127.0.0.1:9/cb",
    ]);
    assert!(String::from_utf8_lossy(&public.stdout).contains("PKCE is mandatory"));
    assert!(run(&["clients", "remove", "cli-app"]).status.success());
    assert!(!run(&["clients", "remove", "cli-app"]).status.success());
    let orgs = run(&["orgs", "list"]);
    assert!(orgs.status.success());
    assert!(!run(&["orgs", "show", "nope"]).status.success());
}
