//! Signed embed links: one view (the fleet, a pool, a node or a deployment), read-only and live,
//! for whoever holds the link, framed only by the portals named when it was made.
//!
//! The token is a bearer secret in the URL (`/embed/link/<token>`), as in Metabase's signed
//! embedding or Grafana's public dashboards: it opens that one view and nothing else (no API
//! route, no other view, no blueprint).

use core::fmt;

use serde::{Deserialize, Serialize};

use super::{DeploymentDetail, Fleet, FleetNodeInfo, Secret};

/// The longest a link may live, in days.
pub const MAX_EMBED_DAYS: u32 = 90;

/// The most portals one link may name.
pub const MAX_EMBED_ORIGINS: usize = 16;

/// What an embed link shows. Spelled `fleet`, `pool/<name>`, `node/<name>`, `deployment/<id>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum EmbedView {
    /// Every pool and node.
    Fleet,
    /// One node pool and its nodes.
    Pool(String),
    /// One node and its GPUs.
    Node(String),
    /// One deployment's status and progress (never its blueprint).
    Deployment(i64),
}

impl EmbedView {
    /// Parses `fleet`, `pool/<name>`, `node/<name>` or `deployment/<id>`.
    ///
    /// # Errors
    /// A message saying what is wrong and what is accepted.
    pub fn parse(s: &str) -> Result<Self, String> {
        const HINT: &str = "use \"fleet\", \"pool/<name>\", \"node/<name>\" or \"deployment/<id>\"";
        let s = s.trim();
        if s == "fleet" {
            return Ok(Self::Fleet);
        }
        let Some((kind, rest)) = s.split_once('/') else {
            return Err(format!("\"{s}\" is not a view: {HINT}"));
        };
        let name_ok = !rest.is_empty()
            && rest.len() <= 253
            && rest
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        match kind {
            "pool" | "node" if !name_ok => Err(format!(
                "\"{rest}\" is not a {kind} name (letters, digits, '.', '-', '_'): {HINT}"
            )),
            "pool" => Ok(Self::Pool(rest.to_owned())),
            "node" => Ok(Self::Node(rest.to_owned())),
            "deployment" => rest
                .parse::<i64>()
                .ok()
                .filter(|id| *id > 0)
                .map(Self::Deployment)
                .ok_or_else(|| {
                    format!("\"{rest}\" is not a deployment id (a positive number): {HINT}")
                }),
            _ => Err(format!("\"{kind}\" is not a kind of view: {HINT}")),
        }
    }
}

impl fmt::Display for EmbedView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fleet => f.write_str("fleet"),
            Self::Pool(name) => write!(f, "pool/{name}"),
            Self::Node(name) => write!(f, "node/{name}"),
            Self::Deployment(id) => write!(f, "deployment/{id}"),
        }
    }
}

impl TryFrom<String> for EmbedView {
    type Error = String;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<EmbedView> for String {
    fn from(v: EmbedView) -> Self {
        v.to_string()
    }
}

/// Parses a web origin as CSP `frame-ancestors` takes it: `scheme://host[:port]`, `http` or
/// `https`, the host perhaps a `*.` wildcard of subdomains. Returned lowercased, without a
/// trailing `/`.
///
/// # Errors
/// A message naming the value, for anything else (a path, a query, a bare `*`, a space or `;`
/// that would change the policy).
pub fn parse_origin(item: &str) -> Result<String, String> {
    let bad = || {
        format!(
            "\"{item}\" is not an origin: use scheme://host[:port], e.g. https://portal.example.com or https://*.example.com"
        )
    };
    let origin = item.trim().trim_end_matches('/').to_ascii_lowercase();
    let Some((scheme, host)) = origin.split_once("://") else {
        return Err(bad());
    };
    let host_ok = !host.is_empty()
        && host != "*"
        && host
            .strip_prefix("*.")
            .unwrap_or(host)
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    if !matches!(scheme, "http" | "https") || !host_ok {
        return Err(bad());
    }
    Ok(origin)
}

/// Whether origin `origin` (as [`parse_origin`] gives it) is one that `allowed` admits: the same
/// origin, or `allowed` is `scheme://*.domain[:port]` and `origin` is on a subdomain of `domain`
/// with the same scheme and port. A wildcard `origin` is within only the same wildcard or a
/// wider one.
#[must_use]
pub fn origin_within(origin: &str, allowed: &str) -> bool {
    if origin == allowed {
        return true;
    }
    let split = |o: &str| -> Option<(String, String)> {
        let (scheme, host) = o.split_once("://")?;
        Some((scheme.to_owned(), host.to_owned()))
    };
    let (Some((scheme, host)), Some((allowed_scheme, allowed_host))) =
        (split(origin), split(allowed))
    else {
        return false;
    };
    let Some(suffix) = allowed_host.strip_prefix('*') else {
        return false;
    };
    // `suffix` is `.domain[:port]`: the host must end with it and have a label before it.
    let host = host.strip_prefix('*').unwrap_or(&host);
    scheme == allowed_scheme
        && host.len() > suffix.len()
        && host.ends_with(suffix)
        && !host[..host.len() - suffix.len()].ends_with('.')
}

/// `POST /api/v1/embeds`: a new embed link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewEmbed {
    /// What it shows.
    pub view: EmbedView,
    /// How long it lasts, 1 to [`MAX_EMBED_DAYS`] days (30 when absent).
    #[serde(default)]
    pub days: Option<u32>,
    /// The portals that may frame it (`https://portal.example`): at least one.
    pub origins: Vec<String>,
}

/// An embed link as operators see it (never its token, which only its creator got once).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmbedInfo {
    /// Its id (for revoking).
    pub id: i64,
    /// What it shows.
    pub view: EmbedView,
    /// The portals that may frame it.
    pub origins: Vec<String>,
    /// Created, Unix ms.
    pub created_ms: i64,
    /// Expires, Unix ms.
    pub expires_ms: i64,
    /// Revoked, Unix ms.
    pub revoked_ms: Option<i64>,
    /// Who created it.
    pub created_by: String,
}

/// An embed link just made: the only time its token is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedEmbed {
    /// Its id (for revoking).
    pub id: i64,
    /// The whole URL to put in the portal's `<iframe src>` (as this request reached migboard).
    pub url: Secret,
    /// The page alone (`/embed/link/<token>`).
    pub path: Secret,
    /// The link.
    pub link: EmbedInfo,
}

/// What an embed link shows now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EmbedContent {
    /// The fleet, or one pool of it (only that pool and its nodes).
    Fleet {
        /// The pool, when the link shows one.
        pool: Option<String>,
        /// What it shows.
        fleet: Fleet,
    },
    /// One node.
    Node {
        /// The node.
        node: FleetNodeInfo,
    },
    /// One deployment, its blueprint left out.
    Deployment {
        /// The deployment.
        detail: DeploymentDetail,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_parse_and_print_the_same() {
        for s in ["fleet", "pool/gpu-pool", "node/10.0.10.11", "deployment/42"] {
            let v = EmbedView::parse(s).expect(s);
            assert_eq!(v.to_string(), s);
            let json = serde_json::to_string(&v).expect("serializes");
            assert_eq!(json, format!("\"{s}\""));
            assert_eq!(serde_json::from_str::<EmbedView>(&json).expect("parses"), v);
        }
        assert_eq!(
            EmbedView::parse("pool/a").expect("pool"),
            EmbedView::Pool("a".into())
        );
    }

    #[test]
    fn bad_views_say_what_is_accepted() {
        for (s, says) in [
            ("", "is not a view"),
            ("fleets", "is not a view"),
            ("pool/", "is not a pool name"),
            ("node/a/b", "is not a node name"),
            ("node/<script>", "is not a node name"),
            ("deployment/x", "is not a deployment id"),
            ("deployment/-1", "is not a deployment id"),
            ("user/1", "is not a kind of view"),
        ] {
            let e = EmbedView::parse(s).expect_err(s);
            assert!(e.contains(says), "{s}: {e}");
            assert!(e.contains("deployment/<id>"), "{s}: {e}");
        }
        assert!(serde_json::from_str::<EmbedView>("\"pool/\"").is_err());
    }

    #[test]
    fn origins_are_scheme_host_port_only() {
        assert_eq!(
            parse_origin("HTTPS://Portal.Example.com/").as_deref(),
            Ok("https://portal.example.com")
        );
        assert_eq!(
            parse_origin("http://localhost:3000").as_deref(),
            Ok("http://localhost:3000")
        );
        for bad in [
            "portal.example.com",
            "https://",
            "https://*",
            "ftp://x.example",
            "https://x.example/path",
            "https://x.example; script-src *",
            "https://x.example 'unsafe-inline'",
            "https://x.example?q",
        ] {
            let e = parse_origin(bad).expect_err(bad);
            assert!(e.contains("is not an origin"), "{bad}: {e}");
        }
    }

    #[test]
    fn an_origin_is_within_itself_or_a_wildcard_of_its_domain() {
        assert!(origin_within("https://a.example", "https://a.example"));
        assert!(origin_within(
            "https://portal.example.com",
            "https://*.example.com"
        ));
        assert!(origin_within(
            "https://x.y.example.com",
            "https://*.example.com"
        ));
        assert!(origin_within(
            "https://*.y.example.com",
            "https://*.example.com"
        ));
        assert!(origin_within(
            "https://p.example.com:8443",
            "https://*.example.com:8443"
        ));
        assert!(!origin_within(
            "https://example.com",
            "https://*.example.com"
        ));
        assert!(!origin_within(
            "https://evilexample.com",
            "https://*.example.com"
        ));
        assert!(!origin_within(
            "http://portal.example.com",
            "https://*.example.com"
        ));
        assert!(!origin_within(
            "https://p.example.com:8443",
            "https://*.example.com"
        ));
        assert!(!origin_within(
            "https://*.example.com",
            "https://portal.example.com"
        ));
        assert!(!origin_within("https://a.example", "https://b.example"));
    }
}
