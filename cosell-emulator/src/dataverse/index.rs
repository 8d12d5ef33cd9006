//! A table's indexes: rows by id, and rows by the text of each string property, so key lookups
//! and `eq` / `In` filters do not scan the table. An index only narrows: the rows it gives are
//! still checked against the whole filter, so it may answer more rows than match, never fewer.

use std::collections::{HashMap, HashSet};

use serde_json::Value;
use uuid::Uuid;

use super::filter::{Expr, Literal, Op, argument_kind, coerce_for, crm_path};
use super::schema::TableDef;
use super::store::Row;

/// The indexes of one table's rows (positions in creation order).
#[derive(Debug, Clone, Default)]
pub(crate) struct RowIndex {
    by_id: HashMap<Uuid, usize>,
    /// Property → text key ([`text_keys`]) → ids of the rows holding it.
    by_text: HashMap<String, HashMap<String, HashSet<Uuid>>>,
}

/// The keys a stored string is found by: its lowercase form (text comparisons ignore case) and,
/// when it is a GUID in another spelling, the GUID's canonical form.
fn text_keys(text: &str) -> impl Iterator<Item = String> {
    let lower = text.to_lowercase();
    let canonical = Uuid::parse_str(text)
        .ok()
        .map(|id| id.to_string())
        .filter(|canonical| *canonical != lower);
    std::iter::once(lower).chain(canonical)
}

/// The key a literal compared for equality is found by, if it is indexed.
fn literal_key(literal: &Literal) -> Option<String> {
    match literal {
        Literal::Text(text) => Some(text.to_lowercase()),
        Literal::Guid(id) => Some(id.to_string()),
        _ => None,
    }
}

impl RowIndex {
    pub(crate) fn position(&self, id: Uuid) -> Option<usize> {
        self.by_id.get(&id).copied()
    }

    /// Indexes a row added at `position`.
    pub(crate) fn add(&mut self, row: &Row, position: usize) {
        self.by_id.insert(row.id, position);
        self.add_text(row);
    }

    /// Re-indexes a row whose fields changed from `old` to `new` (same id and position).
    pub(crate) fn replace(&mut self, old: &Row, new: &Row) {
        self.remove_text(old);
        self.add_text(new);
    }

    /// Rebuilds the index from all rows (after a row was removed, which moves the later ones).
    pub(crate) fn rebuild(rows: &[Row]) -> Self {
        let mut index = RowIndex::default();
        for (position, row) in rows.iter().enumerate() {
            index.add(row, position);
        }
        index
    }

    fn add_text(&mut self, row: &Row) {
        for (property, value) in &row.fields {
            if let Value::String(text) = value {
                let keys = self.by_text.entry(property.clone()).or_default();
                for key in text_keys(text) {
                    keys.entry(key).or_default().insert(row.id);
                }
            }
        }
    }

    fn remove_text(&mut self, row: &Row) {
        for (property, value) in &row.fields {
            if let (Value::String(text), Some(keys)) = (value, self.by_text.get_mut(property)) {
                for key in text_keys(text) {
                    if let Some(ids) = keys.get_mut(&key) {
                        ids.remove(&row.id);
                        if ids.is_empty() {
                            keys.remove(&key);
                        }
                    }
                }
            }
        }
    }

    /// The positions of the rows whose `property` holds a string equal to `literal` (any
    /// case), or `None` when the literal is not one the index answers.
    pub(crate) fn equal_text(&self, property: &str, literal: &Literal) -> Option<Vec<usize>> {
        let key = literal_key(literal)?;
        let ids = self.by_text.get(property).and_then(|keys| keys.get(&key));
        Some(
            ids.into_iter()
                .flatten()
                .filter_map(|id| self.position(*id))
                .collect(),
        )
    }

    fn by_primary_id(&self, literal: &Literal) -> Option<Vec<usize>> {
        let id = match literal {
            Literal::Guid(id) => *id,
            Literal::Text(text) => match Uuid::parse_str(text) {
                Ok(id) => id,
                Err(_) => return Some(Vec::new()),
            },
            _ => return None,
        };
        Some(self.position(id).into_iter().collect())
    }

    fn equal(&self, property: &str, primary_id: &str, literal: &Literal) -> Option<Vec<usize>> {
        if property == primary_id {
            self.by_primary_id(literal)
        } else {
            self.equal_text(property, literal)
        }
    }

    /// Positions (ascending) of a superset of the rows a checked filter on `table` matches, or
    /// `None` when the filter must be evaluated on every row.
    pub(crate) fn candidates(&self, expr: &Expr, table: &TableDef) -> Option<Vec<usize>> {
        let primary_id = table.primary_id.as_str();
        let mut positions = match expr {
            // A comparison's literal is compared as written (text with text, a GUID with a
            // GUID-shaped text).
            Expr::Compare(path, Op::Eq, literal) => match path.as_slice() {
                [property] => self.equal(property, primary_id, literal)?,
                _ => return None,
            },
            // A query function's values are converted to its column's kind first (values that
            // do not convert match nothing), as the evaluation does.
            Expr::Crm(function, path, values) if function == "In" => {
                let [property] = <[String; 1]>::try_from(crm_path(path, table)).ok()?;
                let kind = &table.by_property(&property)?.kind;
                let argument = argument_kind(function, kind);
                let mut all = Vec::new();
                for value in values {
                    if let Ok(value) = coerce_for(&argument, value) {
                        all.extend(self.equal(&property, primary_id, &value)?);
                    }
                }
                all
            }
            // The narrower side of a conjunction is enough.
            Expr::And(a, b) => [a, b]
                .into_iter()
                .filter_map(|side| self.candidates(side, table))
                .min_by_key(Vec::len)?,
            Expr::Or(a, b) => {
                let mut both = self.candidates(a, table)?;
                both.extend(self.candidates(b, table)?);
                both
            }
            _ => return None,
        };
        positions.sort_unstable();
        positions.dedup();
        Some(positions)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use proptest::prelude::*;
    use serde_json::{Map, Value, json};

    use super::super::filter;
    use super::super::key::RowKey;
    use super::super::query::select_rows;
    use super::super::store::{State, WriteContext};
    use crate::clock::SystemClock;
    use crate::index_steps::{NAMES, Step, step};

    fn body(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    proptest! {
        // After any creates, renames and deletes, an indexed query answers exactly the rows a
        // scan of the table does, in the same order; so does a lookup by alternate key.
        #[test]
        fn indexed_queries_answer_what_a_scan_does(steps in prop::collection::vec(step(), 1..40)) {
            let mut state = State::seeded(Arc::new(SystemClock));
            let ctx = WriteContext::default();
            for step in steps {
                let ids: Vec<_> = state.table("accounts").unwrap().rows().iter().map(|r| r.id).collect();
                match step {
                    Step::Create(name, key) => {
                        // A clashing account number is refused; that is part of what is tested.
                        let _ = state.create("accounts", &body(json!({"name": NAMES[name], "accountnumber": format!("K-{key}")})), &ctx, false);
                    }
                    Step::Rename(row, name) if !ids.is_empty() => {
                        let index = row % ids.len();
                        state.update("accounts", index, &body(json!({"name": NAMES[name]})), &ctx).unwrap();
                    }
                    Step::Delete(row) if !ids.is_empty() => state.delete("accounts", row % ids.len(), &ctx),
                    _ => {}
                }
            }
            let table = state.table("accounts").unwrap();
            let nil = uuid::Uuid::nil();
            let some_id = table.rows().first().map_or_else(|| nil.to_string(), |r| r.id.to_string().to_uppercase());
            let filters = [
                "name eq 'acme'".to_owned(),
                "name eq 'ÉCLAIR' and accountnumber eq 'k-1'".to_owned(),
                "name eq 'zeta' or accountnumber eq 'K-2'".to_owned(),
                format!("accountid eq {}", table.rows().last().map(|r| r.id.to_string()).unwrap_or_else(|| uuid::Uuid::nil().to_string())),
                format!("Microsoft.Dynamics.CRM.In(PropertyName='accountid',PropertyValues=['{some_id}','{nil}'])"),
                "Microsoft.Dynamics.CRM.In(PropertyName='name',PropertyValues=['Acme','zeta'])".to_owned(),
            ];
            for text in filters {
                let expr = filter::parse(&text).unwrap();
                filter::check(&expr, &table.def, &state).unwrap();
                let options = super::super::query::QueryOptions { filter: Some(expr.clone()), ..Default::default() };
                let indexed: Vec<_> = select_rows(table, &options, &state).iter().map(|r| r.id).collect();
                let scanned: Vec<_> = table.rows().iter().filter(|r| filter::matches(&expr, &table.def, r, &state)).map(|r| r.id).collect();
                prop_assert_eq!(indexed, scanned, "{}", text);
            }
            for key in 0..6 {
                let literal = filter::Literal::Text(format!("k-{key}"));
                let found = state.find("accounts", &RowKey::Alternate(vec![("accountnumber".to_owned(), literal)])).unwrap();
                let scanned = table.rows().iter().position(|r| r.fields.get("accountnumber").and_then(Value::as_str).is_some_and(|n| n.eq_ignore_ascii_case(&format!("k-{key}"))));
                prop_assert_eq!(found, scanned);
            }
        }
    }
}
