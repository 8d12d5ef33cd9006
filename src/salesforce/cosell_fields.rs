//! The co-sell custom fields on a Salesforce `Opportunity`, under names each org chooses.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::picklist::MultiSelect;
use super::soql::check_identifier;
use crate::error::{DecodeError, DecodeOrigin, Error, Result, body_excerpt};

/// The API names of the co-sell custom fields. Every org names them itself; the defaults are
/// the names `cosell`'s default mapping suggests. A field set to `None` is one the org does not
/// have.
///
/// ```
/// use cosell::salesforce::CoSellFieldNames;
///
/// let fields = CoSellFieldNames {
///     referral_id: Some("MSFT_Referral_Id__c".into()),
///     audit_trail: None,
///     ..CoSellFieldNames::default()
/// };
/// fields.validate().unwrap();
/// assert!(fields.names().contains(&"MSFT_Referral_Id__c"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoSellFieldNames {
    /// The Partner Center referral id: text, External ID + Unique (the upsert key).
    pub referral_id: Option<String>,
    /// A link to the referral in Partner Center: URL.
    pub referral_link: Option<String>,
    /// The sync gate: checkbox.
    pub sync_with_partner_center: Option<String>,
    /// Whether Microsoft sellers may see the referral: checkbox.
    pub share_with_microsoft_sellers: Option<String>,
    /// "How can Microsoft help?": multi-select picklist.
    pub help_requested: Option<String>,
    /// Solution ids, one per line: long text.
    pub solutions: Option<String>,
    /// Microsoft's CRM id for the deal: text, read-only for users.
    pub microsoft_crm_id: Option<String>,
    /// The sync's audit trail: long text.
    pub audit_trail: Option<String>,
}

impl Default for CoSellFieldNames {
    fn default() -> Self {
        CoSellFieldNames {
            referral_id: Some("Referral_Id__c".into()),
            referral_link: Some("Referral_Link__c".into()),
            sync_with_partner_center: Some("Sync_With_Partner_Center__c".into()),
            share_with_microsoft_sellers: Some("Share_With_Microsoft_Sellers__c".into()),
            help_requested: Some("Microsoft_Help_Requested__c".into()),
            solutions: Some("Microsoft_Solutions__c".into()),
            microsoft_crm_id: Some("Microsoft_CRM_Id__c".into()),
            audit_trail: Some("Co_Sell_Audit__c".into()),
        }
    }
}

/// The co-sell values of one opportunity; `None` is absent or `null`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CoSellFields {
    /// The Partner Center referral id.
    pub referral_id: Option<String>,
    /// The link to the referral.
    pub referral_link: Option<String>,
    /// The sync gate.
    pub sync_with_partner_center: Option<bool>,
    /// Visible to Microsoft sellers.
    pub share_with_microsoft_sellers: Option<bool>,
    /// The help requested, as picklist API names.
    pub help_requested: Option<MultiSelect>,
    /// Solution ids.
    pub solutions: Option<Vec<String>>,
    /// Microsoft's CRM id.
    pub microsoft_crm_id: Option<String>,
    /// The audit trail text.
    pub audit_trail: Option<String>,
}

impl CoSellFieldNames {
    /// The API names in use, for a `SELECT` or a retrieve field list (as
    /// [`dataverse::CoSellFieldNames::names`](crate::dataverse::CoSellFieldNames::names)).
    pub fn names(&self) -> Vec<&str> {
        self.slots().into_iter().flatten().collect()
    }

    fn slots(&self) -> [Option<&str>; 8] {
        [
            self.referral_id.as_deref(),
            self.referral_link.as_deref(),
            self.sync_with_partner_center.as_deref(),
            self.share_with_microsoft_sellers.as_deref(),
            self.help_requested.as_deref(),
            self.solutions.as_deref(),
            self.microsoft_crm_id.as_deref(),
            self.audit_trail.as_deref(),
        ]
    }

    /// Checks that every name is a Salesforce field name.
    ///
    /// # Errors
    /// [`Error::Validation`] naming the first bad name.
    pub fn validate(&self) -> Result<()> {
        for name in self.names() {
            check_identifier(name).map_err(Error::validation)?;
        }
        Ok(())
    }

    /// Reads the co-sell values from a record's fields.
    ///
    /// # Errors
    /// [`Error::Decode`] naming the field whose value has the wrong type.
    pub fn read(&self, record: &Map<String, Value>) -> Result<CoSellFields> {
        Ok(CoSellFields {
            referral_id: get(record, &self.referral_id)?,
            referral_link: get(record, &self.referral_link)?,
            sync_with_partner_center: get(record, &self.sync_with_partner_center)?,
            share_with_microsoft_sellers: get(record, &self.share_with_microsoft_sellers)?,
            help_requested: get::<MultiSelect>(record, &self.help_requested)?
                .filter(|m| !m.is_empty()),
            solutions: get::<String>(record, &self.solutions)?.map(|text| {
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned)
                    .collect()
            }),
            microsoft_crm_id: get(record, &self.microsoft_crm_id)?,
            audit_trail: get(record, &self.audit_trail)?,
        })
    }

    /// Writes the values that are set into a record's fields; values that are `None` are left
    /// out (to clear a field, put `null` under its name).
    ///
    /// # Errors
    /// [`Error::Validation`] when a value is set for a field this set leaves out.
    pub fn write(&self, values: &CoSellFields, record: &mut Map<String, Value>) -> Result<()> {
        put(
            record,
            &self.referral_id,
            "referral_id",
            &values.referral_id,
        )?;
        put(
            record,
            &self.referral_link,
            "referral_link",
            &values.referral_link,
        )?;
        put(
            record,
            &self.sync_with_partner_center,
            "sync_with_partner_center",
            &values.sync_with_partner_center,
        )?;
        put(
            record,
            &self.share_with_microsoft_sellers,
            "share_with_microsoft_sellers",
            &values.share_with_microsoft_sellers,
        )?;
        put(
            record,
            &self.help_requested,
            "help_requested",
            &values.help_requested,
        )?;
        let solutions = values.solutions.as_ref().map(|ids| ids.join("\n"));
        put(record, &self.solutions, "solutions", &solutions)?;
        put(
            record,
            &self.microsoft_crm_id,
            "microsoft_crm_id",
            &values.microsoft_crm_id,
        )?;
        put(
            record,
            &self.audit_trail,
            "audit_trail",
            &values.audit_trail,
        )
    }
}

fn get<T: DeserializeOwned>(
    record: &Map<String, Value>,
    name: &Option<String>,
) -> Result<Option<T>> {
    let Some(name) = name else {
        return Ok(None);
    };
    match record.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => serde_json::from_value(value.clone())
            .map(Some)
            .map_err(|e| {
                Error::from(DecodeError {
                    path: format!(".{name}"),
                    message: e.to_string(),
                    status: None,
                    request_id: None,
                    body_excerpt: body_excerpt(value.to_string().as_bytes()),
                    origin: DecodeOrigin::Input,
                })
            }),
    }
}

fn put<T: Serialize>(
    record: &mut Map<String, Value>,
    name: &Option<String>,
    what: &str,
    value: &Option<T>,
) -> Result<()> {
    let Some(value) = value else {
        return Ok(());
    };
    let Some(name) = name else {
        return Err(Error::validation(format!(
            "the co-sell field set has no field for `{what}`"
        )));
    };
    let value = serde_json::to_value(value)
        .map_err(|e| Error::validation(format!("`{name}` could not be serialized: {e}")))?;
    record.insert(name.clone(), value);
    Ok(())
}
