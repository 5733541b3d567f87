//! Response security headers and the same-origin rule for mutating requests.
//!
//! Every response carries a Content-Security-Policy whose `frame-ancestors` is the configured
//! allow-list (default `'self'`: only migboard may frame itself), `X-Content-Type-Options: nosniff`
//! and a referrer policy. A mutating request (`POST`, `PUT`, `PATCH`, `DELETE`) that a browser sends
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
            let origin = item.trim_end_matches('/');
            let Some((scheme, host)) = origin.split_once("://") else {
                return Err(BadOrigin(item.to_owned()));
            };
            let host_ok =
                !host.is_empty()
                    && host != "*"
                    && host.strip_prefix("*.").unwrap_or(host).chars().all(|c| {
                        c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']')
                    });
            if !matches!(scheme, "http" | "https") || !host_ok {
                return Err(BadOrigin(item.to_owned()));
            }
            frame_ancestors.push(origin.to_ascii_lowercase());
        }
        Ok(Self {
            frame_ancestors,
            ..Self::default()
        })
    }

    /// The Content-Security-Policy of every response.
    ///
    /// Scripts: the site's own files plus inline (Leptos streams hydration data and resolves
    /// resources in inline scripts) and `'wasm-unsafe-eval'` (instantiating the WebAssembly bundle);
    /// no other origin. Connections (server functions, event streams) only to itself.
    pub fn content_security_policy(&self) -> String {
        let mut ancestors = vec!["'self'".to_owned()];
        ancestors.extend(self.frame_ancestors.iter().cloned());
        format!(
            "default-src 'self'; script-src 'self' 'unsafe-inline' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors {}",
            ancestors.join(" ")
        )
    }
}

/// Adds the security headers to every response.
pub async fn headers(
    State(security): State<Arc<HeaderValue>>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, (*security).clone());
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

/// The CSP header value for `security` (its parts were checked by [`Security::parse`]).
pub fn csp_header(security: &Security) -> Arc<HeaderValue> {
    Arc::new(
        HeaderValue::from_str(&security.content_security_policy())
            .unwrap_or_else(|_| HeaderValue::from_static("frame-ancestors 'self'")),
    )
}

/// Refuses a mutating request a browser sent from another site.
pub async fn same_origin(request: Request, next: Next) -> Response {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return next.run(request).await;
    }
    let headers = request.headers();
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let host = text("host").unwrap_or_default().to_ascii_lowercase();
    let cross_site = text("sec-fetch-site").is_some_and(|s| s == "cross-site");
    // The origin a browser states: `Origin`, or else the origin of `Referer`.
    let stated = text("origin")
        .filter(|o| *o != "null")
        .map(str::to_owned)
        .or_else(|| {
            text("referer").map(|r| {
                let rest = r.split_once("://").map_or("", |(_, rest)| rest);
                rest.split('/').next().unwrap_or_default().to_owned()
            })
        });
    let foreign = match (&stated, text("origin")) {
        // `Origin: null` (a sandboxed frame, a file) is never this site.
        (_, Some("null")) => true,
        (Some(origin), _) => {
            let authority = origin.split_once("://").map_or(origin.as_str(), |(_, a)| a);
            authority.to_ascii_lowercase() != host
        }
        (None, _) => false,
    };
    if cross_site || foreign {
        tracing::warn!(
            method = %request.method(),
            path = %request.uri().path(),
            origin = stated.as_deref().unwrap_or("-"),
            %host,
            "refused a cross-site request"
        );
        return (
            StatusCode::FORBIDDEN,
            axum::Json(serde_json::json!({"error": {
                "code": "cross_site",
                "message": format!(
                    "{} {} came from another site ({}); migboard accepts changes only from its own pages",
                    request.method(),
                    request.uri().path(),
                    stated.as_deref().unwrap_or("Sec-Fetch-Site: cross-site")
                ),
                "hint": "use migboard's own UI, or call the API without a browser (curl, a script)",
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
        assert!(s.content_security_policy().ends_with(
            "frame-ancestors 'self' https://portal.example.com https://*.corp.example:8443"
        ));
        assert_eq!(Security::parse("").expect("empty"), Security::default());
        assert!(
            Security::default()
                .content_security_policy()
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
}
