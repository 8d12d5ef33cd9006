//! The Dataverse Web API (Dynamics 365): opportunities and any table.
//!
//! - [`Dataverse`]: the client (base URL `https://<org>.crm.dynamics.com/api/data/v9.2/`,
//!   OData headers on every request, origin marking of writes).
//! - [`Table`]: create, retrieve, update, upsert (primary or alternate key), create-only,
//!   delete and query on any table with any `Serialize` / `DeserializeOwned` record. Calls on
//!   one row are request builders ending in `send()`: `.update(id, &changes).if_match(etag)`,
//!   `.upsert(key, &row).returning(&["opportunityid"])`, `.upsert(key, &row).create_only()`,
//!   `.retrieve(id).select([..]).if_none_match(etag)`, `.delete(id).if_match(etag)`.
//! - [`Opportunity`] / [`OpportunityPatch`]: the typed `opportunity` row and its PATCH body;
//!   [`CoSellFieldNames`]: the co-sell custom columns under each organisation's names.
//! - [`Query`] and [`Filter`]: OData queries with escaped literals, returning a
//!   [`Pager`](crate::paging::Pager).
//! - [`Batch`]: `$batch` with change sets; [`Dataverse::win_opportunity`],
//!   [`Dataverse::lose_opportunity`], [`Dataverse::call_action`]; [`Dataverse::currency_id`];
//!   [`Dataverse::table_metadata`].
//!
//! ```no_run
//! use futures::TryStreamExt;
//! use cosell::auth::StaticToken;
//! use cosell::dataverse::{CoSellFieldNames, Dataverse, Filter, Opportunity, Query};
//!
//! # async fn run() -> cosell::Result<()> {
//! let dataverse = Dataverse::for_org("contoso", StaticToken::new("token"))
//!     .origin_tag("cosell")
//!     .suppress_flows(true)
//!     .build()?;
//! let columns = CoSellFieldNames::default();
//! let query = Query::new()
//!     .select(Opportunity::STANDARD_COLUMNS)
//!     .select(columns.names())
//!     .filter(Filter::eq("statecode", 0).and(Filter::eq(&columns.sync_with_partner_center, true)))
//!     .page_size(200);
//! let mut rows = dataverse.opportunities().query::<Opportunity>(&query).into_stream();
//! while let Some(row) = rows.try_next().await? {
//!     println!("{:?}: {:?}", row.name, row.cosell(&columns)?.referral_id);
//! }
//! # Ok(()) }
//! ```

mod actions;
mod batch;
mod client;
mod cosell;
mod currency;
mod filter;
mod key;
mod metadata;
pub(crate) mod multipart;
mod opportunity;
mod profile;
mod query;
mod table;

pub use actions::OpportunityClose;
pub use batch::{
    Batch, BatchOperation, BatchOutcome, BatchPart, BatchResponse, MAX_BATCH_OPERATIONS,
    read_batch_response,
};
pub use client::{API_VERSION, Dataverse, DataverseBuilder, SUPPRESS_FLOWS_HEADER, WriteOptions};
pub use cosell::{CoSellFieldNames, CoSellFields, CoSellUpdate, format_choices, parse_choices};
pub use filter::{Filter, ODataValue};
pub use key::{EntityReference, KeyValue, RecordKey, bind_name};
pub use metadata::{AlternateKey, ChoiceOption, ColumnMetadata, TableMetadata};
pub use opportunity::{Opportunity, OpportunityPatch, OpportunityState, OpportunityStatus};
pub use profile::DataverseProfile;
pub use query::{FORMATTED_VALUE, MAX_PAGE_SIZE, Query};
pub use table::{
    CreateOnlyRow, CreateRow, CreateRowReturning, RetrieveRow, RetrieveRowIfChanged, RowWrite,
    Table, UpsertKind, UpsertOutcome, UpsertRow, UpsertRowReturning, Upserted,
};
