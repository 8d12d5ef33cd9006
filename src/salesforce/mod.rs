//! The Salesforce REST API: `Opportunity` and any sObject, SOQL with paging, upsert by external
//! id, sObject Collections, describe, and the OAuth 2.0 server-to-server flows.
//!
//! - [`Salesforce`]: the client, on `<instance_url>/services/data/vNN.0/`; records are
//!   addressed through the borrowed [`SObject`] handle of their type,
//!   [`sf.opportunities()`](Salesforce::opportunities) or [`sf.sobject(name)`](Salesforce::sobject):
//!   [`create`](SObject::create), [`retrieve`](SObject::retrieve),
//!   [`update`](SObject::update) (conditional with
//!   [`if_unmodified_since`](UpdateRecord::if_unmodified_since)), [`delete`](SObject::delete),
//!   [`upsert`](SObject::upsert), the Collections calls ([`create_many`](SObject::create_many)
//!   and the others) and [`describe`](SObject::describe). The client itself runs
//!   [`query`](Salesforce::query) / [`query_all`](Salesforce::query_all),
//!   [`delete_many`](Salesforce::delete_many),
//!   [`opportunity_stages`](Salesforce::opportunity_stages) and [`limits`](Salesforce::limits).
//! - Token flows: [`ClientCredentialsFlow`], [`JwtBearerFlow`], [`RefreshTokenFlow`] against a
//!   [`SalesforceLogin`] host.
//! - Records: the typed [`Opportunity`] (with [`OpportunityPatch`] for updates and the
//!   [`CoSellFieldNames`] for the co-sell custom fields), or any `Serialize` /
//!   `DeserializeOwned` type for any sObject.
//! - [`soql`]: a query builder whose values are escaped by construction.
//!
//! Errors are the crate's [`Error`](crate::Error), classified the Salesforce way:
//! `REQUEST_LIMIT_EXCEEDED` (403) is a rate limit, `DUPLICATE_VALUE` a conflict,
//! `ENTITY_IS_DELETED` a not-found, `300` on upsert a conflict with code `MULTIPLE_CHOICES`.
//! A `401` drops the token, fetches a fresh one and replays the request once.
//!
//! ```no_run
//! use cosell::salesforce::soql::{Soql, field};
//! use cosell::salesforce::{ClientCredentialsFlow, Opportunity, Salesforce, SalesforceLogin};
//!
//! # async fn run() -> cosell::Result<()> {
//! let flow = ClientCredentialsFlow::new(
//!     SalesforceLogin::new("https://contoso.my.salesforce.com")?,
//!     "3MVG9…consumer-key",
//!     std::env::var("SALESFORCE_CLIENT_SECRET").unwrap_or_default().into(),
//! )?;
//! let sf = Salesforce::builder(flow)
//!     .origin_client_id("cosell")
//!     .build()?;
//! let soql = Soql::select(Opportunity::STANDARD_FIELDS.iter().copied())
//!     .from("Opportunity")
//!     .filter(field("StageName").eq("Prospecting"))
//!     .build()?;
//! let open: Vec<Opportunity> = sf.query(&soql).collect_all().await?;
//! println!("{} open; API usage {:?}", open.len(), sf.last_limit_info());
//! # Ok(()) }
//! ```

mod auth;
mod client;
mod collections;
mod composite;
mod cosell_fields;
pub mod datetime;
mod describe;
mod handle;
mod limits;
mod opportunity;
mod picklist;
mod profile;
mod query;
mod sobject;
pub mod soql;

pub use auth::{
    ClientCredentialsFlow, JwtBearerFlow, JwtBearerFlowBuilder, RefreshTokenFlow,
    RefreshTokenFlowBuilder, SalesforceLogin, issued_at,
};
pub use client::{DEFAULT_API_VERSION, Salesforce, SalesforceBuilder};
pub use collections::{Atomicity, COLLECTION_LIMIT};
pub use composite::{COMPOSITE_LIMIT, CompositeAnswer, Subrequest};
pub use cosell_fields::{CoSellFieldNames, CoSellFields};
pub use describe::{FieldDescribe, FieldType, OpportunityStage, PicklistValue, SObjectDescribe};
pub use handle::SObject;
pub use limits::{AppUsage, LimitInfo, OrgLimit, Usage};
pub use opportunity::{Opportunity, OpportunityPatch};
pub use picklist::MultiSelect;
pub(crate) use profile::daily_allocation_exhausted;
pub use profile::{INVALID_SESSION_ID, MULTIPLE_CHOICES, RECORD_MODIFIED, REQUEST_LIMIT_EXCEEDED};
pub use query::{QueryOptions, query_page};
pub use sobject::{
    RetrieveRecord, SObjectAttributes, SaveError, SaveResult, UpdateRecord, UpsertOutcome,
    is_multiple_matches,
};
