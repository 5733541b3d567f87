//! Accounts, callers and the audit log, as the API and the settings pages show them.

use core::fmt;
use serde::{Deserialize, Serialize};

/// A secret (a password, an API token, a share link's token): serialized as the plain string it is,
/// but never printed by `Debug`, so no log line or panic message can show one.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for the one place that must use it (hashing, a header, showing it once).
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether it is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

/// What a signed-in user may do. Ordered: each role may do everything the one before it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads everything: fleet, plans, blueprints, deployments, nodes.
    Viewer,
    /// Also plans, validates, deploys, undeploys, updates MIG layouts and shares links.
    Operator,
    /// Also manages users and reads the audit log.
    Admin,
}

impl Role {
    /// Every role, least powerful first.
    pub const ALL: [Self; 3] = [Self::Viewer, Self::Operator, Self::Admin];

    /// Its name as stored and sent (`viewer`, `operator`, `admin`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Operator => "operator",
            Self::Admin => "admin",
        }
    }

    /// Parses a role name (as [`Role::as_str`] writes it).
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who is asking: the signed-in user (by session cookie or API token) and where from. The server
/// attaches it to every authenticated request; server functions read it for the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caller {
    /// The user's id.
    pub user_id: i64,
    /// The user's name.
    pub username: String,
    /// What the user may do.
    pub role: Role,
    /// How the request proved who it is.
    pub via: Via,
    /// The client's address.
    pub source: String,
}

/// A user account, as admins see it (never its password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    /// Its id.
    pub id: i64,
    /// Login name.
    pub username: String,
    /// What the user may do.
    pub role: Role,
    /// Disabled users cannot sign in, and their sessions and tokens stop working.
    pub disabled: bool,
    /// Created, Unix ms.
    pub created_ms: i64,
    /// Last sign-in, Unix ms.
    pub last_login_ms: Option<i64>,
    /// The password was chosen by someone else (the generated first admin's): until the user
    /// changes it, they may do nothing else.
    #[serde(default)]
    pub must_change_password: bool,
}

/// An API token, as its owner sees it (never the token itself, which was shown once).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    /// Its id (for revoking).
    pub id: i64,
    /// The owner's name for it (`ci`, `grafana`).
    pub name: String,
    /// Whose it is.
    pub username: String,
    /// Created, Unix ms.
    pub created_ms: i64,
    /// Expires, Unix ms (`None`: never).
    pub expires_ms: Option<i64>,
    /// Last used, Unix ms.
    pub last_used_ms: Option<i64>,
    /// Revoked, Unix ms.
    pub revoked_ms: Option<i64>,
}

/// A token just created: the only time its secret is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedToken {
    /// The token's record.
    pub info: TokenInfo,
    /// The secret, to send as `Authorization: Bearer <token>`.
    pub token: Secret,
}

/// One audit record: who did what to what, when, from where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// When, Unix ms.
    pub at_ms: i64,
    /// The user (and how: `alice`, `alice (token ci)`), or `system`.
    pub actor: String,
    /// The action (`deploy`, `login`, `user.create`, ...).
    pub action: String,
    /// What it acted on.
    pub target: String,
    /// Details for people.
    pub detail: String,
    /// The client's address.
    pub source: String,
}

/// How a request proved who it is. On the wire: `session`, `password` or `token <name>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Via {
    /// A session cookie (the browser).
    Session,
    /// A username and password in this very request (`POST /api/v1/login`).
    Password,
    /// An API token, by its name.
    Token(String),
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Session => f.write_str("session"),
            Self::Password => f.write_str("password"),
            Self::Token(name) => write!(f, "token {name}"),
        }
    }
}

impl From<Via> for String {
    fn from(v: Via) -> Self {
        v.to_string()
    }
}

impl TryFrom<String> for Via {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        match s.as_str() {
            "session" => Ok(Self::Session),
            "password" => Ok(Self::Password),
            _ => s
                .strip_prefix("token ")
                .map(|name| Self::Token(name.to_owned()))
                .ok_or_else(|| format!("`{s}` is not `session`, `password` or `token <name>`")),
        }
    }
}
