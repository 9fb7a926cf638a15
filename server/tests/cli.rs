//! Tests of the `server` binary as an operator runs it: subcommands, bad configuration,
//! the database file, restarts and graceful shutdown.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn server() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_server"));
    command
        .env_remove("DATABASE_URL")
        .env_remove("FERRY_DATA_DIR")
        .env_remove("LEPTOS_SITE_ADDR")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null());
    command
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Asserts a failed start: non-zero exit, exactly one line on stderr, no panic.
fn assert_one_line_error(output: &Output, expected: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "should fail: {stderr}");
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "one line expected, got: {stderr}"
    );
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(
        stderr.contains(expected),
        "expected {expected:?} in {stderr}"
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
}

#[test]
fn help_lists_the_subcommands() {
    let output = server().arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("serve") && help.contains("migrate"), "{help}");
    assert!(
        help.contains("FERRY_DATA_DIR") && help.contains("DATABASE_URL"),
        "{help}"
    );
}

#[test]
fn migrate_creates_the_sqlite_file_in_the_data_folder() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("nested/data");
    let output = server()
        .arg("migrate")
        .env("FERRY_DATA_DIR", &data)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        data.join("ferry.db").is_file(),
        "the SQLite file must be in FERRY_DATA_DIR"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("up to date"), "{stdout}");
}

#[test]
fn an_unwritable_data_folder_is_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a folder").unwrap();
    let output = server()
        .arg("migrate")
        .env("FERRY_DATA_DIR", &file)
        .output()
        .unwrap();
    assert_one_line_error(&output, "cannot use the data folder");
}

#[test]
fn a_malformed_database_url_is_one_clear_error() {
    let output = server()
        .arg("migrate")
        .env("DATABASE_URL", "mysql://root:pw@db/ferry")
        .output()
        .unwrap();
    assert_one_line_error(
        &output,
        "DATABASE_URL must start with sqlite: or postgres://",
    );
    assert!(
        !String::from_utf8_lossy(&output.stderr).contains(":pw@"),
        "password leaked"
    );

    let output = server()
        .arg("migrate")
        .env("DATABASE_URL", "sqlite://x.db?mode=sideways")
        .output()
        .unwrap();
    assert_one_line_error(&output, "DATABASE_URL is not a valid SQLite URL");
}

#[test]
fn an_unreachable_database_is_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = server()
        .arg("migrate")
        .env("FERRY_DATA_DIR", dir.path())
        .env(
            "DATABASE_URL",
            format!("postgres://ferry:secret@127.0.0.1:{}/ferry", free_port()),
        )
        .output()
        .unwrap();
    assert_one_line_error(
        &output,
        "cannot open the database postgres://ferry:***@127.0.0.1",
    );
    assert!(
        !String::from_utf8_lossy(&output.stderr).contains("secret"),
        "password leaked"
    );
}

#[test]
fn a_port_in_use_is_one_clear_error() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let output = server()
        .arg("serve")
        .env("FERRY_DATA_DIR", dir.path())
        .env("LEPTOS_SITE_ADDR", addr.to_string())
        .output()
        .unwrap();
    assert_one_line_error(&output, &format!("cannot listen on {addr}"));
}

#[test]
fn a_malformed_site_address_is_one_clear_error() {
    let output = server()
        .arg("serve")
        .env("LEPTOS_SITE_ADDR", "localhost:http")
        .output()
        .unwrap();
    assert_one_line_error(&output, "LEPTOS_SITE_ADDR must be an address");
}

/// Starts `server serve`; returns it with the reader of the rest of its output.
fn start_reading(
    data: &std::path::Path,
    port: u16,
) -> (Child, BufReader<std::process::ChildStdout>) {
    let mut child = server()
        .arg("serve")
        .env("FERRY_DATA_DIR", data)
        .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.contains(&format!("http://127.0.0.1:{port}")), "{line}");
    (child, reader)
}

/// Sends SIGTERM and waits for a clean exit.
fn stop(mut child: Child) {
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(
                status.success(),
                "SIGTERM must end the server cleanly, got {status}"
            );
            return;
        }
        assert!(
            Instant::now() < deadline,
            "server did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn installed_since(port: u16) -> String {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let browser = reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .unwrap();
        let signed_in = browser
            .post(format!("http://127.0.0.1:{port}/api/auth/login"))
            .form(&[
                ("email", "ops@example.com"),
                ("password", "ferry harbour lantern"),
            ])
            .send()
            .await
            .unwrap();
        assert!(signed_in.status().is_success(), "{}", signed_in.status());
        let body = browser
            .post(format!("http://127.0.0.1:{port}/api/system/status"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let status: serde_json::Value = serde_json::from_str(&body).unwrap();
        status["instance_since"].as_str().unwrap().to_owned()
    })
}

#[test]
fn data_survives_a_restart_and_sigterm_shuts_down_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let created = server()
        .args([
            "users",
            "create",
            "--email",
            "ops@example.com",
            "--role",
            "Viewer",
        ])
        .env("FERRY_DATA_DIR", dir.path())
        .env("FERRY_PASSWORD", "ferry harbour lantern")
        .output()
        .unwrap();
    assert!(created.status.success());
    let (first, _output) = start_reading(dir.path(), port);
    let since = installed_since(port);
    stop(first);

    std::thread::sleep(Duration::from_secs(1));
    let (second, _output) = start_reading(dir.path(), port);
    assert_eq!(
        installed_since(port),
        since,
        "the installation record must survive a restart"
    );
    stop(second);
}

#[test]
fn users_create_makes_the_first_administrator_from_the_environment_password() {
    let dir = tempfile::tempdir().unwrap();
    let create = |email: &str, role: &str, password: &str| {
        server()
            .args(["users", "create", "--email", email, "--role", role])
            .env("FERRY_DATA_DIR", dir.path())
            .env("FERRY_PASSWORD", password)
            .output()
            .unwrap()
    };
    let output = create(
        "Admin@Example.com",
        "Administrator",
        "ferry harbour lantern",
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        stdout.trim(),
        "Created admin@example.com with the roles Administrator."
    );

    assert_one_line_error(
        &create(
            "admin@example.com",
            "Administrator",
            "another long passphrase",
        ),
        "already exists",
    );
    assert_one_line_error(
        &create("viewer@example.com", "Superuser", "another long passphrase"),
        "no role named \"Superuser\"",
    );
    assert_one_line_error(
        &create("viewer@example.com", "Viewer", "password1234"),
        "too common",
    );
}

#[test]
fn users_create_never_takes_a_password_from_the_command_line() {
    let output = server()
        .args([
            "users",
            "create",
            "--email",
            "a@example.com",
            "--role",
            "Viewer",
            "--password",
            "secret secret",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("unexpected argument '--password'"));
}

#[test]
fn the_first_start_creates_an_administrator_and_prints_its_sign_in_once() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let (first, mut output) = start_reading(dir.path(), port);
    let mut line = String::new();
    output.read_line(&mut line).unwrap();
    let rest = line
        .strip_prefix("First sign-in: admin@ferry.local with password ")
        .expect(&line);
    let password = rest.split_whitespace().next().unwrap().to_owned();
    assert!(password.len() >= 12, "{line}");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let status = runtime.block_on(async {
        reqwest::Client::new()
            .post(format!("http://127.0.0.1:{port}/api/auth/login"))
            .form(&[
                ("email", "admin@ferry.local"),
                ("password", password.as_str()),
            ])
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status, reqwest::StatusCode::OK, "the printed sign-in works");
    stop(first);

    // A second start finds the administrator and prints nothing more after its URL line.
    let (second, output) = start_reading(dir.path(), port);
    stop(second);
    let rest: Vec<String> = output.lines().map(Result::unwrap).collect();
    assert!(rest.is_empty(), "printed again: {rest:?}");
}

#[test]
fn demo_data_adds_profiles_and_evaluated_segments_once_when_asked_if_empty() {
    let dir = tempfile::tempdir().unwrap();
    let demo = |args: &[&str]| {
        server()
            .arg("demo-data")
            .args(args)
            .env("FERRY_DATA_DIR", dir.path())
            .output()
            .unwrap()
    };
    let first = demo(&["--profiles", "300", "--if-empty"]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(stdout.starts_with("Added 300 demo profiles"), "{stdout}");
    assert!(stdout.contains("  Gold and platinum members: "), "{stdout}");
    assert!(!stdout.contains("not evaluated"), "{stdout}");

    let second = demo(&["--if-empty"]);
    assert_eq!(
        String::from_utf8_lossy(&second.stdout).trim(),
        "The database already holds 300 profiles; no demo data added."
    );
    // Without --if-empty, more profiles are added after the existing ones.
    let third = demo(&["--profiles", "50"]);
    assert!(String::from_utf8_lossy(&third.stdout).starts_with("Added 50 demo profiles"));
}

#[test]
fn import_reads_a_file_and_reports_rejected_lines() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("people.csv");
    std::fs::write(
        &file,
        "identity.CRMID,identity.Email,loyalty.points\nA1,a@example.com,5\nA2,b@example.com,many\n",
    )
    .unwrap();
    let run = |args: &[&str]| {
        server()
            .arg("import")
            .args(args)
            .env("FERRY_DATA_DIR", dir.path())
            .output()
            .unwrap()
    };
    let output = run(&[file.to_str().unwrap()]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("2 rows read, 1 new profiles, 0 updated, 0 unchanged, 1 rejected"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  line 3: loyalty.points: expected a whole number"),
        "{stdout}"
    );

    let unknown = dir.path().join("people.txt");
    std::fs::write(&unknown, "x").unwrap();
    assert_one_line_error(&run(&[unknown.to_str().unwrap()]), "cannot tell the format");
    let bad_header = dir.path().join("bad.csv");
    std::fs::write(&bad_header, "identity.CRMID,shoe.size\nA,1\n").unwrap();
    assert_one_line_error(
        &run(&[bad_header.to_str().unwrap()]),
        "Unknown columns: shoe.size",
    );
}

#[test]
fn a_broken_destination_spec_or_secret_key_stops_the_start_naming_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    let specs = dir.path().join("specs");
    std::fs::create_dir(&specs).unwrap();
    std::fs::write(
        specs.join("acme.toml"),
        "id = \"acme\"\nname = \"Acme\"\ndescription = \"d\"\ncategory = \"cloud_storage\"\n\
         type = \"profile_export\"\nconnection = \"file\"\ntransport = \"local\"\n\
         schedules = [\"daily\"]\n[files]\nformats = [\"csv\"]\n[files.csv]\ndelimiter = \";;\"\n",
    )
    .unwrap();
    let output = server()
        .env("FERRY_DATA_DIR", dir.path().join("data"))
        .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{}", free_port()))
        .env("FERRY_DESTINATIONS_DIR", &specs)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "should fail: {stderr}");
    assert!(
        stderr.starts_with("error: the destination catalog is invalid"),
        "{stderr}"
    );
    assert!(
        stderr.contains("acme.toml: files.csv.delimiter: \";;\" must be one ASCII character"),
        "{stderr}"
    );

    let output = server()
        .env("FERRY_DATA_DIR", dir.path().join("data"))
        .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{}", free_port()))
        .env("FERRY_SECRET_KEY", "too-short")
        .output()
        .unwrap();
    assert_one_line_error(
        &output,
        "FERRY_SECRET_KEY: the secret key is not valid Base64",
    );
}
