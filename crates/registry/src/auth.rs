//! Credentials (`Auth`), Docker's `X-Registry-Auth` header, token responses
//! and the token cache.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use sha2::{Digest as _, Sha256};

use crate::error::RegistryError;

/// Credentials for one registry.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum Auth {
    /// No credentials (anonymous tokens are still fetched for Bearer).
    #[default]
    Anonymous,
    /// Username and password: Basic auth, or Basic towards the token realm.
    Basic { username: String, password: String },
    /// An OAuth2 refresh token from `docker login` (`identitytoken`): sent
    /// to the realm as `grant_type=refresh_token`.
    IdentityToken { username: String, token: String },
    /// A bearer token used as is for every request (`registrytoken`).
    RegistryToken(String),
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::Anonymous => f.write_str("Anonymous"),
            Auth::Basic { username, .. } => write!(
                f,
                "Basic {{ username: {username:?}, password: <redacted> }}"
            ),
            Auth::IdentityToken { username, .. } => {
                write!(
                    f,
                    "IdentityToken {{ username: {username:?}, token: <redacted> }}"
                )
            }
            Auth::RegistryToken(_) => f.write_str("RegistryToken(<redacted>)"),
        }
    }
}

/// A decoded `X-Registry-Auth` header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct XRegistryAuth {
    /// The credentials it carries.
    pub auth: Auth,
    /// `serveraddress`, when given.
    pub server_address: Option<String>,
}

const MAX_HEADER: usize = 64 * 1024;

fn engine(alphabet: &base64::alphabet::Alphabet) -> GeneralPurpose {
    GeneralPurpose::new(
        alphabet,
        GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    )
}

impl XRegistryAuth {
    /// Decodes the header: base64url (padded or not; standard base64 is
    /// accepted too) of a JSON object. Keys match case-insensitively, as Go's
    /// JSON decoder does (`serveraddress` = `serverAddress`). Precedence:
    /// `registrytoken`, then `identitytoken`, then `username`/`password`,
    /// then `auth` (base64 `user:pass`). An empty header is anonymous.
    ///
    /// Docker treats an undecodable header on pull as anonymous; this
    /// returns an error and leaves that choice to the caller.
    pub fn decode(header: &str) -> Result<XRegistryAuth, RegistryError> {
        let header = header.trim();
        if header.is_empty() {
            return Ok(XRegistryAuth::default());
        }
        if header.len() > MAX_HEADER {
            return Err(bad("header too long"));
        }
        let json = engine(&base64::alphabet::URL_SAFE)
            .decode(header)
            .or_else(|_| engine(&base64::alphabet::STANDARD).decode(header))
            .map_err(|e| bad(&format!("not base64: {e}")))?;
        let value: serde_json::Value =
            serde_json::from_slice(&json).map_err(|e| bad(&format!("not JSON: {e}")))?;
        let Some(obj) = value.as_object() else {
            return Err(bad("not a JSON object"));
        };
        let mut fields: HashMap<String, String> = HashMap::new();
        for (k, v) in obj {
            let key = k.to_ascii_lowercase();
            if !matches!(
                key.as_str(),
                "username"
                    | "password"
                    | "auth"
                    | "serveraddress"
                    | "identitytoken"
                    | "registrytoken"
            ) {
                continue;
            }
            let s = match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Null => String::new(),
                _ => return Err(bad(&format!("field {k:?} is not a string"))),
            };
            fields.insert(key, s);
        }
        let get = |k: &str| fields.get(k).filter(|v| !v.is_empty()).cloned();
        let username = get("username").unwrap_or_default();
        let auth = if let Some(t) = get("registrytoken") {
            Auth::RegistryToken(t)
        } else if let Some(t) = get("identitytoken") {
            Auth::IdentityToken { username, token: t }
        } else if !username.is_empty() || get("password").is_some() {
            Auth::Basic {
                username,
                password: get("password").unwrap_or_default(),
            }
        } else if let Some(a) = get("auth") {
            decode_basic_pair(&a)?
        } else {
            Auth::Anonymous
        };
        Ok(XRegistryAuth {
            auth,
            server_address: get("serveraddress"),
        })
    }
}

fn decode_basic_pair(a: &str) -> Result<Auth, RegistryError> {
    let raw = engine(&base64::alphabet::STANDARD)
        .decode(a.trim())
        .map_err(|e| bad(&format!("auth field is not base64: {e}")))?;
    let s = String::from_utf8(raw).map_err(|_| bad("auth field is not UTF-8"))?;
    let (u, p) = s
        .split_once(':')
        .ok_or_else(|| bad("auth field is not user:password"))?;
    Ok(Auth::Basic {
        username: u.to_owned(),
        password: p.to_owned(),
    })
}

fn bad(reason: &str) -> RegistryError {
    RegistryError::InvalidAuthHeader {
        reason: reason.to_owned(),
    }
}

impl Auth {
    /// Username and password.
    pub fn basic(username: impl Into<String>, password: impl Into<String>) -> Auth {
        Auth::Basic {
            username: username.into(),
            password: password.into(),
        }
    }

    /// Decodes Docker's `X-Registry-Auth` header (see [`XRegistryAuth::decode`]).
    pub fn from_x_registry_auth(header: &str) -> Result<Auth, RegistryError> {
        XRegistryAuth::decode(header).map(|x| x.auth)
    }

    /// Username and password, when both are set (Docker sends Basic only then).
    pub(crate) fn basic_pair(&self) -> Option<(&str, &str)> {
        match self {
            Auth::Basic { username, password } if !username.is_empty() && !password.is_empty() => {
                Some((username, password))
            }
            _ => None,
        }
    }

    /// A key that separates cached tokens of different credentials without
    /// keeping the secret itself in the key.
    pub(crate) fn fingerprint(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        let (tag, a, b) = match self {
            Auth::Anonymous => ("anon", "", ""),
            Auth::Basic { username, password } => ("basic", username.as_str(), password.as_str()),
            Auth::IdentityToken { username, token } => {
                ("identity", username.as_str(), token.as_str())
            }
            Auth::RegistryToken(t) => ("registry", t.as_str(), ""),
        };
        for part in [tag, a, b] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part.as_bytes());
        }
        h.finalize().into()
    }
}

/// A token from an authorization server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TokenResponse {
    pub(crate) token: String,
    pub(crate) expires_in: Duration,
}

/// Docker's minimum token lifetime.
const MIN_TOKEN_SECS: u64 = 60;

/// Parses a token server's JSON answer (`token` or `access_token`,
/// `expires_in` at least 60 s). `issued_at` is ignored on purpose: the
/// expiry is counted from when the answer arrived, which stays right on
/// devices whose clock is wrong.
pub(crate) fn parse_token_response(body: &[u8]) -> Option<TokenResponse> {
    #[derive(serde::Deserialize)]
    struct Raw {
        #[serde(default)]
        token: Option<String>,
        #[serde(default)]
        access_token: Option<String>,
        #[serde(default)]
        expires_in: Option<serde_json::Value>,
    }
    let raw: Raw = serde_json::from_slice(body).ok()?;
    let token = raw
        .access_token
        .filter(|t| !t.is_empty())
        .or(raw.token.filter(|t| !t.is_empty()))?;
    let secs = raw
        .expires_in
        .and_then(|v| v.as_u64())
        .unwrap_or(0)
        .clamp(MIN_TOKEN_SECS, 7 * 24 * 3600);
    Some(TokenResponse {
        token,
        expires_in: Duration::from_secs(secs),
    })
}

/// What a cached token is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct TokenKey {
    pub(crate) realm: String,
    pub(crate) service: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) credentials: [u8; 32],
}

#[derive(Debug, Clone)]
pub(crate) struct CachedToken {
    pub(crate) token: String,
    pub(crate) expires: Instant,
}

/// Tokens are considered stale this long before they expire.
const EXPIRY_MARGIN: Duration = Duration::from_secs(10);
const MAX_TOKENS: usize = 256;

pub(crate) type TokenSlot = Arc<tokio::sync::Mutex<Option<CachedToken>>>;

/// Token cache keyed by (realm, service, scopes, credentials). Each key has
/// its own async lock so concurrent requests for one token fetch it once.
#[derive(Default)]
pub(crate) struct TokenCache {
    slots: Mutex<HashMap<TokenKey, TokenSlot>>,
}

impl TokenCache {
    /// The slot for a key (created empty). Entries no one holds and whose
    /// token expired are evicted when the cache is full.
    pub(crate) fn slot(&self, key: &TokenKey) -> TokenSlot {
        let mut slots = match self.slots.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if let Some(s) = slots.get(key) {
            return s.clone();
        }
        if slots.len() >= MAX_TOKENS {
            let now = Instant::now();
            slots.retain(|_, s| {
                Arc::strong_count(s) > 1
                    || s.try_lock()
                        .map(|t| t.as_ref().is_some_and(|t| t.expires > now))
                        .unwrap_or(true)
            });
            if slots.len() >= MAX_TOKENS {
                slots.retain(|_, s| Arc::strong_count(s) > 1);
            }
        }
        let slot = TokenSlot::default();
        slots.insert(key.clone(), slot.clone());
        slot
    }
}

/// Whether a cached token can still be sent.
pub(crate) fn usable(t: &CachedToken, now: Instant) -> bool {
    now + EXPIRY_MARGIN < t.expires
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64url(s: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
    }

    #[test]
    fn x_registry_auth_table() {
        let std_padded = base64::engine::general_purpose::STANDARD
            .encode(r#"{"username":"u","password":"p?>"}"#);
        let url_padded = base64::engine::general_purpose::URL_SAFE
            .encode(r#"{"username":"u","password":"p?>"}"#);
        let cases: Vec<(String, Auth, Option<&str>)> = vec![
            (String::new(), Auth::Anonymous, None),
            ("   ".into(), Auth::Anonymous, None),
            (b64url("{}"), Auth::Anonymous, None),
            (
                b64url(r#"{"username":"u","password":"p","serveraddress":"localhost:5000"}"#),
                Auth::basic("u", "p"),
                Some("localhost:5000"),
            ),
            (
                b64url(r#"{"Username":"u","Password":"p","serverAddress":"r.io"}"#),
                Auth::basic("u", "p"),
                Some("r.io"),
            ),
            (std_padded, Auth::basic("u", "p?>"), None),
            (url_padded, Auth::basic("u", "p?>"), None),
            (
                b64url(r#"{"registrytoken":"tok","username":"u","password":"p"}"#),
                Auth::RegistryToken("tok".into()),
                None,
            ),
            (
                b64url(r#"{"identitytoken":"rt","username":"u"}"#),
                Auth::IdentityToken {
                    username: "u".into(),
                    token: "rt".into(),
                },
                None,
            ),
            (
                b64url(r#"{"auth":"dTpwOng=","email":"e@x"}"#),
                Auth::basic("u", "p:x"),
                None,
            ),
            (
                b64url(r#"{"username":"","password":"","serveraddress":null}"#),
                Auth::Anonymous,
                None,
            ),
        ];
        for (header, want, server) in cases {
            let got = XRegistryAuth::decode(&header).unwrap();
            assert_eq!(got.auth, want, "header {header}");
            assert_eq!(got.server_address.as_deref(), server, "header {header}");
        }
    }

    #[test]
    fn bad_x_registry_auth_headers_are_errors() {
        for h in [
            "!!!".to_owned(),
            b64url("not json"),
            b64url("[1]"),
            b64url(r#"{"username":5}"#),
            b64url(r#"{"auth":"bm9jb2xvbg=="}"#),
            "a".repeat(MAX_HEADER + 1),
        ] {
            assert!(
                matches!(
                    Auth::from_x_registry_auth(&h),
                    Err(RegistryError::InvalidAuthHeader { .. })
                ),
                "{h}"
            );
        }
    }

    #[test]
    fn debug_never_shows_secrets() {
        let s = format!("{:?}", Auth::basic("bob", "hunter2"));
        assert!(s.contains("bob") && !s.contains("hunter2"));
        assert!(!format!("{:?}", Auth::RegistryToken("sekrit".into())).contains("sekrit"));
    }

    #[test]
    fn fingerprints_separate_credentials() {
        assert_ne!(
            Auth::basic("a", "bc").fingerprint(),
            Auth::basic("ab", "c").fingerprint()
        );
        assert_ne!(
            Auth::Anonymous.fingerprint(),
            Auth::basic("", "").fingerprint()
        );
        assert_eq!(
            Auth::basic("a", "b").fingerprint(),
            Auth::basic("a", "b").fingerprint()
        );
    }

    #[test]
    fn token_responses_are_parsed_with_minimum_lifetime() {
        assert_eq!(
            parse_token_response(br#"{"token":"t","expires_in":300}"#),
            Some(TokenResponse {
                token: "t".into(),
                expires_in: Duration::from_secs(300)
            })
        );
        assert_eq!(
            parse_token_response(br#"{"access_token":"a","token":"t","expires_in":5}"#),
            Some(TokenResponse {
                token: "a".into(),
                expires_in: Duration::from_secs(60)
            })
        );
        assert_eq!(
            parse_token_response(br#"{"token":"t","issued_at":"2009-11-10T23:00:00Z"}"#)
                .map(|t| t.expires_in),
            Some(Duration::from_secs(60))
        );
        assert_eq!(parse_token_response(br#"{"token":""}"#), None);
        assert_eq!(parse_token_response(b"nope"), None);
    }

    #[test]
    fn token_slots_are_shared_per_key_and_bounded() {
        let cache = TokenCache::default();
        let key = |i: usize| TokenKey {
            realm: format!("r{i}"),
            service: "s".into(),
            scopes: vec![],
            credentials: [0; 32],
        };
        let a = cache.slot(&key(1));
        let b = cache.slot(&key(1));
        assert!(Arc::ptr_eq(&a, &b));
        drop((a, b));
        for i in 0..(MAX_TOKENS * 3) {
            let _ = cache.slot(&key(i));
        }
        assert!(cache.slots.lock().unwrap().len() <= MAX_TOKENS);
    }

    #[test]
    fn tokens_expire_with_a_margin() {
        let now = Instant::now();
        let t = CachedToken {
            token: "x".into(),
            expires: now + Duration::from_secs(60),
        };
        assert!(usable(&t, now));
        assert!(!usable(&t, now + Duration::from_secs(51)));
    }
}
