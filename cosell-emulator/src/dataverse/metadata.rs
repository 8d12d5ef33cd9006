//! Table metadata: `EntityDefinitions(LogicalName='…')` with its `Attributes`, the attributes
//! of one type with their options
//! (`…/Attributes/Microsoft.Dynamics.CRM.PicklistAttributeMetadata`), the `EntityDefinitions`
//! collection with a `$filter` on `LogicalName` / `EntitySetName`, and the CSDL document
//! (`$metadata`) of the emulated tables.

use http::StatusCode;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::Call;
use super::error::{DvError, DvResult, OBJECT_DOES_NOT_EXIST};
use super::filter::Literal;
use super::json_reply;
use super::key::{RowKey, parse_key_segment};
use super::schema::{Column, ColumnKind, TableDef};
use super::store::State;
use crate::frame::ServiceReply;

/// `GET EntityDefinitions[?$filter=LogicalName eq '…']`: every table the filter keeps. The
/// filter takes `LogicalName` or `EntitySetName` compared with `eq`, joined with `or`.
fn collection(
    state: &State,
    call: &Call,
    operation: &'static str,
    base: &str,
) -> DvResult<ServiceReply> {
    let mut wanted: Vec<(String, String)> = Vec::new();
    if let Some(filter) = call.param("$filter") {
        for part in filter.split(" or ") {
            let part = part.trim().trim_start_matches('(').trim_end_matches(')');
            let parsed = part.split_once(" eq ").and_then(|(name, value)| {
                let value = value.trim().strip_prefix('\'')?.strip_suffix('\'')?;
                let name = name.trim();
                matches!(name, "LogicalName" | "EntitySetName")
                    .then(|| (name.to_owned(), value.replace("''", "'")))
            });
            wanted.push(parsed.ok_or_else(|| {
                DvError::odata(format!(
                    "The emulator filters EntityDefinitions on LogicalName or EntitySetName with eq, not `{part}`."
                ))
            })?);
        }
    }
    let value: Vec<Value> = state
        .tables
        .iter()
        .filter(|t| {
            wanted.is_empty()
                || wanted.iter().any(|(name, value)| match name.as_str() {
                    "LogicalName" => t.def.logical_name == *value,
                    _ => t.def.entity_set == *value,
                })
        })
        .map(|t| entity(&t.def, call))
        .collect();
    Ok(json_reply(
        operation,
        StatusCode::OK,
        json!({"@odata.context": format!("{base}$metadata#EntityDefinitions"), "value": value}),
    ))
}

/// `GET $metadata`: the CSDL of the emulated tables (their columns, keys and single-valued
/// navigation properties), in the service's namespace.
pub(crate) fn csdl(state: &State, operation: &'static str) -> ServiceReply {
    let escape = |text: &str| {
        text.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let mut types = String::new();
    let mut sets = String::new();
    for table in &state.tables {
        let def = &table.def;
        types.push_str(&format!(
            "<EntityType Name=\"{}\"><Key><PropertyRef Name=\"{}\"/></Key>",
            escape(&def.logical_name),
            escape(&def.primary_id)
        ));
        for column in &def.columns {
            types.push_str(&format!(
                "<Property Name=\"{}\" Type=\"{}\"/>",
                escape(&column.property()),
                column.kind.edm()
            ));
        }
        for column in &def.columns {
            if let ColumnKind::Lookup(targets) = &column.kind {
                for (nav, set) in targets {
                    let Some(target) = state.table(set) else {
                        continue;
                    };
                    types.push_str(&format!(
                        "<NavigationProperty Name=\"{}\" Type=\"mscrm.{}\"><ReferentialConstraint Property=\"{}\" ReferencedProperty=\"{}\"/></NavigationProperty>",
                        escape(nav),
                        escape(&target.def.logical_name),
                        escape(&column.property()),
                        escape(&target.def.primary_id)
                    ));
                }
            }
        }
        types.push_str("</EntityType>");
        sets.push_str(&format!(
            "<EntitySet Name=\"{}\" EntityType=\"Microsoft.Dynamics.CRM.{}\"/>",
            escape(&def.entity_set),
            escape(&def.logical_name)
        ));
    }
    let document = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\
         <edmx:Edmx Version=\"4.0\" xmlns:edmx=\"http://docs.oasis-open.org/odata/ns/edmx\">\
         <edmx:DataServices><Schema Namespace=\"Microsoft.Dynamics.CRM\" Alias=\"mscrm\" \
         xmlns=\"http://docs.oasis-open.org/odata/ns/edm\">{types}\
         <EntityContainer Name=\"System\">{sets}</EntityContainer></Schema>\
         </edmx:DataServices></edmx:Edmx>"
    );
    let mut reply = ServiceReply::empty(operation, StatusCode::OK)
        .with_header("content-type", "application/xml")
        .with_header("odata-version", "4.0");
    reply.body = bytes::Bytes::from(document);
    reply
}

pub(crate) fn answer(
    state: &State,
    call: &Call,
    operation: &'static str,
    base: &str,
) -> DvResult<ServiceReply> {
    if call.segments.len() == 1 && call.segments[0] == "EntityDefinitions" {
        return collection(state, call, operation, base);
    }
    let logical = match parse_key_segment(&call.segments[0]) {
        Some((set, RowKey::Alternate(columns))) if set == "EntityDefinitions" => {
            match columns.as_slice() {
                [(column, Literal::Text(name))] if column == "LogicalName" => name.clone(),
                _ => {
                    return Err(DvError::odata(
                        "EntityDefinitions are addressed by LogicalName.",
                    ));
                }
            }
        }
        _ => {
            return Err(DvError::odata(
                "The emulator serves EntityDefinitions(LogicalName='…') only.",
            ));
        }
    };
    let table = state.table_by_logical(&logical).ok_or_else(|| {
        DvError::new(
            StatusCode::NOT_FOUND,
            OBJECT_DOES_NOT_EXIST,
            format!("Could not find entity with name '{logical}'."),
        )
    })?;
    let def = &table.def;
    let body = match &call.segments[1..] {
        [] => entity(def, call),
        [attributes] if attributes == "Attributes" => {
            json!({"value": def.columns.iter().map(|c| attribute(def, c)).collect::<Vec<_>>()})
        }
        [attributes, cast] if attributes == "Attributes" => {
            let wanted = cast.strip_prefix("Microsoft.Dynamics.CRM.").unwrap_or(cast);
            let value: Vec<Value> = def
                .columns
                .iter()
                .filter(|c| {
                    c.kind
                        .metadata_type()
                        .strip_prefix("Microsoft.Dynamics.CRM.")
                        == Some(wanted)
                })
                .map(|c| options_of(def, c))
                .collect();
            json!({"value": value})
        }
        _ => return Err(DvError::no_segment(&call.segments.join("/"))),
    };
    Ok(json_reply(operation, StatusCode::OK, body))
}

fn metadata_id(def: &TableDef, name: &str) -> String {
    // Stable across runs: derived from the names.
    let mut hash: u128 = 0xcbf2_9ce4_8422_2325;
    for byte in def.logical_name.bytes().chain([b'.']).chain(name.bytes()) {
        hash = (hash ^ u128::from(byte)).wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013b);
    }
    Uuid::from_u128(hash).to_string()
}

fn entity(def: &TableDef, call: &Call) -> Value {
    let mut out = Map::new();
    let fields = [
        ("LogicalName", json!(def.logical_name)),
        ("EntitySetName", json!(def.entity_set)),
        ("PrimaryIdAttribute", json!(def.primary_id)),
        ("PrimaryNameAttribute", json!(def.primary_name)),
        ("IsOptimisticConcurrencyEnabled", json!(true)),
        ("SchemaName", json!(def.logical_name)),
        ("ObjectTypeCode", json!(0)),
        (
            "Keys",
            json!(
                def.alternate_keys
                    .iter()
                    .map(|k| {
                        let status = def
                            .key_status
                            .iter()
                            .find(|(key, _)| key == k)
                            .map_or("Active", |(_, status)| status.as_str());
                        json!({"LogicalName": k.join("_"), "KeyAttributes": k, "EntityKeyIndexStatus": status})
                    })
                    .collect::<Vec<_>>()
            ),
        ),
    ];
    let select: Option<Vec<&str>> = call
        .param("$select")
        .map(|s| s.split(',').map(str::trim).collect());
    out.insert("MetadataId".into(), json!(metadata_id(def, "")));
    for (name, value) in fields {
        if select.as_ref().is_none_or(|s| s.contains(&name)) {
            out.insert(name.into(), value);
        }
    }
    let expand = call
        .param("$expand")
        .is_some_and(|e| e.split(',').any(|x| x.trim().starts_with("Attributes")));
    if expand {
        out.insert(
            "Attributes".into(),
            def.columns
                .iter()
                .map(|c| attribute(def, c))
                .collect::<Vec<_>>()
                .into(),
        );
    }
    Value::Object(out)
}

fn attribute(def: &TableDef, column: &Column) -> Value {
    let max_length = match column.kind {
        ColumnKind::Text { max_length } | ColumnKind::Memo { max_length } => Some(max_length),
        _ => None,
    };
    let mut out = json!({
        "@odata.type": format!("#{}", column.kind.metadata_type()),
        "MetadataId": metadata_id(def, &column.name),
        "LogicalName": column.name,
        "SchemaName": column.name,
        "AttributeType": column.kind.attribute_type(),
        "AttributeTypeName": {"Value": column.kind.attribute_type_name()},
        "RequiredLevel": {"Value": column.required, "CanBeChanged": !column.system},
        "IsValidForCreate": column.valid_for_create,
        "IsValidForUpdate": column.valid_for_update,
        "IsValidForRead": true,
        "IsPrimaryId": column.name == def.primary_id,
        "IsPrimaryName": column.name == def.primary_name,
        "IsCustomAttribute": column.name.contains('_') && !column.name.starts_with("address"),
    });
    if let (Some(max), Value::Object(map)) = (max_length, &mut out) {
        map.insert("MaxLength".into(), max.into());
    }
    if let (ColumnKind::DateOnly, Value::Object(map)) = (&column.kind, &mut out) {
        map.insert("DateTimeBehavior".into(), json!({"Value": "DateOnly"}));
        map.insert("Format".into(), json!("DateOnly"));
    }
    if let (ColumnKind::Lookup(targets), Value::Object(map)) = (&column.kind, &mut out) {
        map.insert(
            "Targets".into(),
            targets
                .iter()
                .map(|(_, set)| set.clone())
                .collect::<Vec<_>>()
                .into(),
        );
    }
    out
}

fn options_of(def: &TableDef, column: &Column) -> Value {
    let options: Vec<Value> = match &column.kind {
        ColumnKind::Status(statuses) => statuses
            .iter()
            .map(|(v, l, s)| json!({"Value": v, "State": s, "Label": label(l)}))
            .collect(),
        kind => kind
            .options()
            .iter()
            .map(|(v, l)| json!({"Value": v, "Label": label(l)}))
            .collect(),
    };
    json!({
        "LogicalName": column.name,
        "MetadataId": metadata_id(def, &column.name),
        "OptionSet": {"Options": options},
        "GlobalOptionSet": null,
    })
}

fn label(text: &str) -> Value {
    json!({
        "LocalizedLabels": [{"Label": text, "LanguageCode": 1033}],
        "UserLocalizedLabel": {"Label": text, "LanguageCode": 1033},
    })
}
