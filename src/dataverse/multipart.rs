//! The `multipart/mixed` framing of `$batch` answers.

/// The `boundary` parameter of a multipart content type.
pub(crate) fn boundary_of(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| value.trim().trim_matches('"').to_owned())
            .filter(|b| !b.is_empty())
    })
}

/// The parts of a multipart body.
pub(crate) struct Parts<'a> {
    /// The parts between `--boundary` lines, without their leading line end and trailing line
    /// end.
    pub(crate) parts: Vec<&'a str>,
    /// Whether the body was framed properly: a first delimiter, every part closed by the next,
    /// and a final `--boundary--`.
    pub(crate) complete: bool,
}

/// Splits a multipart body at its `--boundary` lines. A reader that tolerates a cut-off body
/// takes the parts it got; one that must not, checks `complete`.
pub(crate) fn split_parts<'a>(text: &'a str, boundary: &str) -> Parts<'a> {
    let delimiter = format!("--{boundary}");
    let mut parts = Vec::new();
    let Some(start) = text.find(&delimiter) else {
        return Parts {
            parts,
            complete: false,
        };
    };
    let mut rest = &text[start + delimiter.len()..];
    loop {
        if rest.starts_with("--") {
            return Parts {
                parts,
                complete: true,
            };
        }
        // The rest of the delimiter line (transport padding, line end).
        rest = rest.split_once('\n').map_or("", |(_, after)| after);
        let Some(end) = rest.find(&delimiter) else {
            if !rest.trim().is_empty() {
                parts.push(rest);
            }
            return Parts {
                parts,
                complete: false,
            };
        };
        let part = &rest[..end];
        parts.push(
            part.strip_suffix("\r\n")
                .or_else(|| part.strip_suffix('\n'))
                .unwrap_or(part),
        );
        rest = &rest[end + delimiter.len()..];
    }
}

/// Splits headers from content at the first empty line.
pub(crate) fn split_head(part: &str) -> (&str, &str) {
    let crlf = part.find("\r\n\r\n").map(|i| (i, 4));
    let lf = part.find("\n\n").map(|i| (i, 2));
    let cut = match (crlf, lf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    };
    match cut {
        Some((i, len)) => (&part[..i], &part[i + len..]),
        None => (part, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_complete_and_cut_off_bodies() {
        let body = "--b\r\nContent-Type: x\r\n\r\none\r\n--b\r\n\r\ntwo\r\n--b--\r\n";
        let split = split_parts(body, "b");
        assert!(split.complete);
        assert_eq!(split.parts.len(), 2);
        assert_eq!(split_head(split.parts[0]), ("Content-Type: x", "one"));

        let cut = split_parts("--b\r\n\r\none\r\n--b\r\n\r\ntw", "b");
        assert!(!cut.complete);
        assert_eq!(cut.parts.len(), 2);
        assert!(!split_parts("no delimiter", "b").complete);
        assert_eq!(
            boundary_of("multipart/mixed; boundary=\"batch_1\"").as_deref(),
            Some("batch_1")
        );
    }
}
