//! The listing query: `$filter`, `$orderby`, `$top`, `$select` and the emulator's own
//! `$skiptoken`.
//!
//! The filter grammar is exactly what the SDK's `ReferralQuery` writes: `eq` on `status`,
//! `substatus`, `type`, `direction`, `engagementId` and `externalReferenceId`; comparisons
//! (`eq`, `ge`, `gt`, `le`, `lt`) of `updatedDateTime` / `createdDateTime` with an unquoted
//! instant; `team/any(t:t/email eq '…')`; and any of these joined with `and` / `or` in
//! parentheses. Anything else is refused, as the service refuses a filter it cannot run.

use std::cmp::Ordering;

use jiff::Timestamp;
use serde_json::Value;

use super::store::{Document, text};

/// Fields compared as text, ignoring ASCII case (enum values).
const ENUM_FIELDS: &[&str] = &["status", "substatus", "type", "direction"];
/// Fields compared as exact text (ids).
const ID_FIELDS: &[&str] = &["engagementId", "externalReferenceId"];
/// Fields compared as instants, and the only fields a listing can be ordered by.
const INSTANT_FIELDS: &[&str] = &["updatedDateTime", "createdDateTime"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Comparison {
    Eq,
    Ge,
    Gt,
    Le,
    Lt,
}

impl Comparison {
    fn holds(self, ordering: Ordering) -> bool {
        match self {
            Comparison::Eq => ordering == Ordering::Equal,
            Comparison::Ge => ordering != Ordering::Less,
            Comparison::Gt => ordering == Ordering::Greater,
            Comparison::Le => ordering != Ordering::Greater,
            Comparison::Lt => ordering == Ordering::Less,
        }
    }
}

/// A parsed `$filter`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Filter {
    And(Vec<Filter>),
    Or(Vec<Filter>),
    TextEquals {
        field: &'static str,
        value: String,
    },
    Instant {
        field: &'static str,
        comparison: Comparison,
        at: Timestamp,
    },
    TeamEmail(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open,
    Close,
    Text(String),
    Word(String),
}

fn tokenize(input: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = input.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            ' ' => {
                chars.next();
            }
            '(' => {
                chars.next();
                tokens.push(Token::Open);
            }
            ')' => {
                chars.next();
                tokens.push(Token::Close);
            }
            '\'' => {
                chars.next();
                let mut literal = String::new();
                loop {
                    match chars.next() {
                        Some('\'') if chars.peek() == Some(&'\'') => {
                            chars.next();
                            literal.push('\'');
                        }
                        Some('\'') => break,
                        Some(other) => literal.push(other),
                        None => return Err("a string literal is not closed".into()),
                    }
                }
                tokens.push(Token::Text(literal));
            }
            _ => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_ascii_alphanumeric() || matches!(c, '/' | ':' | '.' | '-' | '+' | '_') {
                        word.push(c);
                        chars.next();
                    } else {
                        break;
                    }
                }
                if word.is_empty() {
                    return Err(format!("unexpected `{c}`"));
                }
                tokens.push(Token::Word(word));
            }
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    position: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.position)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.position).cloned();
        self.position += 1;
        token
    }

    fn keyword(&mut self, wanted: &str) -> bool {
        if matches!(self.peek(), Some(Token::Word(w)) if w == wanted) {
            self.position += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, wanted: Token) -> Result<(), String> {
        match self.next() {
            Some(token) if token == wanted => Ok(()),
            other => Err(format!("expected {wanted:?}, found {other:?}")),
        }
    }

    /// `or` binds looser than `and`, as in OData.
    fn expression(&mut self) -> Result<Filter, String> {
        let mut alternatives = vec![self.conjunction()?];
        while self.keyword("or") {
            alternatives.push(self.conjunction()?);
        }
        Ok(if alternatives.len() == 1 {
            alternatives.remove(0)
        } else {
            Filter::Or(alternatives)
        })
    }

    fn conjunction(&mut self) -> Result<Filter, String> {
        let mut all = vec![self.primary()?];
        while self.keyword("and") {
            all.push(self.primary()?);
        }
        Ok(if all.len() == 1 {
            all.remove(0)
        } else {
            Filter::And(all)
        })
    }

    fn primary(&mut self) -> Result<Filter, String> {
        match self.next() {
            Some(Token::Open) => {
                let inner = self.expression()?;
                self.expect(Token::Close)?;
                Ok(inner)
            }
            Some(Token::Word(field)) if field == "team/any" => {
                self.expect(Token::Open)?;
                self.expect(Token::Word("t:t/email".into()))?;
                self.expect(Token::Word("eq".into()))?;
                let Some(Token::Text(email)) = self.next() else {
                    return Err("team/any compares t/email with a string".into());
                };
                self.expect(Token::Close)?;
                Ok(Filter::TeamEmail(email))
            }
            Some(Token::Word(field)) => self.comparison(&field),
            other => Err(format!("expected a condition, found {other:?}")),
        }
    }

    fn comparison(&mut self, field: &str) -> Result<Filter, String> {
        let operator = match self.next() {
            Some(Token::Word(op)) => op,
            other => {
                return Err(format!(
                    "expected an operator after `{field}`, found {other:?}"
                ));
            }
        };
        if let Some(field) = ENUM_FIELDS.iter().chain(ID_FIELDS).find(|f| **f == field) {
            if operator != "eq" {
                return Err(format!("`{field}` supports only `eq`, not `{operator}`"));
            }
            return match self.next() {
                Some(Token::Text(value)) => Ok(Filter::TextEquals { field, value }),
                other => Err(format!(
                    "`{field}` is compared with a string, not {other:?}"
                )),
            };
        }
        if let Some(field) = INSTANT_FIELDS.iter().find(|f| **f == field) {
            let comparison = match operator.as_str() {
                "eq" => Comparison::Eq,
                "ge" => Comparison::Ge,
                "gt" => Comparison::Gt,
                "le" => Comparison::Le,
                "lt" => Comparison::Lt,
                other => return Err(format!("`{other}` is not a comparison of `{field}`")),
            };
            return match self.next() {
                Some(Token::Word(value)) => {
                    let at = value
                        .parse::<Timestamp>()
                        .map_err(|_| format!("`{value}` is not a DateTimeOffset literal"))?;
                    Ok(Filter::Instant {
                        field,
                        comparison,
                        at,
                    })
                }
                other => Err(format!(
                    "`{field}` is compared with an instant, not {other:?}"
                )),
            };
        }
        Err(format!("`{field}` cannot be filtered on"))
    }
}

/// Parses a `$filter` expression.
pub(crate) fn parse_filter(input: &str) -> Result<Filter, String> {
    let mut parser = Parser {
        tokens: tokenize(input)?,
        position: 0,
    };
    let filter = parser.expression()?;
    match parser.peek() {
        None => Ok(filter),
        Some(rest) => Err(format!("unexpected {rest:?} after a complete condition")),
    }
}

fn instant(document: &Document, field: &str) -> Option<Timestamp> {
    text(document, field).and_then(|t| t.parse().ok())
}

impl Filter {
    /// The fields the filter reads (`team/email` for a team condition).
    pub(crate) fn fields(&self) -> Vec<&'static str> {
        match self {
            Filter::And(all) | Filter::Or(all) => all.iter().flat_map(Filter::fields).collect(),
            Filter::TextEquals { field, .. } | Filter::Instant { field, .. } => vec![field],
            Filter::TeamEmail(_) => vec!["team/email"],
        }
    }

    /// Whether a referral satisfies the filter.
    pub(crate) fn matches(&self, document: &Document) -> bool {
        match self {
            Filter::And(all) => all.iter().all(|f| f.matches(document)),
            Filter::Or(any) => any.iter().any(|f| f.matches(document)),
            Filter::TextEquals { field, value } => {
                let actual = text(document, field);
                if ENUM_FIELDS.contains(field) {
                    actual.is_some_and(|a| a.eq_ignore_ascii_case(value))
                } else {
                    actual == Some(value.as_str())
                }
            }
            Filter::Instant {
                field,
                comparison,
                at,
            } => instant(document, field).is_some_and(|actual| comparison.holds(actual.cmp(at))),
            Filter::TeamEmail(email) => {
                document
                    .get("team")
                    .and_then(Value::as_array)
                    .is_some_and(|team| {
                        team.iter().any(|member| {
                            member
                                .get("email")
                                .and_then(Value::as_str)
                                .is_some_and(|e| e.eq_ignore_ascii_case(email))
                        })
                    })
            }
        }
    }
}

/// A parsed `$orderby`: fields with `true` for descending.
pub(crate) fn parse_order_by(input: &str) -> Result<Vec<(&'static str, bool)>, String> {
    input
        .split(',')
        .map(|part| {
            let mut words = part.split_whitespace();
            let field = words.next().unwrap_or_default();
            let field = INSTANT_FIELDS
                .iter()
                .find(|f| **f == field)
                .ok_or_else(|| format!("`{field}` cannot be ordered by"))?;
            let descending = match words.next() {
                None | Some("asc") => false,
                Some("desc") => true,
                Some(other) => return Err(format!("`{other}` is not asc or desc")),
            };
            if let Some(extra) = words.next() {
                return Err(format!("unexpected `{extra}` in $orderby"));
            }
            Ok((*field, descending))
        })
        .collect()
}

/// Orders referrals by the given keys (stable: ties keep creation order).
pub(crate) fn sort(documents: &mut Vec<&Document>, order: &[(&'static str, bool)]) {
    // Each document's instants read once, not once per comparison.
    let mut keyed: Vec<(Vec<_>, &Document)> = documents
        .iter()
        .map(|d| {
            (
                order.iter().map(|(field, _)| instant(d, field)).collect(),
                *d,
            )
        })
        .collect();
    keyed.sort_by(|(a, _), (b, _)| {
        for ((a, b), (_, descending)) in a.iter().zip(b).zip(order) {
            let ordering = a.cmp(b);
            let ordering = if *descending {
                ordering.reverse()
            } else {
                ordering
            };
            if ordering != Ordering::Equal {
                return ordering;
            }
        }
        Ordering::Equal
    });
    documents.clear();
    documents.extend(keyed.into_iter().map(|(_, d)| d));
}

fn put(target: &mut Document, path: &[&str], value: Value) {
    match path {
        [] => {}
        [last] => {
            target.insert((*last).to_owned(), value);
        }
        [first, rest @ ..] => {
            let entry = target
                .entry((*first).to_owned())
                .or_insert_with(|| Value::Object(Document::new()));
            if let Value::Object(child) = entry {
                put(child, rest, value);
            }
        }
    }
}

/// Keeps only the `$select`ed fields (slash-separated paths) of a referral.
pub(crate) fn select(document: &Document, fields: &[String]) -> Document {
    let mut out = Document::new();
    for field in fields {
        let path: Vec<&str> = field.split('/').collect();
        let mut source = document.get(path[0]);
        for segment in &path[1..] {
            source = source.and_then(|v| v.get(*segment));
        }
        if let Some(value) = source {
            put(&mut out, &path, value.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(value: Value) -> Document {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn every_builder_form_parses_and_evaluates() {
        let referral = doc(json!({
            "status": "Active", "substatus": "Accepted", "type": "Shared", "direction": "Incoming",
            "engagementId": "e'1", "externalReferenceId": "crm-1",
            "updatedDateTime": "2026-02-01T00:00:00.0000000Z",
            "team": [{"email": "O'Neil@contoso.example"}]
        }));
        let yes = [
            "status eq 'Active' and direction eq 'Incoming' and type eq 'Shared' and substatus eq 'Accepted'",
            "engagementId eq 'e''1'",
            "externalReferenceId eq 'crm-1'",
            "(status eq 'New' or status eq 'Active')",
            "updatedDateTime ge 2026-01-01T00:00:00Z and updatedDateTime lt 2026-03-01T00:00:00Z",
            "team/any(t:t/email eq 'o''neil@contoso.example')",
            "(status eq 'Active') and (direction eq 'Incoming' or direction eq 'Outgoing')",
        ];
        for filter in yes {
            assert!(parse_filter(filter).unwrap().matches(&referral), "{filter}");
        }
        let no = [
            "status eq 'Closed'",
            "updatedDateTime lt 2026-01-01T00:00:00Z",
            "engagementId eq 'e1'",
        ];
        for filter in no {
            assert!(
                !parse_filter(filter).unwrap().matches(&referral),
                "{filter}"
            );
        }
        let refused = [
            "customerProfile/address/country eq 'US'",
            "status ne 'Active'",
            "status eq Active",
            "updatedDateTime ge 'yesterday'",
            "status eq 'Active' and",
            "(status eq 'Active'",
            "status eq 'Active",
            "contains(name, 'x')",
        ];
        for filter in refused {
            assert!(parse_filter(filter).is_err(), "{filter}");
        }
    }

    #[test]
    fn order_and_select() {
        assert_eq!(
            parse_order_by("updatedDateTime desc,createdDateTime").unwrap(),
            vec![("updatedDateTime", true), ("createdDateTime", false)]
        );
        assert!(parse_order_by("name asc").is_err());
        let picked = select(
            &doc(json!({"id": "1", "customerProfile": {"name": "n", "size": "s"}, "x": 1})),
            &["id".into(), "customerProfile/name".into()],
        );
        assert_eq!(
            Value::Object(picked),
            json!({"id": "1", "customerProfile": {"name": "n"}})
        );
    }
}
