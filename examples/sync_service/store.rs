//! Opening the sync store the configuration names: a SQLite file by default, PostgreSQL with
//! the `postgres` feature.

use std::sync::Arc;

use cosell::store::SyncStore;

use crate::config::StoreConfig;

/// Why the store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum StoreOpenError {
    /// The store refused to open (a file it cannot create, a newer schema, a database it cannot
    /// reach).
    #[error("cannot open the sync store: {0}")]
    Store(#[from] cosell::store::StoreError),
    /// `store.kind = "postgres"` in a build without the feature.
    #[cfg(not(feature = "postgres"))]
    #[error(
        "store.kind is \"postgres\" but this build has no PostgreSQL support: build with `--features postgres`"
    )]
    PostgresNotBuilt,
}

/// Opens the store `config` names.
///
/// # Errors
/// [`StoreOpenError`].
pub async fn open(config: &StoreConfig) -> Result<Arc<dyn SyncStore>, StoreOpenError> {
    match config {
        StoreConfig::Sqlite { path } => Ok(Arc::new(cosell::store::SqliteStore::open(path)?)),
        #[cfg(feature = "postgres")]
        StoreConfig::Postgres { url, schema } => {
            use secrecy::ExposeSecret;
            Ok(Arc::new(
                cosell::store::PostgresStore::connect(url.expose_secret(), schema).await?,
            ))
        }
        #[cfg(not(feature = "postgres"))]
        StoreConfig::Postgres { .. } => Err(StoreOpenError::PostgresNotBuilt),
    }
}
