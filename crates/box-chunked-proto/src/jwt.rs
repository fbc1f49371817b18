//! JWT server auth: the Box app config file, its RSA key, and the RS256
//! assertion an app signs for Box's JWT-bearer grant, with the rules Box
//! checks it by (`exp` at most 60 s ahead, a `jti` of 16 to 128 characters,
//! Box's token URL as `aud`).
//!
//! Pure computation: the caller gives the time and the random `jti`.
//! PKCS#1 v1.5 signatures need no randomness.
//!
//! ```
//! use box_chunked_proto::jwt::{AppConfig, Assertion, Claims};
//! # let pem = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/jwt/console-key.pem")).unwrap();
//! # let json = serde_json::json!({"boxAppSettings": {"clientID": "app", "clientSecret": "s",
//! #   "appAuth": {"publicKeyID": "kid1", "privateKey": pem, "passphrase": "test-passphrase"}},
//! #   "enterpriseID": "e1"}).to_string();
//! let config = AppConfig::from_json(&json)?;
//! let key = config.private_key()?;
//! let claims = Claims::for_subject(&config, config.enterprise_id.as_deref().unwrap(), "enterprise", "a-random-jti-of-16+", 1_000_030);
//! let jwt = Assertion::sign(&key, &config.public_key_id, &claims);
//! let parsed = Assertion::parse(&jwt)?;
//! parsed.verify(&config.public_key()?)?;
//! assert_eq!(parsed.claims.sub, "e1");
//! assert_eq!(parsed.header.kid, "kid1");
//! assert!(!format!("{config:?}{key:?}").contains("test-passphrase"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rsa::pkcs1::DecodeRsaPrivateKey as _;
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::pkcs8::{DecodePrivateKey as _, DecodePublicKey as _};
use rsa::signature::{SignatureEncoding as _, Signer as _, Verifier as _};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::fmt;

/// The `aud` Box expects: its token URL.
pub const BOX_AUDIENCE: &str = crate::urls::BOX_TOKEN_URL;
/// Box refuses an assertion whose `exp` is more than this far ahead.
pub const MAX_LIFETIME_SECS: u64 = 60;
/// How far ahead Box's SDKs set `exp` (rclone uses 45 s).
pub const ASSERTION_LIFETIME_SECS: u64 = 30;
/// The shortest and longest `jti` Box accepts.
pub const JTI_LENGTH: std::ops::RangeInclusive<usize> = 16..=128;

/// A Box app config file, as Box's developer console hands it out.
#[derive(Clone, PartialEq, Eq)]
pub struct AppConfig {
    /// `boxAppSettings.clientID`.
    pub client_id: String,
    client_secret: String,
    /// `boxAppSettings.appAuth.publicKeyID`: the assertion's `kid`.
    pub public_key_id: String,
    private_key: String,
    passphrase: String,
    /// `boxAppSettings.appAuth.publicKey`, when the file carries it.
    pub public_key_pem: Option<String>,
    /// `enterpriseID`.
    pub enterprise_id: Option<String>,
    /// `userID` (files made for one app user).
    pub user_id: Option<String>,
}

impl fmt::Debug for AppConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppConfig")
            .field("client_id", &self.client_id)
            .field("client_secret", &"***")
            .field("public_key_id", &self.public_key_id)
            .field("private_key", &"***")
            .field("passphrase", &"***")
            .field("enterprise_id", &self.enterprise_id)
            .field("user_id", &self.user_id)
            .finish()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FileShape {
    box_app_settings: AppSettings,
    #[serde(rename = "enterpriseID", default, deserialize_with = "id_string")]
    enterprise_id: Option<String>,
    #[serde(rename = "userID", default, deserialize_with = "id_string")]
    user_id: Option<String>,
}

#[derive(Deserialize)]
struct AppSettings {
    #[serde(rename = "clientID")]
    client_id: String,
    #[serde(rename = "clientSecret")]
    client_secret: String,
    #[serde(rename = "appAuth")]
    app_auth: AppAuth,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AppAuth {
    #[serde(rename = "publicKeyID")]
    public_key_id: String,
    private_key: String,
    #[serde(default)]
    passphrase: String,
    #[serde(default)]
    public_key: Option<String>,
}

/// Ids come as strings, sometimes as numbers, sometimes empty.
fn id_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v = Option::<serde_json::Value>::deserialize(d)?;
    Ok(match v {
        Some(serde_json::Value::String(s)) if !s.is_empty() => Some(s),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

/// Why an app config file or its key cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppConfigError {
    /// The JSON is not a Box app config file.
    #[error("it is not a Box app config file ({0}); download it again from the app's Configuration tab in Box's developer console")]
    Format(String),
    /// A legacy OpenSSL key (`Proc-Type: 4,ENCRYPTED`).
    #[error("the private key is in the legacy encrypted PEM format (Proc-Type: 4,ENCRYPTED); convert it to PKCS#8 with `openssl pkcs8 -topk8 -in old.pem -out new.pem` and put the new key in the config file")]
    LegacyKey,
    /// The passphrase does not open the key.
    #[error("the passphrase does not decrypt the private key (check appAuth.passphrase)")]
    Passphrase,
    /// The key cannot be read.
    #[error("the private key cannot be read: {0}")]
    Key(String),
    /// The public key cannot be read.
    #[error("the public key cannot be read: {0}")]
    PublicKey(String),
}

impl AppConfig {
    /// Reads the config file's JSON (`BOX_CONFIG_JSON`, or a file's contents).
    pub fn from_json(text: &str) -> Result<Self, AppConfigError> {
        let f: FileShape =
            serde_json::from_str(text).map_err(|e| AppConfigError::Format(e.to_string()))?;
        let s = f.box_app_settings;
        Ok(Self {
            client_id: s.client_id,
            client_secret: s.client_secret,
            public_key_id: s.app_auth.public_key_id,
            private_key: s.app_auth.private_key,
            passphrase: s.app_auth.passphrase,
            public_key_pem: s.app_auth.public_key.filter(|k| !k.is_empty()),
            enterprise_id: f.enterprise_id,
            user_id: f.user_id,
        })
    }

    /// The client secret (for the token request's form only).
    pub fn client_secret(&self) -> &str {
        &self.client_secret
    }

    /// The private key, decrypted with the passphrase: PKCS#8 encrypted
    /// (Box's console keys: PBES2, PBKDF2-HMAC-SHA1, DES-EDE3-CBC; or AES),
    /// or unencrypted PKCS#8 or PKCS#1.
    pub fn private_key(&self) -> Result<AppKey, AppConfigError> {
        let pem = self.private_key.trim();
        if pem.contains("Proc-Type: 4,ENCRYPTED") {
            return Err(AppConfigError::LegacyKey);
        }
        let key = if pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
            rsa::PrivateKey::from_pkcs8_encrypted_pem(pem, self.passphrase.as_bytes()).map_err(
                |e| match e {
                    pkcs8::Error::EncryptedPrivateKey(pkcs8::pkcs5::Error::DecryptFailed) => {
                        AppConfigError::Passphrase
                    }
                    other => AppConfigError::Key(other.to_string()),
                },
            )?
        } else if pem.starts_with("-----BEGIN RSA PRIVATE KEY-----") {
            rsa::PrivateKey::from_pkcs1_pem(pem).map_err(|e| AppConfigError::Key(e.to_string()))?
        } else {
            rsa::PrivateKey::from_pkcs8_pem(pem).map_err(|e| AppConfigError::Key(e.to_string()))?
        };
        Ok(AppKey(key))
    }

    /// The app's public key: `appAuth.publicKey` when the file has it,
    /// else derived from the private key.
    pub fn public_key(&self) -> Result<AppPublicKey, AppConfigError> {
        match &self.public_key_pem {
            Some(pem) => AppPublicKey::from_pem(pem),
            None => Ok(self.private_key()?.public_key()),
        }
    }
}

/// An app's RSA private key. Its `Debug` shows nothing of it.
#[derive(Clone)]
pub struct AppKey(rsa::PrivateKey);

impl fmt::Debug for AppKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AppKey(***)")
    }
}

impl AppKey {
    /// The matching public key.
    pub fn public_key(&self) -> AppPublicKey {
        AppPublicKey(self.0.to_public_key())
    }
}

/// An app's RSA public key, which checks its assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppPublicKey(rsa::PublicKey);

impl AppPublicKey {
    /// From a `PUBLIC KEY` (SPKI) or `RSA PUBLIC KEY` (PKCS#1) PEM.
    pub fn from_pem(pem: &str) -> Result<Self, AppConfigError> {
        use rsa::pkcs1::DecodeRsaPublicKey as _;
        let pem = pem.trim();
        let key = if pem.starts_with("-----BEGIN RSA PUBLIC KEY-----") {
            rsa::PublicKey::from_pkcs1_pem(pem)
                .map_err(|e| AppConfigError::PublicKey(e.to_string()))
        } else {
            rsa::PublicKey::from_public_key_pem(pem)
                .map_err(|e| AppConfigError::PublicKey(e.to_string()))
        }?;
        Ok(Self(key))
    }
}

/// The assertion's header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// `RS256`.
    pub alg: String,
    /// `JWT`.
    #[serde(default)]
    pub typ: String,
    /// The app's `publicKeyID`; empty when the header has none (Box's Node
    /// SDK sends none, and Box then tries the app's keys).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kid: String,
}

/// The assertion's claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The app's client id.
    pub iss: String,
    /// The enterprise or user id.
    pub sub: String,
    /// `enterprise` or `user`.
    pub box_sub_type: String,
    /// The token URL ([`BOX_AUDIENCE`]).
    pub aud: String,
    /// A random id, never used twice.
    pub jti: String,
    /// Expiry, in seconds since the epoch.
    pub exp: u64,
    /// Issued at, when sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
}

impl Claims {
    /// The claims Box's SDKs send: `aud` Box's token URL, `exp` as given.
    pub fn for_subject(config: &AppConfig, sub: &str, sub_type: &str, jti: &str, exp: u64) -> Self {
        Self {
            iss: config.client_id.clone(),
            sub: sub.to_owned(),
            box_sub_type: sub_type.to_owned(),
            aud: BOX_AUDIENCE.to_owned(),
            jti: jti.to_owned(),
            exp,
            iat: None,
        }
    }

    /// Box's checks of the times and the `jti`, at `now` (seconds since the
    /// epoch) with `leeway` seconds for clocks that differ a little.
    pub fn check(&self, now: u64, leeway: u64) -> Result<(), ClaimError> {
        if self.exp.saturating_add(leeway) < now {
            return Err(ClaimError::Expired);
        }
        if self.exp > now.saturating_add(MAX_LIFETIME_SECS + leeway) {
            return Err(ClaimError::TooFarAhead);
        }
        if !JTI_LENGTH.contains(&self.jti.chars().count()) {
            return Err(ClaimError::Jti);
        }
        Ok(())
    }
}

/// A claim Box refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    /// `exp` has passed.
    #[error("the assertion has expired. Please check the 'exp' claim.")]
    Expired,
    /// `exp` is more than 60 s ahead.
    #[error("the assertion's exp is more than 60 seconds ahead. Please check the 'exp' claim.")]
    TooFarAhead,
    /// `jti` is too short or too long.
    #[error("Please check the 'jti' claim: it must be 16 to 128 characters.")]
    Jti,
}

/// A parsed assertion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assertion {
    /// Its header.
    pub header: Header,
    /// Its claims.
    pub claims: Claims,
    signing_input: String,
    signature: Vec<u8>,
}

/// Why an assertion cannot be read or is not signed by the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// Not three base64url parts with JSON inside.
    #[error("the assertion is not a JWT: {0}")]
    Malformed(String),
    /// Not RS256.
    #[error("the assertion's algorithm {0:?} is not RS256")]
    Algorithm(String),
    /// The signature does not match the key.
    #[error("the assertion's signature does not match the app's public key")]
    Signature,
}

impl Assertion {
    /// Signs `claims` with `key`: `base64url(header).base64url(claims).base64url(signature)`.
    pub fn sign(key: &AppKey, kid: &str, claims: &Claims) -> String {
        let header = Header {
            alg: "RS256".into(),
            typ: "JWT".into(),
            kid: kid.to_owned(),
        };
        let enc = |v: &[u8]| URL_SAFE_NO_PAD.encode(v);
        let input = format!(
            "{}.{}",
            enc(&serde_json::to_vec(&header).unwrap_or_default()),
            enc(&serde_json::to_vec(claims).unwrap_or_default())
        );
        let sig: Signature = SigningKey::<Sha256>::new(key.0.clone()).sign(input.as_bytes());
        format!("{input}.{}", enc(&sig.to_bytes()))
    }

    /// Parses a JWT without checking its signature.
    pub fn parse(jwt: &str) -> Result<Self, JwtError> {
        let bad = |why: &str| JwtError::Malformed(why.to_owned());
        let mut it = jwt.split('.');
        let (Some(h), Some(c), Some(s), None) = (it.next(), it.next(), it.next(), it.next()) else {
            return Err(bad("it needs three dot-separated parts"));
        };
        let dec = |p: &str| URL_SAFE_NO_PAD.decode(p.trim_end_matches('='));
        let header: Header = serde_json::from_slice(&dec(h).map_err(|_| bad("bad base64url"))?)
            .map_err(|e| JwtError::Malformed(format!("header: {e}")))?;
        let claims: Claims = serde_json::from_slice(&dec(c).map_err(|_| bad("bad base64url"))?)
            .map_err(|e| JwtError::Malformed(format!("claims: {e}")))?;
        if header.alg != "RS256" {
            return Err(JwtError::Algorithm(header.alg));
        }
        Ok(Self {
            header,
            claims,
            signing_input: format!("{h}.{c}"),
            signature: dec(s).map_err(|_| bad("bad base64url"))?,
        })
    }

    /// Checks the signature with `key`.
    pub fn verify(&self, key: &AppPublicKey) -> Result<(), JwtError> {
        let sig =
            Signature::try_from(self.signature.as_slice()).map_err(|_| JwtError::Signature)?;
        VerifyingKey::<Sha256>::new(key.0.clone())
            .verify(self.signing_input.as_bytes(), &sig)
            .map_err(|_| JwtError::Signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn config_with(key_file: &str, passphrase: &str) -> AppConfig {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/jwt/");
        let pem = std::fs::read_to_string(format!("{dir}{key_file}")).unwrap();
        let json = serde_json::json!({"boxAppSettings": {"clientID": "a", "clientSecret": "s",
            "appAuth": {"publicKeyID": "k", "privateKey": pem, "passphrase": passphrase}},
            "enterpriseID": "e"});
        AppConfig::from_json(&json.to_string()).unwrap()
    }

    #[test]
    fn console_and_openssl3_keys_open_and_a_wrong_passphrase_is_named() {
        let console = config_with("console-key.pem", "test-passphrase");
        let aes = config_with("aes-key.pem", "aes-passphrase");
        for cfg in [&console, &aes] {
            let key = cfg.private_key().unwrap();
            let c = claims(2_000_000_000, "0123456789abcdef");
            let jwt = Assertion::sign(&key, "k", &c);
            let parsed = Assertion::parse(&jwt).unwrap();
            assert_eq!(parsed.claims, c);
            parsed.verify(&cfg.public_key().unwrap()).unwrap();
        }
        // One app's key does not verify another's assertions.
        let jwt = Assertion::sign(
            &aes.private_key().unwrap(),
            "k",
            &claims(1, "0123456789abcdef"),
        );
        assert_eq!(
            Assertion::parse(&jwt)
                .unwrap()
                .verify(&console.public_key().unwrap()),
            Err(JwtError::Signature)
        );
        // Without a kid, the header has none (as Box's Node SDK signs).
        let jwt = Assertion::sign(
            &aes.private_key().unwrap(),
            "",
            &claims(1, "0123456789abcdef"),
        );
        let header = URL_SAFE_NO_PAD
            .decode(jwt.split('.').next().unwrap())
            .unwrap();
        assert_eq!(header, br#"{"alg":"RS256","typ":"JWT"}"#);
        assert_eq!(
            config_with("console-key.pem", "wrong")
                .private_key()
                .unwrap_err(),
            AppConfigError::Passphrase
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        /// Whatever arrives as an assertion is an answer, never a panic.
        #[test]
        fn any_text_parses_or_is_refused(text in ".{0,200}", parts in proptest::collection::vec("[A-Za-z0-9_=-]{0,60}", 0..5)) {
            let _ = Assertion::parse(&text);
            let _ = Assertion::parse(&parts.join("."));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(12))]
        /// Signed claims come back as they were, whatever their text.
        #[test]
        fn signed_claims_round_trip(sub in ".{1,40}", jti in "[ -~]{16,128}", exp in 0u64..4_000_000_000) {
            let cfg = config_with("console-key.pem", "test-passphrase");
            let key = cfg.private_key().unwrap();
            let c = Claims::for_subject(&cfg, &sub, "user", &jti, exp);
            let parsed = Assertion::parse(&Assertion::sign(&key, "kid", &c)).unwrap();
            prop_assert_eq!(&parsed.claims, &c);
            prop_assert!(parsed.verify(&key.public_key()).is_ok());
        }
    }

    fn claims(exp: u64, jti: &str) -> Claims {
        Claims {
            iss: "a".into(),
            sub: "e".into(),
            box_sub_type: "enterprise".into(),
            aud: BOX_AUDIENCE.into(),
            jti: jti.into(),
            exp,
            iat: None,
        }
    }

    #[test]
    fn box_checks_times_and_jti() {
        let jti = "0123456789abcdef";
        assert_eq!(claims(1030, jti).check(1000, 5), Ok(()));
        assert_eq!(claims(1060, jti).check(1000, 0), Ok(()));
        assert_eq!(
            claims(1061, jti).check(1000, 0),
            Err(ClaimError::TooFarAhead)
        );
        assert_eq!(claims(994, jti).check(1000, 5), Err(ClaimError::Expired));
        assert_eq!(claims(1030, "short").check(1000, 5), Err(ClaimError::Jti));
        // An exp from the wire at the edge of u64 is refused, never an overflow.
        assert_eq!(
            claims(u64::MAX, jti).check(1000, 5),
            Err(ClaimError::TooFarAhead)
        );
        assert_eq!(claims(0, jti).check(u64::MAX, 5), Err(ClaimError::Expired));
        assert!(ClaimError::Expired.to_string().contains("'exp'"));
    }

    #[test]
    fn malformed_assertions_are_errors_not_panics() {
        for bad in ["", "a.b", "a.b.c.d", "!!.!!.!!", "e30.e30.AA"] {
            assert!(Assertion::parse(bad).is_err(), "{bad}");
        }
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(1, "x")).unwrap())
        );
        assert_eq!(
            Assertion::parse(&none).unwrap_err(),
            JwtError::Algorithm("none".into())
        );
    }

    #[test]
    fn a_legacy_key_gets_the_conversion_command() {
        let json = serde_json::json!({"boxAppSettings": {"clientID": "a", "clientSecret": "s",
            "appAuth": {"publicKeyID": "k", "passphrase": "p",
              "privateKey": "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: DES-EDE3-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n"}},
            "enterpriseID": 12345});
        let cfg = AppConfig::from_json(&json.to_string()).unwrap();
        assert_eq!(cfg.enterprise_id.as_deref(), Some("12345"));
        let e = cfg.private_key().unwrap_err();
        assert_eq!(e, AppConfigError::LegacyKey);
        assert!(e
            .to_string()
            .contains("openssl pkcs8 -topk8 -in old.pem -out new.pem"));
        assert!(AppConfig::from_json("{}").is_err());
    }
}
