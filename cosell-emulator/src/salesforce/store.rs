//! The emulated org: object schemas, records, the ids and modification stamps it hands out, and
//! the checks a write goes through.

use std::collections::HashMap;
use std::sync::Arc;

use http::StatusCode;
use jiff::Timestamp;
use jiff::civil::Date;
use rust_decimal::Decimal;
use serde_json::{Map, Value, json};

use crate::clock::EmulatorClock;

use super::FieldType;
use super::datetime;
use super::query::Cursor;
use super::records::Records;

/// One field of an emulated object.
#[derive(Debug, Clone)]
pub(crate) struct FieldSchema {
    pub(crate) name: String,
    pub(crate) label: String,
    pub(crate) kind: FieldType,
    pub(crate) length: Option<u64>,
    pub(crate) precision: Option<u32>,
    pub(crate) scale: Option<u32>,
    pub(crate) required: bool,
    pub(crate) createable: bool,
    pub(crate) updateable: bool,
    pub(crate) external_id: bool,
    /// Whether the field is marked Unique (no two records share a value).
    pub(crate) unique: bool,
    pub(crate) custom: bool,
    pub(crate) picklist: Vec<String>,
    /// A restricted picklist: values outside `picklist` are refused.
    pub(crate) restricted: bool,
    pub(crate) reference_to: Option<String>,
}

impl FieldSchema {
    fn new(name: &str, kind: FieldType) -> Self {
        let length = match kind {
            FieldType::Id | FieldType::Reference => Some(18),
            FieldType::String | FieldType::Picklist | FieldType::MultiPicklist => Some(255),
            FieldType::Url => Some(255),
            FieldType::Email => Some(80),
            FieldType::Phone => Some(40),
            FieldType::TextArea => Some(32_000),
            _ => None,
        };
        let (precision, scale) = match kind {
            FieldType::Currency => (Some(18), Some(2)),
            FieldType::Percent => (Some(3), Some(0)),
            FieldType::Double => (Some(18), Some(2)),
            FieldType::Int => (Some(9), Some(0)),
            _ => (None, None),
        };
        FieldSchema {
            name: name.to_owned(),
            label: label_of(name),
            kind,
            length,
            precision,
            scale,
            required: false,
            createable: true,
            updateable: true,
            external_id: false,
            unique: false,
            custom: name.ends_with("__c"),
            picklist: Vec::new(),
            restricted: false,
            reference_to: None,
        }
    }

    fn length(mut self, length: u64) -> Self {
        self.length = Some(length);
        self
    }

    fn required(mut self) -> Self {
        self.required = true;
        self
    }

    fn read_only(mut self) -> Self {
        self.createable = false;
        self.updateable = false;
        self
    }

    fn unique(mut self) -> Self {
        self.unique = true;
        self
    }

    fn values(mut self, values: &[&str]) -> Self {
        self.picklist = values.iter().map(|v| (*v).to_owned()).collect();
        self
    }

    fn restricted(mut self) -> Self {
        self.restricted = true;
        self
    }

    fn to(mut self, sobject: &str) -> Self {
        self.reference_to = Some(sobject.to_owned());
        self
    }

    /// A custom field added through the control API.
    pub(crate) fn custom(name: &str, kind: FieldType, external_id: bool) -> Self {
        let mut field = FieldSchema::new(name, kind);
        field.external_id = external_id;
        field.custom = true;
        field
    }

    /// Whether values of this field are text in SOQL.
    pub(crate) fn is_text(&self) -> bool {
        matches!(
            self.kind,
            FieldType::Id
                | FieldType::String
                | FieldType::TextArea
                | FieldType::Picklist
                | FieldType::MultiPicklist
                | FieldType::Reference
                | FieldType::Url
                | FieldType::Email
                | FieldType::Phone
        )
    }

    /// Whether values of this field are numbers.
    pub(crate) fn is_number(&self) -> bool {
        matches!(
            self.kind,
            FieldType::Int | FieldType::Double | FieldType::Currency | FieldType::Percent
        )
    }
}

fn label_of(name: &str) -> String {
    let base = name.trim_end_matches("__c").replace('_', " ");
    let base = base.strip_suffix("Id").unwrap_or(&base).to_owned();
    if base.is_empty() {
        name.to_owned()
    } else {
        base
    }
}

/// One emulated object type.
#[derive(Debug, Clone)]
pub(crate) struct ObjectSchema {
    pub(crate) name: String,
    pub(crate) label: String,
    pub(crate) key_prefix: String,
    pub(crate) fields: Vec<FieldSchema>,
}

impl ObjectSchema {
    /// A field by name, compared without regard to case as Salesforce does.
    pub(crate) fn field(&self, name: &str) -> Option<&FieldSchema> {
        self.fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
    }
}

/// The fields every object has.
fn system_fields() -> Vec<FieldSchema> {
    vec![
        FieldSchema::new("Id", FieldType::Id).read_only(),
        FieldSchema::new("IsDeleted", FieldType::Boolean).read_only(),
        FieldSchema::new("CreatedDate", FieldType::DateTime).read_only(),
        FieldSchema::new("LastModifiedDate", FieldType::DateTime).read_only(),
        FieldSchema::new("SystemModstamp", FieldType::DateTime).read_only(),
    ]
}

const CURRENCIES: &[&str] = &["USD", "EUR", "GBP", "JPY", "AUD", "CAD"];

/// The standard opportunity stages: name, probability, forecast category, closed, won.
const STAGES: &[(&str, u32, &str, bool, bool)] = &[
    ("Prospecting", 10, "Pipeline", false, false),
    ("Qualification", 10, "Pipeline", false, false),
    ("Needs Analysis", 20, "Pipeline", false, false),
    ("Value Proposition", 50, "Pipeline", false, false),
    ("Id. Decision Makers", 60, "Pipeline", false, false),
    ("Perception Analysis", 70, "Pipeline", false, false),
    ("Proposal/Price Quote", 75, "Pipeline", false, false),
    ("Negotiation/Review", 90, "Pipeline", false, false),
    ("Closed Won", 100, "Closed", true, true),
    ("Closed Lost", 0, "Omitted", true, false),
];

fn schemas() -> Vec<ObjectSchema> {
    let stage_names: Vec<&str> = STAGES.iter().map(|s| s.0).collect();
    let forecast = ["Pipeline", "Best Case", "Commit", "Closed", "Omitted"];
    let mut opportunity = system_fields();
    opportunity.extend([
        FieldSchema::new("Name", FieldType::String)
            .length(120)
            .required(),
        FieldSchema::new("AccountId", FieldType::Reference).to("Account"),
        FieldSchema::new("ContactId", FieldType::Reference).to("Contact"),
        FieldSchema::new("StageName", FieldType::Picklist)
            .required()
            .values(&stage_names)
            .restricted(),
        FieldSchema::new("CloseDate", FieldType::Date).required(),
        FieldSchema::new("Amount", FieldType::Currency),
        FieldSchema::new("Probability", FieldType::Percent),
        FieldSchema::new("Description", FieldType::TextArea),
        FieldSchema::new("CurrencyIsoCode", FieldType::Picklist)
            .length(3)
            .values(CURRENCIES),
        FieldSchema::new("IsClosed", FieldType::Boolean).read_only(),
        FieldSchema::new("IsWon", FieldType::Boolean).read_only(),
        FieldSchema::new("ForecastCategoryName", FieldType::Picklist).values(&forecast),
        FieldSchema::new("Type", FieldType::Picklist).values(&[
            "New Customer",
            "Existing Customer - Upgrade",
            "Existing Customer - Replacement",
            "Existing Customer - Downgrade",
        ]),
        FieldSchema::new("LeadSource", FieldType::Picklist).values(&[
            "Web",
            "Phone Inquiry",
            "Partner Referral",
            "Purchased List",
            "Other",
        ]),
        FieldSchema::new("NextStep", FieldType::String),
        FieldSchema::new("OwnerId", FieldType::Reference).to("User"),
        // The co-sell custom fields, under the default Salesforce mapping's names.
        FieldSchema::custom("Referral_Id__c", FieldType::String, true).unique(),
        FieldSchema::custom("Referral_Link__c", FieldType::Url, false),
        FieldSchema::custom("Sync_With_Partner_Center__c", FieldType::Boolean, false),
        FieldSchema::custom("Share_With_Microsoft_Sellers__c", FieldType::Boolean, false),
        FieldSchema::custom(
            "Microsoft_Help_Requested__c",
            FieldType::MultiPicklist,
            false,
        )
        // The API values are Partner Center's assistance codes, as the default mapping
        // writes them.
        .values(&[
            "GeneralOrOther",
            "CustomerTechnicalArchitecture",
            "ProofOfConceptOrDemo",
            "QuotesOrLicensing",
            "PostSalesCustomerSuccess",
            "WorkloadSpecificValueProposition",
        ]),
        FieldSchema::custom("Microsoft_Solutions__c", FieldType::TextArea, false),
        FieldSchema::custom("Microsoft_CRM_Id__c", FieldType::String, true),
        FieldSchema::custom("Co_Sell_Audit__c", FieldType::TextArea, false),
    ]);
    let mut account = system_fields();
    account.extend([
        FieldSchema::new("Name", FieldType::String).required(),
        FieldSchema::new("Type", FieldType::Picklist).values(&[
            "Prospect",
            "Customer - Direct",
            "Customer - Channel",
            "Partner",
            "Other",
        ]),
        FieldSchema::new("Industry", FieldType::Picklist).values(&[
            "Education",
            "Finance",
            "Government",
            "Healthcare",
            "Manufacturing",
            "Retail",
            "Technology",
            "Other",
        ]),
        FieldSchema::new("OwnerId", FieldType::Reference).to("User"),
        FieldSchema::new("Website", FieldType::Url),
        FieldSchema::new("Phone", FieldType::Phone),
        FieldSchema::new("BillingStreet", FieldType::TextArea).length(255),
        FieldSchema::new("BillingCity", FieldType::String).length(40),
        FieldSchema::new("BillingState", FieldType::String).length(80),
        FieldSchema::new("BillingPostalCode", FieldType::String).length(20),
        FieldSchema::new("BillingCountry", FieldType::String).length(80),
        FieldSchema::new("Description", FieldType::TextArea),
        FieldSchema::new("CurrencyIsoCode", FieldType::Picklist)
            .length(3)
            .values(CURRENCIES),
        FieldSchema::custom("Microsoft_CRM_Id__c", FieldType::String, true),
    ]);
    let mut contact = system_fields();
    contact.extend([
        FieldSchema::new("AccountId", FieldType::Reference).to("Account"),
        FieldSchema::new("FirstName", FieldType::String).length(40),
        FieldSchema::new("LastName", FieldType::String)
            .length(80)
            .required(),
        FieldSchema::new("Name", FieldType::String)
            .length(121)
            .read_only(),
        FieldSchema::new("Email", FieldType::Email),
        FieldSchema::new("Phone", FieldType::Phone),
        FieldSchema::new("Title", FieldType::String).length(128),
    ]);
    let mut stage = system_fields();
    stage.extend([
        FieldSchema::new("ApiName", FieldType::String).read_only(),
        FieldSchema::new("MasterLabel", FieldType::String).read_only(),
        FieldSchema::new("IsActive", FieldType::Boolean).read_only(),
        FieldSchema::new("IsClosed", FieldType::Boolean).read_only(),
        FieldSchema::new("IsWon", FieldType::Boolean).read_only(),
        FieldSchema::new("DefaultProbability", FieldType::Percent).read_only(),
        FieldSchema::new("ForecastCategoryName", FieldType::Picklist)
            .values(&forecast)
            .read_only(),
        FieldSchema::new("SortOrder", FieldType::Int).read_only(),
        FieldSchema::new("Description", FieldType::String).read_only(),
    ]);
    let mut user = system_fields();
    user.extend([
        FieldSchema::new("Username", FieldType::String)
            .length(80)
            .required(),
        FieldSchema::new("LastName", FieldType::String)
            .length(80)
            .required(),
        FieldSchema::new("FirstName", FieldType::String).length(40),
        FieldSchema::new("Email", FieldType::Email),
        FieldSchema::new("IsActive", FieldType::Boolean),
    ]);
    let object = |name: &str, label: &str, prefix: &str, fields| ObjectSchema {
        name: name.to_owned(),
        label: label.to_owned(),
        key_prefix: prefix.to_owned(),
        fields,
    };
    vec![
        object("Opportunity", "Opportunity", "006", opportunity),
        object("Account", "Account", "001", account),
        object("Contact", "Contact", "003", contact),
        object("OpportunityStage", "Opportunity Stage", "01J", stage),
        object("User", "User", "005", user),
    ]
}

/// One record; `fields` holds canonical field names, the system fields included.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub(crate) sobject: String,
    pub(crate) id: String,
    pub(crate) fields: Map<String, Value>,
    pub(crate) deleted: bool,
}

/// What went wrong with a write, in Salesforce's terms.
#[derive(Debug, Clone)]
pub(crate) struct WriteError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
    pub(crate) fields: Vec<String>,
}

impl WriteError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        WriteError {
            status,
            code,
            message: message.into(),
            fields: Vec::new(),
        }
    }

    pub(crate) fn bad(code: &'static str, message: impl Into<String>) -> Self {
        WriteError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub(crate) fn on(mut self, fields: Vec<String>) -> Self {
        self.fields = fields;
        self
    }

    /// The REST answer's error array.
    pub(crate) fn to_array(&self) -> Value {
        json!([{ "message": self.message, "errorCode": self.code, "fields": self.fields }])
    }

    /// The error object of a Collections save result.
    pub(crate) fn to_save_error(&self) -> Value {
        json!({ "statusCode": self.code, "message": self.message, "fields": self.fields })
    }
}

/// Who writes: the REST API (read-only fields refused, stamps set) or a test seeding data (any
/// field, stamps kept when given).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Writer {
    Api,
    Seed,
}

/// A write through the REST API, with the `Sforce-Call-Options` it carried.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordedWrite {
    /// The operation, as counted in the journal (`create`, `collections.update`, …).
    pub operation: &'static str,
    /// The sObject type written.
    pub sobject: String,
    /// The ids of the records written (created, updated or deleted).
    pub ids: Vec<String>,
    /// The `Sforce-Call-Options` header as sent, if any.
    pub call_options: Option<String>,
}

impl RecordedWrite {
    /// The `client=` value of `Sforce-Call-Options`, which Change Data Capture reports back.
    pub fn client(&self) -> Option<&str> {
        self.call_options.as_deref()?.split(',').find_map(|part| {
            part.trim()
                .strip_prefix("client=")
                .map(str::trim)
                .filter(|c| !c.is_empty())
        })
    }
}

/// Everything the emulated org holds.
#[derive(Debug)]
pub(crate) struct Org {
    pub(crate) schemas: Vec<ObjectSchema>,
    pub(crate) records: Records,
    pub(crate) next_id: u64,
    pub(crate) cursors: HashMap<String, Cursor>,
    pub(crate) next_cursor: u64,
    pub(crate) writes: Vec<RecordedWrite>,
    pub(crate) api_used: u64,
    pub(crate) api_limit: u64,
    /// When the org came to be: the earliest date replication can reach back to.
    pub(crate) created_at: Timestamp,
    clock: Arc<dyn EmulatorClock>,
}

/// The daily API allocation of a fresh emulated org (the published base allocation).
pub(crate) const DEFAULT_DAILY_LIMIT: u64 = 100_000;

impl Org {
    pub(crate) fn new(clock: Arc<dyn EmulatorClock>) -> Self {
        let mut org = Org {
            schemas: schemas(),
            records: Records::default(),
            next_id: 1,
            cursors: HashMap::new(),
            next_cursor: 1,
            writes: Vec::new(),
            api_used: 0,
            api_limit: DEFAULT_DAILY_LIMIT,
            created_at: clock.now(),
            clock,
        };
        // The integration user the API signs in as (first, so it gets the identity's id), and a
        // seller.
        for (username, first, last) in [
            ("integration@emulator.example", "Integration", "User"),
            ("seller@emulator.example", "Sam", "Seller"),
        ] {
            let seeded = org.create(
                "User",
                &json!({"Username": username, "Email": username, "FirstName": first, "LastName": last, "IsActive": true}),
                Writer::Seed,
            );
            debug_assert!(seeded.is_ok(), "{seeded:?}");
        }
        debug_assert!(org.find("User", super::identity::USER_ID).is_some());
        for (order, (name, probability, forecast, closed, won)) in STAGES.iter().enumerate() {
            let seeded = org.create(
                "OpportunityStage",
                &json!({
                    "ApiName": name,
                    "MasterLabel": name,
                    "IsActive": true,
                    "IsClosed": closed,
                    "IsWon": won,
                    "DefaultProbability": probability,
                    "ForecastCategoryName": forecast,
                    "SortOrder": order + 1,
                }),
                Writer::Seed,
            );
            debug_assert!(seeded.is_ok(), "{seeded:?}");
        }
        org
    }
}

/// The 3-character suffix that makes a 15-character id case-insensitively unique.
fn id_suffix(id15: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
    id15.as_bytes()
        .chunks(5)
        .map(|chunk| {
            let bits = chunk
                .iter()
                .enumerate()
                .filter(|(_, b)| b.is_ascii_uppercase())
                .fold(0usize, |acc, (i, _)| acc | (1 << i));
            char::from(ALPHABET[bits])
        })
        .collect()
}

/// The creation number of an id [`Org::new_id`] made (`001Em0000000042…` → 42).
fn id_number(id: &str) -> Option<u64> {
    id.get(3..5)
        .filter(|em| *em == "Em")
        .and_then(|_| id.get(5..15))
        .and_then(|digits| digits.parse().ok())
}

/// Whether two ids name the same record: 15- and 18-character forms, the first 15 compared
/// exactly.
pub(crate) fn same_id(a: &str, b: &str) -> bool {
    let key = |id: &str| id.get(..15).map(str::to_owned);
    matches!((key(a), key(b)), (Some(x), Some(y)) if x == y)
        && (a.len() == 15 || b.len() == 15 || a.eq_ignore_ascii_case(b))
}

impl Org {
    /// An object type by name, without regard to case.
    pub(crate) fn schema(&self, name: &str) -> Option<&ObjectSchema> {
        self.schemas
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name))
    }

    fn new_id(&mut self, prefix: &str) -> String {
        let n = self.next_id;
        self.next_id += 1;
        let id15 = format!("{prefix}Em{n:010}");
        format!("{id15}{}", id_suffix(&id15))
    }

    /// A modification stamp as the platform keeps it: whole seconds (written with `.000`), so
    /// records written in one second share it and a cursor on it must handle ties.
    pub(crate) fn stamp(&self) -> String {
        let now = self.clock.now();
        datetime::format(Timestamp::from_second(now.as_second()).unwrap_or(now))
    }

    /// The index of a record of `sobject` (deleted ones included).
    pub(crate) fn find(&self, sobject: &str, id: &str) -> Option<usize> {
        self.find_any(id)
            .filter(|&i| self.records[i].sobject.eq_ignore_ascii_case(sobject))
    }

    /// The index of a record of any type. Ids are numbered in creation order ([`Self::new_id`])
    /// and records are only ever appended (a rolled-back write restores an earlier list), so
    /// the list is ordered by number and searched by halves; an id not found that way is
    /// looked for one record at a time.
    pub(crate) fn find_any(&self, id: &str) -> Option<usize> {
        let by_number = id_number(id).and_then(|wanted| {
            self.records
                .binary_search_by_key(&Some(wanted), |r| id_number(&r.id))
                .ok()
        });
        by_number
            .filter(|&i| same_id(&self.records[i].id, id))
            .or_else(|| self.records.iter().position(|r| same_id(&r.id, id)))
    }

    /// The live records of `sobject` whose `field` holds `value` (external ids compare without
    /// regard to case).
    pub(crate) fn by_external_id(&self, sobject: &str, field: &str, value: &str) -> Vec<usize> {
        // A text field's records are found through the index; a number's are looked at all.
        let numeric = self
            .schema(sobject)
            .and_then(|schema| schema.field(field))
            .is_none_or(FieldSchema::is_number);
        let positions: Vec<usize> = if numeric {
            (0..self.records.len()).collect()
        } else {
            self.records.holding_text(field, value)
        };
        positions
            .into_iter()
            .map(|i| (i, &self.records[i]))
            .filter(|(_, r)| !r.deleted && r.sobject.eq_ignore_ascii_case(sobject))
            .filter(|(_, r)| match r.fields.get(field) {
                Some(Value::String(s)) => s.eq_ignore_ascii_case(value),
                Some(Value::Number(n)) => n.to_string() == value,
                _ => false,
            })
            .map(|(i, _)| i)
            .collect()
    }

    /// Creates a record and returns its id.
    pub(crate) fn create(
        &mut self,
        sobject: &str,
        body: &Value,
        writer: Writer,
    ) -> Result<String, WriteError> {
        let schema = self
            .schema(sobject)
            .cloned()
            .ok_or_else(|| unknown_type(sobject))?;
        let changes = self.check_fields(&schema, body, writer, true)?;
        let mut fields = Map::new();
        for field in &schema.fields {
            let initial = match field.kind {
                FieldType::Boolean => Value::Bool(false),
                _ => Value::Null,
            };
            fields.insert(field.name.clone(), initial);
        }
        if let Some(currency) = schema.field("CurrencyIsoCode") {
            fields.insert(currency.name.clone(), Value::String("USD".to_owned()));
        }
        // A record is owned by the user who created it unless the body names another owner.
        if schema.field("OwnerId").is_some() {
            fields.insert(
                "OwnerId".to_owned(),
                Value::String(super::identity::USER_ID.to_owned()),
            );
        }
        fields.extend(changes.clone());
        missing_required(&schema, &fields)?;
        self.derive(&schema, &mut fields, &changes)?;
        let id = self.new_id(&schema.key_prefix);
        let stamp = self.stamp();
        fields.insert("Id".to_owned(), Value::String(id.clone()));
        fields.insert("IsDeleted".to_owned(), Value::Bool(false));
        for name in ["CreatedDate", "LastModifiedDate", "SystemModstamp"] {
            if writer == Writer::Api || !changes.contains_key(name) {
                fields.insert(name.to_owned(), Value::String(stamp.clone()));
            }
        }
        self.records.push(Record {
            sobject: schema.name.clone(),
            id: id.clone(),
            fields,
            deleted: false,
        });
        Ok(id)
    }

    /// Updates the record at `index` with the fields of `body`.
    pub(crate) fn update(
        &mut self,
        index: usize,
        body: &Value,
        writer: Writer,
    ) -> Result<(), WriteError> {
        let record = self.records.get(index).cloned().ok_or_else(not_found)?;
        if record.deleted {
            return Err(entity_is_deleted());
        }
        let schema = self
            .schema(&record.sobject)
            .cloned()
            .ok_or_else(|| unknown_type(&record.sobject))?;
        let changes = self.check_fields(&schema, body, writer, false)?;
        let mut fields = record.fields.clone();
        fields.extend(changes.clone());
        missing_required(&schema, &fields)?;
        self.derive(&schema, &mut fields, &changes)?;
        let stamp = self.stamp();
        for name in ["LastModifiedDate", "SystemModstamp"] {
            if writer == Writer::Api || !changes.contains_key(name) {
                fields.insert(name.to_owned(), Value::String(stamp.clone()));
            }
        }
        self.records.change(index, |record| record.fields = fields);
        Ok(())
    }

    /// Moves the record at `index` to the recycle bin.
    pub(crate) fn delete(&mut self, index: usize) -> Result<(), WriteError> {
        let stamp = self.stamp();
        let record = self.records.get(index).ok_or_else(not_found)?;
        if record.deleted {
            return Err(entity_is_deleted());
        }
        self.records.change(index, |record| {
            record.deleted = true;
            record
                .fields
                .insert("IsDeleted".to_owned(), Value::Bool(true));
            record
                .fields
                .insert("SystemModstamp".to_owned(), Value::String(stamp));
        });
        Ok(())
    }

    /// Checks and converts the fields of a write body; returns them under canonical names.
    fn check_fields(
        &self,
        schema: &ObjectSchema,
        body: &Value,
        writer: Writer,
        creating: bool,
    ) -> Result<Map<String, Value>, WriteError> {
        let Value::Object(body) = body else {
            return Err(WriteError::bad(
                "JSON_PARSER_ERROR",
                "The request body must be a JSON object",
            ));
        };
        let mut out = Map::new();
        for (name, value) in body {
            if name.eq_ignore_ascii_case("attributes") {
                continue;
            }
            if name.eq_ignore_ascii_case("Id") && writer == Writer::Api {
                if creating {
                    return Err(WriteError::bad(
                        "INVALID_FIELD",
                        "The Id field should not be specified in the sobject data.",
                    ));
                }
                continue;
            }
            let Some(field) = schema.field(name) else {
                return Err(WriteError::bad(
                    "INVALID_FIELD",
                    format!("No such column '{name}' on sobject of type {}", schema.name),
                )
                .on(vec![name.clone()]));
            };
            let allowed = if creating {
                field.createable
            } else {
                field.updateable
            };
            if writer == Writer::Api && !allowed {
                let verb = if creating { "create" } else { "update" };
                return Err(WriteError::bad(
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    format!(
                        "Unable to {verb} fields: {}. Please check the security settings of this \
                         field and verify that it is read/write for your profile or permission set.",
                        field.name
                    ),
                )
                .on(vec![field.name.clone()]));
            }
            let value = self.convert(field, value)?;
            out.insert(field.name.clone(), value);
        }
        Ok(out)
    }

    /// A JSON value as the field stores it, or the error Salesforce gives for it.
    fn convert(&self, field: &FieldSchema, value: &Value) -> Result<Value, WriteError> {
        let mismatch = || {
            WriteError::bad(
                "JSON_PARSER_ERROR",
                format!(
                    "Cannot deserialize instance of {} from {value} value for field {}",
                    field.kind, field.name
                ),
            )
            .on(vec![field.name.clone()])
        };
        if value.is_null() {
            return Ok(match field.kind {
                FieldType::Boolean => Value::Bool(false),
                _ => Value::Null,
            });
        }
        match &field.kind {
            FieldType::Boolean => value.as_bool().map(Value::Bool).ok_or_else(mismatch),
            FieldType::Int | FieldType::Double | FieldType::Currency | FieldType::Percent => {
                let text = match value {
                    Value::Number(n) => n.to_string(),
                    Value::String(s) => s.trim().to_owned(),
                    _ => return Err(mismatch()),
                };
                let number: Decimal = text.parse().map_err(|_| mismatch())?;
                serde_json::from_str::<Value>(&number.normalize().to_string())
                    .map_err(|_| mismatch())
            }
            FieldType::Date => {
                let text = value.as_str().ok_or_else(mismatch)?;
                let date: Date = text
                    .get(..10)
                    .unwrap_or(text)
                    .parse()
                    .map_err(|_| mismatch())?;
                Ok(Value::String(date.to_string()))
            }
            FieldType::DateTime => {
                let text = value.as_str().ok_or_else(mismatch)?;
                let ts = datetime::parse(text).ok_or_else(mismatch)?;
                Ok(Value::String(datetime::format(ts)))
            }
            _ => {
                let text = match value {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    _ => return Err(mismatch()),
                };
                if let Some(max) = field.length
                    && text.chars().count() as u64 > max
                {
                    return Err(WriteError::bad(
                        "STRING_TOO_LONG",
                        format!(
                            "{}: data value too large: {} (max length={max})",
                            field.label,
                            text.chars().take(40).collect::<String>()
                        ),
                    )
                    .on(vec![field.name.clone()]));
                }
                if field.kind == FieldType::Reference && !text.is_empty() {
                    self.check_reference(field, &text)?;
                }
                Ok(Value::String(text))
            }
        }
    }

    fn check_reference(&self, field: &FieldSchema, id: &str) -> Result<(), WriteError> {
        let target = field.reference_to.as_deref().unwrap_or_default();
        let found = self
            .find(target, id)
            .and_then(|i| self.records.get(i))
            .is_some_and(|r| !r.deleted);
        if found {
            Ok(())
        } else {
            Err(WriteError::bad(
                "INVALID_CROSS_REFERENCE_KEY",
                format!(
                    "{}: id value of incorrect type or not found: {id}",
                    field.label
                ),
            )
            .on(vec![field.name.clone()]))
        }
    }

    /// What the platform computes: an opportunity's stage drives `IsClosed`, `IsWon`, and the
    /// default `Probability` and `ForecastCategoryName`; a contact's `Name` joins its parts.
    fn derive(
        &self,
        schema: &ObjectSchema,
        fields: &mut Map<String, Value>,
        changes: &Map<String, Value>,
    ) -> Result<(), WriteError> {
        match schema.name.as_str() {
            "Opportunity" => {
                let Some(stage_name) = changes.get("StageName").and_then(Value::as_str) else {
                    return Ok(());
                };
                let stage = self
                    .records
                    .iter()
                    .filter(|r| r.sobject == "OpportunityStage" && !r.deleted)
                    .find(|r| {
                        r.fields.get("ApiName").and_then(Value::as_str) == Some(stage_name)
                            || r.fields.get("MasterLabel").and_then(Value::as_str)
                                == Some(stage_name)
                    })
                    .ok_or_else(|| {
                        WriteError::bad(
                            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                            format!("Stage: bad value for restricted picklist field: {stage_name}"),
                        )
                        .on(vec!["StageName".to_owned()])
                    })?;
                for name in ["IsClosed", "IsWon"] {
                    let value = stage
                        .fields
                        .get(name)
                        .cloned()
                        .unwrap_or(Value::Bool(false));
                    fields.insert(name.to_owned(), value);
                }
                if !changes.contains_key("Probability") {
                    let value = stage
                        .fields
                        .get("DefaultProbability")
                        .cloned()
                        .unwrap_or(Value::Null);
                    fields.insert("Probability".to_owned(), value);
                }
                if !changes.contains_key("ForecastCategoryName") {
                    let value = stage
                        .fields
                        .get("ForecastCategoryName")
                        .cloned()
                        .unwrap_or(Value::Null);
                    fields.insert("ForecastCategoryName".to_owned(), value);
                }
            }
            "Contact" => {
                let part = |name: &str| fields.get(name).and_then(Value::as_str).unwrap_or("");
                let name = format!("{} {}", part("FirstName"), part("LastName"))
                    .trim()
                    .to_owned();
                fields.insert("Name".to_owned(), Value::String(name));
            }
            _ => {}
        }
        Ok(())
    }

    /// A record as the REST API shows it: `attributes`, then `fields` (all when `None`);
    /// a relationship path such as `Account.Name` nests the related record, or `null`.
    pub(crate) fn view(&self, record: &Record, fields: Option<&[String]>, version: &str) -> Value {
        let mut out = Map::new();
        out.insert(
            "attributes".to_owned(),
            json!({
                "type": record.sobject,
                "url": format!("/services/data/v{version}/sobjects/{}/{}", record.sobject, record.id),
            }),
        );
        let Some(names) = fields else {
            for (name, value) in &record.fields {
                out.insert(name.clone(), value.clone());
            }
            return Value::Object(out);
        };
        let mut related: Vec<(String, Vec<String>)> = Vec::new();
        for name in names {
            match name.split_once('.') {
                None => {
                    out.insert(
                        name.clone(),
                        record.fields.get(name).cloned().unwrap_or(Value::Null),
                    );
                }
                Some((relationship, rest)) => {
                    match related.iter_mut().find(|(r, _)| r == relationship) {
                        Some((_, tails)) => tails.push(rest.to_owned()),
                        None => related.push((relationship.to_owned(), vec![rest.to_owned()])),
                    }
                }
            }
        }
        for (relationship, tails) in related {
            let nested = match self.follow(record, &relationship) {
                Some(target) => self.view(target, Some(&tails), version),
                None => Value::Null,
            };
            out.insert(relationship, nested);
        }
        Value::Object(out)
    }

    /// The record a relationship (`Account`, `Partner__r`) of `record` points to.
    fn follow(&self, record: &Record, relationship: &str) -> Option<&Record> {
        let schema = self.schema(&record.sobject)?;
        let field = schema.fields.iter().find(|f| {
            super::soql::relationship_name(f).is_some_and(|r| r.eq_ignore_ascii_case(relationship))
        })?;
        let id = record.fields.get(&field.name)?.as_str()?;
        let target = self.records.get(self.find_any(id)?)?;
        (!target.deleted).then_some(target)
    }

    /// The value at a field path (`Name`, `Account.Name`); `null` past a missing link.
    pub(crate) fn path_value(&self, record: &Record, path: &str) -> Value {
        match path.split_once('.') {
            None => record.fields.get(path).cloned().unwrap_or(Value::Null),
            Some((relationship, rest)) => self
                .follow(record, relationship)
                .map_or(Value::Null, |target| self.path_value(target, rest)),
        }
    }
}

fn missing_required(schema: &ObjectSchema, fields: &Map<String, Value>) -> Result<(), WriteError> {
    let missing: Vec<String> = schema
        .fields
        .iter()
        .filter(|f| f.required)
        .filter(|f| match fields.get(&f.name) {
            None | Some(Value::Null) => true,
            Some(Value::String(s)) => s.is_empty(),
            Some(_) => false,
        })
        .map(|f| f.name.clone())
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(WriteError::bad(
            "REQUIRED_FIELD_MISSING",
            format!("Required fields are missing: [{}]", missing.join(", ")),
        )
        .on(missing))
    }
}

pub(crate) fn unknown_type(sobject: &str) -> WriteError {
    WriteError::new(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        format!("The requested resource does not exist: sObject type '{sobject}' is not supported"),
    )
}

pub(crate) fn not_found() -> WriteError {
    WriteError::new(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        "The requested resource does not exist",
    )
}

pub(crate) fn entity_is_deleted() -> WriteError {
    WriteError::new(
        StatusCode::NOT_FOUND,
        "ENTITY_IS_DELETED",
        "entity is deleted",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_18_characters_with_the_case_checksum() {
        let mut org = Org::new(Arc::new(crate::SystemClock));
        let id = org.new_id("006");
        assert_eq!(id.len(), 18);
        assert!(id.starts_with("006Em"));
        // `E` is the only upper-case letter of the first chunk (position 3): bit 3 → `I`.
        assert_eq!(&id[15..], "IAA");
        assert!(same_id(&id, &id[..15]));
        assert!(!same_id(&id, "006Em0000000099IAA"));
    }

    #[test]
    fn stamps_are_whole_seconds_and_tie_within_one() {
        let clock = Arc::new(crate::ManualClock::new(
            "2026-01-01T00:00:00.4Z".parse().unwrap(),
        ));
        let org = Org::new(clock.clone());
        let a = org.stamp();
        clock.advance(jiff::SignedDuration::from_millis(500));
        assert_eq!(org.stamp(), a);
        assert_eq!(a, "2026-01-01T00:00:00.000+0000");
        clock.advance(jiff::SignedDuration::from_millis(100));
        assert_eq!(org.stamp(), "2026-01-01T00:00:01.000+0000");
    }
}
