//! Row addresses in URLs: `table(<guid>)`, `table(id=<guid>)`, `table(key='value')`,
//! `table(k1='a',k2=2)`.

use std::fmt;

use uuid::Uuid;

use super::filter::{Literal, parse_literal};

/// Which row a URL addresses.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RowKey {
    /// The primary key.
    Id(Uuid),
    /// Key columns (wire property names) and their values.
    Alternate(Vec<(String, Literal)>),
}

impl fmt::Display for RowKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RowKey::Id(id) => write!(f, "{id}"),
            RowKey::Alternate(columns) => {
                for (i, (column, value)) in columns.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    match value {
                        Literal::Text(t) => write!(f, "{column}='{t}'")?,
                        Literal::Guid(g) => write!(f, "{column}={g}")?,
                        Literal::Int(n) => write!(f, "{column}={n}")?,
                        Literal::Decimal(d) => write!(f, "{column}={d}")?,
                        Literal::Bool(b) => write!(f, "{column}={b}")?,
                        Literal::Date(d) => write!(f, "{column}={d}")?,
                        Literal::Timestamp(t) => write!(f, "{column}={t}")?,
                        Literal::Null => write!(f, "{column}=null")?,
                    }
                }
                Ok(())
            }
        }
    }
}

/// Splits `name(<key>)` into the name and the key; `None` when the segment has no key or the
/// key is malformed.
pub(crate) fn parse_key_segment(segment: &str) -> Option<(String, RowKey)> {
    let open = segment.find('(')?;
    let name = &segment[..open];
    let inner = segment[open + 1..].strip_suffix(')')?;
    if name.is_empty() || inner.is_empty() {
        return None;
    }
    if let Ok(id) = Uuid::parse_str(inner)
        && inner.len() == 36
    {
        return Some((name.to_owned(), RowKey::Id(id)));
    }
    let mut columns = Vec::new();
    for part in split_top_level(inner)? {
        let (column, value) = part.split_once('=')?;
        let column = column.trim();
        if column.is_empty()
            || !column
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return None;
        }
        let literal = parse_literal(value.trim())?;
        if literal == Literal::Null {
            return None;
        }
        columns.push((column.to_owned(), literal));
    }
    Some((name.to_owned(), RowKey::Alternate(columns)))
}

/// Splits on commas outside quoted strings; `None` on an unterminated string.
fn split_top_level(text: &str) -> Option<Vec<&str>> {
    let mut parts = Vec::new();
    let mut quoted = false;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '\'' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if quoted {
        return None;
    }
    parts.push(&text[start..]);
    Some(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_segments_parse() {
        let id = "c0ffee00-3333-4a5e-8f00-0123456789ab";
        assert_eq!(
            parse_key_segment(&format!("opportunities({id})")),
            Some(("opportunities".into(), RowKey::Id(id.parse().unwrap())))
        );
        assert_eq!(
            parse_key_segment("opportunities(cosell_referralid='O''Neil, inc',n=2)"),
            Some((
                "opportunities".into(),
                RowKey::Alternate(vec![
                    (
                        "cosell_referralid".into(),
                        Literal::Text("O'Neil, inc".into())
                    ),
                    ("n".into(), Literal::Int(2)),
                ])
            ))
        );
        assert_eq!(parse_key_segment("opportunities(x='open)"), None);
        assert_eq!(parse_key_segment("opportunities"), None);
    }
}
