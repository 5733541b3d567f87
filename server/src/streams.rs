//! Event streams (`text/event-stream`): how many one client may hold open, and how long each lives.
//!
//! A stream is admitted only under two caps, per user and per client address (IPv4 address or IPv6
//! /64), so one client cannot hold every connection the server has; beyond them the answer is 429.
//! Once open, a stream asks every [`StreamLimits::recheck`] whether what let it in still holds —
//! the session (not signed out, user not disabled, password unchanged), the API token (not
//! revoked or expired), the share or embed link (not revoked or expired) — reading the database, so a
//! revocation made through any replica ends it there too. An ended stream sends a last `resync`
//! event: the page asks again and learns why.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::auth::{AuthState, Credential};
use crate::error::ApiError;

/// The caps and the re-check period (`--max-streams-per-user`, `--max-streams-per-address`,
/// `--stream-recheck-ms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLimits {
    /// Open streams one user may hold (every tab of every browser of theirs, and scripts).
    pub per_user: usize,
    /// Open streams one client address may hold (IPv6: one /64), signed in or not.
    pub per_address: usize,
    /// How often an open stream checks that its credential or share link still holds.
    pub recheck: Duration,
}

impl Default for StreamLimits {
    fn default() -> Self {
        Self {
            per_user: 16,
            per_address: 64,
            recheck: Duration::from_secs(5),
        }
    }
}

/// What a stream re-checks while it is open.
#[derive(Debug, Clone)]
pub enum Holder {
    /// A signed-in user, by the credential the request came with.
    User {
        /// The user's id (the per-user cap's key).
        user_id: i64,
        /// The session or token.
        credential: Credential,
    },
    /// Anyone with a share link, by its token.
    Share(String),
    /// Anyone with an embed link, by its token.
    Embed(String),
}

/// The open streams, counted per key.
#[derive(Debug)]
pub struct Streams {
    limits: StreamLimits,
    auth: AuthState,
    shares: crate::shares::Shares,
    embeds: crate::embeds::Embeds,
    open: Mutex<HashMap<String, usize>>,
    /// Streams open now (for `/metrics`).
    watchers: std::sync::atomic::AtomicUsize,
    /// The re-checks running, one per holder (credential or link), shared by its open streams.
    checks: Mutex<HashMap<String, std::sync::Weak<Check>>>,
}

/// One holder's periodic re-check, shared by every stream that holder has open: 10,000 viewers of
/// one embed link (or tabs of one session) cost one database check per period, not 10,000. It runs
/// while any of those streams holds it; the last one to end stops it.
#[derive(Debug)]
struct Check {
    /// Turns `true` when the holder no longer holds.
    ended: tokio::sync::watch::Receiver<bool>,
    _task: AbortOnDrop,
}

impl Holder {
    /// What identifies the holder's re-check (in memory only; never logged).
    fn key(&self) -> String {
        match self {
            Self::User {
                credential: Credential::Session(id),
                ..
            } => format!("session:{id}"),
            Self::User {
                credential: Credential::Token(token),
                ..
            } => format!("token:{}", token.expose()),
            Self::Share(token) => format!("share:{token}"),
            Self::Embed(token) => format!("embed:{token}"),
        }
    }
}

/// One admitted stream's place under the caps; given back when the stream ends (dropped).
#[derive(Debug)]
pub struct Permit {
    streams: Arc<Streams>,
    keys: Vec<String>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.streams
            .watchers
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        let mut open = self
            .streams
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for key in &self.keys {
            if let Some(n) = open.get_mut(key) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    open.remove(key);
                }
            }
        }
    }
}

impl Streams {
    /// Streams under `limits`, re-checking users through `auth` and links through `shares` and
    /// `embeds`.
    #[must_use]
    pub fn new(
        limits: StreamLimits,
        auth: AuthState,
        shares: crate::shares::Shares,
        embeds: crate::embeds::Embeds,
    ) -> Arc<Self> {
        Arc::new(Self {
            limits,
            auth,
            shares,
            embeds,
            open: Mutex::new(HashMap::new()),
            watchers: std::sync::atomic::AtomicUsize::new(0),
            checks: Mutex::new(HashMap::new()),
        })
    }

    /// Event streams open now.
    #[must_use]
    pub fn watchers(&self) -> usize {
        self.watchers.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The caps in force.
    #[must_use]
    pub fn limits(&self) -> StreamLimits {
        self.limits
    }

    /// Admits one more stream for `holder` from `client`.
    ///
    /// # Errors
    /// A 429 response (with `Retry-After`) when the user or the address holds its cap already.
    pub fn admit(
        self: &Arc<Self>,
        holder: &Holder,
        client: IpAddr,
    ) -> Result<Permit, Box<Response>> {
        let address = format!("addr:{}", crate::auth::client::limit_key(client));
        let mut keys = vec![(address, self.limits.per_address, "this address")];
        if let Holder::User { user_id, .. } = holder {
            keys.push((format!("user:{user_id}"), self.limits.per_user, "this user"));
        }
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, cap, whose)) = keys
            .iter()
            .find(|(key, cap, _)| open.get(key).copied().unwrap_or(0) >= *cap)
        {
            tracing::warn!(%client, whose, cap, "refused an event stream over the cap");
            let mut response = ApiError::TooMany {
                message: format!("{whose} has {cap} event streams open already, the most allowed"),
                hint: "close other migboard tabs or watchers, then try again".into(),
            }
            .into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            return Err(Box::new(response));
        }
        for (key, _, _) in &keys {
            *open.entry(key.clone()).or_insert(0) += 1;
        }
        self.watchers
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(Permit {
            streams: Arc::clone(self),
            keys: keys.into_iter().map(|(key, _, _)| key).collect(),
        })
    }

    /// Completes when `holder` no longer holds: checked every [`StreamLimits::recheck`], in the
    /// database.
    ///
    /// The checks run in a task of their own, not in the response body: the body is polled only as
    /// fast as the client reads, and a check paused mid-query would hold a database connection for
    /// as long as a client chose not to read. One task per holder serves all of that holder's
    /// streams ([`Check`]); it ends when the last of their futures is dropped.
    pub fn revoked(self: &Arc<Self>, holder: Holder) -> impl Future<Output = ()> + Send + use<> {
        let key = holder.key();
        let check = {
            let mut checks = self
                .checks
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match checks
                .get(&key)
                .and_then(std::sync::Weak::upgrade)
                .filter(|c| !*c.ended.borrow())
            {
                Some(running) => running,
                None => {
                    // Now and then, forget the checks whose streams have all ended.
                    if checks.len() % 256 == 255 {
                        checks.retain(|_, c| c.strong_count() > 0);
                    }
                    let started = Arc::new(self.start_check(holder));
                    checks.insert(key, Arc::downgrade(&started));
                    started
                }
            }
        };
        let mut ended = check.ended.clone();
        async move {
            let _check = check;
            // An error means the check is gone (it panicked): end the stream rather than trust it
            // unchecked.
            let _ = ended.wait_for(|ended| *ended).await;
        }
    }

    /// Starts `holder`'s re-check: every period, until it no longer holds.
    fn start_check(self: &Arc<Self>, holder: Holder) -> Check {
        let streams = Arc::clone(self);
        let (ended_tx, ended) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(streams.limits.recheck);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // The first tick is immediate; the request was checked just now.
            tick.tick().await;
            loop {
                tick.tick().await;
                let holds = match &holder {
                    Holder::User { credential, .. } => streams.auth.still_valid(credential).await,
                    Holder::Share(token) => streams.shares.shared_link(token).await.is_ok(),
                    Holder::Embed(token) => streams.embeds.link(token).await.is_ok(),
                };
                if !holds {
                    tracing::info!(
                        holder = match &holder {
                            Holder::User { .. } => "user",
                            Holder::Share(_) => "share link",
                            Holder::Embed(_) => "embed link",
                        },
                        "ended the event streams of a credential that no longer holds"
                    );
                    let _ = ended_tx.send(true);
                    return;
                }
            }
        });
        Check {
            ended,
            _task: AbortOnDrop(task.abort_handle()),
        }
    }
}

/// Stops a task when dropped.
#[derive(Debug)]
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Whether a request asks for an event stream: the `…/events` routes of the API.
fn is_event_stream(path: &str) -> bool {
    path.starts_with("/api/v1/") && path.ends_with("/events")
}

/// Response compression (`tower_http`'s, default settings) for every route but the event
/// streams. Those are never compressed anyway (the default predicate skips
/// `text/event-stream`), but a body that passes the compression layer is boxed as its
/// `CompressionBody`, sized for every encoder it might hold: about 2.9 KiB per box, twice per
/// stream, held as long as the stream is open — measured with heaptrack at 2,000 open streams
/// (BENCHMARKS.md). Streams skip the layer and keep only their own body.
#[derive(Debug, Clone, Copy, Default)]
pub struct CompressExceptStreams;

impl<S: Clone> tower::Layer<S> for CompressExceptStreams {
    type Service = CompressExceptStreamsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CompressExceptStreamsService {
            compressed: tower_http::compression::CompressionLayer::new().layer(inner.clone()),
            plain: inner,
        }
    }
}

/// The service of [`CompressExceptStreams`].
#[derive(Clone)]
#[allow(missing_debug_implementations, reason = "tower_http's Compression has no Debug")]
pub struct CompressExceptStreamsService<S> {
    plain: S,
    compressed: tower_http::compression::Compression<S>,
}

impl<S> tower::Service<axum::extract::Request> for CompressExceptStreamsService<S>
where
    S: tower::Service<axum::extract::Request, Response = Response, Error = std::convert::Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = futures_util::future::BoxFuture<'static, Result<Response, std::convert::Infallible>>;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        // Each call drives a clone to readiness itself (`oneshot`).
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: axum::extract::Request) -> Self::Future {
        use tower::ServiceExt as _;
        if is_event_stream(request.uri().path()) {
            Box::pin(self.plain.clone().oneshot(request))
        } else {
            let call = self.compressed.clone().oneshot(request);
            Box::pin(async move { call.await.map(|r| r.map(axum::body::Body::new)) })
        }
    }
}
