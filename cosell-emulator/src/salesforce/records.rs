//! The org's records in creation order, with an index of their text fields so that `WHERE
//! Field = 'text'` and `Id IN (…)` do not scan every record. Records are appended, changed and
//! rolled back only through this type, which keeps the index. The index only narrows: a query
//! still checks each record it gives against the whole condition.

use std::collections::{BTreeSet, HashMap};
use std::ops::Deref;

use serde_json::{Map, Value};

use super::field_type::FieldType;
use super::soql::{Compare, Condition, Literal};
use super::store::Record;

/// Every record, and where each text is held.
#[derive(Debug, Clone, Default)]
pub(crate) struct Records {
    list: Vec<Record>,
    /// Field → key ([`keys`]) → positions of the records holding it.
    text: HashMap<String, HashMap<String, BTreeSet<usize>>>,
}

/// The keys a stored string is found by: its lowercase form (text compares without regard to
/// case), and its first 15 characters as written (an id compares by those, in either form).
fn keys(text: &str) -> impl Iterator<Item = String> {
    std::iter::once(text.to_lowercase()).chain(id_key(text))
}

fn id_key(text: &str) -> Option<String> {
    text.get(..15).map(|head| format!("\u{0}{head}"))
}

impl Deref for Records {
    type Target = [Record];

    fn deref(&self) -> &[Record] {
        &self.list
    }
}

impl Records {
    pub(crate) fn push(&mut self, record: Record) {
        let position = self.list.len();
        self.index(&record.fields, position, true);
        self.list.push(record);
    }

    /// Changes the fields of the record at `position` with `change`.
    pub(crate) fn change(
        &mut self,
        position: usize,
        change: impl FnOnce(&mut Record),
    ) -> Option<()> {
        let mut record = self.list.get(position)?.clone();
        change(&mut record);
        let old = std::mem::take(&mut self.list[position].fields);
        self.index(&old, position, false);
        self.index(&record.fields, position, true);
        self.list[position] = record;
        Some(())
    }

    fn index(&mut self, fields: &Map<String, Value>, position: usize, add: bool) {
        for (name, value) in fields {
            let Value::String(text) = value else { continue };
            let by_key = self.text.entry(name.clone()).or_default();
            for key in keys(text) {
                if add {
                    by_key.entry(key).or_default().insert(position);
                } else if let Some(positions) = by_key.get_mut(&key) {
                    positions.remove(&position);
                    if positions.is_empty() {
                        by_key.remove(&key);
                    }
                }
            }
        }
    }

    /// Positions (ascending) of the records whose `field` holds `text`, in any case.
    pub(crate) fn holding_text(&self, field: &str, text: &str) -> Vec<usize> {
        self.text
            .get(field)
            .and_then(|keys| keys.get(&text.to_lowercase()))
            .into_iter()
            .flatten()
            .copied()
            .collect()
    }

    fn equal(&self, name: &str, literal: &Literal, kind: FieldType) -> Option<Vec<usize>> {
        let Literal::Text(text) = literal else {
            return None;
        };
        let key = match kind {
            FieldType::MultiPicklist => return None,
            // An id equals another whose first 15 characters are the same.
            FieldType::Id | FieldType::Reference => match id_key(text) {
                Some(key) => key,
                None => return Some(Vec::new()),
            },
            _ => text.to_lowercase(),
        };
        let positions = self.text.get(name).and_then(|keys| keys.get(&key));
        Some(positions.into_iter().flatten().copied().collect())
    }

    /// Positions (ascending) of a superset of the records `condition` matches, or `None` when
    /// every record must be looked at. `kind` gives a field's type, as the evaluation takes it.
    pub(crate) fn candidates(
        &self,
        condition: &Condition,
        kind: &dyn Fn(&str) -> FieldType,
    ) -> Option<Vec<usize>> {
        let local = |name: &str| !name.contains('.');
        let mut positions = match condition {
            Condition::Compare(name, Compare::Eq, literal) if local(name) => {
                self.equal(name, literal, kind(name))?
            }
            Condition::In(name, false, literals) if local(name) => {
                let mut all = Vec::new();
                for literal in literals {
                    all.extend(self.equal(name, literal, kind(name))?);
                }
                all
            }
            Condition::And(parts) => parts
                .iter()
                .filter_map(|part| self.candidates(part, kind))
                .min_by_key(Vec::len)?,
            Condition::Or(parts) => {
                let mut all = Vec::new();
                for part in parts {
                    all.extend(self.candidates(part, kind)?);
                }
                all
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
    use serde_json::json;

    use super::super::soql;
    use super::super::store::{Org, Writer};
    use crate::clock::SystemClock;
    use crate::index_steps::{NAMES, Step, step};

    proptest! {
        // After any creates, renames and deletes, a query through the index answers exactly
        // the records a scan does, in the same order; an external-id lookup likewise.
        #[test]
        fn indexed_queries_answer_what_a_scan_does(steps in prop::collection::vec(step(), 1..40)) {
            let mut org = Org::new(Arc::new(SystemClock));
            let mut accounts: Vec<String> = Vec::new();
            for step in steps {
                match step {
                    Step::Create(name, number) => {
                        let body = json!({"Name": NAMES[name], "Microsoft_CRM_Id__c": format!("N-{number}")});
                        accounts.push(org.create("Account", &body, Writer::Api).unwrap());
                    }
                    Step::Rename(row, name) if !accounts.is_empty() => {
                        let index = org.find("Account", &accounts[row % accounts.len()]).unwrap();
                        let _ = org.update(index, &json!({"Name": NAMES[name]}), Writer::Api);
                    }
                    Step::Delete(row) if !accounts.is_empty() => {
                        let index = org.find("Account", &accounts[row % accounts.len()]).unwrap();
                        let _ = org.delete(index);
                    }
                    _ => {}
                }
            }
            let first = accounts.first().cloned().unwrap_or_else(|| "001Em0000000099AAA".to_owned());
            let short = first[..15].to_owned();
            let texts = [
                "SELECT Id FROM Account WHERE Name = 'acme'".to_owned(),
                "SELECT Id FROM Account WHERE Name = 'ÉCLAIR' AND Microsoft_CRM_Id__c = 'n-1'".to_owned(),
                "SELECT Id FROM Account WHERE Name = 'zeta' OR Microsoft_CRM_Id__c = 'N-2'".to_owned(),
                format!("SELECT Id FROM Account WHERE Id IN ('{short}', '{}', 'short')", first.to_lowercase()),
                format!("SELECT Id FROM Account WHERE Id = '{first}'"),
                "SELECT Id FROM Account WHERE Name IN ('Acme', 'zeta') ORDER BY Name".to_owned(),
            ];
            for text in texts {
                let answer = |org: &Org| match super::super::query::run(org, &text, "v66.0", true) {
                    Ok(super::super::query::Answer::Records(rows)) => rows,
                    _ => panic!("{text}"),
                };
                let indexed = answer(&org);
                // The same query over the same records with an empty index scans them all.
                let query = soql::parse(&text).unwrap().resolve(&org, org.schema("Account").unwrap()).unwrap();
                let scanned: Vec<String> = org.records.iter()
                    .filter(|r| r.sobject == "Account")
                    .filter(|r| soql::matches(query.filter.as_ref().unwrap(), &|p| org.path_value(r, p), &query.kinds))
                    .map(|r| r.id.clone())
                    .collect();
                let mut indexed_ids: Vec<String> = indexed.iter().map(|r| r["Id"].as_str().unwrap().to_owned()).collect();
                if text.contains("ORDER BY") {
                    let mut sorted = scanned.clone();
                    sorted.sort();
                    indexed_ids.sort();
                    prop_assert_eq!(indexed_ids, sorted, "{}", text);
                } else {
                    prop_assert_eq!(indexed_ids, scanned, "{}", text);
                }
            }
            for number in 0..6 {
                let wanted = format!("n-{number}");
                let found = org.by_external_id("Account", "Microsoft_CRM_Id__c", &wanted);
                let scanned: Vec<usize> = (0..org.records.len())
                    .filter(|&i| !org.records[i].deleted && org.records[i].fields.get("Microsoft_CRM_Id__c").and_then(|v| v.as_str()).is_some_and(|v| v.eq_ignore_ascii_case(&wanted)))
                    .collect();
                prop_assert_eq!(found, scanned);
            }
        }
    }
}
