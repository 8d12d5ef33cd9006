//! The control API: seed and read rows, act as a CRM user, and read what was written.

use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};
use uuid::Uuid;

use super::error::DvError;
use super::key::RowKey;
use super::query::{self, Preferences};
use super::schema::{Column, ColumnKind, TableDef};
use super::store::{DataverseWrite, State, WriteContext};
use crate::error::{Error, Result};
use crate::lock;

/// Dataverse's emulated state, and a CRM user's side of it.
///
/// Rows read here look as the Web API returns them (`@odata.etag`, `_x_value` lookups,
/// `modifiedon`, `versionnumber`). Edits made here are made as a CRM user: they bump
/// `versionnumber`, `modifiedon` and the ETag like any write, carry no `tag`, and set
/// `_modifiedby_value` to the CRM user.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use serde_json::json;
/// let emulator = cosell_emulator::Emulator::start().await.unwrap();
/// let dataverse = emulator.dataverse();
/// let id = dataverse
///     .seed("opportunities", json!({"name": "Fabrikam renewal", "estimatedvalue": 1000}))
///     .unwrap();
/// let before = dataverse.record("opportunities", id).unwrap();
/// dataverse.flag_for_sync(id).unwrap();
/// let after = dataverse.record("opportunities", id).unwrap();
/// assert_eq!(after["cosell_syncwithpartnercenter"], true);
/// assert_ne!(before["@odata.etag"], after["@odata.etag"]);
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct DataverseControl {
    state: Arc<Mutex<State>>,
    base: String,
}

/// The ids of the rows [`DataverseControl::seed_sample`] added, in the order described there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataverseSample {
    /// Fabrikam, Contoso.
    pub accounts: Vec<Uuid>,
    /// Dana Reyes (Fabrikam), Lee Weber (Contoso).
    pub contacts: Vec<Uuid>,
    /// Fabrikam renewal, Contoso expansion, Fabrikam pilot.
    pub opportunities: Vec<Uuid>,
}

fn to_error(e: DvError) -> Error {
    Error::invalid(format!("{} ({}): {}", e.status, e.code, e.message))
}

fn object(body: Value) -> Result<Map<String, Value>> {
    match body {
        Value::Object(map) => Ok(map),
        _ => Err(Error::invalid("a row is a JSON object")),
    }
}

impl DataverseControl {
    pub(crate) fn new(state: Arc<Mutex<State>>, base: String) -> Self {
        DataverseControl { state, base }
    }

    /// The Web API base URL of the emulated organisation.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Adds a row to `entity_set` as a CRM user and returns its id. Unlike the Web API, seeding
    /// may set columns not valid for create (`statecode`), to start from closed rows. Lookups
    /// are set with `<navigation property>@odata.bind` as on the wire.
    ///
    /// # Errors
    /// [`Error::Invalid`] with the service's status, code and message when the row is not
    /// valid (unknown table or column, wrong type, duplicate alternate key).
    pub fn seed(&self, entity_set: &str, row: Value) -> Result<Uuid> {
        let ctx = WriteContext {
            crm_user: true,
            ..WriteContext::default()
        };
        lock(&self.state)
            .create(entity_set, &object(row)?, &ctx, true)
            .map_err(to_error)
    }

    /// Seeds a small sample organisation and returns the ids: accounts Fabrikam (`F-1000`)
    /// and Contoso (`C-2000`); a contact at each; opportunities "Fabrikam renewal" (open,
    /// USD 125,000, flagged for co-sell sync with referral `REF-0001`), "Contoso expansion"
    /// (open, EUR 50,000, not flagged) and "Fabrikam pilot" (lost, out-sold).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let emulator = cosell_emulator::Emulator::start().await.unwrap();
    /// let sample = emulator.dataverse().seed_sample().unwrap();
    /// assert_eq!(sample.opportunities.len(), 3);
    /// assert_eq!(emulator.dataverse().records("accounts").len(), 2);
    /// # });
    /// ```
    ///
    /// # Errors
    /// [`Error::Invalid`] when the sample rows clash with rows seeded before (the same
    /// account numbers, e-mail addresses or referral id).
    pub fn seed_sample(&self) -> Result<DataverseSample> {
        use serde_json::json;
        let usd = self.currency_id("USD").unwrap_or_default();
        let eur = self.currency_id("EUR").unwrap_or_default();
        let fabrikam = self.seed(
            "accounts",
            json!({"name": "Fabrikam", "accountnumber": "F-1000", "address1_country": "United States"}),
        )?;
        let contoso = self.seed(
            "accounts",
            json!({"name": "Contoso", "accountnumber": "C-2000", "address1_country": "Germany"}),
        )?;
        let dana = self.seed(
            "contacts",
            json!({"firstname": "Dana", "lastname": "Reyes", "emailaddress1": "dana@fabrikam.example",
                   "parentcustomerid_account@odata.bind": format!("/accounts({fabrikam})")}),
        )?;
        let lee = self.seed(
            "contacts",
            json!({"firstname": "Lee", "lastname": "Weber", "emailaddress1": "lee@contoso.example",
                   "parentcustomerid_account@odata.bind": format!("/accounts({contoso})")}),
        )?;
        let renewal = self.seed(
            "opportunities",
            json!({"name": "Fabrikam renewal", "estimatedvalue": 125000, "estimatedclosedate": "2026-09-30",
                   "closeprobability": 60, "cosell_syncwithpartnercenter": true, "cosell_referralid": "REF-0001",
                   "cosell_howcanmicrosofthelp": "1,9",
                   "customerid_account@odata.bind": format!("/accounts({fabrikam})"),
                   "parentcontactid@odata.bind": format!("/contacts({dana})"),
                   "transactioncurrencyid@odata.bind": format!("/transactioncurrencies({usd})")}),
        )?;
        let expansion = self.seed(
            "opportunities",
            json!({"name": "Contoso expansion", "estimatedvalue": 50000, "estimatedclosedate": "2026-12-15",
                   "closeprobability": 30, "cosell_syncwithpartnercenter": false,
                   "customerid_account@odata.bind": format!("/accounts({contoso})"),
                   "parentcontactid@odata.bind": format!("/contacts({lee})"),
                   "transactioncurrencyid@odata.bind": format!("/transactioncurrencies({eur})")}),
        )?;
        let pilot = self.seed(
            "opportunities",
            json!({"name": "Fabrikam pilot", "estimatedvalue": 8000, "statecode": 2, "statuscode": 5,
                   "actualclosedate": "2025-11-01",
                   "customerid_account@odata.bind": format!("/accounts({fabrikam})"),
                   "transactioncurrencyid@odata.bind": format!("/transactioncurrencies({usd})")}),
        )?;
        Ok(DataverseSample {
            accounts: vec![fabrikam, contoso],
            contacts: vec![dana, lee],
            opportunities: vec![renewal, expansion, pilot],
        })
    }

    /// A row as the Web API returns it without `$select`, or `None`.
    pub fn record(&self, entity_set: &str, id: Uuid) -> Option<Value> {
        let state = lock(&self.state);
        let table = state.table(entity_set)?;
        let row = table.row(id)?;
        Some(Value::Object(query::render(
            &table.def,
            row,
            None,
            &Preferences::default(),
            &state,
        )))
    }

    /// Every row of a table, in creation order.
    pub fn records(&self, entity_set: &str) -> Vec<Value> {
        let state = lock(&self.state);
        let Some(table) = state.table(entity_set) else {
            return Vec::new();
        };
        table
            .rows()
            .iter()
            .map(|row| {
                Value::Object(query::render(
                    &table.def,
                    row,
                    None,
                    &Preferences::default(),
                    &state,
                ))
            })
            .collect()
    }

    /// Edits a row as a CRM user would in the app (a PATCH body: columns and
    /// `<nav>@odata.bind`).
    ///
    /// # Errors
    /// [`Error::Invalid`] when the row does not exist or the change is not valid.
    pub fn edit(&self, entity_set: &str, id: Uuid, changes: Value) -> Result<()> {
        let changes = object(changes)?;
        let mut state = lock(&self.state);
        let index = state
            .find(entity_set, &RowKey::Id(id))
            .map_err(to_error)?
            .ok_or_else(|| Error::invalid(format!("{entity_set}({id}) does not exist")))?;
        let ctx = WriteContext {
            crm_user: true,
            ..WriteContext::default()
        };
        state
            .update(entity_set, index, &changes, &ctx)
            .map_err(to_error)
    }

    /// Flags an opportunity for co-sell sync (`cosell_syncwithpartnercenter = true`), as a CRM
    /// user.
    ///
    /// # Errors
    /// As [`edit`](Self::edit).
    pub fn flag_for_sync(&self, opportunity: Uuid) -> Result<()> {
        self.edit(
            "opportunities",
            opportunity,
            serde_json::json!({"cosell_syncwithpartnercenter": true}),
        )
    }

    /// Deletes a row as a CRM user. Returns whether it existed.
    pub fn delete(&self, entity_set: &str, id: Uuid) -> bool {
        let mut state = lock(&self.state);
        let Ok(Some(index)) = state.find(entity_set, &RowKey::Id(id)) else {
            return false;
        };
        let ctx = WriteContext {
            crm_user: true,
            ..WriteContext::default()
        };
        state.delete(entity_set, index, &ctx);
        true
    }

    /// Every write since the emulator started (seeding excluded), in order.
    pub fn writes(&self) -> Vec<DataverseWrite> {
        lock(&self.state).writes.clone()
    }

    /// The `tag` of each write to one row, in order (`None` for untagged writes).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let emulator = cosell_emulator::Emulator::start().await.unwrap();
    /// let dataverse = emulator.dataverse();
    /// let id = dataverse.seed("accounts", serde_json::json!({"name": "Fabrikam"})).unwrap();
    /// dataverse.edit("accounts", id, serde_json::json!({"name": "Fabrikam Inc."})).unwrap();
    /// // Seeding and edits are a CRM user's: untagged.
    /// assert_eq!(dataverse.tags("accounts", id), vec![None, None]);
    /// assert_eq!(dataverse.writes().len(), 2);
    /// # });
    /// ```
    pub fn tags(&self, entity_set: &str, id: Uuid) -> Vec<Option<String>> {
        lock(&self.state)
            .writes
            .iter()
            .filter(|w| w.entity_set == entity_set && w.id == id)
            .map(|w| w.tag.clone())
            .collect()
    }

    /// The id of the seeded (or added) transaction currency with this ISO code.
    pub fn currency_id(&self, iso_code: &str) -> Option<Uuid> {
        let state = lock(&self.state);
        state
            .table("transactioncurrencies")?
            .rows()
            .iter()
            .find_map(|row| {
                row.fields
                    .get("isocurrencycode")
                    .and_then(Value::as_str)
                    .filter(|code| code.eq_ignore_ascii_case(iso_code))
                    .map(|_| row.id)
            })
    }

    /// The CRM user the control API acts as (`_modifiedby_value` of its edits).
    pub fn crm_user_id(&self) -> Uuid {
        super::store::CRM_USER
    }

    /// The application user Web API writes are made as.
    pub fn application_user_id(&self) -> Uuid {
        super::store::APPLICATION_USER
    }

    /// Adds a table: `logical_name` (`cosell_auditentry`), its entity set
    /// (`cosell_auditentries`), its primary name column and other columns. The primary key is
    /// `<logical_name>id`; `createdon`, `modifiedon`, `versionnumber`, `createdby` and
    /// `modifiedby` are added as on every table.
    ///
    /// ```
    /// use cosell_emulator::{ColumnKind, Emulator};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let emulator = Emulator::start().await.unwrap();
    /// let dataverse = emulator.dataverse();
    /// dataverse
    ///     .add_table(
    ///         "cosell_auditentry",
    ///         "cosell_auditentries",
    ///         "cosell_name",
    ///         [("cosell_attempts".to_string(), ColumnKind::Integer)],
    ///     )
    ///     .unwrap();
    /// let id = dataverse
    ///     .seed("cosell_auditentries", serde_json::json!({"cosell_name": "sync", "cosell_attempts": 2}))
    ///     .unwrap();
    /// assert_eq!(dataverse.record("cosell_auditentries", id).unwrap()["cosell_attempts"], 2);
    /// # });
    /// ```
    ///
    /// # Errors
    /// [`Error::Invalid`] when a table with that name or entity set exists.
    pub fn add_table(
        &self,
        logical_name: &str,
        entity_set: &str,
        primary_name: &str,
        columns: impl IntoIterator<Item = (String, ColumnKind)>,
    ) -> Result<()> {
        let mut state = lock(&self.state);
        if state.table(entity_set).is_some() || state.table_by_logical(logical_name).is_some() {
            return Err(Error::invalid(format!(
                "table {logical_name} ({entity_set}) exists"
            )));
        }
        let mut def = TableDef::new(logical_name, entity_set, primary_name);
        for (name, kind) in columns {
            def.columns.push(Column::new(&name, kind));
        }
        state.tables.push(super::store::Table::new(def));
        Ok(())
    }

    /// Adds a column to a table (a customisation).
    ///
    /// # Errors
    /// [`Error::Invalid`] when the table does not exist or already has the column.
    pub fn add_column(&self, entity_set: &str, name: &str, kind: ColumnKind) -> Result<()> {
        let mut state = lock(&self.state);
        let table = state
            .table_mut(entity_set)
            .ok_or_else(|| Error::invalid(format!("no table {entity_set}")))?;
        if table.def.column(name).is_some() {
            return Err(Error::invalid(format!("{entity_set} has a column {name}")));
        }
        table.def.columns.push(Column::new(name, kind));
        Ok(())
    }

    /// Adds an alternate key of these columns (wire names: `_parentaccountid_value` for a
    /// lookup) to a table.
    ///
    /// # Errors
    /// [`Error::Invalid`] when the table or a column does not exist.
    pub fn add_alternate_key(&self, entity_set: &str, columns: &[&str]) -> Result<()> {
        let mut state = lock(&self.state);
        let table = state
            .table_mut(entity_set)
            .ok_or_else(|| Error::invalid(format!("no table {entity_set}")))?;
        if let Some(missing) = columns.iter().find(|c| table.def.by_property(c).is_none()) {
            return Err(Error::invalid(format!(
                "{entity_set} has no column {missing}"
            )));
        }
        table
            .def
            .alternate_keys
            .push(columns.iter().map(|c| (*c).to_owned()).collect());
        Ok(())
    }

    /// Removes the alternate key made of exactly these columns; `false` when there was none.
    ///
    /// # Errors
    /// [`Error::Invalid`] when the table does not exist.
    pub fn remove_alternate_key(&self, entity_set: &str, columns: &[&str]) -> Result<bool> {
        let mut state = lock(&self.state);
        let table = state
            .table_mut(entity_set)
            .ok_or_else(|| Error::invalid(format!("no table {entity_set}")))?;
        let before = table.def.alternate_keys.len();
        table
            .def
            .alternate_keys
            .retain(|key| key.iter().map(String::as_str).ne(columns.iter().copied()));
        Ok(table.def.alternate_keys.len() != before)
    }

    /// Sets the state the metadata reports for an alternate key's index (`EntityKeyIndexStatus`:
    /// `Active` by default; `Pending`, `InProgress` or `Failed` while or after building it).
    ///
    /// # Errors
    /// [`Error::Invalid`] when the table does not exist.
    pub fn set_alternate_key_status(
        &self,
        entity_set: &str,
        columns: &[&str],
        status: &str,
    ) -> Result<()> {
        let mut state = lock(&self.state);
        let table = state
            .table_mut(entity_set)
            .ok_or_else(|| Error::invalid(format!("no table {entity_set}")))?;
        let key: Vec<String> = columns.iter().map(|c| (*c).to_owned()).collect();
        table.def.key_status.retain(|(known, _)| *known != key);
        if status != "Active" {
            table.def.key_status.push((key, status.to_owned()));
        }
        Ok(())
    }
}
