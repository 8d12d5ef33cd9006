//! The emulated organisation's rows, and every write to them: validation of the body,
//! lookups (`@odata.bind`), alternate-key uniqueness, and the stamps the service maintains
//! (`createdon`, `modifiedon`, `versionnumber`, `createdby`, `modifiedby`).

use std::collections::BTreeMap;
use std::sync::Arc;

use http::StatusCode;
use jiff::Timestamp;
use jiff::civil::Date;
use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::clock::EmulatorClock;

use super::error::{
    BAD_PAYLOAD, DvError, DvResult, INVALID_ARGUMENT, ODATA_ERROR, STRING_TOO_LONG,
};
use super::filter::{Literal, key_equals};
use super::index::RowIndex;
use super::key::{RowKey, parse_key_segment};
use super::schema::{Column, ColumnKind, TableDef, seeded_tables};

/// The application user the API's writes are made as (the app registration's user).
pub(crate) const APPLICATION_USER: Uuid =
    Uuid::from_u128(0x0a9b_0000_0000_4000_8000_0000_0000_0001);
/// The CRM user the control API acts as.
pub(crate) const CRM_USER: Uuid = Uuid::from_u128(0x0c12_0000_0000_4000_8000_0000_0000_0002);
/// The organisation's root business unit.
pub(crate) const BUSINESS_UNIT: Uuid = Uuid::from_u128(0xb0b0_0000_0000_4000_8000_0000_0000_0003);
/// The organisation.
pub(crate) const ORGANIZATION: Uuid = Uuid::from_u128(0x0a90_0000_0000_4000_8000_0000_0000_0004);
/// The seeded US dollar currency (the organisation's base currency).
pub(crate) const USD: Uuid = Uuid::from_u128(0x7d9d_8c3b_0000_4d9b_8a55_0000_0000_0001);
/// The seeded euro currency.
pub(crate) const EUR: Uuid = Uuid::from_u128(0x7d9d_8c3b_0000_4d9b_8a55_0000_0000_0002);

/// One row.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub(crate) id: Uuid,
    /// Properties as on the wire (`name`, `_parentaccountid_value`), primary key excluded.
    pub(crate) fields: Map<String, Value>,
    /// The table (logical name) each set lookup property points at.
    pub(crate) targets: BTreeMap<String, String>,
    pub(crate) version: u64,
}

impl Row {
    pub(crate) fn etag(&self) -> String {
        format!("W/\"{}\"", self.version)
    }
}

/// One table and its rows, in creation order. Rows are added, replaced and removed only
/// through its methods, which keep the index.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    pub(crate) def: TableDef,
    rows: Vec<Row>,
    index: RowIndex,
}

impl Table {
    pub(crate) fn new(def: TableDef) -> Self {
        Table {
            def,
            rows: Vec::new(),
            index: RowIndex::default(),
        }
    }

    /// The rows, in creation order.
    pub(crate) fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// The position of the row with this id.
    pub(crate) fn position(&self, id: Uuid) -> Option<usize> {
        self.index.position(id)
    }

    /// The row with this id.
    pub(crate) fn row(&self, id: Uuid) -> Option<&Row> {
        self.position(id).map(|i| &self.rows[i])
    }

    /// The row whose id is spelled `text`.
    pub(crate) fn row_by_text(&self, text: &str) -> Option<&Row> {
        Uuid::parse_str(text).ok().and_then(|id| self.row(id))
    }

    pub(crate) fn index(&self) -> &RowIndex {
        &self.index
    }

    fn push(&mut self, row: Row) {
        self.index.add(&row, self.rows.len());
        self.rows.push(row);
    }

    fn replace(&mut self, position: usize, row: Row) {
        if let Some(slot) = self.rows.get_mut(position) {
            self.index.replace(slot, &row);
            *slot = row;
        }
    }

    fn remove(&mut self, position: usize) -> Option<Row> {
        if position >= self.rows.len() {
            return None;
        }
        let row = self.rows.remove(position);
        self.index = RowIndex::rebuild(&self.rows);
        Some(row)
    }
}

/// Who made a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum DataverseWriteSource {
    /// A client of the Web API (the application user).
    Api,
    /// A CRM user, through the control API.
    CrmUser,
}

/// One write to the emulated organisation, as a plug-in would see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DataverseWrite {
    /// The table's entity set (`opportunities`).
    pub entity_set: String,
    /// The row.
    pub id: Uuid,
    /// `create`, `update`, `delete`, `win` or `lose`.
    pub operation: &'static str,
    /// The `tag` query parameter of the write (`SharedVariables["tag"]`).
    pub tag: Option<String>,
    /// Whether the write carried `MSCRM.SuppressCallbackRegistrationExpanderJob: true`.
    pub flows_suppressed: bool,
    /// Who wrote.
    pub source: DataverseWriteSource,
    /// The row's `versionnumber` after the write (0 for a delete).
    pub version: u64,
}

/// How a write was asked for.
#[derive(Debug, Clone, Default)]
pub(crate) struct WriteContext {
    pub(crate) tag: Option<String>,
    pub(crate) flows_suppressed: bool,
    pub(crate) crm_user: bool,
    /// Content-ID → entity path (`accounts(<guid>)`) inside a `$batch` change set.
    pub(crate) content_ids: BTreeMap<String, String>,
}

impl WriteContext {
    fn user(&self) -> Uuid {
        if self.crm_user {
            CRM_USER
        } else {
            APPLICATION_USER
        }
    }

    fn source(&self) -> DataverseWriteSource {
        if self.crm_user {
            DataverseWriteSource::CrmUser
        } else {
            DataverseWriteSource::Api
        }
    }
}

/// The whole organisation.
#[derive(Debug, Clone)]
pub(crate) struct State {
    pub(crate) tables: Vec<Table>,
    pub(crate) version: u64,
    pub(crate) writes: Vec<DataverseWrite>,
    pub(crate) clock: Arc<dyn EmulatorClock>,
}

/// Stamps are whole seconds, as the service keeps them: rows written in one second share a
/// `modifiedon`.
fn whole_second(now: Timestamp) -> String {
    Timestamp::from_second(now.as_second())
        .unwrap_or(now)
        .to_string()
}

impl State {
    pub(crate) fn seeded(clock: Arc<dyn EmulatorClock>) -> Self {
        let mut state = State {
            tables: seeded_tables().into_iter().map(Table::new).collect(),
            version: 1_000_000,
            writes: Vec::new(),
            clock,
        };
        state.seed_rows();
        state.writes.clear();
        state
    }

    fn seed_rows(&mut self) {
        let system = WriteContext {
            crm_user: true,
            ..WriteContext::default()
        };
        let seeds: Vec<(&str, Value)> = vec![
            (
                "systemusers",
                serde_json::json!({"systemuserid": APPLICATION_USER, "fullname": "# cosell", "domainname": "cosell-app@emulator.onmicrosoft.com"}),
            ),
            (
                "systemusers",
                serde_json::json!({"systemuserid": CRM_USER, "fullname": "Casey Seller", "domainname": "casey@emulator.onmicrosoft.com"}),
            ),
            (
                "transactioncurrencies",
                serde_json::json!({"transactioncurrencyid": USD, "currencyname": "US Dollar", "isocurrencycode": "USD", "currencysymbol": "$", "exchangerate": 1.0, "currencyprecision": 2}),
            ),
            (
                "transactioncurrencies",
                serde_json::json!({"transactioncurrencyid": EUR, "currencyname": "Euro", "isocurrencycode": "EUR", "currencysymbol": "€", "exchangerate": 0.92, "currencyprecision": 2}),
            ),
        ];
        for (set, body) in seeds {
            if let Value::Object(body) = body {
                // The seed rows are valid by construction.
                let _ = self.create(set, &body, &system, true);
            }
        }
    }

    pub(crate) fn now_stamp(&self) -> String {
        whole_second(self.clock.now())
    }

    pub(crate) fn table(&self, entity_set: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.def.entity_set == entity_set)
    }

    pub(crate) fn table_mut(&mut self, entity_set: &str) -> Option<&mut Table> {
        self.tables
            .iter_mut()
            .find(|t| t.def.entity_set == entity_set)
    }

    pub(crate) fn table_by_logical(&self, logical_name: &str) -> Option<&Table> {
        self.tables
            .iter()
            .find(|t| t.def.logical_name == logical_name)
    }

    pub(crate) fn require_table(&self, entity_set: &str) -> DvResult<&Table> {
        self.table(entity_set)
            .ok_or_else(|| DvError::no_segment(entity_set))
    }

    /// The row a key addresses, if any.
    pub(crate) fn find(&self, entity_set: &str, key: &RowKey) -> DvResult<Option<usize>> {
        let table = self.require_table(entity_set)?;
        match key {
            RowKey::Id(id) => Ok(table.position(*id)),
            RowKey::Alternate(columns)
                if columns.len() == 1 && columns[0].0 == table.def.primary_id =>
            {
                match &columns[0].1 {
                    Literal::Guid(id) => Ok(table.position(*id)),
                    _ => Err(invalid_key(&table.def)),
                }
            }
            RowKey::Alternate(columns) => {
                let mut wanted: Vec<&str> = columns.iter().map(|(c, _)| c.as_str()).collect();
                wanted.sort_unstable();
                let defined = table.def.alternate_keys.iter().any(|key| {
                    let mut key: Vec<&str> = key.iter().map(String::as_str).collect();
                    key.sort_unstable();
                    key == wanted
                });
                if !defined {
                    return Err(invalid_key(&table.def));
                }
                let matches = |row: &Row| {
                    columns.iter().all(|(column, literal)| {
                        let kind = table.def.by_property(column).map(|c| &c.kind);
                        let value = row.fields.get(column).unwrap_or(&Value::Null);
                        kind.is_some_and(|k| key_equals(k, value, literal))
                    })
                };
                let indexed = columns.iter().find_map(|(column, literal)| {
                    let kind = &table.def.by_property(column)?.kind;
                    let literal = super::filter::coerce_for(kind, literal).ok()?;
                    table.index().equal_text(column, &literal)
                });
                Ok(match indexed {
                    Some(mut positions) => {
                        positions.sort_unstable();
                        positions.into_iter().find(|&i| matches(&table.rows[i]))
                    }
                    None => table.rows.iter().position(matches),
                })
            }
        }
    }

    fn next_version(&mut self) -> u64 {
        self.version += 1;
        self.version
    }

    fn record(
        &mut self,
        entity_set: &str,
        id: Uuid,
        operation: &'static str,
        version: u64,
        ctx: &WriteContext,
    ) {
        self.writes.push(DataverseWrite {
            entity_set: entity_set.to_owned(),
            id,
            operation,
            tag: ctx.tag.clone(),
            flows_suppressed: ctx.flows_suppressed,
            source: ctx.source(),
            version,
        });
    }

    /// Creates a row. `seeding` allows columns not valid for create (`statecode`).
    pub(crate) fn create(
        &mut self,
        entity_set: &str,
        body: &Map<String, Value>,
        ctx: &WriteContext,
        seeding: bool,
    ) -> DvResult<Uuid> {
        let def = self.require_table(entity_set)?.def.clone();
        let mut row = Row {
            id: Uuid::new_v4(),
            fields: Map::new(),
            targets: BTreeMap::new(),
            version: 0,
        };
        if let Some(id) = body.get(&def.primary_id) {
            row.id = id
                .as_str()
                .and_then(|s| Uuid::parse_str(s).ok())
                .ok_or_else(|| cannot_convert(id, "Edm.Guid"))?;
        }
        if self
            .table(entity_set)
            .is_some_and(|t| t.position(row.id).is_some())
        {
            return Err(DvError::new(
                StatusCode::PRECONDITION_FAILED,
                super::error::DUPLICATE_RECORD,
                "Cannot insert duplicate key.",
            ));
        }
        self.apply_body(&def, &mut row, body, ctx, true, seeding)?;
        if def.has_state() {
            let state = row
                .fields
                .get("statecode")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            row.fields.insert("statecode".into(), state.into());
            if row.fields.get("statuscode").is_none_or(Value::is_null) {
                let status = default_status(&def, state).map_or(Value::Null, Value::from);
                row.fields.insert("statuscode".into(), status);
            }
            check_status(&def, &row)?;
        }
        if def.column("ownerid").is_some() && !row.fields.contains_key("_ownerid_value") {
            set_lookup(&mut row, "_ownerid_value", ctx.user(), "systemuser");
        }
        set_lookup(&mut row, "_createdby_value", ctx.user(), "systemuser");
        let now = self.now_stamp();
        row.fields.insert("createdon".into(), now.clone().into());
        self.stamp(&def, &mut row, ctx, now);
        self.check_keys(&def, &row)?;
        let (id, version) = (row.id, row.version);
        if let Some(table) = self.table_mut(entity_set) {
            table.push(row);
        }
        self.record(entity_set, id, "create", version, ctx);
        Ok(id)
    }

    /// Updates the row at `index` with a PATCH body.
    pub(crate) fn update(
        &mut self,
        entity_set: &str,
        index: usize,
        body: &Map<String, Value>,
        ctx: &WriteContext,
    ) -> DvResult<()> {
        let def = self.require_table(entity_set)?.def.clone();
        let Some(mut row) = self
            .table(entity_set)
            .and_then(|t| t.rows.get(index))
            .cloned()
        else {
            return Err(DvError::no_segment(entity_set));
        };
        let before_state = row.fields.get("statecode").and_then(Value::as_i64);
        self.apply_body(&def, &mut row, body, ctx, false, false)?;
        if def.has_state() {
            let state = row.fields.get("statecode").and_then(Value::as_i64);
            if state != before_state {
                if def.logical_name == "opportunity" && matches!(state, Some(1 | 2)) {
                    return Err(DvError::bad_request(
                        INVALID_ARGUMENT,
                        "This message can not be used to set the state of opportunity to Won or \
                         Lost. In order to set state of opportunity to Won or Lost use the \
                         WinOpportunity or LoseOpportunity message.",
                    ));
                }
                if !body.contains_key("statuscode") {
                    let status = state
                        .and_then(|s| default_status(&def, s))
                        .map_or(Value::Null, Value::from);
                    row.fields.insert("statuscode".into(), status);
                }
            }
            check_status(&def, &row)?;
        }
        self.stamp(&def, &mut row, ctx, self.now_stamp());
        self.check_keys(&def, &row)?;
        let (id, version) = (row.id, row.version);
        if let Some(table) = self.table_mut(entity_set) {
            table.replace(index, row);
        }
        self.record(entity_set, id, "update", version, ctx);
        Ok(())
    }

    /// Sets the state of an opportunity (the close actions), as a write.
    pub(crate) fn close(
        &mut self,
        entity_set: &str,
        index: usize,
        changes: Map<String, Value>,
        operation: &'static str,
        ctx: &WriteContext,
    ) {
        let Some(def) = self.table(entity_set).map(|t| t.def.clone()) else {
            return;
        };
        let Some(mut row) = self
            .table(entity_set)
            .and_then(|t| t.rows.get(index))
            .cloned()
        else {
            return;
        };
        row.fields.extend(changes);
        self.stamp(&def, &mut row, ctx, self.now_stamp());
        let (id, version) = (row.id, row.version);
        if let Some(table) = self.table_mut(entity_set) {
            table.replace(index, row);
        }
        self.record(entity_set, id, operation, version, ctx);
    }

    pub(crate) fn delete(&mut self, entity_set: &str, index: usize, ctx: &WriteContext) {
        let removed = self.table_mut(entity_set).and_then(|t| t.remove(index));
        if let Some(row) = removed {
            self.record(entity_set, row.id, "delete", 0, ctx);
        }
    }

    fn stamp(&mut self, def: &TableDef, row: &mut Row, ctx: &WriteContext, now: String) {
        if def.logical_name == "contact" {
            let part = |name: &str| {
                row.fields
                    .get(name)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            let full = format!("{} {}", part("firstname"), part("lastname"));
            row.fields.insert("fullname".into(), full.trim().into());
        }
        row.version = self.next_version();
        row.fields.insert("modifiedon".into(), now.into());
        row.fields
            .insert("versionnumber".into(), row.version.into());
        set_lookup(row, "_modifiedby_value", ctx.user(), "systemuser");
    }

    /// Alternate keys stay unique.
    fn check_keys(&self, def: &TableDef, row: &Row) -> DvResult<()> {
        let Some(table) = self.table(&def.entity_set) else {
            return Ok(());
        };
        for key in &def.alternate_keys {
            let values: Vec<&Value> = key
                .iter()
                .map(|c| row.fields.get(c).unwrap_or(&Value::Null))
                .collect();
            if values.iter().any(|v| v.is_null()) {
                continue;
            }
            let clashes = |other: &Row| {
                other.id != row.id
                    && key.iter().zip(&values).all(|(column, value)| {
                        let theirs = other.fields.get(column).unwrap_or(&Value::Null);
                        match (theirs, value) {
                            (Value::String(a), Value::String(b)) => a.eq_ignore_ascii_case(b),
                            (a, b) => a == *b,
                        }
                    })
            };
            // A string column of the key narrows the rows to those holding that text.
            let indexed = key.iter().zip(&values).find_map(|(column, value)| {
                let text = value.as_str()?;
                table
                    .index()
                    .equal_text(column, &Literal::Text(text.to_owned()))
            });
            let clash = match indexed {
                Some(positions) => positions.into_iter().any(|i| clashes(&table.rows[i])),
                None => table.rows.iter().any(clashes),
            };
            if clash {
                return Err(DvError::duplicate_key(&def.logical_name));
            }
        }
        Ok(())
    }

    /// Applies a request body's properties to a row, checking each against its column.
    fn apply_body(
        &self,
        def: &TableDef,
        row: &mut Row,
        body: &Map<String, Value>,
        ctx: &WriteContext,
        creating: bool,
        seeding: bool,
    ) -> DvResult<()> {
        for (name, value) in body {
            if let Some(nav) = name.strip_suffix("@odata.bind") {
                let (column, _) = def
                    .navigation(nav)
                    .ok_or_else(|| invalid_property(name, def))?;
                let column = column.clone();
                match value {
                    Value::Null => clear_lookup(row, &column),
                    Value::String(path) => {
                        let (target, id) = self.resolve_bind(def, nav, path, ctx)?;
                        clear_lookup(row, &column);
                        set_lookup(row, &column.property(), id, &target);
                    }
                    other => return Err(cannot_convert(other, "Edm.String")),
                }
                continue;
            }
            if name.contains('@') {
                // Annotations (`@odata.etag`, formatted values) are ignored on write.
                continue;
            }
            if *name == def.primary_id {
                if !creating && value.as_str() != Some(row.id.to_string().as_str()) {
                    return Err(DvError::bad_request(
                        INVALID_ARGUMENT,
                        format!("The primary key '{name}' cannot be changed."),
                    ));
                }
                continue;
            }
            // Clearing a lookup by its navigation property.
            if let Some((column, _)) = def.navigation(name) {
                if value.is_null() {
                    let column = column.clone();
                    clear_lookup(row, &column);
                    continue;
                }
                return Err(invalid_property(name, def));
            }
            let column = def
                .column(name)
                .filter(|c| !matches!(c.kind, ColumnKind::Lookup(_)))
                .ok_or_else(|| invalid_property(name, def))?;
            if column.system {
                // Maintained by the service; a client's value is ignored.
                continue;
            }
            if creating && !column.valid_for_create && !seeding {
                return Err(DvError::bad_request(
                    INVALID_ARGUMENT,
                    format!(
                        "The '{name}' attribute is not valid for create. Create the \
                         {} first, then change its state.",
                        def.logical_name
                    ),
                ));
            }
            if !creating && !column.valid_for_update {
                return Err(DvError::bad_request(
                    INVALID_ARGUMENT,
                    format!("The '{name}' attribute is not valid for update."),
                ));
            }
            let checked = check_value(def, column, value)?;
            row.fields.insert(name.clone(), checked);
        }
        if def.column("transactioncurrencyid").is_some()
            && !row.fields.contains_key("_transactioncurrencyid_value")
            && def.columns.iter().any(|c| {
                c.kind == ColumnKind::Money && row.fields.get(&c.name).is_some_and(|v| !v.is_null())
            })
        {
            // The organisation's base currency when none is given.
            set_lookup(
                row,
                "_transactioncurrencyid_value",
                USD,
                "transactioncurrency",
            );
        }
        Ok(())
    }

    /// The row a bind path (`/accounts(<guid>)`, an absolute URL, `$1`) names.
    fn resolve_bind(
        &self,
        def: &TableDef,
        nav: &str,
        path: &str,
        ctx: &WriteContext,
    ) -> DvResult<(String, Uuid)> {
        let path = match ctx.content_ids.get(path.trim_start_matches('$')) {
            Some(resolved) if path.starts_with('$') => resolved.clone(),
            _ => path.to_owned(),
        };
        let segment = path.rsplit('/').next().unwrap_or_default().to_owned();
        let bad = || {
            DvError::bad_request(
                ODATA_ERROR,
                format!("The '{nav}@odata.bind' value '{path}' is not a valid entity reference."),
            )
        };
        let (set, key) = parse_key_segment(&segment).ok_or_else(bad)?;
        let allowed = def.navigation(nav).is_some_and(|(_, target)| target == set);
        if !allowed {
            return Err(bad());
        }
        let table = self.require_table(&set)?;
        let index = self.find(&set, &key)?;
        match index.and_then(|i| table.rows.get(i)) {
            Some(row) => Ok((table.def.logical_name.clone(), row.id)),
            None => Err(DvError::not_found(&table.def.logical_name, key)),
        }
    }
}

fn set_lookup(row: &mut Row, property: &str, id: Uuid, target: &str) {
    row.fields
        .insert(property.to_owned(), id.to_string().into());
    row.targets.insert(property.to_owned(), target.to_owned());
}

fn clear_lookup(row: &mut Row, column: &Column) {
    let property = column.property();
    row.fields.insert(property.clone(), Value::Null);
    row.targets.remove(&property);
}

fn default_status(def: &TableDef, state: i64) -> Option<i64> {
    match def.column("statuscode").map(|c| &c.kind) {
        Some(ColumnKind::Status(statuses)) => statuses
            .iter()
            .find(|(_, _, s)| i64::from(*s) == state)
            .map(|(v, _, _)| i64::from(*v)),
        _ => None,
    }
}

/// A status reason must belong to the row's state.
fn check_status(def: &TableDef, row: &Row) -> DvResult<()> {
    let state = row.fields.get("statecode").and_then(Value::as_i64);
    let status = row.fields.get("statuscode").and_then(Value::as_i64);
    if let (Some(state), Some(status), Some(ColumnKind::Status(statuses))) =
        (state, status, def.column("statuscode").map(|c| &c.kind))
    {
        let fits = statuses
            .iter()
            .any(|(v, _, s)| i64::from(*v) == status && i64::from(*s) == state);
        if !fits {
            return Err(DvError::bad_request(
                INVALID_ARGUMENT,
                format!(
                    "{status} is not a valid status code for state code {}State.{state} on {} \
                     with Id {}.",
                    def.logical_name, def.logical_name, row.id
                ),
            ));
        }
    }
    Ok(())
}

fn invalid_property(name: &str, def: &TableDef) -> DvError {
    DvError::bad_request(
        ODATA_ERROR,
        format!(
            "An undeclared property '{name}' which only has property annotations in the payload \
             but no property value was found in the payload. In OData, only declared navigation \
             properties and declared named streams can be represented as properties without \
             values. (Invalid property '{name}' was found in entity \
             'Microsoft.Dynamics.CRM.{}'.)",
            def.logical_name
        ),
    )
}

pub(crate) fn invalid_key(def: &TableDef) -> DvError {
    DvError::bad_request(
        ODATA_ERROR,
        format!(
            "The key in the request URI is not valid for resource \
             'Microsoft.Dynamics.CRM.{}'. Make sure both key names and values are correct.",
            def.logical_name
        ),
    )
}

fn cannot_convert(value: &Value, edm: &str) -> DvError {
    DvError::bad_request(
        BAD_PAYLOAD,
        format!("Cannot convert the literal '{value}' to the expected type '{edm}'."),
    )
}

/// Checks one value against its column and returns it as stored.
fn check_value(def: &TableDef, column: &Column, value: &Value) -> DvResult<Value> {
    if value.is_null() {
        if column.required == "SystemRequired" {
            return Err(DvError::bad_request(
                INVALID_ARGUMENT,
                format!("Attribute '{}' cannot be set to NULL", column.name),
            ));
        }
        return Ok(Value::Null);
    }
    let edm = column.kind.edm();
    match &column.kind {
        ColumnKind::Text { max_length } | ColumnKind::Memo { max_length } => {
            let text = value.as_str().ok_or_else(|| cannot_convert(value, edm))?;
            if text.chars().count() > *max_length as usize {
                return Err(DvError::bad_request(
                    STRING_TOO_LONG,
                    format!(
                        "A validation error occurred. The length of the '{}' attribute of the \
                         '{}' entity exceeded the maximum allowed length of '{max_length}'.",
                        column.name, def.logical_name
                    ),
                ));
            }
            Ok(value.clone())
        }
        ColumnKind::Integer | ColumnKind::BigInt => value
            .as_i64()
            .map(Value::from)
            .ok_or_else(|| cannot_convert(value, edm)),
        ColumnKind::Decimal | ColumnKind::Money => {
            if value.is_number() {
                Ok(value.clone())
            } else {
                Err(cannot_convert(value, edm))
            }
        }
        ColumnKind::Boolean => value
            .as_bool()
            .map(Value::from)
            .ok_or_else(|| cannot_convert(value, edm)),
        ColumnKind::DateOnly => value
            .as_str()
            .and_then(|s| s.parse::<Date>().ok())
            .map(|d| Value::from(d.to_string()))
            .ok_or_else(|| cannot_convert(value, edm)),
        ColumnKind::DateTime => {
            let text = value.as_str().ok_or_else(|| cannot_convert(value, edm))?;
            // A value without an offset is taken as UTC.
            let ts = text.parse::<Timestamp>().ok().or_else(|| {
                text.parse::<jiff::civil::DateTime>()
                    .ok()
                    .and_then(|dt| jiff::tz::TimeZone::UTC.to_timestamp(dt).ok())
            });
            ts.map(|ts| {
                Value::from(
                    Timestamp::from_second(ts.as_second())
                        .unwrap_or(ts)
                        .to_string(),
                )
            })
            .ok_or_else(|| cannot_convert(value, edm))
        }
        ColumnKind::Choice(options) | ColumnKind::State(options) => {
            let v = value.as_i64().ok_or_else(|| cannot_convert(value, edm))?;
            if options.iter().any(|(o, _)| i64::from(*o) == v) {
                Ok(v.into())
            } else {
                Err(out_of_range(def, column, v))
            }
        }
        ColumnKind::Status(statuses) => {
            let v = value.as_i64().ok_or_else(|| cannot_convert(value, edm))?;
            if statuses.iter().any(|(o, _, _)| i64::from(*o) == v) {
                Ok(v.into())
            } else {
                Err(out_of_range(def, column, v))
            }
        }
        ColumnKind::Choices(options) => {
            let text = value.as_str().ok_or_else(|| cannot_convert(value, edm))?;
            let mut chosen = Vec::new();
            for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let v: i64 = part.parse().map_err(|_| cannot_convert(value, edm))?;
                if !options.iter().any(|(o, _)| i64::from(*o) == v) {
                    return Err(out_of_range(def, column, v));
                }
                chosen.push(v.to_string());
            }
            Ok(if chosen.is_empty() {
                Value::Null
            } else {
                chosen.join(",").into()
            })
        }
        ColumnKind::PrimaryKey | ColumnKind::Lookup(_) => value
            .as_str()
            .and_then(|s| Uuid::parse_str(s).ok())
            .map(|u| Value::from(u.to_string()))
            .ok_or_else(|| cannot_convert(value, edm)),
    }
}

fn out_of_range(def: &TableDef, column: &Column, value: i64) -> DvError {
    DvError::bad_request(
        INVALID_ARGUMENT,
        format!(
            "A validation error occurred. The value {value} of '{}' on record of type '{}' is \
             outside the valid range.",
            column.name, def.logical_name
        ),
    )
}
