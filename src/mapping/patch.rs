//! JSON Patch operations that apply to the referral as it stands: RFC 6902 refuses an `add`
//! whose parent does not exist, so a value below a missing object travels inside an `add` of
//! that object.

use serde_json::{Map, Value as Json};

use super::path::Segment;
use crate::partner_center::ReferralPatch;

/// The referral as the operations rendered so far leave it, so each operation is checked
/// against the document it will meet.
pub(crate) struct PatchTarget {
    document: Json,
    patch: ReferralPatch,
}

impl PatchTarget {
    /// Operations against `referral` (anything but an object is taken as an empty referral).
    pub(crate) fn new(referral: &Json) -> Self {
        let document = match referral {
            Json::Object(_) => referral.clone(),
            _ => Json::Object(Map::new()),
        };
        PatchTarget {
            document,
            patch: ReferralPatch::new(),
        }
    }

    /// Set `value` at `segments`: `replace` when the member is there, `add` when only it is
    /// missing, and an `add` of the first missing (or null) ancestor, holding the rest of the
    /// path, otherwise. The error says why the path cannot be written.
    pub(crate) fn set(&mut self, segments: &[Segment], value: Json) -> Result<(), String> {
        let Some((leaf, parents)) = segments.split_last() else {
            return Err("the path is empty".into());
        };
        let mut node = &self.document;
        for (depth, segment) in parents.iter().enumerate() {
            let child = child(node, segment);
            let next = &segments[depth + 1];
            match child {
                Some(child) if holds(child, next) => node = child,
                _ => {
                    let wrapped = wrap(&segments[depth + 1..], value)?;
                    return self.apply(&segments[..=depth], wrapped);
                }
            }
        }
        match (node, leaf) {
            (Json::Array(items), Segment::Index(index)) if *index > items.len() => Err(format!(
                "item {index} of a list of {} cannot be added",
                items.len()
            )),
            _ => self.apply(segments, value),
        }
    }

    /// The operations rendered.
    pub(crate) fn into_patch(self) -> ReferralPatch {
        self.patch
    }

    /// The referral as the operations leave it.
    pub(crate) fn into_document(self) -> Json {
        self.document
    }

    /// Emit the operation for `segments`, whose parent exists, and make it on the document.
    fn apply(&mut self, segments: &[Segment], value: Json) -> Result<(), String> {
        let names: Vec<String> = segments.iter().map(Segment::to_string).collect();
        let pointer = names.iter().map(String::as_str);
        let Some((leaf, parents)) = segments.split_last() else {
            return Err("the path is empty".into());
        };
        let mut node = &mut self.document;
        for segment in parents {
            node = match (node, segment) {
                (Json::Object(map), Segment::Key(key)) => map.get_mut(key),
                (Json::Array(items), Segment::Index(index)) => items.get_mut(*index),
                _ => None,
            }
            .ok_or("the parent went missing")?;
        }
        let patch = std::mem::take(&mut self.patch);
        self.patch = if child(node, leaf).is_some() {
            patch.replace(pointer, value.clone())
        } else {
            patch.add(pointer, value.clone())
        };
        match (node, leaf) {
            (Json::Object(map), Segment::Key(key)) => {
                map.insert(key.clone(), value);
            }
            (Json::Array(items), Segment::Index(index)) if *index < items.len() => {
                items[*index] = value;
            }
            (Json::Array(items), Segment::Index(_)) => items.push(value),
            _ => return Err("the parent is neither an object nor a list".into()),
        }
        Ok(())
    }
}

fn child<'a>(node: &'a Json, segment: &Segment) -> Option<&'a Json> {
    match (node, segment) {
        (Json::Object(map), Segment::Key(key)) => map.get(key),
        (Json::Array(items), Segment::Index(index)) => items.get(*index),
        _ => None,
    }
}

/// Whether `node` can take `next` as a child: an object for a key, a list for an index.
fn holds(node: &Json, next: &Segment) -> bool {
    matches!(
        (node, next),
        (Json::Object(_), Segment::Key(_)) | (Json::Array(_), Segment::Index(_))
    )
}

/// `value` inside the objects (and one-item lists) that `segments` name.
fn wrap(segments: &[Segment], value: Json) -> Result<Json, String> {
    segments
        .iter()
        .rev()
        .try_fold(value, |inner, segment| match segment {
            Segment::Key(key) => {
                let mut object = Map::new();
                object.insert(key.clone(), inner);
                Ok(Json::Object(object))
            }
            Segment::Index(0) => Ok(Json::Array(vec![inner])),
            Segment::Index(index) => Err(format!("item {index} of a list the referral lacks")),
        })
}
