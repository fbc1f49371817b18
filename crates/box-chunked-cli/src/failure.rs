//! Errors and exit codes: every failure becomes one sentence for a person
//! and an exit code (docs/cli.md).

use box_chunked_hyper::{Error, ErrorKind, Remedy};
use std::path::Path;

/// Exit codes (also in docs/cli.md).
pub(crate) mod exit {
    /// Success.
    pub(crate) const OK: u8 = 0;
    /// Anything not listed below (an internal or protocol failure).
    pub(crate) const FAILED: u8 = 1;
    /// Bad usage: arguments, a missing or unreadable file, a bad checkpoint.
    pub(crate) const USAGE: u8 = 2;
    /// Box refused (4xx: name in use, file too small, bad token...).
    pub(crate) const REFUSED: u8 = 3;
    /// The network or the server kept failing; retries ran out.
    pub(crate) const NETWORK: u8 = 4;
    /// The source changed during the upload or since the checkpoint.
    pub(crate) const SOURCE_CHANGED: u8 = 5;
    /// Interrupted (Ctrl-C); the checkpoint is kept for `box-chunked resume`.
    pub(crate) const INTERRUPTED: u8 = 6;
    /// Aborted (a second Ctrl-C): the session was deleted.
    pub(crate) const ABORTED: u8 = 7;
    /// The server answered the commit (or a one-shot upload) with a file
    /// whose size or SHA-1 is not what was sent; nothing is printed as the result.
    pub(crate) const UNVERIFIED: u8 = 8;
}

/// The last line of `--progress json` for a failure: the phase `failed`,
/// the sentence, its kind and the exit code.
pub(crate) fn json_event(f: &Failure) -> serde_json::Value {
    let kind = match f.code {
        exit::USAGE => "usage",
        exit::REFUSED => "refused",
        exit::NETWORK => "network",
        exit::SOURCE_CHANGED => "source_changed",
        exit::INTERRUPTED => "interrupted",
        exit::ABORTED => "aborted",
        exit::UNVERIFIED => "unverified",
        _ => "failed",
    };
    serde_json::json!({"phase": "failed", "error": f.message, "kind": kind, "exit_code": f.code})
}

/// A failure with its exit code and one sentence for the user.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) code: u8,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(code: u8, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// One sentence, with what to do, for every way an upload can fail.
pub(crate) fn explain(e: &Error, what: &str) -> Failure {
    explain_in(e, what, &Where::default())
}

/// What an error is about, so that its sentence can name it: the target
/// (`folder 999`, `file 999`), the session, the server.
#[derive(Debug, Default, Clone)]
pub(crate) struct Where {
    /// The folder or file the user named: (`"folder"` or `"file"`, its id),
    /// given with `--folder` or `--file`.
    pub(crate) target: Option<(&'static str, String)>,
    /// The upload session, once there is one.
    pub(crate) session: Option<String>,
    /// The server's upload root.
    pub(crate) server: Option<String>,
    /// How the command signed in, once it has.
    pub(crate) signed_in: Option<SignedIn>,
    /// The source is standard input with `--size`: `Some(one_shot)`, whether
    /// it goes in one request (no session is made then).
    pub(crate) stdin: Option<bool>,
}

/// How a command signed in, for the sentence of a refusal.
#[derive(Debug, Default, Clone)]
pub(crate) struct SignedIn {
    /// What to do about a refused credential, naming where it came from.
    pub(crate) advice: String,
    /// The user it acts as (`--as-user`).
    pub(crate) as_user: Option<String>,
    /// The extra CA file given with `--ca-cert`.
    pub(crate) ca_cert: Option<String>,
}

/// The ways to sign in, in the order they are tried, for messages.
pub(crate) const SIGN_IN_CHOICES: &str = "pass --token, --box-config FILE or --token-file FILE, or set BOX_ACCESS_TOKEN, BOX_CONFIG (or BOX_CONFIG_JSON), BOX_TOKEN_FILE, or BOX_CLIENT_ID and BOX_CLIENT_SECRET";

/// [`explain`], naming the target, the session and the server when known.
pub(crate) fn explain_in(e: &Error, what: &str, at: &Where) -> Failure {
    let status = e.status();
    let as_user = at.signed_in.as_ref().and_then(|s| s.as_user.as_deref());
    if let Some(message) = remedied(e, at) {
        return Failure::new(exit_code(e.kind()), message);
    }
    let message = match (e.kind(), e.code(), status) {
        (_, Some("file_size_too_small"), _) => format!(
            "{what} is too small for a chunked upload on this server; files below --one-shot-below (default 20,000,000 bytes, Box's minimum) go up in one request: leave --one-shot-below at its default, or set it to this server's minimum"
        ),
        (_, Some("insufficient_storage"), _) | (_, _, Some(507)) => format!(
            "the server ran out of storage space while receiving {what} (507 insufficient_storage); nothing of the refused request was kept: free space on the server, then try again"
        ),
        (_, Some("storage_limit_exceeded"), _) => format!(
            "{what} does not fit in the account's storage ({e}); free space in the account or raise its quota, then try again"
        ),
        (_, Some("access_denied_insufficient_permissions"), _) if as_user.is_some() => {
            let id = as_user.unwrap_or_default();
            format!("Box refused to act as user {id} (--as-user {id}) ({e}); As-User needs the token of an app's service account (JWT or client credentials for the enterprise) and a managed user of that enterprise: check the user id, or drop --as-user")
        }
        (ErrorKind::Auth, _, _) | (_, _, Some(401)) => {
            let advice = at.signed_in.as_ref().map_or_else(
                || format!("get a new credential: {SIGN_IN_CHOICES}"),
                |s| s.advice.clone(),
            );
            format!("signing in failed: {e}; {advice}")
        }
        (_, Some("not_found"), _) | (_, _, Some(404)) if e.session_gone() => format!(
            "upload session {} no longer exists (it expired or was deleted) ({e}); upload {what} again",
            at.session.as_deref().unwrap_or("of this upload")
        ),
        (_, Some("not_found"), _) | (_, _, Some(404)) => not_found(e, at),
        (ErrorKind::Unverified, _, _) => format!(
            "{e}: the server's answer does not match {what}, so it is not taken as the result; {} is used up by that commit and cannot be resumed: check the file the server names (and the URL or any proxy in between), delete it, and upload {what} again",
            at.session.as_deref().map_or_else(|| "the upload".to_owned(), |s| format!("upload session {s}"))
        ),
        (ErrorKind::NetworkExhausted, _, _) => format!(
            "could not reach {} or it kept failing ({e}); check the URL and your network, then try again",
            at.server.as_deref().unwrap_or("Box")
        ),
        (ErrorKind::SourceChanged, _, _) => match at.stdin {
            Some(one_shot) => stdin_changed(e, one_shot),
            None => format!("{e}; nothing was committed and the upload session was deleted: upload {what} again once it no longer changes"),
        },
        _ => e.to_string(),
    };
    Failure::new(exit_code(e.kind()), message)
}

/// The exit code of an error's kind (docs/cli.md).
fn exit_code(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::Refused | ErrorKind::Auth => exit::REFUSED,
        ErrorKind::NetworkExhausted => exit::NETWORK,
        ErrorKind::SourceChanged => exit::SOURCE_CHANGED,
        ErrorKind::Cancelled => exit::ABORTED,
        ErrorKind::Config | ErrorKind::Io => exit::USAGE,
        ErrorKind::Unverified => exit::UNVERIFIED,
        // Protocol failures, and kinds a newer library may add.
        _ => exit::FAILED,
    }
}

/// The sentence of a taken name, or of an error with a remedy, in this
/// command's flags.
fn remedied(e: &Error, at: &Where) -> Option<String> {
    if e.code() == Some("item_name_in_use") {
        let id = e
            .api()
            .and_then(|a| a.error.as_ref())
            .and_then(|b| b.conflicts().into_iter().next())
            .map(|c| c.id)
            .unwrap_or_default();
        return Some(format!("a file with this name already exists in the folder (id {id}); choose another --name, upload a new version with --file {id}, or pass --on-conflict version, skip or rename"));
    }
    let fact = e.fact();
    Some(match e.remedy()? {
        Remedy::ConflictPolicy => format!(
            "{fact}; pass --on-conflict version or rename (or skip, for a file that is the same)"
        ),
        Remedy::TrustCertificate => match at.signed_in.as_ref().and_then(|s| s.ca_cert.as_deref()) {
            Some(ca) => format!(
                "{fact}; the certificate authority in --ca-cert {ca} did not sign it: give the one that did"
            ),
            None => format!("{fact}; give its CA with --ca-cert FILE (or SSL_CERT_FILE)"),
        },
        Remedy::ServerCertificate => format!(
            "{fact}; the server needs another certificate: one made for a server and this host name, signed by a certificate authority (`box-chunked serve --tls-self-signed` makes both, and prints the CA to give with --ca-cert)"
        ),
        _ => return None,
    })
}

/// Standard input that did not keep to `--size`, in its terms; `one_shot`:
/// no session was made.
fn stdin_changed(e: &Error, one_shot: bool) -> String {
    let fact = e
        .fact()
        .trim_start_matches("the source changed during the upload: ")
        .replace("the stream", "standard input")
        .replace("its announced size is", "--size said")
        .replace("its announced size of", "--size, which said")
        .replace("; nothing was sent", "");
    let fate = if one_shot {
        "nothing was sent and no session was made"
    } else {
        "nothing was committed and the upload session was deleted"
    };
    format!("{fact}; {fate}: give the stream's exact size with --size, or leave --size out to have standard input counted first")
}

/// A `404` that is not about a session: the folder or file the user
/// named, or a URL that does not lead to Box's API at all.
fn not_found(e: &Error, at: &Where) -> String {
    let server = at.server.as_deref().unwrap_or("the server");
    let urls = "check --base-url (or --api-url and --upload-url)";
    if !e.answered_as_box() {
        return format!(
            "{server} answered 404 with something that is not Box's answer ({e}): {urls}"
        );
    }
    match &at.target {
        // Every account has its root folder: a URL that has none is not Box's API.
        Some(("folder", id)) if id == "0" => {
            format!("{server} has no root folder (folder 0) ({e}): {urls}")
        }
        Some((kind, id)) => format!(
            "{kind} {id} was not found (or this user cannot see it) ({e}): check --{kind}{}{}",
            if at.signed_in.as_ref().is_some_and(|s| s.as_user.is_some()) {
                " and --as-user"
            } else {
                ""
            },
            if id.bytes().all(|b| b.is_ascii_digit()) {
                ""
            } else {
                " (Box's ids are numbers; the root folder is 0)"
            }
        ),
        None => format!("Box answered 404 ({e}): check the ids given"),
    }
}

pub(crate) fn source_problem(path: &Path) -> Option<Failure> {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(Failure::new(
            exit::USAGE,
            format!("{} does not exist; check the path", path.display()),
        )),
        Err(e) => Some(Failure::new(
            exit::USAGE,
            format!("cannot read {}: {e}; check its permissions", path.display()),
        )),
        Ok(m) if m.is_dir() => Some(Failure::new(
            exit::USAGE,
            format!("{} is a directory; give the path of a file", path.display()),
        )),
        Ok(m) if !m.is_file() => Some(Failure::new(
            exit::USAGE,
            format!("{} is not a regular file", path.display()),
        )),
        Ok(_) => std::fs::File::open(path).err().map(|e| {
            Failure::new(
                exit::USAGE,
                format!("cannot read {}: {e}; check its permissions", path.display()),
            )
        }),
    }
}
