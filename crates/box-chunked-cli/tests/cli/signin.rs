//! Signing in with the built binary against `box-chunked serve`: `login`
//! through its loopback redirect, then uploads with the token file it
//! wrote (and the printed hint, run as printed, once that file is used
//! up); JWT from `--box-config`, `BOX_CONFIG_JSON` and with `--as-user`;
//! refused credentials named in the message; and a proxy that `NO_PROXY`
//! bypasses.

use crate::support::*;
use box_chunked_tests::*;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// `box-chunked` with no credential in its environment but the app's id
/// and secret, and a private data directory.
fn signed_out(home: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.env("XDG_DATA_HOME", home)
        .env_remove("BOX_CHUNKED_ONE_SHOT_BELOW")
        .env("BOX_CLIENT_ID", "cid")
        .env("BOX_CLIENT_SECRET", "csecret");
    for k in [
        "BOX_ACCESS_TOKEN",
        "BOX_CONFIG",
        "BOX_CONFIG_JSON",
        "BOX_TOKEN_FILE",
        "BOX_SUBJECT_TYPE",
        "BOX_SUBJECT_ID",
        "HTTPS_PROXY",
        "HTTP_PROXY",
        "ALL_PROXY",
        "NO_PROXY",
        "https_proxy",
        "http_proxy",
        "all_proxy",
        "no_proxy",
        "SSL_CERT_FILE",
    ] {
        c.env_remove(k);
    }
    c
}

/// Runs `login` as `args` say, plays the browser (follows the authorize
/// URL it prints to the redirect it names) and waits for it to end.
async fn login(home: &Path, args: &[String]) -> Output {
    let mut child = signed_out(home)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut printed = String::new();
    let url = loop {
        let mut line = String::new();
        assert!(err.read_line(&mut line).unwrap() > 0, "no URL in {printed}");
        printed.push_str(&line);
        if let Some(u) = line.trim().strip_prefix("http") {
            break format!("http{u}");
        }
    };
    let http = Http::new();
    let approve = http.get(&url).try_send().await.unwrap();
    assert_eq!(
        approve.status,
        302,
        "{}",
        String::from_utf8_lossy(&approve.body)
    );
    let back = approve.header("location").unwrap().to_owned();
    let page = http.get(&back).try_send().await.unwrap();
    assert_eq!(page.status, 200, "{}", String::from_utf8_lossy(&page.body));
    let mut rest = String::new();
    let _ = std::io::Read::read_to_string(&mut err, &mut rest);
    let status = child.wait().unwrap();
    Output {
        status,
        stdout: Vec::new(),
        stderr: (printed + &rest).into_bytes(),
    }
}

fn upload(home: &Path, base: &str, file: &Path, extra: &[&str]) -> Output {
    signed_out(home)
        .args(["upload", "--json", "--base-url", base])
        .args(extra)
        .arg(file)
        .output()
        .unwrap()
}

/// `upload FILE --name NAME` with alice's token, `env` and `extra` arguments.
fn upload_as_alice(
    home: &Path,
    base: &str,
    file: &Path,
    name: &str,
    env: &[(&str, &str)],
    extra: &[&str],
) -> Output {
    signed_out(home)
        .envs(env.iter().copied())
        .args([
            "--token",
            ALICE,
            "upload",
            "--base-url",
            base,
            "--name",
            name,
        ])
        .args(extra)
        .arg(file)
        .output()
        .unwrap()
}

fn owner(o: &Output) -> String {
    let out = String::from_utf8_lossy(&o.stdout);
    let j: serde_json::Value =
        serde_json::from_str(out.lines().last().unwrap_or("")).unwrap_or_default();
    j["file"]["owned_by"]["id"]
        .as_str()
        .or(j["owned_by"]["id"].as_str())
        .unwrap_or_else(|| panic!("no owner in {out}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_writes_a_token_file_that_uploads_use_and_its_hint_works() {
    let s = Serve::start(&["--client", "cid:csecret=alice", "--token-ttl", "3"]);
    let home = TempDir::new("login");
    let tokens = home.path().join("my tokens.json");
    let args: Vec<String> = vec![
        "login".into(),
        "--base-url".into(),
        s.url.clone(),
        "--redirect-uri".into(),
        "http://127.0.0.1:0/callback".into(),
        "--token-file".into(),
        tokens.display().to_string(),
    ];
    let o = login(home.path(), &args).await;
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("Signed in"), "{}", stderr(&o));
    let first = std::fs::read_to_string(&tokens).unwrap();
    let data = pseudo_random(300_000, 5);
    let file = home.path().join("a.bin");
    std::fs::write(&file, &data).unwrap();
    let t = tokens.display().to_string();
    let o = upload(home.path(), &s.url, &file, &["--token-file", &t]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(owner(&o), "alice");
    // Past the access token's life on the server's clock: the next run is
    // refused (401), refreshes and rotates the file.
    s.advance_clock(10).await;
    let o = signed_out(home.path())
        .env("BOX_TOKEN_FILE", &tokens)
        .args([
            "upload",
            "--json",
            "--on-conflict",
            "version",
            "--base-url",
            &s.url,
        ])
        .arg(&file)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let rotated = std::fs::read_to_string(&tokens).unwrap();
    assert_ne!(first, rotated, "the refresh wrote the new pair");
    // Someone else uses the refresh token up: the message names the file and
    // the command that signs in again, and that command works as printed.
    let pair: serde_json::Value = serde_json::from_str(&rotated).unwrap();
    let form = format!(
        "grant_type=refresh_token&refresh_token={}&client_id=cid&client_secret=csecret",
        pair["refresh_token"].as_str().unwrap()
    );
    let stolen = Http::new()
        .post(&format!("{}/oauth2/token", s.url))
        .headers(&[("content-type", "application/x-www-form-urlencoded".into())])
        .body(form)
        .try_send()
        .await
        .unwrap();
    assert_eq!(stolen.status, 200);
    s.advance_clock(10).await;
    let o = upload(
        home.path(),
        &s.url,
        &file,
        &["--token-file", &t, "--on-conflict", "version"],
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let msg = stderr(&o);
    assert!(msg.contains("invalid_grant"), "{msg}");
    let hint = msg
        .split('`')
        .find(|p| p.starts_with("box-chunked login"))
        .unwrap_or_else(|| panic!("no login hint in {msg}"));
    assert!(!msg.contains("csecret"), "{msg}");
    let words: Vec<String> = shell_words(hint.trim_start_matches("box-chunked "));
    let mut again = words.clone();
    again.extend([
        "--base-url".to_owned(),
        s.url.clone(),
        "--redirect-uri".to_owned(),
        "http://127.0.0.1:0/callback".to_owned(),
    ]);
    let o = login(home.path(), &again).await;
    assert!(o.status.success(), "{}", stderr(&o));
    let o = upload(
        home.path(),
        &s.url,
        &file,
        &["--token-file", &t, "--on-conflict", "version"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
}

/// Splits a command line as a POSIX shell would, for the quoting our hints use.
fn shell_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut any = false;
    for ch in s.chars() {
        match ch {
            '\'' => {
                quoted = !quoted;
                any = true;
            }
            ' ' if !quoted => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                any = false;
            }
            c => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_from_the_config_file_or_its_contents_and_as_user() {
    let home = TempDir::new("jwt");
    let config = home.path().join("config.json");
    std::fs::write(&config, box_app_config(CONSOLE_KEY)).unwrap();
    let app = config.display().to_string();
    let s = Serve::start(&["--app", &app]);
    let (file, _) = {
        let p = home.path().join("j.bin");
        std::fs::write(&p, pseudo_random(200_000, 8)).unwrap();
        (p, ())
    };
    let o = upload(home.path(), &s.url, &file, &["--box-config", &app]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(owner(&o), "AutomationUser_app-client");
    let o = signed_out(home.path())
        .env("BOX_CONFIG_JSON", box_app_config(CONSOLE_KEY))
        .env("BOX_SUBJECT_TYPE", "user")
        .env("BOX_SUBJECT_ID", "alice")
        .args(["upload", "--json", "--base-url", &s.url])
        .arg(&file)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(owner(&o), "alice");
    let o = upload(
        home.path(),
        &s.url,
        &file,
        &[
            "--box-config",
            &app,
            "--as-user",
            "alice",
            "--on-conflict",
            "rename",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(owner(&o), "alice");
    // A user the enterprise does not have: the message names --as-user.
    let o = upload(
        home.path(),
        &s.url,
        &file,
        &["--box-config", &app, "--as-user", "mallory"],
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("(--as-user mallory)"), "{}", stderr(&o));
    // A config file the server does not know: refused, and the message names the file.
    let wrong = home.path().join("other app.json");
    std::fs::write(
        &wrong,
        box_app_config(OTHER_KEY).replace("app-secret", "old-secret"),
    )
    .unwrap();
    let o = upload(
        home.path(),
        &s.url,
        &file,
        &["--box-config", &wrong.display().to_string()],
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let msg = stderr(&o);
    assert!(msg.contains("invalid_client"), "{msg}");
    assert!(msg.contains("other app.json' (--box-config)"), "{msg}");
    for secret in ["old-secret", "other-passphrase", "PRIVATE KEY"] {
        assert!(!msg.contains(secret), "{msg}");
    }
    // Client credentials this server does not know: the message names the variables.
    let o = signed_out(home.path())
        .env("BOX_SUBJECT_ID", "ent-1")
        .args(["upload", "--base-url", &s.url])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("invalid_client"), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("came from BOX_CLIENT_ID and BOX_CLIENT_SECRET"),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("csecret"), "{}", stderr(&o));
    // A legacy key gets the command that converts it.
    let legacy = home.path().join("legacy.json");
    let mut j: serde_json::Value = serde_json::from_str(&box_app_config(CONSOLE_KEY)).unwrap();
    j["boxAppSettings"]["appAuth"]["privateKey"] = fixture("jwt/legacy-key.pem").into();
    std::fs::write(&legacy, j.to_string()).unwrap();
    let o = upload(
        home.path(),
        &s.url,
        &file,
        &["--box-config", &legacy.display().to_string()],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("openssl pkcs8 -topk8 -in old.pem -out new.pem"),
        "{}",
        stderr(&o)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_sees_the_requests_unless_no_proxy_names_the_host() {
    let s = Serve::start(&[]);
    let home = TempDir::new("proxy");
    let file = home.path().join("p.bin");
    std::fs::write(&file, pseudo_random(100_000, 2)).unwrap();
    let (proxy, seen) = connect_proxy().await;
    let run = |no_proxy: Option<&str>, name: &str| {
        let env: Vec<_> = no_proxy.map(|n| ("NO_PROXY", n)).into_iter().collect();
        upload_as_alice(home.path(), &s.url, &file, name, &env, &["--proxy", &proxy])
    };
    let o = run(None, "via-proxy.bin");
    assert!(o.status.success(), "{}", stderr(&o));
    let host = s.url.trim_start_matches("http://").to_owned();
    let through = seen.lock().unwrap().clone();
    assert!(!through.is_empty());
    assert!(
        through
            .iter()
            .all(|h| h.starts_with(&format!("CONNECT {host} "))),
        "{through:?}"
    );
    let o = run(Some("127.0.0.1"), "direct.bin");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        seen.lock().unwrap().len(),
        through.len(),
        "NO_PROXY bypassed the proxy"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssl_cert_file_adds_a_root_as_ca_cert_does() {
    let home = TempDir::new("roots");
    let (ca, cert, key) = test_certificates();
    let write = |name: &str, text: &str| {
        let p = home.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let (ca, cert, key) = (
        write("ca.pem", &ca),
        write("cert.pem", &cert),
        write("key.pem", &key),
    );
    let s = Serve::start(&["--tls-cert", &cert, "--tls-key", &key]);
    assert!(s.url.starts_with("https://"), "{}", s.url);
    let file = home.path().join("tls.bin");
    std::fs::write(&file, pseudo_random(50_000, 4)).unwrap();
    let run = |ca: Option<&str>, name: &str| {
        let env: Vec<_> = ca.map(|c| ("SSL_CERT_FILE", c)).into_iter().collect();
        upload_as_alice(home.path(), &s.url, &file, name, &env, &[])
    };
    let o = run(None, "untrusted.bin");
    assert!(!o.status.success());
    assert!(stderr(&o).contains("SSL_CERT_FILE"), "{}", stderr(&o));
    let o = run(Some(&ca), "trusted.bin");
    assert!(o.status.success(), "{}", stderr(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_logs_even_at_trace_level() {
    let home = TempDir::new("secrets");
    let config = home.path().join("config.json");
    std::fs::write(&config, box_app_config(CONSOLE_KEY)).unwrap();
    let app = config.display().to_string();
    let s = Serve::start(&[
        "--app",
        &app,
        "--client",
        "cid:csecret=alice",
        "--token-ttl",
        "2",
    ]);
    let tokens = home.path().join("tokens.json");
    let t = tokens.display().to_string();
    let mut logs = String::new();
    let login_args: Vec<String> = [
        "-vvv",
        "login",
        "--base-url",
        &s.url,
        "--redirect-uri",
        "http://127.0.0.1:0/",
        "--token-file",
        &t,
    ]
    .map(str::to_owned)
    .to_vec();
    let o = login(home.path(), &login_args).await;
    assert!(o.status.success(), "{}", stderr(&o));
    logs.push_str(&stderr(&o));
    let mut seen_tokens = vec![std::fs::read_to_string(&tokens).unwrap()];
    let file = home.path().join("s.bin");
    std::fs::write(&file, pseudo_random(30_000, 1)).unwrap();
    for (i, extra) in [
        vec!["--box-config", app.as_str()],
        vec!["--token-file", t.as_str()],
        vec!["--box-config", app.as_str(), "--as-user", "alice"],
    ]
    .into_iter()
    .enumerate()
    {
        // Past the access token's life, so the file is refreshed too.
        s.advance_clock(10).await;
        let o = signed_out(home.path())
            .arg("-vvv")
            .args([
                "upload",
                "--base-url",
                &s.url,
                "--name",
                &format!("s{i}.bin"),
            ])
            .args(&extra)
            .arg(&file)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        logs.push_str(&stderr(&o));
        seen_tokens.push(std::fs::read_to_string(&tokens).unwrap());
    }
    assert!(
        logs.contains("TRACE") || logs.contains("trace"),
        "trace logs were on"
    );
    let mut secrets: Vec<String> = [
        "app-secret",
        "test-passphrase",
        "csecret",
        "PRIVATE KEY",
        "eyJhbGciOi",
    ]
    .map(str::to_owned)
    .to_vec();
    // A line of the key's body, and every token the file held.
    secrets.push(
        fixture("jwt/console-key.pem")
            .lines()
            .nth(3)
            .unwrap()
            .to_owned(),
    );
    for t in &seen_tokens {
        let pair: serde_json::Value = serde_json::from_str(t).unwrap();
        secrets.push(pair["access_token"].as_str().unwrap().to_owned());
        secrets.push(pair["refresh_token"].as_str().unwrap().to_owned());
    }
    assert!(
        seen_tokens.windows(2).any(|w| w[0] != w[1]),
        "the file was rotated"
    );
    for secret in &secrets {
        assert!(!logs.contains(secret.as_str()), "{secret:?} is in the logs");
    }
}

/// Eight processes share one token file whose access tokens live 2 s
/// (rclone #2054's failure):
/// their refreshes take turns (a lock beside the file), each reads the pair
/// the one before it wrote, and every upload succeeds; no process is told
/// to sign in again while the file holds a working pair.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_sharing_a_token_file_all_succeed() {
    // Each refresh takes 400 ms at the token endpoint: a wide window for
    // two processes to spend one refresh token.
    let s = Serve::start(&[
        "--client",
        "cid:csecret=alice",
        "--token-ttl",
        "2",
        "--min-file-size",
        "1",
        "--faults",
        "token:delay=400@1",
    ]);
    let home = TempDir::new("shared-token-file");
    let tokens = home.path().join("tokens.json");
    let t = tokens.display().to_string();
    let args: Vec<String> = [
        "login",
        "--base-url",
        &s.url,
        "--redirect-uri",
        "http://127.0.0.1:0/callback",
        "--token-file",
        &t,
    ]
    .map(String::from)
    .to_vec();
    let o = login(home.path(), &args).await;
    assert!(o.status.success(), "{}", stderr(&o));
    let signed_in = std::fs::read_to_string(&tokens).unwrap();
    let children: Vec<_> = (0..8)
        .map(|i| {
            let data = pseudo_random(3 * 1024 * 1024, 100 + i);
            let file = home.path().join(format!("f{i}.bin"));
            std::fs::write(&file, &data).unwrap();
            signed_out(home.path())
                .env("BOX_CHUNKED_ONE_SHOT_BELOW", "1")
                .args([
                    "upload",
                    "--json",
                    "--no-progress",
                    "--base-url",
                    &s.url,
                    "--token-file",
                    &t,
                ])
                .args(["--bwlimit", "600K", "--parallel", "1"])
                .arg(&file)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (i, c) in children.into_iter().enumerate() {
        let o = c.wait_with_output().unwrap();
        let err = stderr(&o);
        assert!(o.status.success(), "process {i}: {err}");
        assert!(!err.contains("sign in again"), "process {i}: {err}");
    }
    // The tokens did expire during the uploads: refreshes rotated the file
    // (each 5 s upload outlives several 2 s tokens).
    let refreshed = s.counters().await["tokens_refreshed"].as_u64().unwrap();
    assert!(refreshed >= 2, "{refreshed} refreshes");
    let now = std::fs::read_to_string(&tokens).unwrap();
    assert_ne!(now, signed_in, "the token file was rotated");
    let pair: serde_json::Value = serde_json::from_str(&now).unwrap();
    let used: serde_json::Value = Http::new()
        .get(&format!("{}/2.0/users/me", s.url))
        .bearer(pair["access_token"].as_str().unwrap())
        .send()
        .await
        .json();
    assert_eq!(used["type"], "user", "the file's pair still works: {used}");
}

/// A job signed in with a relative `--box-config` and `--as-user`, killed:
/// `jobs` prints a resume command with the config's absolute path and the
/// same `--as-user`, and that command, pasted into bash from another
/// directory with no credential in the environment, finishes the job as
/// the same user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jwt_job_resumes_as_printed_as_the_same_user() {
    let home = TempDir::new("jwt-job");
    let config = home.path().join("config.json");
    std::fs::write(&config, box_app_config(CONSOLE_KEY)).unwrap();
    let app = config.display().to_string();
    let s = Serve::start(&[
        "--app",
        &app,
        "--min-file-size",
        "1",
        "--part-size",
        "1048576",
    ]);
    let tree = home.path().join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    for (i, size) in [6 * MIB, 4 * MIB].into_iter().enumerate() {
        std::fs::write(
            tree.join(format!("f{i}.bin")),
            pseudo_random(size, 40 + i as u64),
        )
        .unwrap();
    }
    let mut job = signed_out(home.path())
        .current_dir(home.path())
        .env("BOX_CHUNKED_ONE_SHOT_BELOW", "1")
        .args([
            "upload",
            "--no-progress",
            "--bwlimit",
            "2M",
            "--files",
            "1",
            "--base-url",
            &s.url,
        ])
        .args(["--box-config", "config.json", "--as-user", "alice", "tree"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let jobs_dir = home.path().join("box-chunked/jobs");
    let started = std::time::Instant::now();
    let under_way = || {
        std::fs::read_dir(&jobs_dir).ok().is_some_and(|d| {
            d.flatten().any(|e| {
                box_chunked_hyper::CheckpointFile::read(&e.path())
                    .is_ok_and(|c| !c.upload.parts.is_empty())
            })
        })
    };
    while !under_way() && started.elapsed() < std::time::Duration::from_secs(60) {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let _ = job.kill();
    let _ = job.wait();
    let o = signed_out(home.path()).arg("jobs").output().unwrap();
    let listed = String::from_utf8_lossy(&o.stdout).into_owned();
    let cmd = printed_commands(&listed)
        .into_iter()
        .find(|c| c.starts_with("box-chunked resume"))
        .unwrap_or_else(|| panic!("no resume command in {listed}"));
    assert!(cmd.contains(&format!("--box-config {app}")), "{cmd}");
    assert!(cmd.contains("--as-user alice"), "{cmd}");
    let elsewhere = TempDir::new("jwt-job-elsewhere");
    let o = paste(
        &format!("cd {} && {cmd} --json", elsewhere.path().display()),
        home.path(),
        None,
    );
    assert!(o.status.success(), "{cmd}: {}", stderr(&o));
    // Every file is alice's: her own token sees it.
    for line in String::from_utf8_lossy(&o.stdout).lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if let Some(id) = v["id"].as_str() {
            let r = Http::new()
                .get(&format!("{}/2.0/files/{id}", s.url))
                .bearer(ALICE)
                .send()
                .await;
            assert_eq!(r.status, 200, "file {id} is not alice's: {line}");
        }
    }
}
