//! `$filter`: the OData subset the crate's filter builder emits, parsed and evaluated on rows.
//!
//! Comparisons (`eq ne gt ge lt le`) of a property (or a `lookup/column` path) with a literal
//! (`null`, `true`/`false`, numbers, `'text'` with `''` escapes, GUIDs, dates, date-times);
//! `and`, `or`, `not`, parentheses; `contains`/`startswith`/`endswith` with SQL `LIKE`
//! wildcards (`[%]`, `[_]`, `[[]` escape them); the query functions
//! `Microsoft.Dynamics.CRM.In`, `NotIn`, `Between`, `NotBetween`, `ContainValues`,
//! `DoesNotContainValues`, `Null`, `NotNull`, `On`, `NotOn`, `OnOrAfter`, `OnOrBefore`,
//! `Today`, `Yesterday`, `Tomorrow`, `LastXDays`, `NextXDays`, `LastXHours`, `NextXHours`,
//! `OlderThanXDays`, `EqualUserId`, `NotEqualUserId` (dates in UTC; the user is the application
//! user); the bare `true`/`false`. Anything else is a 400 with the service's syntax error.

use std::cmp::Ordering;

use jiff::Timestamp;
use jiff::civil::Date;
use rust_decimal::Decimal;
use serde_json::Value;
use uuid::Uuid;

use super::error::{DvError, DvResult};
use super::schema::{ColumnKind, TableDef};
use super::store::{APPLICATION_USER, Row, State};

/// A literal in a `$filter` or a key.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Literal {
    Null,
    Bool(bool),
    Int(i64),
    Decimal(Decimal),
    Text(String),
    Guid(Uuid),
    Date(Date),
    Timestamp(Timestamp),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Like {
    Contains,
    StartsWith,
    EndsWith,
}

/// A parsed `$filter`.
#[derive(Debug, Clone)]
pub(crate) enum Expr {
    Const(bool),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Compare(Vec<String>, Op, Literal),
    Like(Like, Vec<String>, String),
    Crm(String, Vec<String>, Vec<Literal>),
}

const CRM_PREFIX: &str = "Microsoft.Dynamics.CRM.";
const CRM_FUNCTIONS: [&str; 22] = [
    "In",
    "NotIn",
    "Between",
    "NotBetween",
    "ContainValues",
    "DoesNotContainValues",
    "Null",
    "NotNull",
    "On",
    "NotOn",
    "OnOrAfter",
    "OnOrBefore",
    "Today",
    "Yesterday",
    "Tomorrow",
    "LastXDays",
    "NextXDays",
    "LastXHours",
    "NextXHours",
    "OlderThanXDays",
    "EqualUserId",
    "NotEqualUserId",
];

/// Functions of a date column taking a number of days or hours.
const RELATIVE_DATE_FUNCTIONS: [&str; 5] = [
    "LastXDays",
    "NextXDays",
    "LastXHours",
    "NextXHours",
    "OlderThanXDays",
];

/// Functions of a date column taking a date.
const DAY_FUNCTIONS: [&str; 4] = ["On", "NotOn", "OnOrAfter", "OnOrBefore"];

/// Functions without values.
const NO_VALUE_FUNCTIONS: [&str; 7] = [
    "Null",
    "NotNull",
    "Today",
    "Yesterday",
    "Tomorrow",
    "EqualUserId",
    "NotEqualUserId",
];

/// The type a function's values are read as.
pub(crate) fn argument_kind(function: &str, column: &ColumnKind) -> ColumnKind {
    if RELATIVE_DATE_FUNCTIONS.contains(&function) {
        ColumnKind::Integer
    } else {
        column.clone()
    }
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

/// Parses a `$filter`.
pub(crate) fn parse(text: &str) -> DvResult<Expr> {
    let mut parser = Parser { text, pos: 0 };
    let expr = parser.or()?;
    parser.skip_spaces();
    if parser.pos < text.len() {
        return Err(parser.error());
    }
    Ok(expr)
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.text[self.pos..]
    }

    fn error(&self) -> DvError {
        DvError::odata(format!(
            "Syntax error at position {} in '{}'.",
            self.pos, self.text
        ))
    }

    fn skip_spaces(&mut self) {
        while self.rest().starts_with(' ') {
            self.pos += 1;
        }
    }

    /// Consumes `word` when it stands alone (followed by a space, `(` or the end).
    fn keyword(&mut self, word: &str) -> bool {
        self.skip_spaces();
        let rest = self.rest();
        if let Some(after) = rest.strip_prefix(word)
            && (after.is_empty() || after.starts_with([' ', '(']))
        {
            self.pos += word.len();
            return true;
        }
        false
    }

    fn symbol(&mut self, symbol: char) -> bool {
        self.skip_spaces();
        if self.rest().starts_with(symbol) {
            self.pos += symbol.len_utf8();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, symbol: char) -> DvResult<()> {
        if self.symbol(symbol) {
            Ok(())
        } else {
            Err(self.error())
        }
    }

    fn or(&mut self) -> DvResult<Expr> {
        let mut left = self.and()?;
        while self.keyword("or") {
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> DvResult<Expr> {
        let mut left = self.unary()?;
        while self.keyword("and") {
            let right = self.unary()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> DvResult<Expr> {
        if self.keyword("not") {
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        self.primary()
    }

    fn identifier(&mut self) -> &str {
        self.skip_spaces();
        let start = self.pos;
        let len = self
            .rest()
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '/'))
            .unwrap_or(self.rest().len());
        self.pos += len;
        &self.text[start..start + len]
    }

    fn primary(&mut self) -> DvResult<Expr> {
        if self.symbol('(') {
            let inner = self.or()?;
            self.expect(')')?;
            return Ok(inner);
        }
        let start = self.pos;
        let name = self.identifier().to_owned();
        if name.is_empty() {
            return Err(self.error());
        }
        if self.rest().starts_with('(') {
            return self.function(&name, start);
        }
        match name.as_str() {
            "true" => return Ok(Expr::Const(true)),
            "false" => return Ok(Expr::Const(false)),
            _ => {}
        }
        let path = property_path(&name).ok_or_else(|| self.error())?;
        let op = match self.identifier() {
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "gt" => Op::Gt,
            "ge" => Op::Ge,
            "lt" => Op::Lt,
            "le" => Op::Le,
            _ => return Err(self.error()),
        };
        let literal = self.literal()?;
        Ok(Expr::Compare(path, op, literal))
    }

    fn function(&mut self, name: &str, start: usize) -> DvResult<Expr> {
        self.expect('(')?;
        let like = match name {
            "contains" => Some(Like::Contains),
            "startswith" => Some(Like::StartsWith),
            "endswith" => Some(Like::EndsWith),
            _ => None,
        };
        if let Some(like) = like {
            let path = property_path(self.identifier()).ok_or_else(|| self.error())?;
            self.expect(',')?;
            let Literal::Text(pattern) = self.literal()? else {
                return Err(self.error());
            };
            self.expect(')')?;
            return Ok(Expr::Like(like, path, pattern));
        }
        let Some(function) = name.strip_prefix(CRM_PREFIX) else {
            self.pos = start;
            return Err(DvError::odata(format!(
                "An unknown function with name '{name}' was found. This may also be a function \
                 import or a key lookup on a navigation property, which is not allowed."
            )));
        };
        if !CRM_FUNCTIONS.contains(&function) {
            return Err(DvError::odata(format!(
                "The query function '{name}' is not supported by the emulator; it supports \
                 Microsoft.Dynamics.CRM.{}.",
                CRM_FUNCTIONS.join(", Microsoft.Dynamics.CRM.")
            )));
        }
        if self.identifier() != "PropertyName" || !self.symbol('=') {
            return Err(self.error());
        }
        let Literal::Text(property) = self.literal()? else {
            return Err(self.error());
        };
        let path = property_path(&property).ok_or_else(|| self.error())?;
        let mut values = Vec::new();
        if self.symbol(',') {
            match self.identifier() {
                "PropertyValue" => {
                    self.expect('=')?;
                    values.push(self.literal()?);
                }
                "PropertyValues" => {
                    self.expect('=')?;
                    self.expect('[')?;
                    loop {
                        values.push(self.literal()?);
                        if self.symbol(']') {
                            break;
                        }
                        self.expect(',')?;
                    }
                }
                _ => return Err(self.error()),
            }
        }
        self.expect(')')?;
        Ok(Expr::Crm(function.to_owned(), path, values))
    }

    fn literal(&mut self) -> DvResult<Literal> {
        self.skip_spaces();
        let rest = self.rest();
        if rest.starts_with('\'') {
            let mut text = String::new();
            let mut chars = rest.char_indices().skip(1).peekable();
            while let Some((i, c)) = chars.next() {
                if c == '\'' {
                    if chars.peek().map(|(_, c)| *c) == Some('\'') {
                        chars.next();
                        text.push('\'');
                        continue;
                    }
                    self.pos += i + 1;
                    return Ok(Literal::Text(text));
                }
                text.push(c);
            }
            return Err(self.error());
        }
        let len = rest.find([' ', ')', ',', ']']).unwrap_or(rest.len());
        let token = &rest[..len];
        match parse_bare_literal(token) {
            Some(literal) => {
                self.pos += len;
                Ok(literal)
            }
            None => Err(self.error()),
        }
    }
}

fn property_path(name: &str) -> Option<Vec<String>> {
    let parts: Vec<String> = name.split('/').map(str::to_owned).collect();
    let plain = parts.len() <= 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !p.starts_with(|c: char| c.is_ascii_digit())
        });
    plain.then_some(parts)
}

/// A literal without quotes: `null`, `true`, a number, a GUID, a date or a date-time.
pub(crate) fn parse_bare_literal(token: &str) -> Option<Literal> {
    match token {
        "null" => return Some(Literal::Null),
        "true" => return Some(Literal::Bool(true)),
        "false" => return Some(Literal::Bool(false)),
        _ => {}
    }
    if token.len() == 36
        && let Ok(guid) = Uuid::parse_str(token)
    {
        return Some(Literal::Guid(guid));
    }
    if let Ok(int) = token.parse::<i64>() {
        return Some(Literal::Int(int));
    }
    if token.len() == 10
        && let Ok(date) = token.parse::<Date>()
    {
        return Some(Literal::Date(date));
    }
    if token.contains('T')
        && let Ok(ts) = token.parse::<Timestamp>()
    {
        return Some(Literal::Timestamp(ts));
    }
    if token
        .chars()
        .all(|c| c.is_ascii_digit() || c == '.' || c == '-')
    {
        return token.parse::<Decimal>().ok().map(Literal::Decimal);
    }
    None
}

/// A literal in a key segment or a filter: a quoted string or a bare literal.
pub(crate) fn parse_literal(token: &str) -> Option<Literal> {
    if let Some(inner) = token.strip_prefix('\'').and_then(|t| t.strip_suffix('\'')) {
        // Every quote inside must be doubled.
        let unescaped = inner.replace("''", "'");
        if unescaped.matches('\'').count() * 2 != inner.matches('\'').count() {
            return None;
        }
        return Some(Literal::Text(unescaped));
    }
    parse_bare_literal(token)
}

/// Resolves every property of `expr` against `table` and checks the literals' types, so a bad
/// filter is answered 400 even when no row would be compared.
pub(crate) fn check(expr: &Expr, table: &TableDef, state: &State) -> DvResult<()> {
    match expr {
        Expr::Const(_) => Ok(()),
        Expr::And(a, b) | Expr::Or(a, b) => {
            check(a, table, state)?;
            check(b, table, state)
        }
        Expr::Not(inner) => check(inner, table, state),
        Expr::Compare(path, op, literal) => {
            let kind = resolve(path, table, state)?;
            if !compatible(&kind, literal) {
                return Err(DvError::odata(format!(
                    "A binary operator with incompatible types was detected. Found operand types \
                     '{}' and '{}' for operator kind '{op:?}'.",
                    kind.edm(),
                    literal_edm(literal)
                )));
            }
            Ok(())
        }
        Expr::Like(like, path, _) => {
            let kind = resolve(path, table, state)?;
            if matches!(kind, ColumnKind::Text { .. } | ColumnKind::Memo { .. }) {
                Ok(())
            } else {
                Err(DvError::odata(format!(
                    "No function signature for the function with name '{}' matches the \
                     specified arguments. The function signatures considered are: \
                     {0}(Edm.String Nullable=true, Edm.String Nullable=true).",
                    match like {
                        Like::Contains => "contains",
                        Like::StartsWith => "startswith",
                        Like::EndsWith => "endswith",
                    }
                )))
            }
        }
        Expr::Crm(function, path, values) => {
            let path = &crm_path(path, table);
            let kind = resolve(path, table, state)?;
            let function = function.as_str();
            let arity_ok = match function {
                f if NO_VALUE_FUNCTIONS.contains(&f) => values.is_empty(),
                "Between" | "NotBetween" => values.len() == 2,
                f if DAY_FUNCTIONS.contains(&f) || RELATIVE_DATE_FUNCTIONS.contains(&f) => {
                    values.len() == 1
                }
                _ => !values.is_empty(),
            };
            if !arity_ok {
                return Err(DvError::odata(format!(
                    "Microsoft.Dynamics.CRM.{function}: wrong number of property values."
                )));
            }
            let dated = DAY_FUNCTIONS.contains(&function)
                || RELATIVE_DATE_FUNCTIONS.contains(&function)
                || matches!(function, "Today" | "Yesterday" | "Tomorrow");
            if dated && !matches!(kind, ColumnKind::DateOnly | ColumnKind::DateTime) {
                return Err(DvError::odata(format!(
                    "Microsoft.Dynamics.CRM.{function} applies only to date columns."
                )));
            }
            if matches!(function, "EqualUserId" | "NotEqualUserId")
                && !matches!(kind, ColumnKind::Lookup(_))
            {
                return Err(DvError::odata(format!(
                    "Microsoft.Dynamics.CRM.{function} applies only to lookups."
                )));
            }
            if matches!(function, "ContainValues" | "DoesNotContainValues")
                && !matches!(kind, ColumnKind::Choices(_))
            {
                return Err(DvError::odata(format!(
                    "Microsoft.Dynamics.CRM.{function} applies only to choices (multi-select) \
                     columns."
                )));
            }
            let argument = argument_kind(function, &kind);
            for value in values {
                coerce_for(&argument, value)?;
            }
            Ok(())
        }
    }
}

fn literal_edm(literal: &Literal) -> &'static str {
    match literal {
        Literal::Null => "null",
        Literal::Bool(_) => "Edm.Boolean",
        Literal::Int(_) => "Edm.Int32",
        Literal::Decimal(_) => "Edm.Decimal",
        Literal::Text(_) => "Edm.String",
        Literal::Guid(_) => "Edm.Guid",
        Literal::Date(_) => "Edm.Date",
        Literal::Timestamp(_) => "Edm.DateTimeOffset",
    }
}

fn compatible(kind: &ColumnKind, literal: &Literal) -> bool {
    use ColumnKind as K;
    match literal {
        Literal::Null => true,
        Literal::Text(_) => matches!(kind, K::Text { .. } | K::Memo { .. } | K::Choices(_)),
        Literal::Int(_) => matches!(
            kind,
            K::Integer
                | K::BigInt
                | K::Decimal
                | K::Money
                | K::Choice(_)
                | K::State(_)
                | K::Status(_)
        ),
        Literal::Decimal(_) => matches!(kind, K::Integer | K::BigInt | K::Decimal | K::Money),
        Literal::Bool(_) => matches!(kind, K::Boolean),
        Literal::Guid(_) => matches!(kind, K::PrimaryKey | K::Lookup(_)),
        Literal::Date(_) | Literal::Timestamp(_) => matches!(kind, K::DateOnly | K::DateTime),
    }
}

/// A value given as text (`PropertyValues=['3']`) read as the column's type.
pub(crate) fn coerce_for(kind: &ColumnKind, literal: &Literal) -> DvResult<Literal> {
    use ColumnKind as K;
    let Literal::Text(text) = literal else {
        if compatible(kind, literal) {
            return Ok(literal.clone());
        }
        return Err(DvError::odata(format!(
            "The value '{literal:?}' cannot be converted to '{}'.",
            kind.edm()
        )));
    };
    let converted = match kind {
        K::Text { .. } | K::Memo { .. } | K::Choices(_) => Some(Literal::Text(text.clone())),
        K::Integer | K::BigInt | K::Choice(_) | K::State(_) | K::Status(_) => {
            text.parse().ok().map(Literal::Int)
        }
        K::Decimal | K::Money => text.parse().ok().map(Literal::Decimal),
        K::Boolean => match text.as_str() {
            "true" | "1" => Some(Literal::Bool(true)),
            "false" | "0" => Some(Literal::Bool(false)),
            _ => None,
        },
        K::PrimaryKey | K::Lookup(_) => Uuid::parse_str(text).ok().map(Literal::Guid),
        K::DateOnly | K::DateTime => parse_bare_literal(text)
            .filter(|l| matches!(l, Literal::Date(_) | Literal::Timestamp(_))),
    };
    converted.ok_or_else(|| {
        DvError::odata(format!(
            "The value '{text}' cannot be converted to '{}'.",
            kind.edm()
        ))
    })
}

/// The column kind at the end of a property path.
fn resolve(path: &[String], table: &TableDef, state: &State) -> DvResult<ColumnKind> {
    match path {
        [property] => table
            .by_property(property)
            .map(|c| c.kind.clone())
            .ok_or_else(|| DvError::unknown_property(property, &table.logical_name)),
        [nav, property] => {
            let target = navigation_target(table, nav)
                .and_then(|set| state.table(set))
                .ok_or_else(|| DvError::unknown_property(nav, &table.logical_name))?;
            resolve(std::slice::from_ref(property), &target.def, state)
        }
        _ => Err(DvError::odata(
            "Property paths are at most two segments long.",
        )),
    }
}

/// The entity set a navigation property (or a single-target lookup column) points at.
fn navigation_target<'a>(table: &'a TableDef, nav: &str) -> Option<&'a str> {
    if let Some((_, set)) = table.navigation(nav) {
        return Some(set);
    }
    match table.column(nav).map(|c| &c.kind) {
        Some(ColumnKind::Lookup(targets)) if targets.len() == 1 => Some(targets[0].1.as_str()),
        _ => None,
    }
}

/// Whether `row` of `table` matches a checked `expr`.
pub(crate) fn matches(expr: &Expr, table: &TableDef, row: &Row, state: &State) -> bool {
    match expr {
        Expr::Const(b) => *b,
        Expr::And(a, b) => matches(a, table, row, state) && matches(b, table, row, state),
        Expr::Or(a, b) => matches(a, table, row, state) || matches(b, table, row, state),
        Expr::Not(inner) => !matches(inner, table, row, state),
        Expr::Compare(path, op, literal) => {
            let Some((kind, value)) = lookup_value(path, table, row, state) else {
                return false;
            };
            compare(&kind, &value, *op, literal)
        }
        Expr::Like(like, path, pattern) => {
            let Some((_, Value::String(text))) = lookup_value(path, table, row, state) else {
                return false;
            };
            like_matches(*like, pattern, &text)
        }
        Expr::Crm(function, path, values) => {
            let path = &crm_path(path, table);
            let Some((kind, value)) = lookup_value(path, table, row, state) else {
                return false;
            };
            let argument = argument_kind(function, &kind);
            let values: Vec<Literal> = values
                .iter()
                .filter_map(|v| coerce_for(&argument, v).ok())
                .collect();
            let any_eq = || values.iter().any(|v| compare(&kind, &value, Op::Eq, v));
            let between = || {
                values.len() == 2
                    && compare(&kind, &value, Op::Ge, &values[0])
                    && compare(&kind, &value, Op::Le, &values[1])
            };
            let chosen = || -> Vec<String> {
                value
                    .as_str()
                    .unwrap_or_default()
                    .split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            };
            let contains_any = || {
                let chosen = chosen();
                values.iter().any(|v| match v {
                    Literal::Text(t) => chosen.iter().any(|c| c == t.trim()),
                    _ => false,
                })
            };
            match function.as_str() {
                "In" => any_eq(),
                "NotIn" => !value.is_null() && !any_eq(),
                "Between" => between(),
                "NotBetween" => !value.is_null() && !between(),
                "ContainValues" => contains_any(),
                "DoesNotContainValues" => !contains_any(),
                "Null" => value.is_null(),
                "NotNull" => !value.is_null(),
                "EqualUserId" => value.as_str() == Some(APPLICATION_USER.to_string().as_str()),
                "NotEqualUserId" => {
                    !value.is_null()
                        && value.as_str() != Some(APPLICATION_USER.to_string().as_str())
                }
                other => dated(other, &kind, &value, values.first(), state.clock.now()),
            }
        }
    }
}

/// Query functions name a lookup by its column (`ownerid`); the row holds `_ownerid_value`.
pub(crate) fn crm_path(path: &[String], table: &TableDef) -> Vec<String> {
    match path {
        [name] => match table.column(name) {
            Some(column) if matches!(column.kind, ColumnKind::Lookup(_)) => vec![column.property()],
            _ => path.to_vec(),
        },
        _ => path.to_vec(),
    }
}

/// The date functions, in UTC: days compare by calendar day, hours by instant.
fn dated(
    function: &str,
    kind: &ColumnKind,
    value: &Value,
    argument: Option<&Literal>,
    now: Timestamp,
) -> bool {
    let Some(text) = value.as_str() else {
        return false;
    };
    let utc = jiff::tz::TimeZone::UTC;
    let instant = match kind {
        ColumnKind::DateOnly => text
            .parse::<Date>()
            .ok()
            .and_then(|d| utc.to_timestamp(d.at(0, 0, 0, 0)).ok()),
        _ => text.parse::<Timestamp>().ok(),
    };
    let Some(instant) = instant else {
        return false;
    };
    let day = utc.to_datetime(instant).date();
    let today = utc.to_datetime(now).date();
    let shift = |days: i64| today.checked_add(jiff::Span::new().days(days)).ok();
    let count = match argument {
        Some(Literal::Int(n)) => Some(*n),
        _ => None,
    };
    let wanted_day = match argument {
        Some(Literal::Date(d)) => Some(*d),
        Some(Literal::Timestamp(t)) => Some(utc.to_datetime(*t).date()),
        _ => None,
    };
    let hours = |n: i64| jiff::SignedDuration::from_hours(n);
    match (function, count, wanted_day) {
        ("On", _, Some(d)) => day == d,
        ("NotOn", _, Some(d)) => day != d,
        ("OnOrAfter", _, Some(d)) => day >= d,
        ("OnOrBefore", _, Some(d)) => day <= d,
        ("Today", _, _) => day == today,
        ("Yesterday", _, _) => Some(day) == shift(-1),
        ("Tomorrow", _, _) => Some(day) == shift(1),
        ("LastXDays", Some(n), _) => shift(-n).is_some_and(|from| from <= day && day <= today),
        ("NextXDays", Some(n), _) => shift(n).is_some_and(|to| today <= day && day <= to),
        ("LastXHours", Some(n), _) => now
            .checked_sub(hours(n))
            .is_ok_and(|from| from <= instant && instant <= now),
        ("NextXHours", Some(n), _) => now
            .checked_add(hours(n))
            .is_ok_and(|to| now <= instant && instant <= to),
        ("OlderThanXDays", Some(n), _) => now
            .checked_sub(hours(n.saturating_mul(24)))
            .is_ok_and(|before| instant < before),
        _ => false,
    }
}

/// The value of a property path on a row (`Value::Null` when unset), with its column kind.
fn lookup_value(
    path: &[String],
    table: &TableDef,
    row: &Row,
    state: &State,
) -> Option<(ColumnKind, Value)> {
    match path {
        [property] => {
            let column = table.by_property(property)?;
            let value = if *property == table.primary_id {
                Value::String(row.id.to_string())
            } else {
                row.fields.get(property).cloned().unwrap_or(Value::Null)
            };
            Some((column.kind.clone(), value))
        }
        [nav, property] => {
            let set = navigation_target(table, nav)?;
            let lookup = table
                .navigation(nav)
                .map(|(c, _)| c)
                .or_else(|| table.column(nav))?;
            let target_table = state.table(set)?;
            let kind = target_table.def.by_property(property)?.kind.clone();
            let target = row
                .fields
                .get(&lookup.property())
                .and_then(Value::as_str)
                .and_then(|id| Uuid::parse_str(id).ok())
                .and_then(|id| target_table.row(id));
            match target {
                Some(target) => lookup_value(
                    std::slice::from_ref(property),
                    &target_table.def,
                    target,
                    state,
                ),
                None => Some((kind, Value::Null)),
            }
        }
        _ => None,
    }
}

/// Compares a stored value with a literal as the service does: text without regard to case,
/// `null` only equal to `null`, and a comparison with an unset value false.
pub(crate) fn compare(kind: &ColumnKind, stored: &Value, op: Op, literal: &Literal) -> bool {
    if matches!(literal, Literal::Null) {
        return match op {
            Op::Eq => stored.is_null(),
            Op::Ne => !stored.is_null(),
            _ => false,
        };
    }
    if stored.is_null() {
        return false;
    }
    let Some(ordering) = order(kind, stored, literal) else {
        return false;
    };
    match op {
        Op::Eq => ordering == Ordering::Equal,
        Op::Ne => ordering != Ordering::Equal,
        Op::Gt => ordering == Ordering::Greater,
        Op::Ge => ordering != Ordering::Less,
        Op::Lt => ordering == Ordering::Less,
        Op::Le => ordering != Ordering::Greater,
    }
}

/// Whether a stored value equals a key literal.
pub(crate) fn key_equals(kind: &ColumnKind, stored: &Value, literal: &Literal) -> bool {
    let literal = coerce_for(kind, literal).unwrap_or_else(|_| literal.clone());
    compare(kind, stored, Op::Eq, &literal)
}

fn order(kind: &ColumnKind, stored: &Value, literal: &Literal) -> Option<Ordering> {
    match literal {
        Literal::Null => None,
        Literal::Bool(b) => stored.as_bool().map(|s| s.cmp(b)),
        Literal::Int(_) | Literal::Decimal(_) => {
            let wanted = match literal {
                Literal::Int(i) => Decimal::from(*i),
                Literal::Decimal(d) => *d,
                _ => return None,
            };
            decimal_of(stored).map(|s| s.cmp(&wanted))
        }
        Literal::Text(text) => stored
            .as_str()
            .map(|s| s.to_lowercase().cmp(&text.to_lowercase())),
        Literal::Guid(guid) => stored
            .as_str()
            .and_then(|s| Uuid::parse_str(s).ok())
            .map(|s| s.cmp(guid)),
        Literal::Date(date) => {
            let text = stored.as_str()?;
            match kind {
                ColumnKind::DateTime => {
                    let ts: Timestamp = text.parse().ok()?;
                    let midnight = jiff::tz::TimeZone::UTC
                        .to_timestamp(date.at(0, 0, 0, 0))
                        .ok()?;
                    Some(ts.cmp(&midnight))
                }
                _ => text.parse::<Date>().ok().map(|d| d.cmp(date)),
            }
        }
        Literal::Timestamp(ts) => {
            let text = stored.as_str()?;
            match kind {
                ColumnKind::DateOnly => {
                    let wanted = jiff::tz::TimeZone::UTC.to_datetime(*ts).date();
                    text.parse::<Date>().ok().map(|d| d.cmp(&wanted))
                }
                _ => text.parse::<Timestamp>().ok().map(|s| s.cmp(ts)),
            }
        }
    }
}

/// A stored JSON number as a decimal.
pub(crate) fn decimal_of(value: &Value) -> Option<Decimal> {
    match value {
        Value::Number(n) => {
            let text = n.to_string();
            text.parse::<Decimal>()
                .ok()
                .or_else(|| Decimal::from_scientific(&text).ok())
        }
        _ => None,
    }
}

/// Orders two stored values of one column for `$orderby`: unset values first, text without
/// regard to case.
pub(crate) fn order_values(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        (Value::Number(_), Value::Number(_)) => decimal_of(a).cmp(&decimal_of(b)),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::String(x), Value::String(y)) => x.to_lowercase().cmp(&y.to_lowercase()),
        _ => Ordering::Equal,
    }
}

/// Whether `text` matches the pattern of a `contains` / `startswith` / `endswith`.
pub(crate) fn like_matches(like: Like, pattern: &str, text: &str) -> bool {
    let pattern = match like {
        Like::Contains => format!("%{pattern}%"),
        Like::StartsWith => format!("{pattern}%"),
        Like::EndsWith => format!("%{pattern}"),
    };
    like_match(&pattern, text)
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Any,
    One,
    Set(Vec<char>),
}

/// Lower case, character by character: `str::to_lowercase` writes a final sigma (`ς`) by its
/// neighbours, which differ between a pattern (`%Σ`) and the text it must match (`xΣ`).
fn fold_case(text: &str) -> Vec<char> {
    text.chars().flat_map(char::to_lowercase).collect()
}

/// SQL `LIKE` without regard to case: `%` any run, `_` one character, `[abc]` one of a set.
fn like_match(pattern: &str, text: &str) -> bool {
    let mut tokens = Vec::new();
    let chars = fold_case(pattern);
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '%' => tokens.push(Token::Any),
            '_' => tokens.push(Token::One),
            '[' => {
                // The set ends at the first `]` after at least one character.
                let close = chars[i + 1..]
                    .iter()
                    .skip(1)
                    .position(|c| *c == ']')
                    .map(|p| i + 2 + p);
                match close {
                    Some(end) => {
                        tokens.push(Token::Set(chars[i + 1..end].to_vec()));
                        i = end;
                    }
                    None => tokens.push(Token::Set(vec!['['])),
                }
            }
            c => tokens.push(Token::Set(vec![c])),
        }
        i += 1;
    }
    like_from(&tokens, &fold_case(text))
}

fn like_from(tokens: &[Token], text: &[char]) -> bool {
    match tokens.split_first() {
        None => text.is_empty(),
        Some((Token::Any, rest)) => (0..=text.len()).any(|skip| like_from(rest, &text[skip..])),
        Some((Token::One, rest)) => !text.is_empty() && like_from(rest, &text[1..]),
        Some((Token::Set(set), rest)) => {
            !text.is_empty() && set.contains(&text[0]) && like_from(rest, &text[1..])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_honour_escaped_wildcards() {
        assert!(like_match("%50[%]%", "a 50% discount"));
        assert!(!like_match("%50[%]%", "a 500 discount"));
        assert!(like_match("a[_]b%", "A_B c"));
        assert!(!like_match("a[_]b%", "axb"));
        assert!(like_match("%[[]x]%", "[x]"));
        assert!(like_match("f_o", "FOO"));
        // A capital sigma ends the text but not the pattern: both fold it the same way.
        assert!(like_match("%Σ", "ΟΔΟΣ"));
        assert!(like_match("%σ%", "xΣy"));
    }

    #[test]
    fn the_builders_forms_parse() {
        for text in [
            "statecode eq 0 and (name eq 'O''Neil' or not (closeprobability gt 50))",
            "_parentaccountid_value eq 5a0c2f8e-1111-4b6e-9a1e-0123456789ab",
            "estimatedclosedate ge 2025-01-01 and modifiedon lt 2025-01-01T00:00:00Z",
            "Microsoft.Dynamics.CRM.In(PropertyName='statuscode',PropertyValues=['1','2'])",
            "contains(name,'50[%]') and estimatedvalue gt 10.5 and description eq null",
            "false",
        ] {
            assert!(parse(text).is_ok(), "{text}");
        }
        for text in [
            "name eqq 'x'",
            "name eq 'x",
            "substringof('x',name)",
            "name eq",
        ] {
            assert!(parse(text).is_err(), "{text}");
        }
    }
}
