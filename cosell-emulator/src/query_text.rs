//! The emulator's reading of query text, in process.
//!
//! A client's query builder can be checked against the emulator's own parsers without a round
//! trip over HTTP: [`parse_odata_filter`] reads a Dataverse `$filter` as the emulated Web API
//! does, and [`parse_soql`] reads a SOQL query as the emulated REST API does. What they return
//! names every predicate of the query with its literals, so a test can tell that a value it
//! built came back intact and did not break out of its literal (the query holds exactly the
//! predicates that were built).
//!
//! These are the parsers the services use, not copies: what they accept is what a request to
//! the emulator would accept. Names of columns and fields are not resolved against any table or
//! object here; that is left to the services.
//!
//! ```
//! use cosell_emulator::query_text::{ODataLiteral, ODataPredicate, parse_odata_filter};
//!
//! let filter = parse_odata_filter("name eq 'O''Neil'").unwrap();
//! assert_eq!(
//!     filter.single(),
//!     Some(ODataPredicate::Compare {
//!         path: vec!["name".to_owned()],
//!         operator: "eq",
//!         value: ODataLiteral::Text("O'Neil".to_owned()),
//!     })
//! );
//! assert!(parse_odata_filter("name eq 'O'Neil'").is_err());
//! ```

use jiff::Timestamp;
use jiff::civil::Date;
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::dataverse::filter::{self, Expr, Like, Op};
use crate::salesforce::soql::{self, Compare, Condition, Query};

/// A literal of a `$filter`, as the emulated Dataverse read it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ODataLiteral {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number without a fraction that fits an `i64`.
    Int(i64),
    /// Any other number.
    Decimal(Decimal),
    /// A quoted string, its `''` read as `'`.
    Text(String),
    /// A bare GUID.
    Guid(Uuid),
    /// A bare date.
    Date(Date),
    /// A bare date-time.
    Timestamp(Timestamp),
}

impl From<filter::Literal> for ODataLiteral {
    fn from(literal: filter::Literal) -> Self {
        match literal {
            filter::Literal::Null => ODataLiteral::Null,
            filter::Literal::Bool(b) => ODataLiteral::Bool(b),
            filter::Literal::Int(i) => ODataLiteral::Int(i),
            filter::Literal::Decimal(d) => ODataLiteral::Decimal(d),
            filter::Literal::Text(t) => ODataLiteral::Text(t),
            filter::Literal::Guid(g) => ODataLiteral::Guid(g),
            filter::Literal::Date(d) => ODataLiteral::Date(d),
            filter::Literal::Timestamp(t) => ODataLiteral::Timestamp(t),
        }
    }
}

/// One predicate of a `$filter`: what stands between `and`, `or`, `not` and parentheses.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ODataPredicate {
    /// The bare `true` or `false`.
    Constant(bool),
    /// `path op literal`; `operator` is `eq`, `ne`, `gt`, `ge`, `lt` or `le`.
    Compare {
        /// The property, or the navigation property and the property (`parentaccountid/name`).
        path: Vec<String>,
        /// The operator.
        operator: &'static str,
        /// The literal.
        value: ODataLiteral,
    },
    /// `contains`, `startswith` or `endswith` (`function`) of a property and a pattern.
    Like {
        /// The function.
        function: &'static str,
        /// The property.
        path: Vec<String>,
        /// The pattern as written, with its `[%]`, `[_]` and `[[]` escapes.
        pattern: String,
    },
    /// `Microsoft.Dynamics.CRM.<function>(PropertyName='…'[,PropertyValue(s)=…])`.
    Function {
        /// The function's name without the `Microsoft.Dynamics.CRM.` prefix.
        function: String,
        /// The property named by `PropertyName`.
        path: Vec<String>,
        /// The values, in order.
        values: Vec<ODataLiteral>,
    },
}

impl ODataPredicate {
    /// For a `contains` / `startswith` / `endswith` predicate, whether a column holding `text`
    /// matches it, as the emulated Dataverse decides (SQL `LIKE`, without regard to case);
    /// `None` for any other predicate.
    pub fn like_matches(&self, text: &str) -> Option<bool> {
        match self {
            ODataPredicate::Like {
                function, pattern, ..
            } => {
                let like = match *function {
                    "contains" => Like::Contains,
                    "startswith" => Like::StartsWith,
                    _ => Like::EndsWith,
                };
                Some(filter::like_matches(like, pattern, text))
            }
            _ => None,
        }
    }
}

/// A `$filter` the emulated Dataverse accepted.
#[derive(Debug, Clone)]
pub struct ODataFilter {
    expr: Expr,
}

/// Reads a `$filter` expression as the emulated Dataverse Web API does.
///
/// # Errors
/// The message of the `400` (`0x80060888`) the service answers to text it cannot parse.
pub fn parse_odata_filter(text: &str) -> Result<ODataFilter, String> {
    filter::parse(text)
        .map(|expr| ODataFilter { expr })
        .map_err(|e| e.message)
}

impl ODataFilter {
    /// Every predicate, left to right.
    pub fn predicates(&self) -> Vec<ODataPredicate> {
        let mut out = Vec::new();
        collect_odata(&self.expr, &mut out);
        out
    }

    /// The predicate, when the whole filter is one predicate (no `and`, `or` or `not`).
    pub fn single(&self) -> Option<ODataPredicate> {
        match &self.expr {
            Expr::And(..) | Expr::Or(..) | Expr::Not(_) => None,
            leaf => odata_leaf(leaf),
        }
    }
}

fn collect_odata(expr: &Expr, out: &mut Vec<ODataPredicate>) {
    match expr {
        Expr::And(a, b) | Expr::Or(a, b) => {
            collect_odata(a, out);
            collect_odata(b, out);
        }
        Expr::Not(inner) => collect_odata(inner, out),
        leaf => out.extend(odata_leaf(leaf)),
    }
}

fn odata_leaf(expr: &Expr) -> Option<ODataPredicate> {
    Some(match expr {
        Expr::Const(b) => ODataPredicate::Constant(*b),
        Expr::Compare(path, op, literal) => ODataPredicate::Compare {
            path: path.clone(),
            operator: match op {
                Op::Eq => "eq",
                Op::Ne => "ne",
                Op::Gt => "gt",
                Op::Ge => "ge",
                Op::Lt => "lt",
                Op::Le => "le",
            },
            value: literal.clone().into(),
        },
        Expr::Like(like, path, pattern) => ODataPredicate::Like {
            function: match like {
                Like::Contains => "contains",
                Like::StartsWith => "startswith",
                Like::EndsWith => "endswith",
            },
            path: path.clone(),
            pattern: pattern.clone(),
        },
        Expr::Crm(function, path, values) => ODataPredicate::Function {
            function: function.clone(),
            path: path.clone(),
            values: values.iter().cloned().map(Into::into).collect(),
        },
        Expr::And(..) | Expr::Or(..) | Expr::Not(_) => return None,
    })
}

/// A literal of a SOQL condition, as the emulated Salesforce read it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SoqlLiteral {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number.
    Number(Decimal),
    /// A quoted string, its escapes read.
    Text(String),
    /// A date.
    Date(Date),
    /// A date-time.
    DateTime(Timestamp),
}

impl From<soql::Literal> for SoqlLiteral {
    fn from(literal: soql::Literal) -> Self {
        match literal {
            soql::Literal::Null => SoqlLiteral::Null,
            soql::Literal::Bool(b) => SoqlLiteral::Bool(b),
            soql::Literal::Number(n) => SoqlLiteral::Number(n),
            soql::Literal::Text(t) => SoqlLiteral::Text(t),
            soql::Literal::Date(d) => SoqlLiteral::Date(d),
            soql::Literal::DateTime(t) => SoqlLiteral::DateTime(t),
        }
    }
}

/// A `LIKE` pattern as the emulated Salesforce read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoqlLike {
    chars: Vec<(char, bool)>,
}

impl SoqlLike {
    /// Whether a field holding `text` matches, as the emulated Salesforce decides (without
    /// regard to case).
    pub fn matches(&self, text: &str) -> bool {
        soql::like(text, &self.chars)
    }

    /// How many wildcards (`%` and `_` not escaped with `\`) the pattern holds.
    pub fn wildcards(&self) -> usize {
        self.chars
            .iter()
            .filter(|(c, escaped)| matches!(c, '%' | '_') && !escaped)
            .count()
    }
}

/// One predicate of a SOQL `WHERE` clause: what stands between `AND`, `OR`, `NOT` and
/// parentheses.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SoqlPredicate {
    /// `field op literal`; `operator` is `=`, `!=`, `<`, `<=`, `>` or `>=`.
    Compare {
        /// The field path.
        field: String,
        /// The operator (`<>` reads as `!=`).
        operator: &'static str,
        /// The literal.
        value: SoqlLiteral,
    },
    /// `field [NOT] IN (…)`.
    In {
        /// The field path.
        field: String,
        /// Whether it is `NOT IN`.
        negated: bool,
        /// The values, in order.
        values: Vec<SoqlLiteral>,
    },
    /// `field LIKE '…'`.
    Like {
        /// The field path.
        field: String,
        /// The pattern.
        pattern: SoqlLike,
    },
    /// `field includes (…)` or `field excludes (…)`.
    Includes {
        /// The field path.
        field: String,
        /// Whether it is `excludes`.
        excludes: bool,
        /// The values, in order.
        values: Vec<String>,
    },
}

/// A SOQL query the emulated Salesforce accepted.
#[derive(Debug, Clone)]
pub struct SoqlQuery {
    query: Query,
}

/// Reads a SOQL query as the emulated Salesforce REST API does.
///
/// ```
/// use cosell_emulator::query_text::{SoqlLiteral, SoqlPredicate, parse_soql};
///
/// let query = parse_soql(r"SELECT Id FROM Opportunity WHERE Name = 'x\' OR Name != \''").unwrap();
/// assert_eq!(query.object(), "Opportunity");
/// assert_eq!(
///     query.single(),
///     Some(SoqlPredicate::Compare {
///         field: "Name".to_owned(),
///         operator: "=",
///         value: SoqlLiteral::Text("x' OR Name != '".to_owned()),
///     })
/// );
/// ```
///
/// # Errors
/// The `MALFORMED_QUERY` message the service answers to text it cannot parse.
pub fn parse_soql(text: &str) -> Result<SoqlQuery, String> {
    soql::parse(text).map(|query| SoqlQuery { query })
}

impl SoqlQuery {
    /// The object after `FROM`.
    pub fn object(&self) -> &str {
        &self.query.object
    }

    /// The selected fields (empty for `COUNT()`).
    pub fn fields(&self) -> &[String] {
        &self.query.fields
    }

    /// `LIMIT`, when given.
    pub fn limit(&self) -> Option<usize> {
        self.query.limit
    }

    /// `OFFSET`, when given.
    pub fn offset(&self) -> Option<usize> {
        self.query.offset
    }

    /// How many `ORDER BY` keys the query has.
    pub fn order_keys(&self) -> usize {
        self.query.order.len()
    }

    /// Every predicate of the `WHERE` clause, left to right.
    pub fn predicates(&self) -> Vec<SoqlPredicate> {
        let mut out = Vec::new();
        if let Some(condition) = &self.query.filter {
            collect_soql(condition, &mut out);
        }
        out
    }

    /// The predicate, when the `WHERE` clause is one predicate (no `AND`, `OR` or `NOT`).
    pub fn single(&self) -> Option<SoqlPredicate> {
        self.query.filter.as_ref().and_then(soql_leaf)
    }
}

fn collect_soql(condition: &Condition, out: &mut Vec<SoqlPredicate>) {
    match condition {
        Condition::And(parts) | Condition::Or(parts) => {
            parts.iter().for_each(|part| collect_soql(part, out));
        }
        Condition::Not(inner) => collect_soql(inner, out),
        leaf => out.extend(soql_leaf(leaf)),
    }
}

fn soql_leaf(condition: &Condition) -> Option<SoqlPredicate> {
    Some(match condition {
        Condition::Compare(field, op, literal) => SoqlPredicate::Compare {
            field: field.clone(),
            operator: match op {
                Compare::Eq => "=",
                Compare::Ne => "!=",
                Compare::Lt => "<",
                Compare::Le => "<=",
                Compare::Gt => ">",
                Compare::Ge => ">=",
            },
            value: literal.clone().into(),
        },
        Condition::In(field, negated, values) => SoqlPredicate::In {
            field: field.clone(),
            negated: *negated,
            values: values.iter().cloned().map(Into::into).collect(),
        },
        Condition::Like(field, chars) => SoqlPredicate::Like {
            field: field.clone(),
            pattern: SoqlLike {
                chars: chars.clone(),
            },
        },
        Condition::Includes(field, excludes, values) => SoqlPredicate::Includes {
            field: field.clone(),
            excludes: *excludes,
            values: values.clone(),
        },
        Condition::And(_) | Condition::Or(_) | Condition::Not(_) => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_compound_filter_lists_its_predicates_and_is_not_single() {
        let filter =
            parse_odata_filter("statecode eq 0 and (contains(name,'50[%]') or not (x eq null))")
                .unwrap();
        assert!(filter.single().is_none());
        let predicates = filter.predicates();
        assert_eq!(predicates.len(), 3);
        assert_eq!(predicates[1].like_matches("a 50% cut"), Some(true));
        assert_eq!(predicates[1].like_matches("a 500 cut"), Some(false));
        assert_eq!(predicates[0].like_matches("x"), None);
    }

    #[test]
    fn a_soql_like_counts_only_its_own_wildcards() {
        let query = parse_soql(r"SELECT Id FROM Opportunity WHERE Name LIKE '%50\%\_off%' LIMIT 5")
            .unwrap();
        assert_eq!(query.limit(), Some(5));
        let Some(SoqlPredicate::Like { pattern, .. }) = query.single() else {
            panic!("not a LIKE");
        };
        assert_eq!(pattern.wildcards(), 2);
        assert!(pattern.matches("A 50%_OFF deal"));
        assert!(!pattern.matches("a 50xxoff deal"));
    }
}
