//! Helpers shared by the server's integration tests.

/// A fresh PostgreSQL database named `name` on the test server, or `None` (said on stderr) without one.
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
