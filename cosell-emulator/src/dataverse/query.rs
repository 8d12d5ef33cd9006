//! Reading rows: `$select`, `$filter`, `$orderby`, `$top`, `$count`, paging by
//! `Prefer: odata.maxpagesize` with `@odata.nextLink`, annotations, and how a row is written
//! out.

use serde_json::{Map, Value};

use super::error::{DvError, DvResult};
use super::filter::{self, Expr};
use super::schema::{ColumnKind, TableDef};
use super::store::{Row, State};

/// The service's default and largest page.
pub(crate) const MAX_PAGE_SIZE: usize = 5000;

/// What a `Prefer` header asks for.
#[derive(Debug, Clone, Default)]
pub(crate) struct Preferences {
    pub(crate) return_representation: bool,
    pub(crate) max_page_size: Option<usize>,
    pub(crate) annotations: Option<String>,
    pub(crate) continue_on_error: bool,
}

impl Preferences {
    pub(crate) fn parse(header: Option<&str>) -> Self {
        let mut prefs = Preferences::default();
        let Some(header) = header else {
            return prefs;
        };
        for item in header.split(',').map(str::trim) {
            if item == "return=representation" {
                prefs.return_representation = true;
            } else if item == "odata.continue-on-error" {
                prefs.continue_on_error = true;
            } else if let Some(size) = item.strip_prefix("odata.maxpagesize=") {
                prefs.max_page_size = size
                    .trim()
                    .parse::<usize>()
                    .ok()
                    .map(|s| s.clamp(1, MAX_PAGE_SIZE));
            } else if let Some(pattern) = item.strip_prefix("odata.include-annotations=") {
                prefs.annotations = Some(pattern.trim().trim_matches('"').to_owned());
            }
        }
        prefs
    }

    /// Whether the annotation `name` was asked for (`*`, `prefix.*` or the exact name).
    pub(crate) fn wants(&self, name: &str) -> bool {
        self.annotations.as_deref().is_some_and(|pattern| {
            pattern.split(',').map(str::trim).any(|p| {
                p == "*"
                    || p == name
                    || p.strip_suffix('*')
                        .is_some_and(|prefix| name.starts_with(prefix))
            })
        })
    }
}

/// The query options of a request.
#[derive(Debug, Clone, Default)]
pub(crate) struct QueryOptions {
    pub(crate) select: Option<Vec<String>>,
    pub(crate) filter: Option<Expr>,
    pub(crate) order_by: Vec<(String, bool)>,
    pub(crate) top: Option<usize>,
    pub(crate) count: bool,
    pub(crate) page: usize,
    pub(crate) expand: Vec<Expand>,
}

/// One single-valued navigation property to expand, with the columns to read from its row.
#[derive(Debug, Clone)]
pub(crate) struct Expand {
    nav: String,
    property: String,
    target_set: String,
    select: Option<Vec<String>>,
}

impl QueryOptions {
    /// Reads and checks the options against `table`.
    pub(crate) fn parse(
        pairs: &[(String, String)],
        table: &TableDef,
        state: &State,
    ) -> DvResult<Self> {
        let mut options = QueryOptions::default();
        for (name, value) in pairs {
            match name.as_str() {
                "$select" => {
                    let columns: Vec<String> = value
                        .split(',')
                        .map(|c| c.trim().to_owned())
                        .filter(|c| !c.is_empty())
                        .collect();
                    for column in &columns {
                        if table.by_property(column).is_none() {
                            return Err(DvError::unknown_property(column, &table.logical_name));
                        }
                    }
                    options.select = Some(columns);
                }
                "$filter" => {
                    let expr = filter::parse(value)?;
                    filter::check(&expr, table, state)?;
                    options.filter = Some(expr);
                }
                "$orderby" => {
                    for item in value.split(',').map(str::trim) {
                        let (column, descending) = match item.split_once(' ') {
                            Some((c, "desc")) => (c, true),
                            Some((c, "asc")) => (c, false),
                            None => (item, false),
                            Some(_) => {
                                return Err(DvError::odata(format!(
                                    "Syntax error at position {} in '{value}'.",
                                    item.len()
                                )));
                            }
                        };
                        if table.by_property(column).is_none() {
                            return Err(DvError::unknown_property(column, &table.logical_name));
                        }
                        options.order_by.push((column.to_owned(), descending));
                    }
                }
                "$top" => {
                    options.top = Some(value.parse().map_err(|_| {
                        DvError::odata(format!(
                            "Invalid value '{value}' for $top query option found. The $top query \
                             option requires a non-negative integer value."
                        ))
                    })?);
                }
                "$count" => match value.as_str() {
                    "true" => options.count = true,
                    "false" => {}
                    _ => {
                        return Err(DvError::odata(format!(
                            "'{value}' is not a valid count option."
                        )));
                    }
                },
                "$skiptoken" => options.page = page_of(value).unwrap_or(1).saturating_sub(1),
                "$expand" => options.expand = parse_expand(value, table, state)?,
                "$skip" | "$search" | "$format" | "$apply" => {
                    return Err(DvError::odata(format!(
                        "The query parameter {name} is not supported"
                    )));
                }
                other if other.starts_with('$') => {
                    return Err(DvError::odata(format!(
                        "The query parameter {other} is not supported"
                    )));
                }
                _ => {}
            }
        }
        Ok(options)
    }
}

/// `$expand=nav,nav($select=a,b)`: single-valued navigation properties only.
fn parse_expand(value: &str, table: &TableDef, state: &State) -> DvResult<Vec<Expand>> {
    let mut items = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in value.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                items.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&value[start..]);
    let mut expands = Vec::new();
    for item in items.into_iter().map(str::trim) {
        let (nav, options) = match item.split_once('(') {
            Some((nav, rest)) => (
                nav,
                Some(rest.strip_suffix(')').ok_or_else(|| {
                    DvError::odata(format!("Syntax error in '$expand={value}'."))
                })?),
            ),
            None => (item, None),
        };
        let (column, target_set) = match table.navigation(nav) {
            Some((column, set)) => (column, set.to_owned()),
            None => {
                return Err(DvError::odata(format!(
                    "Could not find a property named '{nav}' on type \
                     'Microsoft.Dynamics.CRM.{}'; the emulator expands single-valued \
                     navigation properties only.",
                    table.logical_name
                )));
            }
        };
        let target = state
            .table(&target_set)
            .ok_or_else(|| DvError::no_segment(&target_set))?;
        let select = match options {
            None | Some("") => None,
            Some(options) => {
                let columns = options.strip_prefix("$select=").ok_or_else(|| {
                    DvError::odata(format!(
                        "The emulator supports only $select inside $expand, not '{options}'."
                    ))
                })?;
                let columns: Vec<String> =
                    columns.split(',').map(|c| c.trim().to_owned()).collect();
                for c in &columns {
                    if target.def.by_property(c).is_none() {
                        return Err(DvError::unknown_property(c, &target.def.logical_name));
                    }
                }
                Some(columns)
            }
        };
        expands.push(Expand {
            nav: nav.to_owned(),
            property: column.property(),
            target_set,
            select,
        });
    }
    Ok(expands)
}

/// Adds the expanded rows (or `null`) to a written-out row.
pub(crate) fn expand_into(
    out: &mut Map<String, Value>,
    row: &Row,
    expands: &[Expand],
    prefs: &Preferences,
    state: &State,
) {
    for expand in expands {
        let target = state.table(&expand.target_set).and_then(|table| {
            let logical = row.targets.get(&expand.property)?;
            if *logical != table.def.logical_name {
                return None;
            }
            let id = row.fields.get(&expand.property)?.as_str()?;
            let found = table.row_by_text(id)?;
            Some(render(
                &table.def,
                found,
                expand.select.as_deref(),
                prefs,
                state,
            ))
        });
        out.insert(
            expand.nav.clone(),
            target.map_or(Value::Null, Value::Object),
        );
    }
}

/// The page number in a `$skiptoken` paging cookie.
fn page_of(token: &str) -> Option<usize> {
    let start = token.find("pagenumber=\"")? + "pagenumber=\"".len();
    let rest = &token[start..];
    rest[..rest.find('"')?].parse().ok()
}

/// The rows of `table` a query selects, filtered and ordered (all pages).
pub(crate) fn select_rows<'a>(
    table: &'a super::store::Table,
    options: &QueryOptions,
    state: &State,
) -> Vec<&'a Row> {
    let all = table.rows();
    let mut rows: Vec<&Row> = match &options.filter {
        None => all.iter().collect(),
        Some(expr) => {
            let matching = |row: &&Row| filter::matches(expr, &table.def, row, state);
            match table.index().candidates(expr, &table.def) {
                Some(positions) => positions
                    .into_iter()
                    .map(|i| &all[i])
                    .filter(matching)
                    .collect(),
                None => all.iter().filter(matching).collect(),
            }
        }
    };
    if !options.order_by.is_empty() {
        rows.sort_by(|a, b| {
            for (column, descending) in &options.order_by {
                let value = |row: &Row| {
                    if *column == table.def.primary_id {
                        Value::String(row.id.to_string())
                    } else {
                        row.fields.get(column).cloned().unwrap_or(Value::Null)
                    }
                };
                let ordering = filter::order_values(&value(a), &value(b));
                let ordering = if *descending {
                    ordering.reverse()
                } else {
                    ordering
                };
                if ordering.is_ne() {
                    return ordering;
                }
            }
            std::cmp::Ordering::Equal
        });
    }
    rows
}

/// The `$skiptoken` of page `page` (from 1), as the service shapes its paging cookie.
pub(crate) fn skip_token(page: usize) -> String {
    format!(
        "<cookie pagenumber=\"{page}\" pagingcookie=\"%253ccookie%2520page%253d%2522{}%2522%253e%253c%252fcookie%253e\" istracking=\"False\" />",
        page - 1
    )
}

/// A row as the service writes it: `@odata.etag`, then the selected properties (all of them
/// without `$select`; the primary key always), with the annotations asked for.
pub(crate) fn render(
    def: &TableDef,
    row: &Row,
    select: Option<&[String]>,
    prefs: &Preferences,
    state: &State,
) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("@odata.etag".into(), row.etag().into());
    let wanted = |property: &str| -> bool {
        match select {
            None => true,
            Some(columns) => {
                property == def.primary_id
                    || columns.iter().any(|c| c == property)
                    || (property == "_transactioncurrencyid_value"
                        && columns.iter().any(|c| {
                            def.column(c)
                                .is_some_and(|col| col.kind == ColumnKind::Money)
                        }))
            }
        }
    };
    for column in &def.columns {
        let property = column.property();
        if !wanted(&property) {
            continue;
        }
        let value = if property == def.primary_id {
            Value::String(row.id.to_string())
        } else {
            row.fields.get(&property).cloned().unwrap_or(Value::Null)
        };
        annotate(&mut out, column, row, &property, &value, prefs, state);
        out.insert(property, value);
    }
    out
}

/// Adds the annotations asked for (formatted values, lookup targets) before a property.
fn annotate(
    out: &mut Map<String, Value>,
    column: &super::schema::Column,
    row: &Row,
    property: &str,
    value: &Value,
    prefs: &Preferences,
    state: &State,
) {
    const FORMATTED: &str = "OData.Community.Display.V1.FormattedValue";
    const LOGICAL: &str = "Microsoft.Dynamics.CRM.lookuplogicalname";
    const NAV: &str = "Microsoft.Dynamics.CRM.associatednavigationproperty";
    if value.is_null() || prefs.annotations.is_none() {
        return;
    }
    let formatted = match &column.kind {
        ColumnKind::Choice(_) | ColumnKind::State(_) | ColumnKind::Status(_) => {
            let options = column.kind.options();
            value.as_i64().and_then(|v| {
                options
                    .iter()
                    .find(|(o, _)| i64::from(*o) == v)
                    .map(|(_, l)| l.clone())
            })
        }
        ColumnKind::Boolean => value
            .as_bool()
            .map(|b| if b { "Yes" } else { "No" }.to_owned()),
        ColumnKind::Lookup(targets) => {
            let logical = row.targets.get(property);
            if let Some(logical) = logical {
                if prefs.wants(LOGICAL) {
                    out.insert(format!("{property}@{LOGICAL}"), logical.clone().into());
                }
                let set = state.table_by_logical(logical).map(|t| &t.def.entity_set);
                let nav = targets
                    .iter()
                    .find(|(_, s)| Some(s) == set)
                    .map(|(n, _)| n.clone());
                if let Some(nav) = nav.filter(|_| prefs.wants(NAV)) {
                    out.insert(format!("{property}@{NAV}"), nav.into());
                }
            }
            logical
                .and_then(|l| state.table_by_logical(l))
                .and_then(|t| {
                    let id = value.as_str()?;
                    let target = t.row_by_text(id)?;
                    target
                        .fields
                        .get(&t.def.primary_name)
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                })
        }
        _ => None,
    };
    if let Some(text) = formatted.filter(|_| prefs.wants(FORMATTED)) {
        out.insert(format!("{property}@{FORMATTED}"), text.into());
    }
}

/// The `@odata.context` of a collection or a single row.
pub(crate) fn context(
    base: &str,
    def: &TableDef,
    select: Option<&[String]>,
    entity: bool,
) -> String {
    let columns = select
        .map(|s| format!("({})", s.join(",")))
        .unwrap_or_default();
    let suffix = if entity { "/$entity" } else { "" };
    format!("{base}$metadata#{}{columns}{suffix}", def.entity_set)
}
