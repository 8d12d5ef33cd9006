//! Paths into wire records: `details.dealValue`, `customerProfile.team[0].email`,
//! `details.requirements.solutions[].id`.

use std::fmt;

use serde_json::{Map, Value as Json};

/// One step of a [`Path`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
    Each,
}

/// A path into a JSON record: keys separated by `.`, `[n]` for the n-th item of an array and `[]`
/// for every item (read as a list, written as an array of objects).
///
/// ```
/// use cosell::mapping::WirePath;
///
/// let path = WirePath::parse("customerProfile.team[0].email")?;
/// let referral = serde_json::json!({"customerProfile": {"team": [{"email": "jo@contoso.example"}]}});
/// assert_eq!(path.read(&referral), Some(serde_json::json!("jo@contoso.example")));
/// # Ok::<(), String>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WirePath {
    text: String,
    steps: Vec<Step>,
}

impl fmt::Display for WirePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl WirePath {
    /// Parse a path; the error says what is wrong.
    pub fn parse(text: &str) -> Result<WirePath, String> {
        let mut steps = Vec::new();
        if text.is_empty() {
            return Err("the path is empty".into());
        }
        for part in text.split('.') {
            let (key, mut rest) = match part.find('[') {
                Some(at) => (&part[..at], &part[at..]),
                None => (part, ""),
            };
            if key.is_empty() {
                return Err(format!("empty key in `{part}`"));
            }
            steps.push(Step::Key(key.to_owned()));
            while !rest.is_empty() {
                let close = rest
                    .find(']')
                    .ok_or_else(|| format!("unclosed `[` in `{part}`"))?;
                let inner = &rest[1..close];
                if inner.is_empty() {
                    if steps.contains(&Step::Each) {
                        return Err("at most one `[]` per path".into());
                    }
                    steps.push(Step::Each);
                } else {
                    let index = inner
                        .parse()
                        .map_err(|_| format!("`[{inner}]` is not an index"))?;
                    steps.push(Step::Index(index));
                }
                rest = &rest[close + 1..];
                if !rest.is_empty() && !rest.starts_with('[') {
                    return Err(format!("unexpected `{rest}` in `{part}`"));
                }
            }
        }
        Ok(WirePath {
            text: text.to_owned(),
            steps,
        })
    }

    /// A path of one key, taken literally (for names holding `.` or `[`).
    ///
    /// ```
    /// let path = cosell::mapping::WirePath::key("name@odata.bind");
    /// assert_eq!(path.to_string(), "name@odata.bind");
    /// ```
    pub fn key(name: &str) -> WirePath {
        WirePath {
            text: name.to_owned(),
            steps: vec![Step::Key(name.to_owned())],
        }
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The first key: the column a CRM path writes.
    pub fn head(&self) -> &str {
        match self.steps.first() {
            Some(Step::Key(key)) => key,
            _ => "",
        }
    }

    /// The keys of the path, in order (indexes and `[]` left out): how a CRM path names a
    /// column, or a related record's column.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &str> + '_ {
        self.steps.iter().filter_map(|step| match step {
            Step::Key(key) => Some(key.as_str()),
            _ => None,
        })
    }

    /// Whether the path is a single key.
    pub fn is_single_key(&self) -> bool {
        self.steps.len() == 1
    }

    /// The value at the path: `None` when a step is missing (absent), `Some(null)` for a null.
    /// Through `[]`, the items' values as an array (items without the value are skipped).
    pub fn read(&self, root: &Json) -> Option<Json> {
        read_steps(&self.steps, root)
    }

    /// The JSON Pointer segments of the whole path up to any `[]`, and the keys after it.
    pub(crate) fn pointer_segments(&self) -> (Vec<Segment>, Option<Vec<String>>) {
        let mut segments = Vec::new();
        for (at, step) in self.steps.iter().enumerate() {
            match step {
                Step::Key(key) => segments.push(Segment::Key(key.clone())),
                Step::Index(index) => segments.push(Segment::Index(*index)),
                Step::Each => {
                    let rest = self.steps[at + 1..]
                        .iter()
                        .filter_map(|step| match step {
                            Step::Key(key) => Some(key.clone()),
                            _ => None,
                        })
                        .collect();
                    return (segments, Some(rest));
                }
            }
        }
        (segments, None)
    }

    /// Write `value` at the path into `root`, creating objects on the way; through `[]`, `value`
    /// (an array) becomes an array of objects. An index step is written as an object key: index
    /// steps belong in Partner Center paths, where they become JSON Pointer segments.
    pub fn write(&self, root: &mut Map<String, Json>, value: Json) {
        let (segments, each_rest) = self.pointer_segments();
        let value = match each_rest {
            Some(rest) => wrap_items(value, &rest),
            None => value,
        };
        let segments: Vec<String> = segments.iter().map(Segment::to_string).collect();
        write_segments(root, &segments, value);
    }
}

/// One JSON Pointer segment of a path: an object key or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment {
    Key(String),
    Index(usize),
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Segment::Key(key) => f.write_str(key),
            Segment::Index(index) => write!(f, "{index}"),
        }
    }
}

fn write_segments(map: &mut Map<String, Json>, segments: &[String], value: Json) {
    let Some((first, rest)) = segments.split_first() else {
        return;
    };
    if rest.is_empty() {
        map.insert(first.clone(), value);
        return;
    }
    let child = map
        .entry(first.clone())
        .or_insert_with(|| Json::Object(Map::new()));
    if !child.is_object() {
        *child = Json::Object(Map::new());
    }
    if let Json::Object(inner) = child {
        write_segments(inner, rest, value);
    }
}

/// `value`'s items, each wrapped in objects along `rest` (`["id"]`: `x` → `{"id": x}`).
pub(crate) fn wrap_items(value: Json, rest: &[String]) -> Json {
    match value {
        Json::Array(items) => Json::Array(
            items
                .into_iter()
                .map(|item| {
                    rest.iter().rev().fold(item, |inner, key| {
                        let mut object = Map::new();
                        object.insert(key.clone(), inner);
                        Json::Object(object)
                    })
                })
                .collect(),
        ),
        other => other,
    }
}

fn read_steps(steps: &[Step], node: &Json) -> Option<Json> {
    let Some((first, rest)) = steps.split_first() else {
        return Some(node.clone());
    };
    match first {
        Step::Key(key) => match node {
            Json::Object(map) => read_steps(rest, map.get(key)?),
            Json::Null => Some(Json::Null),
            _ => None,
        },
        Step::Index(index) => match node {
            Json::Array(items) => read_steps(rest, items.get(*index)?),
            Json::Null => Some(Json::Null),
            _ => None,
        },
        Step::Each => match node {
            Json::Array(items) => Some(Json::Array(
                items
                    .iter()
                    .filter_map(|item| read_steps(rest, item))
                    .filter(|value| !value.is_null())
                    .collect(),
            )),
            Json::Null => Some(Json::Null),
            _ => None,
        },
    }
}
