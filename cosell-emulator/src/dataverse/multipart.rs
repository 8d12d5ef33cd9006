//! `multipart/mixed` framing (RFC 2046 §5.1) as the `$batch` endpoint reads it: the emulator's
//! own reader, written from the RFC and the service's documentation.

/// The `boundary` parameter of a `multipart/mixed` content type, unquoted.
pub(crate) fn boundary(content_type: &str) -> Option<String> {
    let mut params = content_type.split(';');
    params.next();
    params
        .filter_map(|p| p.split_once('='))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("boundary"))
        .map(|(_, value)| value.trim().trim_matches('"').to_owned())
        .filter(|b| !b.is_empty() && b.len() <= 70)
}

/// The body parts of `body`: what stands between delimiter lines (`--boundary` at the start of
/// a line), without the line break that belongs to the next delimiter. `None` unless the body
/// has an opening delimiter and ends with a close delimiter (`--boundary--`): a cut-off batch
/// is malformed, never a shorter batch.
pub(crate) fn parts<'a>(body: &'a str, boundary: &str) -> Option<Vec<&'a str>> {
    let delimiter = format!("--{boundary}");
    // Offsets of every line that starts with the delimiter.
    let mut starts = Vec::new();
    let mut offset = 0;
    for line in body.split_inclusive('\n') {
        if line.starts_with(&delimiter) {
            starts.push(offset);
        }
        offset += line.len();
    }
    let last = starts.pop()?;
    if starts.is_empty() {
        return None;
    }
    let close = &body[last + delimiter.len()..];
    if !close.starts_with("--") {
        return None;
    }
    starts.push(last);
    let mut parts = Vec::new();
    for pair in starts.windows(2) {
        let line_end = body[pair[0]..].find('\n')? + pair[0] + 1;
        let part = &body[line_end.min(pair[1])..pair[1]];
        let part = part
            .strip_suffix("\r\n")
            .or_else(|| part.strip_suffix('\n'))
            .unwrap_or(part);
        parts.push(part);
    }
    Some(parts)
}

/// A part's header block and its content, split at the first empty line (CRLF or LF).
pub(crate) fn head_and_body(part: &str) -> (&str, &str) {
    let mut offset = 0;
    for line in part.split_inclusive('\n') {
        if line == "\r\n" || line == "\n" {
            return (
                part[..offset].trim_end_matches(['\r', '\n']),
                &part[offset + line.len()..],
            );
        }
        offset += line.len();
    }
    (part, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_complete_bodies_and_refuses_cut_off_ones() {
        let body = "preamble\r\n--b\r\nContent-Type: x\r\n\r\none\r\n--b\r\n\r\ntwo\r\n--b--\r\n";
        let parts = parts(body, "b").unwrap();
        assert_eq!(parts, ["Content-Type: x\r\n\r\none", "\r\ntwo"]);
        assert_eq!(head_and_body(parts[0]), ("Content-Type: x", "one"));
        assert_eq!(head_and_body(parts[1]), ("", "two"));
        assert!(super::parts("--b\r\n\r\none\r\n--b\r\n\r\ntw", "b").is_none());
        assert!(super::parts("no delimiter", "b").is_none());
        // A delimiter inside a line is content, not framing.
        let inline = "--b\nsee --b here\n--b--";
        assert_eq!(super::parts(inline, "b").unwrap(), ["see --b here"]);
        assert_eq!(
            boundary("multipart/mixed; boundary=\"batch_1\"").as_deref(),
            Some("batch_1")
        );
        assert_eq!(boundary("multipart/mixed"), None);
    }
}
