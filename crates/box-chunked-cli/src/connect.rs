//! Connecting: Box's URLs and credentials from flags and the environment,
//! or the local server embedded in this command when `--local` asks for it.
//! Without either, nothing is sent anywhere: a missing credential is an
//! error, never a quiet upload somewhere else.

use crate::args::{Conn, Net};
use crate::failure::{exit, Failure, SignedIn, SIGN_IN_CHOICES};
use box_chunked_hyper::{
    BoxClient, CheckpointFile, CheckpointUrls, ClientBuilder, JwtAuth, RefreshTokenAuth, Subject,
};
use box_chunked_proto::urls::BaseUrls;
use box_chunked_server::{RunningServer, Server, ServerConfig};
use std::net::SocketAddr;
use std::path::PathBuf;

pub(crate) fn data_dir() -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local").join("share")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("box-chunked")
}

/// A secret of 128 random bits from the operating system, in hex (a
/// server's token, OAuth's `state`).
pub(crate) fn random_token() -> Result<String, Failure> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|e| {
        Failure::new(
            exit::FAILED,
            format!("the operating system gave no random bytes for a secret ({e})"),
        )
    })?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// Where the requests go: Box (or given URLs) with credentials, or the embedded server.
pub(crate) struct Endpoint {
    pub(crate) client: BoxClient,
    pub(crate) embedded: Option<RunningServer>,
    /// Where the credential came from, for hints that work as printed.
    pub(crate) credential: Credential,
    /// The flags a resume needs again to connect the same way: the extra CA
    /// file, a credential file given as a flag, `--as-user`.
    pub(crate) again: Again,
    /// The user it acts as (`--as-user`).
    pub(crate) as_user: Option<String>,
}

/// Where the credential came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Credential {
    /// The embedded server's own token.
    Embedded,
    /// `--token` on the command line.
    Flag,
    /// `BOX_ACCESS_TOKEN`.
    EnvToken,
    /// A Box app config file (JWT): `--box-config FILE`, `BOX_CONFIG` or `BOX_CONFIG_JSON`.
    BoxConfig(&'static str, Option<PathBuf>),
    /// A token file (OAuth 2.0): `--token-file FILE` or `BOX_TOKEN_FILE`.
    TokenFile(&'static str, PathBuf),
    /// `BOX_CLIENT_ID` and `BOX_CLIENT_SECRET`.
    ClientCredentials,
}

impl Credential {
    /// Where the credential is, and what to check there, as a sentence.
    pub(crate) fn advice(&self) -> String {
        match self {
            Self::Embedded => "the local server's own token was refused; run the command again".into(),
            Self::Flag => "the token came from --token: get a new token and pass it with --token".into(),
            Self::EnvToken => "the token came from BOX_ACCESS_TOKEN: get a new token and set BOX_ACCESS_TOKEN to it".into(),
            Self::BoxConfig(from, path) => format!(
                "the credential came from the Box app config file {}: check that the app is authorized in the enterprise's admin console, that the file is the app's current one, and that this machine's clock is right (for a user subject, BOX_SUBJECT_TYPE=user and BOX_SUBJECT_ID)",
                match path {
                    Some(p) => format!("{} ({from})", shell_quote(&p.display().to_string())),
                    None => format!("in {from}"),
                }
            ),
            Self::TokenFile(from, path) => {
                let p = shell_quote(&path.display().to_string());
                format!(
                    "the credential came from the token file {p} ({from}) with BOX_CLIENT_ID and BOX_CLIENT_SECRET: sign in again with `box-chunked login --token-file {p}`"
                )
            }
            Self::ClientCredentials => "the credential came from BOX_CLIENT_ID and BOX_CLIENT_SECRET (with BOX_SUBJECT_TYPE and BOX_SUBJECT_ID): check them and that the app is authorized in the enterprise".into(),
        }
    }
}

impl Endpoint {
    /// How it signed in, for the sentence of a refusal.
    pub(crate) fn signed_in(&self) -> SignedIn {
        SignedIn {
            advice: self.credential.advice(),
            as_user: self.as_user.clone(),
            ca_cert: self
                .again
                .iter()
                .find(|(flag, _)| *flag == "--ca-cert")
                .map(|(_, path)| path.clone()),
        }
    }

    /// The command that resumes from `checkpoint`, as it works when pasted
    /// in this shell (paths absolute, the flags that connect the same way
    /// repeated); a token given with `--token` is asked for in words after
    /// the command, never as shell syntax.
    pub(crate) fn resume_hint(&self, checkpoint: &std::path::Path) -> String {
        let cmd = resume_command(checkpoint, &self.resume_flags());
        match self.credential {
            Credential::Flag => {
                format!("{cmd} (with the same token in BOX_ACCESS_TOKEN, or given with --token)")
            }
            _ => cmd,
        }
    }

    /// The arguments a resume repeats, as checkpoints and job files record
    /// them: never a secret.
    pub(crate) fn resume_flags(&self) -> Vec<String> {
        self.again
            .iter()
            .flat_map(|(flag, value)| [(*flag).to_owned(), value.clone()])
            .collect()
    }
}

/// `box-chunked resume PATH FLAGS...`, quoted for a POSIX shell.
pub(crate) fn resume_command(path: &std::path::Path, flags: &[String]) -> String {
    let mut cmd = format!("box-chunked resume {}", shell_quote(&absolute(path)));
    for f in flags {
        cmd.push(' ');
        cmd.push_str(&shell_quote(f));
    }
    cmd
}

/// `path` made absolute against the working directory (as printed hints
/// and recorded flags need it: they may run elsewhere).
pub(crate) fn absolute(path: &std::path::Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

/// A path quoted for a POSIX shell when it needs it.
pub(crate) fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+:@%,=".contains(&b))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

pub(crate) fn credentials_given(g: &Conn) -> bool {
    g.auth.token.is_some()
        || g.auth.box_config.is_some()
        || g.auth.token_file.is_some()
        || [
            "BOX_ACCESS_TOKEN",
            "BOX_CONFIG",
            "BOX_CONFIG_JSON",
            "BOX_TOKEN_FILE",
            "BOX_CLIENT_ID",
        ]
        .iter()
        .any(|k| std::env::var(k).is_ok_and(|t| !t.is_empty()))
}

/// What to say when a command that connects has nothing to connect with.
pub(crate) const NO_CREDENTIALS: &str = concat!(
    "no Box credentials were given, so nothing was sent: ",
    "pass --token, --box-config FILE or --token-file FILE, or set BOX_ACCESS_TOKEN, BOX_CONFIG (or BOX_CONFIG_JSON), BOX_TOKEN_FILE, or BOX_CLIENT_ID and BOX_CLIENT_SECRET",
    "; or pass --local (or set BOX_CHUNKED_LOCAL=1) to use the local box-chunked server embedded in this command"
);

/// The first flag of `g` that names a server or a credential other than
/// the embedded server's.
fn remote_flag(g: &Conn) -> Option<&'static str> {
    [
        (g.auth.token.is_some(), "--token"),
        (g.auth.box_config.is_some(), "--box-config"),
        (g.auth.token_file.is_some(), "--token-file"),
        (g.net.base_url.is_some(), "--base-url"),
        (g.net.api_url.is_some(), "--api-url"),
        (g.net.upload_url.is_some(), "--upload-url"),
        (g.net.oauth_url.is_some(), "--oauth-url"),
    ]
    .into_iter()
    .find_map(|(given, flag)| given.then_some(flag))
}

pub(crate) fn urls_given(g: &Conn) -> bool {
    g.net.api_url.is_some()
        || g.net.upload_url.is_some()
        || g.net.oauth_url.is_some()
        || g.net.base_url.is_some()
}

/// The API, upload and OAuth URLs: as given; those not given follow from
/// `--base-url`, or from a given URL of box-chunked's layout (`<base>/2.0`,
/// `<base>/api/2.0`) on the same origin; Box's own for the rest only when
/// every given URL is Box's (the client refuses a mix).
pub(crate) fn urls_of(g: &Net) -> (Option<String>, Option<String>, Option<String>) {
    let base = g
        .base_url
        .as_ref()
        .map(|b| b.trim_end_matches('/').to_owned())
        .or_else(|| g.api_url.as_deref().and_then(BaseUrls::base_of))
        .or_else(|| g.upload_url.as_deref().and_then(BaseUrls::base_of));
    let from_base = base.as_deref().map(BaseUrls::from_base);
    (
        g.api_url
            .clone()
            .or_else(|| Some(from_base.as_ref()?.api.clone())),
        g.upload_url
            .clone()
            .or_else(|| Some(from_base.as_ref()?.upload.clone())),
        g.oauth_url
            .clone()
            .or_else(|| Some(from_base.as_ref()?.token.clone())),
    )
}

/// Box (or the given URLs) with the credential the flags and the
/// environment give, or the local server embedded in this command with
/// `--local`; without a credential, URLs or `--local`, a usage failure.
pub(crate) async fn connect(g: &Conn, quiet_embedded: bool) -> Result<Endpoint, Failure> {
    if g.auth.local {
        if let Some(flag) = remote_flag(g) {
            return Err(Failure::new(
                exit::USAGE,
                format!("--local uses the server embedded in this command, and {flag} names another: give one of them"),
            ));
        }
        return embedded(quiet_embedded).await;
    }
    if !credentials_given(g) && !urls_given(g) {
        return Err(Failure::new(exit::USAGE, NO_CREDENTIALS));
    }
    let (mut b, mut again) = transport_of(&g.net)?;
    if let Some(id) = &g.auth.as_user {
        b = b.as_user(id.clone());
        again.push(("--as-user", id.clone()));
    }
    let (b, credential) = sign_in(g, b, &mut again)?;
    let client = b
        .build()
        .map_err(|e| Failure::new(exit::USAGE, e.to_string()))?;
    Ok(Endpoint {
        client,
        embedded: None,
        credential,
        again,
        as_user: g.auth.as_user.clone(),
    })
}

/// The local server embedded in this command, on a free loopback port with
/// a token of its own.
async fn embedded(quiet: bool) -> Result<Endpoint, Failure> {
    // Its own directory: `box-chunked serve` keeps `server/`, and one
    // server at a time may use a directory.
    let dir = data_dir().join("embedded");
    let token = random_token()?;
    let mut cfg = ServerConfig::new(dir.clone());
    cfg.addr = SocketAddr::from(([127, 0, 0, 1], 0));
    cfg.tokens = vec![(token.clone(), "local".to_owned())];
    let server = Server::bind(cfg).await.map_err(|e| {
        let message = match &e {
            box_chunked_server::ServerError::Store(
                box_chunked_server::StoreError::Locked { pid, .. },
            ) => format!(
                "the local server's data directory {} is in use by another box-chunked command ({}); wait for it to finish, or run `box-chunked serve --token TOKEN` once and give each command --base-url URL --token TOKEN",
                dir.display(),
                pid.map_or_else(|| "process unknown".to_owned(), |p| format!("process {p}"))
            ),
            _ => format!("cannot start the local server in {}: {e}", dir.display()),
        };
        Failure::new(exit::FAILED, message)
    })?;
    if !quiet {
        eprintln!(
            "Using the local box-chunked server embedded in this command at {} (data in {}); nothing is sent to Box.",
            server.url(),
            dir.display()
        );
    }
    let client = BoxClient::builder()
        .token(token)
        .base_url(server.url())
        .build()
        .map_err(|e| Failure::new(exit::FAILED, e.to_string()))?;
    Ok(Endpoint {
        client,
        embedded: Some(server.spawn()),
        credential: Credential::Embedded,
        again: Vec::new(),
        as_user: None,
    })
}

/// The environment variable `k`, when set and not empty.
fn env(k: &str) -> Option<String> {
    std::env::var(k).ok().filter(|v| !v.is_empty())
}

/// `BOX_SUBJECT_TYPE` and `BOX_SUBJECT_ID`: whom app tokens act as.
fn subject() -> Option<Subject> {
    let id = env("BOX_SUBJECT_ID");
    match env("BOX_SUBJECT_TYPE").as_deref() {
        Some("user") => Some(Subject::User(id.unwrap_or_default())),
        _ => id.map(Subject::Enterprise),
    }
}

/// A token file's refresh-token sign-in (`from` names where the path came from).
fn refresh(path: &PathBuf, from: &'static str) -> Result<RefreshTokenAuth, Failure> {
    let (Some(id), Some(secret)) = (env("BOX_CLIENT_ID"), env("BOX_CLIENT_SECRET")) else {
        return Err(Failure::new(
            exit::USAGE,
            format!(
                "the token file {} ({from}) needs the app's BOX_CLIENT_ID and BOX_CLIENT_SECRET",
                path.display()
            ),
        ));
    };
    RefreshTokenAuth::from_token_file(path, id, secret).map_err(|e| {
        Failure::new(
            exit::USAGE,
            format!(
                "{e}; write it with `box-chunked login --token-file {}`",
                shell_quote(&path.display().to_string())
            ),
        )
    })
}

/// JWT with the subject the environment names.
fn jwt(j: JwtAuth) -> JwtAuth {
    match subject() {
        Some(Subject::User(u)) => j.with_user_subject(u),
        Some(Subject::Enterprise(e)) => j.with_enterprise_subject(e),
        None => j,
    }
}

/// The credential, in the documented order: the three flags, then the
/// environment; what a resume must repeat goes into `again`.
fn sign_in(
    g: &Conn,
    b: ClientBuilder,
    again: &mut Again,
) -> Result<(ClientBuilder, Credential), Failure> {
    let usage = |e: box_chunked_hyper::Error| Failure::new(exit::USAGE, e.to_string());
    Ok(if let Some(t) = g.auth.token.clone() {
        (b.token(t), Credential::Flag)
    } else if let Some(path) = &g.auth.box_config {
        again.push(("--box-config", absolute(path)));
        let auth = jwt(JwtAuth::from_config_file(path).map_err(usage)?);
        (
            b.auth(auth),
            Credential::BoxConfig("--box-config", Some(path.clone())),
        )
    } else if let Some(path) = &g.auth.token_file {
        again.push(("--token-file", absolute(path)));
        let auth = refresh(path, "--token-file")?;
        (
            b.auth(auth),
            Credential::TokenFile("--token-file", path.clone()),
        )
    } else if let Some(t) = env("BOX_ACCESS_TOKEN") {
        (b.token(t), Credential::EnvToken)
    } else if let Some(path) = env("BOX_CONFIG").map(PathBuf::from) {
        let auth = jwt(JwtAuth::from_config_file(&path).map_err(usage)?);
        (
            b.auth(auth),
            Credential::BoxConfig("BOX_CONFIG", Some(path)),
        )
    } else if let Some(json) = env("BOX_CONFIG_JSON") {
        let j = JwtAuth::from_config_json(&json)
            .map_err(|e| Failure::new(exit::USAGE, format!("BOX_CONFIG_JSON: {e}")))?;
        (
            b.auth(jwt(j)),
            Credential::BoxConfig("BOX_CONFIG_JSON", None),
        )
    } else if let Some(path) = env("BOX_TOKEN_FILE").map(PathBuf::from) {
        let auth = refresh(&path, "BOX_TOKEN_FILE")?;
        (b.auth(auth), Credential::TokenFile("BOX_TOKEN_FILE", path))
    } else if let (Some(id), Some(secret)) = (env("BOX_CLIENT_ID"), env("BOX_CLIENT_SECRET")) {
        let subject = subject().unwrap_or(Subject::Enterprise(String::new()));
        (
            b.client_credentials(id, secret, subject),
            Credential::ClientCredentials,
        )
    } else {
        return Err(Failure::new(
            exit::USAGE,
            format!("no credentials for the given URL: {SIGN_IN_CHOICES}"),
        ));
    })
}

/// A URL flag's value, as typed, must be an absolute `http` or `https` URL.
fn check_url(flag: &str, value: &str) -> Result<(), Failure> {
    let ok = value
        .parse::<http::Uri>()
        .is_ok_and(|u| matches!(u.scheme_str(), Some("http" | "https")) && u.authority().is_some());
    if ok {
        return Ok(());
    }
    let example = if value.contains("://") {
        String::new()
    } else {
        format!(", for example http://{}", value.trim_start_matches('/'))
    };
    Err(Failure::new(
        exit::USAGE,
        format!("{flag} {value} is not an http or https URL: give it with its scheme{example}"),
    ))
}

/// Flags a printed resume command repeats: (flag, value).
pub(crate) type Again = Vec<(&'static str, String)>;

/// A builder with the URLs, the proxy and the extra roots (`--ca-cert`,
/// `SSL_CERT_FILE`) of `g`, and the flags among them a resume repeats.
pub(crate) fn transport_of(g: &Net) -> Result<(box_chunked_hyper::ClientBuilder, Again), Failure> {
    for (flag, value) in [
        ("--base-url", &g.base_url),
        ("--api-url", &g.api_url),
        ("--upload-url", &g.upload_url),
        ("--oauth-url", &g.oauth_url),
    ] {
        if let Some(v) = value {
            check_url(flag, v)?;
        }
    }
    let mut b = BoxClient::builder();
    let (api, upload, oauth) = urls_of(g);
    if let Some(u) = api {
        b = b.api_url(u);
    }
    if let Some(u) = upload {
        b = b.upload_url(u);
    }
    if let Some(u) = oauth {
        b = b.oauth_url(u);
    }
    if let Some(p) = &g.proxy {
        b = b.proxy(p.clone());
    }
    let mut again = Vec::new();
    // Extra roots: --ca-cert, and SSL_CERT_FILE as OpenSSL and curl read it.
    let roots = [
        g.ca_cert.clone().map(|p| ("--ca-cert", p)),
        std::env::var_os("SSL_CERT_FILE")
            .filter(|v| !v.is_empty())
            .map(|p| ("SSL_CERT_FILE", PathBuf::from(p))),
    ];
    for (from, path) in roots.into_iter().flatten() {
        let pem = std::fs::read(&path).map_err(|e| {
            Failure::new(
                exit::USAGE,
                format!(
                    "cannot read the CA certificate file {} ({from}): {e}",
                    path.display()
                ),
            )
        })?;
        b = b.root_certificates_pem(pem);
        if from == "--ca-cert" {
            again.push(("--ca-cert", absolute(&path)));
        }
    }
    Ok((b, again))
}

/// Connects for an upload recorded in a checkpoint: flags win; otherwise the
/// URLs the checkpoint recorded, with the credential from the flags or the
/// environment; a checkpoint of the embedded server starts it again and
/// points the session at its new address.
pub(crate) async fn connect_for(
    g: &Conn,
    cp: &mut CheckpointFile,
    quiet_embedded: bool,
) -> Result<Endpoint, Failure> {
    let conn = recorded(g, cp.urls.as_ref(), "upload")?;
    let t = connect(&conn, quiet_embedded).await?;
    if let Some(server) = &t.embedded {
        // The embedded server listens on a new port each run: point the session there.
        rebase_endpoints(cp, server.url());
    }
    Ok(t)
}

/// Where to connect to go on with an upload or a job (`what`) that recorded
/// `urls`: flags win; then the recorded URLs, which need a credential; a
/// recording made with `--local` goes to the embedded server again.
pub(crate) fn recorded(
    g: &Conn,
    urls: Option<&CheckpointUrls>,
    what: &str,
) -> Result<Conn, Failure> {
    Ok(match urls {
        Some(u) if g.auth.local && !u.local_server => {
            return Err(Failure::new(
                exit::USAGE,
                format!(
                    "this {what} went to {}, not to the local server: drop --local (and BOX_CHUNKED_LOCAL)",
                    u.api
                ),
            ));
        }
        Some(u) if !urls_given(g) && !u.local_server => {
            if !credentials_given(g) {
                return Err(Failure::new(
                    exit::USAGE,
                    format!(
                        "resuming this {what} to {} needs the credential it used: {SIGN_IN_CHOICES}",
                        u.api
                    ),
                ));
            }
            let mut c = g.clone();
            c.net.api_url = Some(u.api.clone());
            c.net.upload_url = Some(u.upload.clone());
            c.net.oauth_url = Some(u.oauth.clone());
            // The user it acted as, unless the flags name another.
            c.auth.as_user = g.auth.as_user.clone().or_else(|| u.as_user.clone());
            c
        }
        Some(u) if u.local_server && !credentials_given(g) && !urls_given(g) => {
            let mut c = Conn::default();
            c.auth.local = true;
            c
        }
        _ => g.clone(),
    })
}

impl Endpoint {
    pub(crate) async fn close(self) {
        if let Some(s) = self.embedded {
            let _ = s.shutdown().await;
        }
    }
}

/// Points a checkpoint of the embedded server at the embedded server now running.
pub(crate) fn rebase_endpoints(cp: &mut CheckpointFile, base: &str) {
    cp.rebase_onto(base);
}
