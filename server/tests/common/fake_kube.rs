//! A fake Kubernetes API server on loopback, for scenario tests of the Kubernetes backend. It is
//! not a real cluster: no scheduler, kubelet or controllers run; tests play those parts by writing
//! objects. What it does implement is what migboard's client relies on, the way the API server does
//! it: lists with a resourceVersion and label/field selectors, watches that resume from a
//! resourceVersion (replaying what happened since), create (409 when it exists), replace with
//! optimistic concurrency (409 on a stale resourceVersion), JSON merge patch, server-side apply
//! (create or merge), delete, and the Eviction subresource honouring PodDisruptionBudgets
//! (`status.disruptionsAllowed`: 0 → 429, as the real one answers).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::broadcast;

type Key = (String, String, String); // (group/version/resource, namespace, name)

#[derive(Default)]
struct Store {
    rv: u64,
    objects: BTreeMap<Key, Value>,
    /// Every change: (resourceVersion, collection, namespace, type, object).
    history: Vec<(u64, String, String, &'static str, Value)>,
    /// Requests seen: "METHOD path".
    requests: Vec<String>,
}

/// The fake API server.
#[derive(Clone)]
pub struct FakeKube {
    store: Arc<Mutex<Store>>,
    events: broadcast::Sender<(u64, String, String, &'static str, Value)>,
    /// Its base URL.
    pub url: String,
}

fn status(code: u16, reason: &str, message: &str) -> Response {
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": if code < 300 { "Success" } else { "Failure" },
        "message": message, "reason": reason, "code": code,
    });
    (
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        axum::Json(body),
    )
        .into_response()
}

/// RFC 7386 JSON merge patch.
pub fn merge(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = json!({});
            }
            let t = target.as_object_mut().expect("an object");
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        other => *target = other.clone(),
    }
}

fn lookup<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |v, k| v.get(k))
}

fn matches_labels(obj: &Value, selector: &str) -> bool {
    let labels = &obj["metadata"]["labels"];
    selector.split(',').filter(|s| !s.is_empty()).all(|term| {
        if let Some((k, v)) = term.split_once("!=") {
            labels[k].as_str() != Some(v)
        } else if let Some((k, v)) = term.split_once('=') {
            labels[k].as_str() == Some(v.trim_start_matches('='))
        } else if let Some(k) = term.strip_prefix('!') {
            labels.get(k).is_none()
        } else {
            labels.get(term).is_some()
        }
    })
}

fn matches_fields(obj: &Value, selector: &str) -> bool {
    selector.split(',').filter(|s| !s.is_empty()).all(|term| {
        let (path, want, equal) = match term.split_once("!=") {
            Some((p, v)) => (p, v, false),
            None => match term.split_once('=') {
                Some((p, v)) => (p, v.trim_start_matches('='), true),
                None => return true,
            },
        };
        let have = lookup(obj, path).and_then(Value::as_str).unwrap_or("");
        (have == want) == equal
    })
}

/// `/api/v1/...` or `/apis/G/V/...` → (collection, namespace, name, subresource).
fn route(path: &str) -> Option<(String, String, Option<String>, Option<String>)> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (gv, rest) = match parts.as_slice() {
        ["api", v, rest @ ..] => ((*v).to_owned(), rest),
        ["apis", g, v, rest @ ..] => (format!("{g}/{v}"), rest),
        _ => return None,
    };
    let (ns, rest) = match rest {
        ["namespaces", ns, rest @ ..] if !rest.is_empty() => ((*ns).to_owned(), rest),
        _ => (String::new(), rest),
    };
    match rest {
        [res] => Some((format!("{gv}/{res}"), ns, None, None)),
        [res, name] => Some((format!("{gv}/{res}"), ns, Some((*name).to_owned()), None)),
        [res, name, sub] => Some((
            format!("{gv}/{res}"),
            ns,
            Some((*name).to_owned()),
            Some((*sub).to_owned()),
        )),
        _ => None,
    }
}

impl FakeKube {
    /// Starts it on a free loopback port.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let (events, _) = broadcast::channel(4096);
        let this = Self {
            store: Arc::new(Mutex::new(Store::default())),
            events,
            url,
        };
        let app = Router::new().fallback(handle).with_state(this.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.expect("fake API server") });
        this
    }

    /// Client settings for it (plain HTTP, no credentials).
    pub fn config(&self) -> kube::Config {
        kube::Config::new(self.url.parse().expect("url"))
    }

    fn collection(obj: &Value) -> String {
        let api = obj["apiVersion"].as_str().unwrap_or("v1");
        let kind = obj["kind"].as_str().unwrap_or("");
        let plural = match kind {
            "PodDisruptionBudget" => "poddisruptionbudgets".to_owned(),
            k => format!("{}s", k.to_lowercase()),
        };
        format!("{api}/{plural}")
    }

    fn commit(&self, store: &mut Store, key: Key, kind: &'static str, mut obj: Value) -> Value {
        store.rv += 1;
        let rv = store.rv;
        obj["metadata"]["resourceVersion"] = json!(rv.to_string());
        if obj["metadata"].get("uid").is_none() {
            obj["metadata"]["uid"] = json!(format!("uid-{rv}"));
        }
        if !key.1.is_empty() {
            obj["metadata"]["namespace"] = json!(key.1);
        }
        if kind == "DELETED" {
            store.objects.remove(&key);
        } else {
            store.objects.insert(key.clone(), obj.clone());
        }
        let event = (rv, key.0, key.1, kind, obj.clone());
        store.history.push(event.clone());
        let _ = self.events.send(event);
        obj
    }

    /// Creates or replaces an object as a test's stand-in for a controller or kubelet.
    pub fn put(&self, obj: Value) -> Value {
        let key = (
            Self::collection(&obj),
            obj["metadata"]["namespace"]
                .as_str()
                .unwrap_or("")
                .to_owned(),
            obj["metadata"]["name"].as_str().expect("a name").to_owned(),
        );
        let mut store = self.store.lock().expect("lock");
        let kind = if store.objects.contains_key(&key) {
            "MODIFIED"
        } else {
            "ADDED"
        };
        self.commit(&mut store, key, kind, obj)
    }

    /// Merge-patches an object as a test's stand-in for a controller.
    pub fn patch(&self, collection: &str, namespace: &str, name: &str, patch: &Value) -> Value {
        let key = (collection.to_owned(), namespace.to_owned(), name.to_owned());
        let mut store = self.store.lock().expect("lock");
        let mut obj = store.objects.get(&key).cloned().expect("the object exists");
        merge(&mut obj, patch);
        self.commit(&mut store, key, "MODIFIED", obj)
    }

    /// Deletes an object (a controller's or kubelet's part).
    pub fn delete(&self, collection: &str, namespace: &str, name: &str) {
        let key = (collection.to_owned(), namespace.to_owned(), name.to_owned());
        let mut store = self.store.lock().expect("lock");
        if let Some(obj) = store.objects.get(&key).cloned() {
            self.commit(&mut store, key, "DELETED", obj);
        }
    }

    /// An object, if it exists.
    pub fn get(&self, collection: &str, namespace: &str, name: &str) -> Option<Value> {
        let key = (collection.to_owned(), namespace.to_owned(), name.to_owned());
        self.store.lock().expect("lock").objects.get(&key).cloned()
    }

    /// Objects of a collection.
    pub fn list(&self, collection: &str) -> Vec<Value> {
        self.store
            .lock()
            .expect("lock")
            .objects
            .iter()
            .filter(|(k, _)| k.0 == collection)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// The requests seen so far ("METHOD /path?query").
    pub fn requests(&self) -> Vec<String> {
        self.store.lock().expect("lock").requests.clone()
    }

    /// Every value a node label took, in order (from the change history).
    pub fn label_history(&self, node: &str, label: &str) -> Vec<Option<String>> {
        let store = self.store.lock().expect("lock");
        let mut out: Vec<Option<String>> = Vec::new();
        for (_, c, _, _, obj) in &store.history {
            if c == "v1/nodes" && obj["metadata"]["name"] == node {
                let v = obj["metadata"]["labels"][label].as_str().map(str::to_owned);
                if out.last() != Some(&v) {
                    out.push(v);
                }
            }
        }
        out
    }
}

async fn handle(
    State(fake): State<FakeKube>,
    method: Method,
    uri: Uri,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    fake.store.lock().expect("lock").requests.push(format!(
        "{method} {}",
        uri.path_and_query().map_or("", |p| p.as_str())
    ));
    let Some((collection, ns, name, sub)) = route(uri.path()) else {
        return status(
            404,
            "NotFound",
            &format!("the fake API server has no route {}", uri.path()),
        );
    };
    let body: Value = if body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => return status(400, "BadRequest", &format!("body: {e}")),
        }
    };
    let labels = query.get("labelSelector").cloned().unwrap_or_default();
    let fields = query.get("fieldSelector").cloned().unwrap_or_default();
    match (method.clone(), name, sub.as_deref()) {
        (Method::GET, None, _) if query.get("watch").is_some_and(|w| w == "true" || w == "1") => {
            let since: u64 = query
                .get("resourceVersion")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let rx = fake.events.subscribe();
            let backlog: Vec<_> = fake
                .store
                .lock()
                .expect("lock")
                .history
                .iter()
                .filter(|e| e.0 > since)
                .cloned()
                .collect();
            let keep = move |e: &(u64, String, String, &'static str, Value)| {
                e.1 == collection
                    && (ns.is_empty() || e.2 == ns)
                    && matches_labels(&e.4, &labels)
                    && matches_fields(&e.4, &fields)
            };
            let last = backlog.last().map_or(since, |e| e.0);
            let first: Vec<_> = backlog.into_iter().filter(|e| keep(e)).collect();
            let live = futures_util::stream::unfold((rx, last), move |(mut rx, last)| {
                let keep = keep.clone();
                async move {
                    loop {
                        match rx.recv().await {
                            Ok(e) if e.0 > last && keep(&e) => {
                                let rv = e.0;
                                return Some((e, (rx, rv)));
                            }
                            Ok(_) => {}
                            Err(_) => return None,
                        }
                    }
                }
            });
            let stream = futures_util::StreamExt::map(
                futures_util::StreamExt::chain(futures_util::stream::iter(first), live),
                |e| {
                    let mut s = json!({"type": e.3, "object": e.4}).to_string();
                    s.push('\n');
                    Ok::<_, Infallible>(Bytes::from(s))
                },
            );
            Response::builder()
                .header("content-type", "application/json")
                .body(Body::from_stream(stream))
                .expect("response")
        }
        (Method::GET, None, _) => {
            let store = fake.store.lock().expect("lock");
            let items: Vec<Value> = store
                .objects
                .iter()
                .filter(|(k, _)| k.0 == collection && (ns.is_empty() || k.1 == ns))
                .map(|(_, v)| v.clone())
                .filter(|v| matches_labels(v, &labels) && matches_fields(v, &fields))
                .collect();
            axum::Json(json!({
                "apiVersion": "v1", "kind": "List",
                "metadata": {"resourceVersion": store.rv.to_string()},
                "items": items,
            }))
            .into_response()
        }
        (Method::GET, Some(name), None) => match fake.get(&collection, &ns, &name) {
            Some(v) => axum::Json(v).into_response(),
            None => status(
                404,
                "NotFound",
                &format!("{collection} \"{name}\" not found"),
            ),
        },
        (Method::POST, None, _) => {
            let mut body = body;
            if body["metadata"].get("name").is_none() {
                // generateName: the API server appends a random suffix.
                let prefix = body["metadata"]["generateName"]
                    .as_str()
                    .unwrap_or("obj-")
                    .to_owned();
                let n = fake.store.lock().expect("lock").rv + 1;
                body["metadata"]["name"] = json!(format!("{prefix}{n:05x}"));
            }
            let name = body["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let key = (collection.clone(), ns.clone(), name.clone());
            let mut store = fake.store.lock().expect("lock");
            if store.objects.contains_key(&key) {
                return status(
                    409,
                    "AlreadyExists",
                    &format!("{collection} \"{name}\" already exists"),
                );
            }
            let obj = fake.commit(&mut store, key, "ADDED", body);
            (StatusCode::CREATED, axum::Json(obj)).into_response()
        }
        (Method::PUT, Some(name), None) => {
            let key = (collection.clone(), ns.clone(), name.clone());
            let mut store = fake.store.lock().expect("lock");
            let Some(current) = store.objects.get(&key) else {
                return status(
                    404,
                    "NotFound",
                    &format!("{collection} \"{name}\" not found"),
                );
            };
            if body["metadata"]["resourceVersion"] != current["metadata"]["resourceVersion"] {
                return status(
                    409,
                    "Conflict",
                    &format!(
                        "Operation cannot be fulfilled on {collection} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
                    ),
                );
            }
            let obj = fake.commit(&mut store, key, "MODIFIED", body);
            axum::Json(obj).into_response()
        }
        (Method::PATCH, Some(name), None) => {
            let kind = headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            let key = (collection.clone(), ns.clone(), name.clone());
            let mut store = fake.store.lock().expect("lock");
            let obj = match (store.objects.get(&key).cloned(), kind.as_str()) {
                (
                    Some(mut obj),
                    "application/merge-patch+json" | "application/apply-patch+yaml",
                ) => {
                    merge(&mut obj, &body);
                    fake.commit(&mut store, key, "MODIFIED", obj)
                }
                (None, "application/apply-patch+yaml") => {
                    fake.commit(&mut store, key, "ADDED", body)
                }
                (None, _) => {
                    return status(
                        404,
                        "NotFound",
                        &format!("{collection} \"{name}\" not found"),
                    );
                }
                (Some(_), other) => {
                    return status(
                        415,
                        "UnsupportedMediaType",
                        &format!("the fake API server does not do {other} patches"),
                    );
                }
            };
            axum::Json(obj).into_response()
        }
        (Method::DELETE, Some(name), None) => {
            let key = (collection.clone(), ns.clone(), name.clone());
            let mut store = fake.store.lock().expect("lock");
            match store.objects.get(&key).cloned() {
                Some(obj) => {
                    fake.commit(&mut store, key, "DELETED", obj.clone());
                    axum::Json(obj).into_response()
                }
                None => status(
                    404,
                    "NotFound",
                    &format!("{collection} \"{name}\" not found"),
                ),
            }
        }
        (Method::POST, Some(name), Some("eviction")) if collection == "v1/pods" => {
            let key = (collection.clone(), ns.clone(), name.clone());
            let mut store = fake.store.lock().expect("lock");
            let Some(pod) = store.objects.get(&key).cloned() else {
                return status(404, "NotFound", &format!("pods \"{name}\" not found"));
            };
            let blocking = store.objects.iter().find(|(k, pdb)| {
                k.0 == "policy/v1/poddisruptionbudgets"
                    && k.1 == ns
                    && pdb["spec"]["selector"]["matchLabels"]
                        .as_object()
                        .is_some_and(|m| m.iter().all(|(l, v)| pod["metadata"]["labels"][l] == *v))
                    && pdb["status"]["disruptionsAllowed"].as_i64().unwrap_or(0) <= 0
            });
            if let Some((k, _)) = blocking {
                return status(
                    429,
                    "TooManyRequests",
                    &format!(
                        "Cannot evict pod as it would violate the pod's disruption budget {}.",
                        k.2
                    ),
                );
            }
            fake.commit(&mut store, key, "DELETED", pod);
            status(201, "", "")
        }
        _ => status(
            405,
            "MethodNotAllowed",
            &format!("the fake API server does not do {method} {}", uri.path()),
        ),
    }
}
