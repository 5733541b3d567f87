//! Helpers shared by the server's integration tests.

pub mod fake_kube;

/// A fresh PostgreSQL database named `name` on the test server, or `None` (said on stderr) without one.
#[allow(dead_code)]
pub async fn fresh_pg(name: &str) -> Option<String> {
    let Ok(admin) = std::env::var("MIGBOARD_TEST_DATABASE_URL") else {
        eprintln!(
            "MIGBOARD_TEST_DATABASE_URL is not set: the PostgreSQL run of `{name}` checks nothing (make test sets it)"
        );
        return None;
    };
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&admin)
        .await
        .expect("the test PostgreSQL server answers");
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&pool)
        .await
        .expect("drop");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&pool)
        .await
        .expect("create");
    let base = admin
        .rsplit_once('/')
        .map_or(admin.as_str(), |(b, _)| b)
        .to_owned();
    Some(format!("{base}/{name}"))
}

/// A user named `name` with `role` in the state's database, signed in with a fresh API token
/// (returned as the `Authorization` header's value).
#[allow(dead_code)]
pub async fn bearer(state: &server::AppState, name: &str, role: mig::wire::Role) -> String {
    let hash = server::auth::hash_password("test-password-123").expect("hash");
    let user = state
        .orchestrator()
        .store()
        .create_user(name, &hash, role)
        .await
        .expect("create the test user");
    let caller = mig::wire::Caller {
        user_id: user.id,
        username: user.username,
        role,
        via: "session".into(),
        source: "test".into(),
    };
    let token = state
        .accounts()
        .create_token(&caller, "test", None)
        .await
        .expect("create a token");
    format!("Bearer {}", token.token)
}
