//! The canonical co-sell model: a [`Schema`] of canonical fields compiled once, and compact
//! [`Record`]s of typed [`Value`]s in schema order, so that comparing two records is a walk over
//! two rows.
//!
//! Each field carries what the diff engine ([`crate::diff`]) needs: its [`Direction`], its
//! conflict [`Policy`] and its [`Normalization`], applied by [`Schema::normalize`] before values
//! are compared or hashed. [`Schema::cosell`] is the default co-sell schema; [`fields`] names its
//! field ids.
//!
//! ```
//! use cosell::mapping::{fields, Schema, Value};
//! use rust_decimal::Decimal;
//!
//! let schema = Schema::cosell();
//! let mut record = schema.record();
//! record.set(fields::DEAL_NAME, Value::text("  Contoso – Azure migration "));
//! record.set(fields::DEAL_VALUE, Value::Decimal(Decimal::new(2_500_0049, 4)));
//! record.set(fields::CLOSE_DATE, Value::DateTime("2022-03-24T18:30:00Z".parse().unwrap()));
//! schema.normalize(&mut record)?;
//!
//! assert_eq!(record.get(fields::DEAL_NAME).as_text(), Some("Contoso – Azure migration"));
//! assert_eq!(record.get(fields::DEAL_VALUE).as_decimal().unwrap().to_string(), "2500.00");
//! assert_eq!(record.get(fields::CLOSE_DATE).as_date().unwrap().to_string(), "2022-03-25");
//! # Ok::<(), cosell::mapping::NormalizeError>(())
//! ```

mod cosell;
mod declarative;
mod defaults;
mod error;
mod normalize;
mod patch;
mod path;
mod plan;
mod policy;
mod record;
mod resolve;
mod schema;
mod transform;
mod validate;
mod value;
mod wire;

pub use cosell::{COSELL_SCHEMA_VERSION, fields};
pub use declarative::{
    CrmEntity, DeclarativeMapping, FieldRule, MappingBuilder, Relation, StatusRules, status,
};
pub use defaults::{
    REFERRAL_LINK_TEMPLATE, dynamics365, dynamics365_with, salesforce, salesforce_stages,
    salesforce_with,
};
pub use error::{HoldReason, MappingError, MappingIssue, MissingValue};
pub use normalize::{
    DateRule, KindMismatch, Normalization, Normalized, nearest_utc_midnight, round_to_scale,
    truncate_chars, utc_midnight,
};
pub use path::WirePath;
pub use plan::{
    CrmReadFields, CrmWrite, CrmWriteContext, FieldMapping, PartnerCenterCreate,
    PartnerCenterWrite, Projection, StateChange, audit_trail_with, changes_of,
};
pub use policy::{Direction, Policy, Side};
pub use record::Record;
pub use resolve::{
    AccountCandidate, AccountResolver, ContactQuery, ContactResolver, CurrencyResolver,
    CustomerQuery, EmailContactMatch, ExactAccountMatch, Lookup, LookupTarget, Resolution,
};
pub use schema::{
    FieldId, FieldSpec, NormalizeError, Schema, SchemaBuilder, SchemaError, Truncation,
};
pub use transform::{Transform, ValueMap};
pub use validate::{ValidationProblem, validate_dataverse, validate_salesforce};
pub use value::{ChoiceSet, Value, ValueKind};
pub use wire::{dataverse_json, referral_json, salesforce_json};

#[cfg(test)]
mod tests {
    use super::Schema;

    #[test]
    fn default_schema_passes_the_builder_checks() {
        let checked = Schema::cosell_builder().build().unwrap();
        assert_eq!(checked.len(), Schema::cosell().len());
    }
}
