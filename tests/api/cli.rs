//! The binary's commands, run as a user would run them.

use std::process::Command;

pub(crate) fn clientbase() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_clientbase"));
    for (key, _) in std::env::vars() {
        if key.starts_with("CLIENTBASE_") || key == "DATABASE_URL" {
            cmd.env_remove(key);
        }
    }
    cmd
}

#[test]
fn a_bad_setting_stops_start_up_naming_the_variable() {
    let out = clientbase().env("CLIENTBASE_BIND", "not-an-address").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("CLIENTBASE_BIND"), "{stderr}");
}

#[test]
fn openapi_prints_the_committed_contract() {
    let out = clientbase().arg("openapi").output().unwrap();
    assert!(out.status.success());
    let committed = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json")).unwrap();
    assert!(out.stdout == committed);
}

#[test]
fn users_and_api_clients_are_created_from_the_command_line() {
    let dir = std::env::temp_dir().join(format!("clientbase-cli-{}", uuid::Uuid::new_v4().simple()));
    let run = |args: &[&str]| {
        let out = clientbase().env("CLIENTBASE_DATA_DIR", &dir).args(args).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stdout, _) = run(&["migrate"]);
    assert_eq!(code, Some(0));
    assert!(stdout.contains("Created the administrator admin@clientbase.local"), "{stdout}");
    let (code, stdout, _) =
        run(&["user", "create", "--email", "Anna@Example.ru", "--name", "Анна", "--role", "manager"]);
    assert_eq!(code, Some(0));
    assert!(stdout.contains("anna@example.ru (manager)"), "{stdout}");
    assert!(stdout.contains("password: "));
    let (code, _, stderr) =
        run(&["user", "create", "--email", "anna@example.ru", "--name", "Dup", "--role", "manager"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("already exists"), "{stderr}");
    let (code, stdout, _) = run(&["api-client", "create", "--name", "1C", "--scopes", "sync:write,clients:read"]);
    assert_eq!(code, Some(0));
    assert!(stdout.contains("client_id: cb_") && stdout.contains("client_secret: "), "{stdout}");
    let (code, _, stderr) = run(&["api-client", "create", "--name", "bad", "--scopes", "users:manage"]);
    assert_eq!(code, Some(2), "{stderr}");
    let secret = std::fs::metadata(dir.join("jwt.secret")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(secret.permissions().mode() & 0o777, 0o600);
    }
    let _ = std::fs::remove_dir_all(dir);
}
