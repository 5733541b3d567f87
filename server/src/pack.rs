//! `GET /pkg/pack?m=<module>,<module>,…[.wasm]`: several of the site's split WebAssembly modules in one
//! response, so a page fetches the chunks it needs in one request instead of a hundred or more.
//!
//! `cargo leptos build --split` cuts the browser bundle into a module per lazy route and a chunk per
//! set of routes that share code (hundreds of files, most under 2 KiB); its loader fetches each one
//! separately. `scripts/pack-split.py` rewrites that loader (after every site build) so the modules
//! one load needs are asked for here together; each is still instantiated on its own, exactly as
//! before, and the loader falls back to one request per module when this route answers an error.
//!
//! The body: the module count `n` (u32, little endian), `n` byte lengths (u32 LE), then the modules'
//! bytes in the order asked. Names are file stems in the site's `pkg` folder (`chunk_17`,
//! `split___fleet_route_view_38908…`); nothing else can be read through it.

use std::path::{Path, PathBuf};

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest as _, Sha256};

use crate::AppState;

/// The most modules one request may ask for (the biggest page needs about 220).
pub const MAX_MODULES: usize = 1024;

/// A refused pack request: what was wrong, for the 400/404 body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackError {
    /// No `m=` parameter, or an empty one.
    #[error("no modules asked for: use /pkg/pack?m=<module>,<module>")]
    Empty,
    /// More than [`MAX_MODULES`] names.
    #[error("{0} modules asked for; at most {MAX_MODULES} per request")]
    TooMany(usize),
    /// A name that is not a module file stem.
    #[error("\"{0}\" is not a module name (letters, digits and _ only)")]
    BadName(String),
    /// No such module in this build.
    #[error("no module \"{0}\" in this build of the site; reload the page")]
    Missing(String),
}

/// The module names of query `q` (`m=a,b,c`), checked.
///
/// # Errors
/// [`PackError`] for no names, too many, or a name that is not a file stem.
pub fn names(q: Option<&str>) -> Result<Vec<String>, PackError> {
    let list = q
        .unwrap_or_default()
        .split('&')
        .find_map(|kv| kv.strip_prefix("m="))
        .unwrap_or_default();
    // The page's preload hint names the pack as `…/pack?m=a,b.wasm` (leptos appends `.wasm` to
    // every module it preloads), and the loader asks for the same URL so the preload is used.
    let list = list.strip_suffix(".wasm").unwrap_or(list);
    if list.is_empty() {
        return Err(PackError::Empty);
    }
    let names: Vec<String> = list.split(',').map(str::to_owned).collect();
    if names.len() > MAX_MODULES {
        return Err(PackError::TooMany(names.len()));
    }
    if let Some(bad) = names.iter().find(|n| {
        n.is_empty() || !n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    }) {
        return Err(PackError::BadName(bad.chars().take(80).collect()));
    }
    Ok(names)
}

/// The modules `names` from folder `pkg`, framed as the module docs say, with a strong ETag over
/// the names and the bytes.
///
/// # Errors
/// [`PackError::Missing`] for a module the folder does not have.
pub async fn pack(pkg: &Path, names: &[String]) -> Result<(Vec<u8>, String), PackError> {
    let mut modules = Vec::with_capacity(names.len());
    for n in names {
        let path: PathBuf = pkg.join(format!("{n}.wasm"));
        let bytes = tokio::fs::read(&path)
            .await
            .map_err(|_| PackError::Missing(n.clone()))?;
        modules.push(bytes);
    }
    let total: usize = modules.iter().map(Vec::len).sum();
    let mut body = Vec::with_capacity(4 + 4 * modules.len() + total);
    let len32 = |n: usize| u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes();
    body.extend_from_slice(&len32(modules.len()));
    for m in &modules {
        body.extend_from_slice(&len32(m.len()));
    }
    for m in &modules {
        body.extend_from_slice(m);
    }
    let mut hash = Sha256::new();
    hash.update(names.join(",").as_bytes());
    hash.update(&body);
    let etag = format!("\"{:x}\"", hash.finalize());
    Ok((body, etag))
}

/// The route's handler.
pub async fn serve(
    State(state): State<AppState>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    let refused = |status: StatusCode, e: PackError| {
        (
            status,
            [(header::CACHE_CONTROL, "no-store")],
            format!("{e}\n"),
        )
            .into_response()
    };
    let names = match names(q.as_deref()) {
        Ok(n) => n,
        Err(e) => return refused(StatusCode::BAD_REQUEST, e),
    };
    let pkg = state
        .site_root()
        .join(&*state.leptos_options.site_pkg_dir);
    let (body, etag) = match pack(&pkg, &names).await {
        Ok(p) => p,
        Err(e) => return refused(StatusCode::NOT_FOUND, e),
    };
    // The same names from the same build: the browser keeps its copy.
    let cache = [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (
            header::ETAG,
            HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("\"\"")),
        ),
    ];
    if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes())
    {
        return (StatusCode::NOT_MODIFIED, cache).into_response();
    }
    (
        cache,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        )],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_module_stems_are_read() {
        assert_eq!(
            names(Some("m=chunk_1,split___fleet_route_view_12")),
            Ok(vec!["chunk_1".into(), "split___fleet_route_view_12".into()])
        );
        assert_eq!(
            names(Some("m=chunk_1,split_2.wasm")),
            Ok(vec!["chunk_1".into(), "split_2".into()]),
            "the preload hint's spelling"
        );
        assert_eq!(names(None), Err(PackError::Empty));
        assert_eq!(names(Some("x=1")), Err(PackError::Empty));
        for bad in ["../migboard", "chunk_1.wasm", "a%2Fb", "", "chunk 1"] {
            assert!(
                matches!(names(Some(&format!("m=chunk_0,{bad},chunk_9"))), Err(PackError::BadName(_))),
                "{bad}"
            );
        }
        let many = vec!["c"; MAX_MODULES + 1].join(",");
        assert_eq!(
            names(Some(&format!("m={many}"))),
            Err(PackError::TooMany(MAX_MODULES + 1))
        );
    }

    #[tokio::test]
    async fn modules_are_framed_in_the_order_asked() {
        let dir = std::env::temp_dir().join(format!("migboard-pack-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(dir.join("a.wasm"), b"\0asm-a").expect("a");
        std::fs::write(dir.join("b.wasm"), b"\0asm-bb").expect("b");
        let (body, etag) = pack(&dir, &["b".into(), "a".into()]).await.expect("pack");
        let u32_at = |i: usize| u32::from_le_bytes(body[i..i + 4].try_into().expect("4 bytes"));
        assert_eq!(u32_at(0), 2);
        assert_eq!((u32_at(4), u32_at(8)), (7, 6));
        assert_eq!(&body[12..], b"\0asm-bb\0asm-a");
        let (_, again) = pack(&dir, &["b".into(), "a".into()]).await.expect("pack");
        assert_eq!(etag, again, "same modules, same tag");
        let (_, other) = pack(&dir, &["a".into()]).await.expect("pack");
        assert_ne!(etag, other);
        assert_eq!(
            pack(&dir, &["c".into()]).await.map(|_| ()),
            Err(PackError::Missing("c".into()))
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}
