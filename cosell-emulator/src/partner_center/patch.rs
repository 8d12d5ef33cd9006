//! Applying a referral JSON Patch as the service does: `replace` and `add` only; any other
//! operation, a malformed document or a server-set path is refused.

use serde_json::Value;

use super::store::{Document, SERVER_FIELDS};

/// Decodes a JSON Pointer into its segments (`~1` is `/`, `~0` is `~`).
fn segments(pointer: &str) -> Result<Vec<String>, String> {
    let Some(rest) = pointer.strip_prefix('/') else {
        return Err(format!("`{pointer}` is not a JSON Pointer"));
    };
    Ok(rest
        .split('/')
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect())
}

/// Applies `operations` (the request body) to a copy of `document` and returns the result.
///
/// Missing objects along the path are created (the service lets `replace` set a field that
/// was absent); array elements are addressed by index, and `-` appends with `add`.
pub(crate) fn apply(document: &Document, operations: &Value) -> Result<Document, String> {
    let operations = operations
        .as_array()
        .ok_or("the body must be a JSON Patch array")?;
    if operations.is_empty() {
        return Err("the patch has no operation".into());
    }
    let mut result = Value::Object(document.clone());
    for (index, operation) in operations.iter().enumerate() {
        let at = |message: String| format!("operation {index}: {message}");
        let op = operation
            .get("op")
            .and_then(Value::as_str)
            .ok_or_else(|| at("`op` is missing".into()))?;
        let add = match op {
            "add" => true,
            "replace" => false,
            other => {
                return Err(at(format!(
                    "`{other}` is not supported; only `replace` and `add` are"
                )));
            }
        };
        let path = operation
            .get("path")
            .and_then(Value::as_str)
            .ok_or_else(|| at("`path` is missing".into()))?;
        let value = operation
            .get("value")
            .ok_or_else(|| at("`value` is missing".into()))?;
        let path = segments(path).map_err(at)?;
        if path
            .first()
            .is_some_and(|f| SERVER_FIELDS.contains(&f.as_str()))
        {
            return Err(at(format!("`/{}` is set by the service", path[0])));
        }
        set(&mut result, &path, value.clone(), add).map_err(at)?;
    }
    match result {
        Value::Object(map) => Ok(map),
        _ => Err("the patch replaced the whole referral".into()),
    }
}

fn set(target: &mut Value, path: &[String], value: Value, add: bool) -> Result<(), String> {
    let Some((last, parents)) = path.split_last() else {
        return Err("the empty path cannot be patched".into());
    };
    let mut current = target;
    for segment in parents {
        current = match current {
            Value::Object(map) => {
                let child = map
                    .entry(segment.clone())
                    .or_insert_with(|| Value::Object(Default::default()));
                if child.is_null() {
                    *child = Value::Object(Default::default());
                }
                child
            }
            Value::Array(items) => {
                let index: usize = segment
                    .parse()
                    .map_err(|_| format!("`{segment}` is not an array index"))?;
                items
                    .get_mut(index)
                    .ok_or_else(|| format!("index {index} is out of range"))?
            }
            _ => {
                return Err(format!(
                    "`{segment}` is below a value that is not an object"
                ));
            }
        };
    }
    match current {
        Value::Object(map) => {
            map.insert(last.clone(), value);
            Ok(())
        }
        Value::Array(items) if last == "-" && add => {
            items.push(value);
            Ok(())
        }
        Value::Array(items) => {
            let index: usize = last
                .parse()
                .map_err(|_| format!("`{last}` is not an array index"))?;
            match (add, index <= items.len(), index < items.len()) {
                (true, true, _) => items.insert(index, value),
                (false, _, true) => items[index] = value,
                _ => return Err(format!("index {index} is out of range")),
            }
            Ok(())
        }
        _ => Err(format!("`{last}` is below a value that is not an object")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn replace_and_add_apply_and_others_are_refused() {
        let doc = json!({"status": "New", "team": [{"email": "a"}], "details": null})
            .as_object()
            .cloned()
            .unwrap();
        let patched = apply(
            &doc,
            &json!([
                {"op": "replace", "path": "/status", "value": "Active"},
                {"op": "add", "path": "/team/-", "value": {"email": "b"}},
                {"op": "replace", "path": "/details/dealValue", "value": "10000"},
                {"op": "replace", "path": "/a~1b", "value": 1}
            ]),
        )
        .unwrap();
        assert_eq!(patched["status"], "Active");
        assert_eq!(patched["team"][1]["email"], "b");
        assert_eq!(patched["details"]["dealValue"], "10000");
        assert_eq!(patched["a/b"], 1);
        for bad in [
            json!([{"op": "remove", "path": "/status"}]),
            json!([{"op": "replace", "path": "/eTag", "value": "x"}]),
            json!([{"op": "replace", "path": "status", "value": "x"}]),
            json!([{"op": "replace", "path": "/team/5", "value": {}}]),
            json!([{"op": "replace", "path": "/status"}]),
            json!({"op": "replace"}),
            json!([]),
        ] {
            assert!(apply(&doc, &bad).is_err(), "{bad}");
        }
    }
}
