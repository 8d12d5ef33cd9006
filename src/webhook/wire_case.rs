//! Reading JSON whose key casing the server does not keep to (PascalCase in some answers,
//! camelCase in others): keys are matched to the model's names ignoring ASCII case.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::{DecodeError, DecodeOrigin, Error, Result, body_excerpt, decode_json};

/// Decodes `body` into `T` after renaming, at every depth, each object key that equals one of
/// `names` ignoring ASCII case to that name. Unknown keys are left as they are.
pub(crate) fn decode_ignoring_case<T: DeserializeOwned>(body: &[u8], names: &[&str]) -> Result<T> {
    let mut value: Value = decode_json(body)?;
    canonicalize(&mut value, names);
    serde_path_to_error::deserialize(value).map_err(|e| {
        Error::from(DecodeError {
            path: e.path().to_string(),
            message: e.inner().to_string(),
            status: None,
            request_id: None,
            body_excerpt: body_excerpt(body),
            origin: DecodeOrigin::Input,
        })
    })
}

/// Renames keys in place; see [`decode_ignoring_case`]. Depth is bounded by what serde_json
/// accepted (128 levels).
pub(crate) fn canonicalize(value: &mut Value, names: &[&str]) {
    match value {
        Value::Object(map) => {
            let old = std::mem::take(map);
            let mut renamed = Map::with_capacity(old.len());
            for (key, mut item) in old {
                canonicalize(&mut item, names);
                let name = names
                    .iter()
                    .find(|name| name.eq_ignore_ascii_case(&key))
                    .map_or(key.clone(), |name| (*name).to_owned());
                // Two keys that differ only in case: the first keeps the model's name, the
                // other stays as sent (kept among the unknown fields).
                if renamed.contains_key(&name) {
                    renamed.insert(key, item);
                } else {
                    renamed.insert(name, item);
                }
            }
            *map = renamed;
        }
        Value::Array(items) => items.iter_mut().for_each(|item| canonicalize(item, names)),
        _ => {}
    }
}
