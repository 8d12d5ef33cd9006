//! The SOQL subset the SDK's builder emits: lexer, parser, checks against the schema, and
//! evaluation on records.
//!
//! `SELECT f, … FROM Object [WHERE cond] [ORDER BY f [ASC|DESC] [NULLS FIRST|LAST], …]
//! [LIMIT n] [OFFSET n]`, where a condition is a comparison (`= != <> < <= > >=`), `[NOT] IN
//! (…)`, `LIKE '…'`, `includes (…)` / `excludes (…)`, `NOT`, or `AND` / `OR` (not mixed without
//! parentheses, as in SOQL). Literals: quoted strings with SOQL's escapes, numbers, `true`,
//! `false`, `null`, dates and date-times. Anything else is `MALFORMED_QUERY`.

use std::cmp::Ordering;
use std::collections::HashMap;

use jiff::Timestamp;
use jiff::civil::Date;
use rust_decimal::Decimal;
use serde_json::Value;

use super::FieldType;
use super::datetime;
use super::store::{FieldSchema, ObjectSchema, Org, WriteError, same_id};

/// One character of a string literal, and whether it was escaped (`\%`, `\_` in `LIKE`).
type QuotedChar = (char, bool);

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Text(Vec<QuotedChar>),
    Number(Decimal),
    Date(Date),
    DateTime(Timestamp),
    Op(&'static str),
    Open,
    Close,
    Comma,
}

fn describe(token: &Token) -> String {
    match token {
        Token::Word(w) => w.clone(),
        Token::Text(chars) => format!("'{}'", chars.iter().map(|c| c.0).collect::<String>()),
        Token::Number(n) => n.to_string(),
        Token::Date(d) => d.to_string(),
        Token::DateTime(t) => t.to_string(),
        Token::Op(op) => (*op).to_owned(),
        Token::Open => "(".to_owned(),
        Token::Close => ")".to_owned(),
        Token::Comma => ",".to_owned(),
    }
}

fn lex(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                tokens.push(Token::Open);
                i += 1;
            }
            ')' => {
                tokens.push(Token::Close);
                i += 1;
            }
            ',' => {
                tokens.push(Token::Comma);
                i += 1;
            }
            '=' => {
                tokens.push(Token::Op("="));
                i += 1;
            }
            '!' | '<' | '>' => {
                let next = chars.get(i + 1).copied();
                let (op, width) = match (c, next) {
                    ('!', Some('=')) => ("!=", 2),
                    ('<', Some('>')) => ("!=", 2),
                    ('<', Some('=')) => ("<=", 2),
                    ('>', Some('=')) => (">=", 2),
                    ('<', _) => ("<", 1),
                    ('>', _) => (">", 1),
                    _ => return Err("unexpected token: '!'".to_owned()),
                };
                tokens.push(Token::Op(op));
                i += width;
            }
            '\'' => {
                let mut value = Vec::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err("unterminated string literal".to_owned()),
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some('\\') => {
                            let escaped = match chars.get(i + 1) {
                                Some('\\') => ('\\', false),
                                Some('\'') => ('\'', false),
                                Some('"') => ('"', false),
                                Some('n') => ('\n', false),
                                Some('r') => ('\r', false),
                                Some('t') => ('\t', false),
                                Some('b') => ('\u{8}', false),
                                Some('f') => ('\u{c}', false),
                                Some('%') => ('%', true),
                                Some('_') => ('_', true),
                                Some(other) => {
                                    return Err(format!(
                                        "Invalid string literal: illegal escape sequence \\{other}"
                                    ));
                                }
                                None => return Err("unterminated string literal".to_owned()),
                            };
                            value.push(escaped);
                            i += 2;
                        }
                        Some(&other) => {
                            value.push((other, false));
                            i += 1;
                        }
                    }
                }
                tokens.push(Token::Text(value));
            }
            c if c.is_ascii_digit() || c == '-' || c == '+' => {
                let start = i;
                i += 1;
                while let Some(&d) = chars.get(i) {
                    if d.is_ascii_digit() || matches!(d, '.' | '-' | '+' | ':' | 'T' | 'Z') {
                        i += 1;
                    } else {
                        break;
                    }
                }
                let word: String = chars.get(start..i).unwrap_or_default().iter().collect();
                tokens.push(literal_of(&word)?);
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let start = i;
                while let Some(&d) = chars.get(i) {
                    if d.is_ascii_alphanumeric() || matches!(d, '_' | '.') {
                        i += 1;
                    } else {
                        break;
                    }
                }
                tokens.push(Token::Word(
                    chars.get(start..i).unwrap_or_default().iter().collect(),
                ));
            }
            other => return Err(format!("unexpected token: '{other}'")),
        }
    }
    Ok(tokens)
}

fn literal_of(word: &str) -> Result<Token, String> {
    let bytes = word.as_bytes();
    let dated = bytes.len() >= 10 && bytes.get(4) == Some(&b'-') && bytes.get(7) == Some(&b'-');
    if dated && bytes.len() == 10 {
        return word
            .parse::<Date>()
            .map(Token::Date)
            .map_err(|_| format!("invalid date: {word}"));
    }
    if dated && bytes.get(10) == Some(&b'T') {
        return datetime::parse(word)
            .map(Token::DateTime)
            .ok_or_else(|| format!("invalid date-time: {word}"));
    }
    word.parse::<Decimal>()
        .map(Token::Number)
        .map_err(|_| format!("unexpected token: '{word}'"))
}

/// A literal value in a condition.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Literal {
    Null,
    Bool(bool),
    Number(Decimal),
    Text(String),
    Date(Date),
    DateTime(Timestamp),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compare {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A `WHERE` condition.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Condition {
    And(Vec<Condition>),
    Or(Vec<Condition>),
    Not(Box<Condition>),
    Compare(String, Compare, Literal),
    In(String, bool, Vec<Literal>),
    Like(String, Vec<QuotedChar>),
    Includes(String, bool, Vec<String>),
}

/// One `ORDER BY` key.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OrderKey {
    pub(crate) field: String,
    pub(crate) descending: bool,
    pub(crate) nulls_last: bool,
}

/// `COUNT()` (a bare count: `totalSize` and no records) or `COUNT(field) [alias]` (one
/// `AggregateResult` row).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Count {
    pub(crate) field: Option<String>,
    pub(crate) alias: Option<String>,
}

/// A parsed query.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Query {
    /// The selected fields; empty for a count.
    pub(crate) fields: Vec<String>,
    pub(crate) count: Option<Count>,
    pub(crate) object: String,
    pub(crate) filter: Option<Condition>,
    pub(crate) order: Vec<OrderKey>,
    pub(crate) limit: Option<usize>,
    pub(crate) offset: Option<usize>,
    /// The type of each field path the filter reads (set by `resolve`).
    pub(crate) kinds: HashMap<String, FieldType>,
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

fn is_word(token: Option<&Token>, word: &str) -> bool {
    matches!(token, Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
}

const RESERVED: &[&str] = &[
    "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "ORDER", "BY", "LIMIT", "OFFSET",
    "ASC", "DESC", "NULLS", "GROUP", "HAVING", "INCLUDES", "EXCLUDES", "TRUE", "FALSE", "NULL",
];

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn unexpected(&self) -> String {
        match self.peek() {
            Some(token) => format!("unexpected token: '{}'", describe(token)),
            None => "unexpected end of query".to_owned(),
        }
    }

    fn keyword(&mut self, word: &str) -> Result<(), String> {
        if is_word(self.peek(), word) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    fn eat(&mut self, word: &str) -> bool {
        let found = is_word(self.peek(), word);
        if found {
            self.at += 1;
        }
        found
    }

    fn identifier(&mut self) -> Result<String, String> {
        match self.peek() {
            Some(Token::Word(w))
                if !RESERVED.iter().any(|r| r.eq_ignore_ascii_case(w))
                    && w.split('.').all(|part| {
                        part.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                    }) =>
            {
                let name = w.clone();
                self.at += 1;
                Ok(name)
            }
            _ => Err(self.unexpected()),
        }
    }

    fn count(&mut self) -> Result<usize, String> {
        match self.next() {
            Some(Token::Number(n)) if n.is_integer() && !n.is_sign_negative() => n
                .to_string()
                .parse()
                .map_err(|_| format!("invalid number: {n}")),
            Some(token) => Err(format!("unexpected token: '{}'", describe(&token))),
            None => Err("unexpected end of query".to_owned()),
        }
    }

    /// `COUNT(` … `)` and an optional alias, after `SELECT`.
    fn count_function(&mut self) -> Result<Option<Count>, String> {
        if !is_word(self.peek(), "COUNT") || self.tokens.get(self.at + 1) != Some(&Token::Open) {
            return Ok(None);
        }
        self.at += 2;
        let field = if self.peek() == Some(&Token::Close) {
            None
        } else {
            Some(self.identifier()?)
        };
        if self.next() != Some(Token::Close) {
            return Err("unexpected token: expected ')'".to_owned());
        }
        let alias = match (&field, self.peek()) {
            (Some(_), Some(Token::Word(w))) if !w.eq_ignore_ascii_case("FROM") => {
                Some(self.identifier()?)
            }
            _ => None,
        };
        Ok(Some(Count { field, alias }))
    }

    fn query(&mut self) -> Result<Query, String> {
        self.keyword("SELECT")?;
        let count = self.count_function()?;
        let mut fields = Vec::new();
        if count.is_none() {
            fields.push(self.identifier()?);
            while self.peek() == Some(&Token::Comma) {
                self.at += 1;
                fields.push(self.identifier()?);
            }
        }
        self.keyword("FROM")?;
        let object = self.identifier()?;
        let filter = if self.eat("WHERE") {
            Some(self.condition()?)
        } else {
            None
        };
        let mut order = Vec::new();
        if self.eat("ORDER") {
            self.keyword("BY")?;
            loop {
                let field = self.identifier()?;
                let descending = if self.eat("DESC") {
                    true
                } else {
                    self.eat("ASC");
                    false
                };
                let nulls_last = if self.eat("NULLS") {
                    if self.eat("LAST") {
                        true
                    } else {
                        self.keyword("FIRST")?;
                        false
                    }
                } else {
                    descending
                };
                order.push(OrderKey {
                    field,
                    descending,
                    nulls_last,
                });
                if self.peek() == Some(&Token::Comma) {
                    self.at += 1;
                } else {
                    break;
                }
            }
        }
        let limit = if self.eat("LIMIT") {
            Some(self.count()?)
        } else {
            None
        };
        let offset = if self.eat("OFFSET") {
            Some(self.count()?)
        } else {
            None
        };
        if self.peek().is_some() {
            return Err(self.unexpected());
        }
        if count.is_some() && !order.is_empty() {
            return Err("ORDER BY cannot be used with an aggregate count".to_owned());
        }
        Ok(Query {
            fields,
            count,
            object,
            filter,
            order,
            limit,
            offset,
            kinds: HashMap::new(),
        })
    }

    /// `a AND b AND …` or `a OR b OR …`; SOQL refuses the two mixed without parentheses.
    fn condition(&mut self) -> Result<Condition, String> {
        let first = self.unary()?;
        let joiner = if is_word(self.peek(), "AND") {
            "AND"
        } else if is_word(self.peek(), "OR") {
            "OR"
        } else {
            return Ok(first);
        };
        let mut parts = vec![first];
        while self.eat(joiner) {
            parts.push(self.unary()?);
        }
        if is_word(self.peek(), "AND") || is_word(self.peek(), "OR") {
            return Err(
                "unexpected token: mixing AND and OR needs parentheses to say which comes first"
                    .to_owned(),
            );
        }
        Ok(if joiner == "AND" {
            Condition::And(parts)
        } else {
            Condition::Or(parts)
        })
    }

    fn unary(&mut self) -> Result<Condition, String> {
        if self.eat("NOT") {
            return Ok(Condition::Not(Box::new(self.unary()?)));
        }
        if self.peek() == Some(&Token::Open) {
            self.at += 1;
            let inner = self.condition()?;
            if self.next() != Some(Token::Close) {
                return Err("unexpected token: expected ')'".to_owned());
            }
            return Ok(inner);
        }
        self.predicate()
    }

    fn predicate(&mut self) -> Result<Condition, String> {
        let field = self.identifier()?;
        if self.eat("LIKE") {
            return match self.next() {
                Some(Token::Text(pattern)) => Ok(Condition::Like(field, pattern)),
                _ => Err("LIKE takes a quoted pattern".to_owned()),
            };
        }
        if self.eat("IN") {
            return Ok(Condition::In(field, false, self.list()?));
        }
        if self.eat("NOT") {
            self.keyword("IN")?;
            return Ok(Condition::In(field, true, self.list()?));
        }
        for (word, exclude) in [("INCLUDES", false), ("EXCLUDES", true)] {
            if self.eat(word) {
                let values = self
                    .list()?
                    .into_iter()
                    .map(|v| match v {
                        Literal::Text(t) => Ok(t),
                        _ => Err(format!("{word} takes quoted values")),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                return Ok(Condition::Includes(field, exclude, values));
            }
        }
        let op = match self.next() {
            Some(Token::Op("=")) => Compare::Eq,
            Some(Token::Op("!=")) => Compare::Ne,
            Some(Token::Op("<")) => Compare::Lt,
            Some(Token::Op("<=")) => Compare::Le,
            Some(Token::Op(">")) => Compare::Gt,
            Some(Token::Op(">=")) => Compare::Ge,
            Some(token) => return Err(format!("unexpected token: '{}'", describe(&token))),
            None => return Err("unexpected end of query".to_owned()),
        };
        Ok(Condition::Compare(field, op, self.literal()?))
    }

    fn list(&mut self) -> Result<Vec<Literal>, String> {
        if self.next() != Some(Token::Open) {
            return Err("unexpected token: expected '('".to_owned());
        }
        let mut values = vec![self.literal()?];
        loop {
            match self.next() {
                Some(Token::Comma) => values.push(self.literal()?),
                Some(Token::Close) => return Ok(values),
                _ => return Err("unexpected token: expected ',' or ')'".to_owned()),
            }
        }
    }

    fn literal(&mut self) -> Result<Literal, String> {
        match self.next() {
            Some(Token::Text(chars)) => Ok(Literal::Text(chars.into_iter().map(|c| c.0).collect())),
            Some(Token::Number(n)) => Ok(Literal::Number(n)),
            Some(Token::Date(d)) => Ok(Literal::Date(d)),
            Some(Token::DateTime(t)) => Ok(Literal::DateTime(t)),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("true") => Ok(Literal::Bool(true)),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("false") => Ok(Literal::Bool(false)),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("null") => Ok(Literal::Null),
            Some(token) => Err(format!("unexpected token: '{}'", describe(&token))),
            None => Err("unexpected end of query".to_owned()),
        }
    }
}

/// Parses a query of the subset; the error is the `MALFORMED_QUERY` message.
pub(crate) fn parse(text: &str) -> Result<Query, String> {
    let tokens = lex(text)?;
    Parser { tokens, at: 0 }.query()
}

fn no_such_column(name: &str, schema: &ObjectSchema) -> WriteError {
    WriteError::bad(
        "INVALID_FIELD",
        format!(
            "No such column '{name}' on entity '{}'. If you are attempting to use a custom field, \
             be sure to append the '__c' after the custom field name.",
            schema.name
        ),
    )
}

/// The field a path such as `Account.Owner.Name` ends at, and the path in canonical case
/// (`AccountId` is followed as `Account`, `Partner__c` as `Partner__r`).
fn resolve_path(
    org: &Org,
    schema: &ObjectSchema,
    path: &str,
) -> Result<(String, FieldSchema), WriteError> {
    let mut current = schema.clone();
    let mut canonical = Vec::new();
    let mut segments = path.split('.').peekable();
    while let Some(segment) = segments.next() {
        if segments.peek().is_none() {
            let field = current
                .field(segment)
                .cloned()
                .ok_or_else(|| no_such_column(path, schema))?;
            canonical.push(field.name.clone());
            return Ok((canonical.join("."), field));
        }
        let (reference, relationship) = current
            .fields
            .iter()
            .filter_map(|f| Some((f, relationship_name(f)?)))
            .find(|(_, name)| name.eq_ignore_ascii_case(segment))
            .ok_or_else(|| {
                WriteError::bad(
                    "INVALID_FIELD",
                    format!(
                        "Didn't understand relationship '{segment}' in field path '{path}'. If you \
                         are attempting to use a custom relationship, be sure to append the '__r'."
                    ),
                )
            })?;
        let target = reference.reference_to.clone().unwrap_or_default();
        canonical.push(relationship);
        current = org
            .schema(&target)
            .cloned()
            .ok_or_else(|| no_such_column(path, schema))?;
    }
    Err(no_such_column(path, schema))
}

/// The relationship a reference field is followed by in a path.
pub(crate) fn relationship_name(field: &FieldSchema) -> Option<String> {
    field.reference_to.as_ref()?;
    match field.name.strip_suffix("__c") {
        Some(base) => Some(format!("{base}__r")),
        None => field.name.strip_suffix("Id").map(str::to_owned),
    }
}

impl Query {
    /// Checks the field paths and the literal types against the org's schemas, and puts the
    /// paths in their canonical case.
    pub(crate) fn resolve(mut self, org: &Org, schema: &ObjectSchema) -> Result<Query, WriteError> {
        for field in &mut self.fields {
            *field = resolve_path(org, schema, field)?.0;
        }
        if let Some(field) = self.count.as_mut().and_then(|c| c.field.as_mut()) {
            *field = resolve_path(org, schema, field)?.0;
        }
        for key in &mut self.order {
            key.field = resolve_path(org, schema, &key.field)?.0;
        }
        if let Some(filter) = self.filter.take() {
            self.filter = Some(resolve_condition(filter, org, schema, &mut self.kinds)?);
        }
        self.object = schema.name.clone();
        Ok(self)
    }
}

fn resolve_condition(
    condition: Condition,
    org: &Org,
    schema: &ObjectSchema,
    kinds: &mut HashMap<String, FieldType>,
) -> Result<Condition, WriteError> {
    let mut field_of = |name: &str| {
        let (path, field) = resolve_path(org, schema, name)?;
        kinds.insert(path.clone(), field.kind);
        Ok::<_, WriteError>((path, field))
    };
    Ok(match condition {
        Condition::And(parts) => Condition::And(
            parts
                .into_iter()
                .map(|c| resolve_condition(c, org, schema, kinds))
                .collect::<Result<_, _>>()?,
        ),
        Condition::Or(parts) => Condition::Or(
            parts
                .into_iter()
                .map(|c| resolve_condition(c, org, schema, kinds))
                .collect::<Result<_, _>>()?,
        ),
        Condition::Not(inner) => {
            Condition::Not(Box::new(resolve_condition(*inner, org, schema, kinds)?))
        }
        Condition::Compare(name, op, literal) => {
            let (path, field) = field_of(&name)?;
            check_literal(&field, &literal)?;
            if field.kind == FieldType::Boolean && !matches!(op, Compare::Eq | Compare::Ne) {
                return Err(invalid_operator(&field));
            }
            Condition::Compare(path, op, literal)
        }
        Condition::In(name, negated, literals) => {
            let (path, field) = field_of(&name)?;
            for literal in &literals {
                check_literal(&field, literal)?;
            }
            Condition::In(path, negated, literals)
        }
        Condition::Like(name, pattern) => {
            let (path, field) = field_of(&name)?;
            if !field.is_text() {
                return Err(invalid_operator(&field));
            }
            Condition::Like(path, pattern)
        }
        Condition::Includes(name, exclude, values) => {
            let (path, field) = field_of(&name)?;
            if field.kind != FieldType::MultiPicklist {
                return Err(invalid_operator(&field));
            }
            Condition::Includes(path, exclude, values)
        }
    })
}

fn invalid_operator(field: &FieldSchema) -> WriteError {
    WriteError::bad(
        "INVALID_QUERY_FILTER_OPERATOR",
        format!(
            "invalid operator on field {} of type {}",
            field.name, field.kind
        ),
    )
}

fn check_literal(field: &FieldSchema, literal: &Literal) -> Result<(), WriteError> {
    let fits = match literal {
        Literal::Null => true,
        Literal::Text(_) => field.is_text(),
        Literal::Number(_) => field.is_number(),
        Literal::Bool(_) => field.kind == FieldType::Boolean,
        Literal::Date(_) => field.kind == FieldType::Date,
        Literal::DateTime(_) => field.kind == FieldType::DateTime,
    };
    if fits {
        Ok(())
    } else {
        let quoted = if field.is_text() {
            "should be enclosed in quotes"
        } else {
            "should not be enclosed in quotes"
        };
        Err(WriteError::bad(
            "INVALID_FIELD",
            format!(
                "value of filter criterion for field '{}' must be of type {} and {quoted}",
                field.name, field.kind
            ),
        ))
    }
}

/// A field value reduced to what SOQL compares: text without regard to case.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Bool(bool),
    Number(Decimal),
    Text(String),
    Date(Date),
    DateTime(Timestamp),
}

fn key_of(value: &Value) -> Option<Key> {
    match value {
        Value::Null => None,
        Value::Bool(b) => Some(Key::Bool(*b)),
        Value::Number(n) => n.to_string().parse().ok().map(Key::Number),
        Value::String(s) => {
            if let Ok(date) = s.parse::<Date>()
                && s.len() == 10
            {
                return Some(Key::Date(date));
            }
            if s.len() > 10
                && s.as_bytes().get(10) == Some(&b'T')
                && let Some(ts) = datetime::parse(s)
            {
                return Some(Key::DateTime(ts));
            }
            Some(Key::Text(s.to_lowercase()))
        }
        _ => None,
    }
}

fn literal_key(literal: &Literal) -> Option<Key> {
    match literal {
        Literal::Null => None,
        Literal::Bool(b) => Some(Key::Bool(*b)),
        Literal::Number(n) => Some(Key::Number(*n)),
        Literal::Text(t) => Some(Key::Text(t.to_lowercase())),
        Literal::Date(d) => Some(Key::Date(*d)),
        Literal::DateTime(t) => Some(Key::DateTime(*t)),
    }
}

/// Compares a stored value and a literal of the field's type; text stays text even if it
/// looks like a date.
fn compare(value: &Value, literal: &Literal) -> Option<Ordering> {
    let stored = match (value, literal) {
        (Value::String(s), Literal::Text(_)) => Some(Key::Text(s.to_lowercase())),
        _ => key_of(value),
    };
    Some(stored?.cmp(&literal_key(literal)?))
}

fn equal(value: &Value, literal: &Literal, kind: &FieldType) -> bool {
    if matches!(kind, FieldType::Id | FieldType::Reference)
        && let (Value::String(s), Literal::Text(t)) = (value, literal)
    {
        // 15- and 18-character forms of an id name the same record.
        return same_id(s, t);
    }
    if *kind == FieldType::MultiPicklist
        && let (Value::String(s), Literal::Text(t)) = (value, literal)
    {
        let set = |text: &str| {
            let mut parts: Vec<String> = text
                .split(';')
                .map(|p| p.trim().to_lowercase())
                .filter(|p| !p.is_empty())
                .collect();
            parts.sort();
            parts
        };
        return set(s) == set(t);
    }
    match literal {
        Literal::Null => value.is_null(),
        _ => compare(value, literal) == Some(Ordering::Equal),
    }
}

pub(crate) fn like(text: &str, pattern: &[QuotedChar]) -> bool {
    // Character by character on both sides, so that both fold case the same way.
    let text: Vec<char> = text.chars().flat_map(char::to_lowercase).collect();
    let pattern: Vec<QuotedChar> = pattern
        .iter()
        .flat_map(|(c, escaped)| c.to_lowercase().map(move |l| (l, *escaped)))
        .collect();
    // Classic wildcard matching with backtracking on the last `%`.
    let (mut t, mut p) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(('%', false)) => {
                star = Some((p, t));
                p += 1;
            }
            Some(('_', false)) => {
                t += 1;
                p += 1;
            }
            Some((c, _)) if text.get(t) == Some(c) => {
                t += 1;
                p += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern
        .get(p..)
        .unwrap_or_default()
        .iter()
        .all(|c| *c == ('%', false))
}

/// Whether a record satisfies `condition` (resolved), reading paths through `value`.
pub(crate) fn matches(
    condition: &Condition,
    value: &dyn Fn(&str) -> Value,
    kinds: &HashMap<String, FieldType>,
) -> bool {
    let kind = |name: &str| kinds.get(name).copied().unwrap_or(FieldType::String);
    match condition {
        Condition::And(parts) => parts.iter().all(|c| matches(c, value, kinds)),
        Condition::Or(parts) => parts.iter().any(|c| matches(c, value, kinds)),
        Condition::Not(inner) => !matches(inner, value, kinds),
        Condition::Compare(name, op, literal) => {
            let v = &value(name);
            match op {
                Compare::Eq => equal(v, literal, &kind(name)),
                Compare::Ne => !equal(v, literal, &kind(name)),
                _ => match compare(v, literal) {
                    Some(ordering) => match op {
                        Compare::Lt => ordering == Ordering::Less,
                        Compare::Le => ordering != Ordering::Greater,
                        Compare::Gt => ordering == Ordering::Greater,
                        _ => ordering != Ordering::Less,
                    },
                    None => false,
                },
            }
        }
        Condition::In(name, negated, literals) => {
            let v = &value(name);
            let found = literals.iter().any(|l| equal(v, l, &kind(name)));
            found != *negated
        }
        Condition::Like(name, pattern) => match &value(name) {
            Value::String(s) => like(s, pattern),
            _ => false,
        },
        Condition::Includes(name, exclude, values) => {
            let held: Vec<String> = value(name)
                .as_str()
                .unwrap_or_default()
                .split(';')
                .map(|p| p.trim().to_lowercase())
                .collect();
            let any = values.iter().any(|wanted| {
                wanted
                    .split(';')
                    .map(|p| p.trim().to_lowercase())
                    .all(|p| held.contains(&p))
            });
            any != *exclude
        }
    }
}

/// Orders two records by the `ORDER BY` keys.
pub(crate) fn order(
    keys: &[OrderKey],
    a: &dyn Fn(&str) -> Value,
    b: &dyn Fn(&str) -> Value,
) -> Ordering {
    for key in keys {
        let left = key_of(&a(&key.field));
        let right = key_of(&b(&key.field));
        let ordering = match (left, right) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => {
                if key.nulls_last {
                    Ordering::Greater
                } else {
                    Ordering::Less
                }
            }
            (Some(_), None) => {
                if key.nulls_last {
                    Ordering::Less
                } else {
                    Ordering::Greater
                }
            }
            (Some(l), Some(r)) => {
                if key.descending {
                    r.cmp(&l)
                } else {
                    l.cmp(&r)
                }
            }
        };
        if ordering != Ordering::Equal {
            return ordering;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A SOQL string literal, escaped as the SOQL reference lists (the test's own escaper: the
    /// emulator shares no code with clients).
    fn quoted(text: &str, like: bool) -> String {
        let mut out = String::from("'");
        for c in text.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\'' => out.push_str("\\'"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                '%' | '_' if like => {
                    out.push('\\');
                    out.push(c);
                }
                other => out.push(other),
            }
        }
        out.push('\'');
        out
    }

    proptest! {
        #[test]
        fn every_string_the_escaper_writes_reads_back(text in any::<String>()) {
            let query = format!("SELECT Id FROM Opportunity WHERE Name = {}", quoted(&text, false));
            let parsed = parse(&query).unwrap();
            prop_assert_eq!(
                parsed.filter,
                Some(Condition::Compare("Name".into(), Compare::Eq, Literal::Text(text)))
            );
        }

        #[test]
        fn an_escaped_like_pattern_matches_its_text_only(text in any::<String>()) {
            let mut pattern = quoted(&text, true);
            pattern.insert(pattern.len() - 1, '%');
            let query = format!("SELECT Id FROM Opportunity WHERE Name LIKE {pattern}");
            let Some(Condition::Like(_, parsed)) = parse(&query).unwrap().filter else {
                panic!("not a LIKE");
            };
            prop_assert!(like(&text, &parsed));
            let longer = format!("{text}%_ tail");
            prop_assert!(like(&longer, &parsed));
            // Wildcard characters in the text are literal: `%` and `_` match only themselves.
            let swapped: String = text.chars().map(|c| match c { '%' | '_' => 'x', other => other }).collect();
            if swapped != text {
                prop_assert!(!like(&swapped, &parsed));
            }
        }
    }

    #[test]
    fn parses_what_the_builder_writes() {
        let q = parse(
            r"SELECT Id, Name FROM Opportunity WHERE (Name = 'a\'b') AND (NOT (Amount >= 10.5)) ORDER BY CloseDate DESC LIMIT 5 OFFSET 2",
        )
        .unwrap();
        assert_eq!(q.fields, ["Id", "Name"]);
        assert_eq!(q.limit, Some(5));
        assert_eq!(q.offset, Some(2));
        assert!(matches!(q.filter, Some(Condition::And(ref parts)) if parts.len() == 2));
    }

    #[test]
    fn parses_counts() {
        let bare = parse("SELECT COUNT() FROM Opportunity WHERE Amount > 5").unwrap();
        assert_eq!(
            bare.count,
            Some(Count {
                field: None,
                alias: None
            })
        );
        assert!(bare.fields.is_empty());
        let named = parse("select count(Id) total from Opportunity").unwrap();
        assert_eq!(named.count.unwrap().alias.as_deref(), Some("total"));
    }

    #[test]
    fn refuses_what_is_outside_the_subset() {
        for bad in [
            "SELECT COUNT( FROM Opportunity",
            "SELECT COUNT() FROM Opportunity ORDER BY Name",
            "SELECT Id FROM Opportunity WHERE A = 1 AND B = 2 OR C = 3",
            "SELECT Id FROM Opportunity WHERE CloseDate = TODAY",
            "SELECT Id FROM Opportunity GROUP BY Name",
            "SELECT Id FROM Opportunity WHERE Name = 'x",
            r"SELECT Id FROM Opportunity WHERE Name = '\q'",
            "SELECT Id, FROM Opportunity",
            "DELETE FROM Opportunity",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn like_honours_wildcards_and_escapes() {
        let pattern = |text: &str| match lex(text).unwrap().remove(0) {
            Token::Text(p) => p,
            other => panic!("{other:?}"),
        };
        assert!(like("50%_off deal", &pattern(r"'50\%\_off%'")));
        assert!(!like("50x off deal", &pattern(r"'50\%\_off%'")));
        assert!(like("Fabrikam", &pattern("'%BRI_AM'")));
        assert!(!like("Fabrikam", &pattern("'%bri_'")));
        assert!(like("AΣ", &pattern("'aσ'")));
    }
}
