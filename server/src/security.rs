//! Response security headers and the same-origin rule for mutating requests.
//!
//! Every response carries a Content-Security-Policy (inline scripts only with the page's nonce;
//! `frame-ancestors 'none'` except on `/embed/…` and `/share/…`, which get `'self'` and the configured
//! portals), `X-Frame-Options: DENY` outside those views, `X-Content-Type-Options: nosniff`, a
//! referrer policy, and HSTS when served over HTTPS. A mutating request (`POST`, `PUT`, `PATCH`, `DELETE`) that a browser sends
//! from another site is refused: browsers send `Origin` (and `Sec-Fetch-Site`) with every such
//! request, so a page elsewhere cannot make a signed-in user's browser deploy or undeploy. Requests
//! without either header are not from a browser page (curl, automation) and pass; they will need an
//! API token once accounts exist.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// What the security layer enforces.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Security {
    /// Origins allowed to frame migboard's pages (CSP `frame-ancestors`), besides itself.
    pub frame_ancestors: Vec<String>,
    /// Mark the session cookie `Secure` (migboard is served over HTTPS, perhaps behind a proxy).
    /// Always on when other sites may frame migboard.
    pub cookie_secure: bool,
    /// Proxies whose `X-Forwarded-For` names the client (for the sign-in limit and the audit log).
    pub trusted_proxies: crate::auth::client::TrustedProxies,
    /// Caps on open event streams, and how often they re-check their credential.
    pub streams: crate::streams::StreamLimits,
    /// The bearer token `/metrics` wants; `None`: loopback only ([`crate::metrics`]).
    pub metrics_token: Option<mig::wire::Secret>,
}

/// Why a frame-ancestor is not usable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "frame ancestor \"{0}\" is not an origin: use scheme://host[:port], e.g. https://portal.example.com or https://*.example.com"
)]
pub struct BadOrigin(pub String);

impl Security {
    /// Parses a comma-separated allow-list of origins (`https://portal.example.com,
    /// https://*.example.com`). Empty means only migboard itself.
    ///
    /// # Errors
    /// [`BadOrigin`] for anything that is not `scheme://host[:port]` (a path, a query, a bare `*`,
    /// a space or `;` that would change the policy).
    pub fn parse(list: &str) -> Result<Self, BadOrigin> {
        let mut frame_ancestors = Vec::new();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let origin = mig::wire::parse_origin(item).map_err(|_| BadOrigin(item.to_owned()))?;
            frame_ancestors.push(origin);
        }
        Ok(Self {
            frame_ancestors,
            ..Self::default()
        })
    }

    /// The Content-Security-Policy of a response.
    ///
    /// Scripts: the site's own files, `'wasm-unsafe-eval'` (instantiating the WebAssembly bundle)
    /// and, on a rendered page, the inline scripts that carry this response's `nonce` (Leptos streams
    /// hydration data and resolves resources in inline scripts, each with the nonce); never
    /// `'unsafe-inline'`, so an injected `<script>` does not run. Connections (server functions,
    /// event streams) only to itself. Framing: only views made for it ([`Framing::Portal`]: `/embed/…`
    /// and `/share/…`) may be framed, by migboard itself and the configured portals; every other page
    /// by nobody, so no portal can frame Deploy or Undeploy.
    pub fn content_security_policy(&self, nonce: Option<&str>, framing: &Framing) -> String {
        let scripts = match nonce {
            Some(nonce) => format!("'self' 'nonce-{nonce}' 'wasm-unsafe-eval'"),
            None => "'self' 'wasm-unsafe-eval'".to_owned(),
        };
        let ancestors = match framing {
            Framing::Deny => "'none'".to_owned(),
            Framing::Link(origins) if origins.is_empty() => "'none'".to_owned(),
            Framing::Link(origins) => origins.join(" "),
            Framing::Portal => {
                let mut ancestors = vec!["'self'".to_owned()];
                ancestors.extend(self.frame_ancestors.iter().cloned());
                ancestors.join(" ")
            }
        };
        format!(
            "default-src 'self'; script-src {scripts}; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors {ancestors}"
        )
    }
}

/// Who may frame a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Framing {
    /// Nobody (`frame-ancestors 'none'`, `X-Frame-Options: DENY`): every page but those below.
    Deny,
    /// migboard itself and the configured portals: `/embed/…` views and `/share/…` links, which are
    /// made to be shown in other sites' frames and change nothing.
    Portal,
    /// The portals one signed embed link names, and nobody else (not even migboard): the page of
    /// `/embed/link/<token>` ([`link_framing`] finds them).
    Link(Vec<String>),
}

/// The origins that may frame this response: set by [`link_framing`] on a signed embed link's
/// page, read by [`headers`].
#[derive(Debug, Clone)]
struct LinkFraming(Vec<String>);

impl Framing {
    /// Who may frame the response to a request for `path`, as far as the path tells: a signed
    /// embed link's page is [`Framing::Deny`] unless [`link_framing`] found its link.
    pub fn for_path(path: &str) -> Self {
        let under = |prefix: &str| {
            path.strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        };
        if path.starts_with(crate::embeds::EMBED_LINK_PREFIX) {
            Self::Deny
        } else if under("/embed") || under("/share") {
            Self::Portal
        } else {
            Self::Deny
        }
    }
}

/// A nonce as Leptos makes them (URL-safe base64); anything else is not put in a policy.
fn usable_nonce(nonce: &str) -> bool {
    (16..=64).contains(&nonce.len())
        && nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Adds the security headers to every response: the Content-Security-Policy (with the page's
/// script nonce, see [`Security::content_security_policy`]), `X-Frame-Options: DENY` outside the
/// framable views, `nosniff`, a referrer policy, and HSTS when migboard is served over HTTPS
/// (`--cookie-secure`).
pub async fn headers(
    State(security): State<Arc<Security>>,
    request: Request,
    next: Next,
) -> Response {
    let path_framing = Framing::for_path(request.uri().path());
    let mut response = next.run(request).await;
    let framing = match response.extensions_mut().remove::<LinkFraming>() {
        Some(LinkFraming(origins)) => Framing::Link(origins),
        None => path_framing,
    };
    let h = response.headers_mut();
    // The page's nonce (see `app::CSP_NONCE_HEADER`); never sent on.
    let nonce = h.remove(app::CSP_NONCE_HEADER);
    let nonce = nonce
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .filter(|n| usable_nonce(n));
    let csp = security.content_security_policy(nonce, &framing);
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_str(&csp).unwrap_or_else(|_| {
            HeaderValue::from_static("default-src 'self'; frame-ancestors 'none'")
        }),
    );
    if matches!(framing, Framing::Deny) || framing == Framing::Link(Vec::new()) {
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    if security.cookie_secure {
        // Two years, this host only: a browser that once reached migboard over HTTPS never falls back
        // to HTTP, where the session cookie and passwords would travel in the clear.
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000"),
        );
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    );
    response
}

/// On the page of a signed embed link (`/embed/link/<token>`), marks the response with the link's
/// own origins, for [`headers`] to put in `frame-ancestors`: a link made for one portal cannot be
/// framed by another, or by a portal the server's allow-list names but the link does not.
/// Revoked and expired links keep their origins (the frame then says why it shows nothing); an
/// unknown token, or a database that cannot answer, gets `'none'`.
pub async fn link_framing(
    State(embeds): State<crate::embeds::Embeds>,
    request: Request,
    next: Next,
) -> Response {
    let token = request
        .uri()
        .path()
        .strip_prefix(crate::embeds::EMBED_LINK_PREFIX)
        .map(|t| t.trim_end_matches('/').to_owned())
        .filter(|t| !t.is_empty() && !t.contains('/'));
    let Some(token) = token else {
        return next.run(request).await;
    };
    let origins = match embeds.frame_ancestors(&token).await {
        Ok(origins) => origins.unwrap_or_default(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read an embed link's origins: nobody may frame it now");
            Vec::new()
        }
    };
    let mut response = next.run(request).await;
    response.extensions_mut().insert(LinkFraming(origins));
    response
}

/// Refuses a mutating request a browser sent from another site. The site is scheme and host: an
/// `http://` page of the same host (which anyone on the network path can forge) is another site when
/// migboard is served over HTTPS (`--cookie-secure`), and the other way round.
pub async fn same_origin(
    State(security): State<Arc<Security>>,
    request: Request,
    next: Next,
) -> Response {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return next.run(request).await;
    }
    let scheme = if security.cookie_secure {
        "https"
    } else {
        "http"
    };
    let headers = request.headers();
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let host = text("host").unwrap_or_default().to_ascii_lowercase();
    let ours = format!("{scheme}://{host}");
    let cross_site = text("sec-fetch-site").is_some_and(|s| s == "cross-site");
    // The origin a browser states: `Origin`, or else the origin (scheme://authority) of `Referer`.
    let stated = text("origin")
        .filter(|o| *o != "null")
        .map(str::to_owned)
        .or_else(|| {
            text("referer").map(|r| match r.split_once("://") {
                Some((scheme, rest)) => {
                    format!("{scheme}://{}", rest.split('/').next().unwrap_or_default())
                }
                None => r.to_owned(),
            })
        });
    let foreign = match (&stated, text("origin")) {
        // `Origin: null` (a sandboxed frame, a file) is never this site.
        (_, Some("null")) => true,
        (Some(origin), _) => origin.trim_end_matches('/').to_ascii_lowercase() != ours,
        (None, _) => false,
    };
    if cross_site || foreign {
        tracing::warn!(
            method = %request.method(),
            path = %request.uri().path(),
            origin = stated.as_deref().unwrap_or("-"),
            expected = %ours,
            "refused a cross-site request"
        );
        return (
            StatusCode::FORBIDDEN,
            axum::Json(serde_json::json!({"error": {
                "code": "cross_site",
                "message": format!(
                    "{} {} came from another site ({}, this site is {ours}); migboard accepts changes only from its own pages",
                    request.method(),
                    request.uri().path(),
                    stated.as_deref().unwrap_or("Sec-Fetch-Site: cross-site")
                ),
                "hint": "use migboard's own UI, or call the API without a browser (curl, a script); served over HTTPS, migboard needs --cookie-secure / MIGBOARD_COOKIE_SECURE=true",
            }})),
        )
            .into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_ancestors_are_origins_only() {
        let s = Security::parse(" https://portal.example.com/, https://*.corp.example:8443 ,")
            .expect("valid");
        assert_eq!(
            s.frame_ancestors,
            ["https://portal.example.com", "https://*.corp.example:8443"]
        );
        assert!(s.content_security_policy(None, &Framing::Portal).ends_with(
            "frame-ancestors 'self' https://portal.example.com https://*.corp.example:8443"
        ));
        assert!(
            s.content_security_policy(None, &Framing::Deny)
                .ends_with("frame-ancestors 'none'")
        );
        assert_eq!(Security::parse("").expect("empty"), Security::default());
        assert!(
            Security::default()
                .content_security_policy(None, &Framing::Portal)
                .ends_with("frame-ancestors 'self'")
        );
        for bad in [
            "portal.example.com",
            "https://*",
            "https://a.example/path",
            "ftp://a.example",
            "https://a.example; script-src *",
            "https://a b",
        ] {
            let err = Security::parse(bad).expect_err(bad);
            assert!(err.to_string().contains("is not an origin"), "{err}");
        }
    }

    #[test]
    fn only_embed_and_share_views_may_be_framed() {
        for path in [
            "/embed",
            "/embed/fleet",
            "/embed/deployments/3",
            "/share/abc",
        ] {
            assert_eq!(Framing::for_path(path), Framing::Portal, "{path}");
        }
        for path in [
            "/",
            "/deployments/3",
            "/embedded",
            "/shared/x",
            "/settings",
            "/api/v1/fleet",
        ] {
            assert_eq!(Framing::for_path(path), Framing::Deny, "{path}");
        }
    }

    #[test]
    fn scripts_run_only_from_the_site_or_with_the_pages_nonce() {
        let s = Security::default();
        let csp = s.content_security_policy(Some("abcdefghijklmnopqrstuv"), &Framing::Deny);
        assert!(
            csp.contains("script-src 'self' 'nonce-abcdefghijklmnopqrstuv' 'wasm-unsafe-eval';"),
            "{csp}"
        );
        assert!(!csp.contains("'unsafe-inline' 'wasm"), "{csp}");
        assert!(usable_nonce("Zm9vYmFyYmF6cXV4cXV1eA"));
        for bad in [
            "short",
            "has space in it here ok",
            "quote'inside-a-nonce-xx",
            "semi;colon-inside-nonce",
        ] {
            assert!(!usable_nonce(bad), "{bad}");
        }
    }
}
