//! Where Box's three roots are: the API root (`https://api.box.com/2.0`),
//! the upload root (`https://upload.box.com/api/2.0`) and the token URL
//! (`https://api.box.com/oauth2/token`), or, for a server that serves all
//! three under one base URL (this project's server), `<base>/2.0`,
//! `<base>/api/2.0` and `<base>/oauth2/token`. Every crate builds and
//! recognises these URLs here, and asks [`is_box_host`] whether a host is
//! Box's.

/// The API root's path below a base URL.
pub const API_PREFIX: &str = "/2.0";
/// The upload root's path below a base URL.
pub const UPLOAD_PREFIX: &str = "/api/2.0";
/// The OAuth root's path below a base URL.
pub const OAUTH_PREFIX: &str = "/oauth2";

/// Box's API root.
pub const BOX_API_URL: &str = "https://api.box.com/2.0";
/// Box's upload root.
pub const BOX_UPLOAD_URL: &str = "https://upload.box.com/api/2.0";
/// Box's token URL (also the `aud` of a JWT assertion).
pub const BOX_TOKEN_URL: &str = "https://api.box.com/oauth2/token";
/// Box's page where a user approves an app (OAuth 2.0).
pub const BOX_AUTHORIZE_URL: &str = "https://account.box.com/api/oauth2/authorize";

/// The three URLs a client talks to.
///
/// ```
/// use box_chunked_proto::urls::BaseUrls;
/// let local = BaseUrls::from_base("http://127.0.0.1:8080/");
/// assert_eq!(local.upload, "http://127.0.0.1:8080/api/2.0");
/// assert_eq!(local.authorize_url(), "http://127.0.0.1:8080/oauth2/authorize");
/// assert_eq!(BaseUrls::base_of(&local.upload).as_deref(), Some("http://127.0.0.1:8080"));
/// assert_eq!(BaseUrls::box_com().authorize_url(), "https://account.box.com/api/oauth2/authorize");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrls {
    /// The API root (`.../2.0`).
    pub api: String,
    /// The upload root (`.../api/2.0`).
    pub upload: String,
    /// The token URL (`.../oauth2/token`).
    pub token: String,
}

impl BaseUrls {
    /// Box's own.
    pub fn box_com() -> Self {
        Self {
            api: BOX_API_URL.to_owned(),
            upload: BOX_UPLOAD_URL.to_owned(),
            token: BOX_TOKEN_URL.to_owned(),
        }
    }

    /// A server that serves the three roots under one base URL.
    pub fn from_base(base: &str) -> Self {
        let b = base.trim_end_matches('/');
        Self {
            api: format!("{b}{API_PREFIX}"),
            upload: format!("{b}{UPLOAD_PREFIX}"),
            token: format!("{b}{OAUTH_PREFIX}/token"),
        }
    }

    /// The base URL a root of such a server is under (`<base>/api/2.0`,
    /// `<base>/2.0`, `<base>/oauth2/token`, or a URL below one of them);
    /// `None` for a URL of Box's or one without those paths.
    pub fn base_of(url: &str) -> Option<String> {
        if host_of(url).is_some_and(is_box_host) {
            return None;
        }
        let u = url.trim_end_matches('/');
        let at = [UPLOAD_PREFIX, API_PREFIX, OAUTH_PREFIX]
            .iter()
            .filter_map(|p| {
                u.find(&format!("{p}/"))
                    .or_else(|| u.ends_with(p).then(|| u.len() - p.len()))
            })
            .min()?;
        Some(u[..at].to_owned())
    }

    /// Where a user approves an app: Box's page for Box's token URL, else
    /// the token URL's sibling `authorize`.
    pub fn authorize_url(&self) -> String {
        if host_of(&self.token).is_some_and(is_box_host) {
            return BOX_AUTHORIZE_URL.to_owned();
        }
        let t = self.token.trim_end_matches('/');
        format!("{}/authorize", t.strip_suffix("/token").unwrap_or(t))
    }

    /// The three URLs, for checks that apply to each.
    pub fn all(&self) -> [&str; 3] {
        [&self.api, &self.upload, &self.token]
    }
}

/// Whether `host` is Box's: `box.com` or a name under it (any case, an
/// optional final dot). An IP address or another domain is not.
///
/// ```
/// use box_chunked_proto::urls::is_box_host;
/// assert!(is_box_host("upload.box.com") && is_box_host("API.Box.com."));
/// assert!(!is_box_host("notbox.com") && !is_box_host("box.com.evil.example"));
/// ```
pub fn is_box_host(host: &str) -> bool {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    h == "box.com" || h.ends_with(".box.com")
}

/// The host of an absolute URL (`scheme://[userinfo@]host[:port]/...`),
/// without brackets for IPv6 literals.
pub fn host_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split_once(']')?.0
    } else {
        host_port.split(':').next()?
    };
    (!host.is_empty()).then_some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bases_round_trip_and_box_is_not_a_base() {
        for base in ["http://127.0.0.1:8080", "https://example.test/prefix"] {
            let u = BaseUrls::from_base(base);
            for url in u.all() {
                assert_eq!(BaseUrls::base_of(url).as_deref(), Some(base), "{url}");
            }
            let below = format!("{}/files/upload_sessions/X", u.upload);
            assert_eq!(BaseUrls::base_of(&below).as_deref(), Some(base));
        }
        for url in BaseUrls::box_com().all() {
            assert_eq!(BaseUrls::base_of(url), None);
        }
        assert_eq!(BaseUrls::base_of("http://127.0.0.1:9/other"), None);
        assert_eq!(host_of("http://u:p@[::1]:80/x"), Some("::1"));
        assert_eq!(host_of("https://api.box.com"), Some("api.box.com"));
        assert_eq!(host_of("not a url"), None);
    }
}
