//! The PostgreSQL database of the store tests, and a schema of a test's own in it.

#![allow(dead_code)]

/// The PostgreSQL test database named by `COSELL_TEST_DATABASE_URL`, or `None` (with a note)
/// where the tests cannot run; under CI (`CI` set) a missing URL fails.
pub fn database_url(test: &str) -> Option<String> {
    const VARIABLE: &str = "COSELL_TEST_DATABASE_URL";
    match std::env::var(VARIABLE) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!("{VARIABLE} is not set: CI must run the PostgreSQL tests")
        }
        _ => {
            eprintln!("skipped {test}: set {VARIABLE} to run the PostgreSQL store tests");
            None
        }
    }
}

/// A schema of the test's own, dropped when the guard goes.
pub struct Schema {
    pub url: String,
    pub name: String,
}

impl Schema {
    pub fn new(url: &str, test: &str) -> Schema {
        let name = format!("cosell_test_{}_{}", test, uuid::Uuid::new_v4().simple());
        Schema {
            url: url.to_owned(),
            name,
        }
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let (url, name) = (self.url.clone(), self.name.clone());
        // Dropping runs on its own thread and runtime: the test's runtime may be gone.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                    .await
                    .ok()?;
                tokio::spawn(connection);
                client
                    .batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                    .await
                    .ok()
            })
        })
        .join();
    }
}
