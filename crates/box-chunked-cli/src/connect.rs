//! Connecting: Box's URLs and credentials from flags and the environment,
//! or the local server embedded in this command when none are given.

use crate::args::Conn;
use crate::failure::{exit, Failure};
use box_chunked_hyper::{BoxClient, CheckpointFile, Subject};
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

pub(crate) fn random_token() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut out = String::new();
    for i in 0..2u8 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u8(i);
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}

/// Where the requests go: Box (or given URLs) with credentials, or the embedded server.
pub(crate) struct Endpoint {
    pub(crate) client: BoxClient,
    pub(crate) embedded: Option<RunningServer>,
    /// Where the credential came from, for hints that work as printed.
    pub(crate) credential: Credential,
    /// The extra CA file given, which a resume needs again.
    pub(crate) ca_cert: Option<std::path::PathBuf>,
}

/// Where the credential came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Credential {
    /// The embedded server's own token.
    Embedded,
    /// `--token` on the command line.
    Flag,
    /// `BOX_ACCESS_TOKEN`.
    EnvToken,
    /// `BOX_CLIENT_ID` and `BOX_CLIENT_SECRET`.
    ClientCredentials,
}

impl Endpoint {
    /// The command that resumes from `checkpoint`, as it works when pasted
    /// in this shell: it names the credential's flag or variable.
    pub(crate) fn resume_hint(&self, checkpoint: &std::path::Path) -> String {
        let cmd = format!(
            "box-chunked resume {}",
            shell_quote(&checkpoint.display().to_string())
        );
        let cmd = match &self.ca_cert {
            Some(ca) => format!("{cmd} --ca-cert {}", shell_quote(&ca.display().to_string())),
            None => cmd,
        };
        match self.credential {
            Credential::Embedded | Credential::EnvToken | Credential::ClientCredentials => cmd,
            Credential::Flag => format!("{cmd} --token <the same token>"),
        }
    }
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
    g.token.is_some()
        || std::env::var("BOX_ACCESS_TOKEN").is_ok_and(|t| !t.is_empty())
        || std::env::var("BOX_CLIENT_ID").is_ok_and(|t| !t.is_empty())
}

pub(crate) fn urls_given(g: &Conn) -> bool {
    g.api_url.is_some() || g.upload_url.is_some() || g.oauth_url.is_some() || g.base_url.is_some()
}

/// The API, upload and OAuth URLs: as given; those not given follow from
/// `--base-url`, or from a given URL of box-chunked's layout (`<base>/2.0`,
/// `<base>/api/2.0`) on the same origin; Box's own for the rest only when
/// every given URL is Box's (the client refuses a mix).
pub(crate) fn urls_of(g: &Conn) -> (Option<String>, Option<String>, Option<String>) {
    let trim = |u: &String| u.trim_end_matches('/').to_owned();
    let base = g.base_url.as_ref().map(trim).or_else(|| {
        let api = g.api_url.as_ref().map(trim);
        let upload = g.upload_url.as_ref().map(trim);
        let is_box = |u: &str| {
            u.starts_with("https://")
                && u.split('/')
                    .nth(2)
                    .is_some_and(|h| h == "box.com" || h.ends_with(".box.com"))
        };
        match (api, upload) {
            (Some(a), _) if !is_box(&a) && a.ends_with("/2.0") && !a.ends_with("/api/2.0") => {
                Some(a.trim_end_matches("/2.0").to_owned())
            }
            (_, Some(u)) if !is_box(&u) && u.ends_with("/api/2.0") => {
                Some(u.trim_end_matches("/api/2.0").to_owned())
            }
            _ => None,
        }
    });
    let from_base = |path: &str| base.as_ref().map(|b| format!("{b}{path}"));
    (
        g.api_url.clone().or_else(|| from_base("/2.0")),
        g.upload_url.clone().or_else(|| from_base("/api/2.0")),
        g.oauth_url.clone().or_else(|| from_base("/oauth2/token")),
    )
}

pub(crate) async fn connect(g: &Conn, quiet_embedded: bool) -> Result<Endpoint, Failure> {
    if !credentials_given(g) && !urls_given(g) {
        let dir = data_dir().join("server");
        let token = random_token();
        let mut cfg = ServerConfig::new(dir.clone());
        cfg.addr = SocketAddr::from(([127, 0, 0, 1], 0));
        cfg.tokens = vec![(token.clone(), "local".to_owned())];
        let server = Server::bind(cfg).await.map_err(|e| {
            Failure::new(
                exit::FAILED,
                format!("cannot start the local server in {}: {e}", dir.display()),
            )
        })?;
        if !quiet_embedded {
            eprintln!(
                "No Box credentials given: using the local box-chunked server at {} (data in {}).",
                server.url(),
                dir.display()
            );
        }
        let client = BoxClient::builder()
            .token(token)
            .base_url(server.url())
            .build()
            .map_err(|e| Failure::new(exit::FAILED, e.to_string()))?;
        return Ok(Endpoint {
            client,
            embedded: Some(server.spawn()),
            credential: Credential::Embedded,
            ca_cert: None,
        });
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
    if let Some(path) = &g.ca_cert {
        let pem = std::fs::read(path).map_err(|e| {
            Failure::new(
                exit::USAGE,
                format!(
                    "cannot read the CA certificate file {}: {e}",
                    path.display()
                ),
            )
        })?;
        b = b.root_certificates_pem(pem);
    }
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let credential;
    if let Some(t) = g.token.clone() {
        b = b.token(t);
        credential = Credential::Flag;
    } else if let Some(t) = env("BOX_ACCESS_TOKEN") {
        b = b.token(t);
        credential = Credential::EnvToken;
    } else if let (Some(id), Some(secret)) = (env("BOX_CLIENT_ID"), env("BOX_CLIENT_SECRET")) {
        let subject_id = env("BOX_SUBJECT_ID").unwrap_or_default();
        let subject = match env("BOX_SUBJECT_TYPE").as_deref() {
            Some("user") => Subject::User(subject_id),
            _ => Subject::Enterprise(subject_id),
        };
        b = b.client_credentials(id, secret, subject);
        credential = Credential::ClientCredentials;
    } else {
        return Err(Failure::new(
            exit::USAGE,
            "no credentials for the given URL: pass --token, or set BOX_ACCESS_TOKEN (or BOX_CLIENT_ID and BOX_CLIENT_SECRET)",
        ));
    }
    let client = b
        .build()
        .map_err(|e| Failure::new(exit::USAGE, e.to_string()))?;
    Ok(Endpoint {
        client,
        embedded: None,
        credential,
        ca_cert: g.ca_cert.clone(),
    })
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
    let conn = match &cp.urls {
        Some(u) if !urls_given(g) && !u.local_server => {
            if !credentials_given(g) {
                return Err(Failure::new(
                    exit::USAGE,
                    format!(
                        "resuming this upload to {} needs the credential it used: pass --token, or set BOX_ACCESS_TOKEN (or BOX_CLIENT_ID and BOX_CLIENT_SECRET)",
                        u.api
                    ),
                ));
            }
            Conn {
                api_url: Some(u.api.clone()),
                upload_url: Some(u.upload.clone()),
                oauth_url: Some(u.oauth.clone()),
                ..g.clone()
            }
        }
        Some(u) if u.local_server && !credentials_given(g) && !urls_given(g) => Conn::default(),
        _ => g.clone(),
    };
    let t = connect(&conn, quiet_embedded).await?;
    if let Some(server) = &t.embedded {
        // The embedded server listens on a new port each run: point the session there.
        rebase_endpoints(cp, server.url());
    }
    Ok(t)
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
