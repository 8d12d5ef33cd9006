//! Start-up checks of a mapping against the target's metadata.

use serde_json::Value as Json;

use super::declarative::{CrmEntity, DeclarativeMapping, StatusRules};
use super::plan::FieldMapping;
use super::transform::Transform;
use super::value::ValueKind;
use crate::dataverse::TableMetadata;
use crate::salesforce::{FieldType, SObjectDescribe};

/// A mismatch between a mapping and the target's metadata, found before any record moves.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationProblem {
    /// The target has no such column.
    #[error("field `{field}`: the target has no column `{column}`")]
    MissingColumn {
        /// The canonical field.
        field: String,
        /// The column.
        column: String,
    },
    /// The column's type cannot hold the field.
    #[error("field `{field}`: column `{column}` is {found}, expected {expected}")]
    WrongType {
        /// The canonical field.
        field: String,
        /// The column.
        column: String,
        /// The column's type.
        found: String,
        /// What the mapping needs.
        expected: String,
    },
    /// A choice value the mapping writes that the column does not have, or a value the column
    /// has that the mapping cannot read.
    #[error("field `{field}`: choice value `{value}` of column `{column}` is {problem}")]
    UnmappedChoice {
        /// The canonical field.
        field: String,
        /// The column.
        column: String,
        /// The value.
        value: String,
        /// `not in the target` or `not in the value map`.
        problem: &'static str,
    },
}

/// The opportunity columns a mapping uses: `(field name, column, kind, transform)`.
fn columns(mapping: &DeclarativeMapping) -> Vec<(String, String, ValueKind, Transform)> {
    mapping
        .schema()
        .fields()
        .filter_map(|(id, spec)| {
            let rule = mapping.rule(id)?;
            if rule.crm_entity() != CrmEntity::Opportunity {
                return None;
            }
            let column = rule.crm_path()?.split(['.', '[']).next()?.to_owned();
            Some((
                spec.name().to_owned(),
                column,
                spec.kind(),
                rule.crm_transform_ref().clone(),
            ))
        })
        .collect()
}

fn wire_text(wire: &Json) -> String {
    match wire {
        Json::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn choice_problems(
    field: &str,
    column: &str,
    transform: &Transform,
    has: impl Fn(&Json) -> bool,
    target_values: Vec<Json>,
    problems: &mut Vec<ValidationProblem>,
) {
    let Some(map) = transform.value_map() else {
        return;
    };
    for wire in map.wire_values() {
        if !has(wire) {
            problems.push(ValidationProblem::UnmappedChoice {
                field: field.to_owned(),
                column: column.to_owned(),
                value: wire_text(wire),
                problem: "not in the target",
            });
        }
    }
    for wire in target_values {
        if map.to_code(&wire).is_none() {
            problems.push(ValidationProblem::UnmappedChoice {
                field: field.to_owned(),
                column: column.to_owned(),
                value: wire_text(&wire),
                problem: "not in the value map",
            });
        }
    }
}

/// Check a Dataverse mapping against the table's metadata
/// ([`Dataverse::table_metadata`](crate::dataverse::Dataverse)): missing columns, column types
/// that cannot hold the field, and choice values on either side without a counterpart.
///
/// ```
/// use cosell::dataverse::{ColumnMetadata, TableMetadata};
/// use cosell::mapping::{dynamics365, validate_dataverse, ValidationProblem};
///
/// let table = TableMetadata { logical_name: "opportunity".into(), ..Default::default() };
/// let problems = validate_dataverse(&dynamics365().build()?, &table);
/// assert!(problems.contains(&ValidationProblem::MissingColumn { field: "deal_name".into(), column: "name".into() }));
/// # Ok::<(), cosell::mapping::MappingError>(())
/// ```
pub fn validate_dataverse(
    mapping: &DeclarativeMapping,
    table: &TableMetadata,
) -> Vec<ValidationProblem> {
    let mut problems = Vec::new();
    for (field, column, kind, transform) in columns(mapping) {
        let Some(metadata) = table.column(&column) else {
            problems.push(ValidationProblem::MissingColumn { field, column });
            continue;
        };
        let found = metadata
            .attribute_type_name
            .clone()
            .or_else(|| metadata.attribute_type.clone())
            .unwrap_or_default();
        let type_name = found.trim_end_matches("Type").to_ascii_lowercase();
        let multi = type_name == "multiselectpicklist";
        let fits = match (&transform, kind) {
            (Transform::Map(_), _) => {
                matches!(
                    type_name.as_str(),
                    "picklist" | "state" | "status" | "integer"
                )
            }
            (Transform::FirstOf { .. } | Transform::Joined { map: Some(_), .. }, _) => multi,
            (Transform::Joined { .. }, _) => matches!(type_name.as_str(), "string" | "memo"),
            (_, ValueKind::Text) => {
                matches!(type_name.as_str(), "string" | "memo" | "uniqueidentifier")
            }
            (_, ValueKind::Decimal) => matches!(type_name.as_str(), "money" | "decimal" | "double"),
            (_, ValueKind::Date | ValueKind::DateTime) => type_name == "datetime",
            (_, ValueKind::Bool) => type_name == "boolean",
            (_, ValueKind::Choice) => matches!(type_name.as_str(), "string" | "picklist"),
            (_, ValueKind::MultiChoice | ValueKind::List) => {
                multi || matches!(type_name.as_str(), "string" | "memo")
            }
        };
        if !fits {
            problems.push(ValidationProblem::WrongType {
                field: field.clone(),
                column: column.clone(),
                found: found.clone(),
                expected: format!("a column for {kind} values"),
            });
            continue;
        }
        if !metadata.options.is_empty() {
            let values = metadata
                .options
                .iter()
                .map(|option| Json::from(option.value))
                .collect();
            choice_problems(
                &field,
                &column,
                &transform,
                |wire| {
                    wire.as_i64()
                        .or_else(|| wire.as_str().and_then(|text| text.parse().ok()))
                        .and_then(|value| i32::try_from(value).ok())
                        .is_some_and(|value| metadata.has_option(value))
                },
                values,
                &mut problems,
            );
        }
    }
    if mapping.status_rules() == Some(&StatusRules::Dataverse) {
        for (column, values) in [
            ("statecode", &[0, 1, 2][..]),
            ("statuscode", &[1, 2, 3, 4, 5][..]),
        ] {
            let Some(metadata) = table.column(column) else {
                problems.push(ValidationProblem::MissingColumn {
                    field: "status".into(),
                    column: column.into(),
                });
                continue;
            };
            if metadata.options.is_empty() {
                continue;
            }
            for value in values {
                if !metadata.has_option(*value) {
                    problems.push(ValidationProblem::UnmappedChoice {
                        field: "status".into(),
                        column: column.into(),
                        value: value.to_string(),
                        problem: "not in the target",
                    });
                }
            }
        }
    }
    problems
}

/// Check a Salesforce mapping against the object's describe: missing fields, field types that
/// cannot hold the value, and picklist values on either side without a counterpart.
///
/// ```
/// use cosell::mapping::{salesforce, validate_salesforce, ValidationProblem};
/// use cosell::salesforce::SObjectDescribe;
///
/// let describe: SObjectDescribe = serde_json::from_value(serde_json::json!({"name": "Opportunity", "fields": []})).unwrap();
/// let problems = validate_salesforce(&salesforce().build()?, &describe);
/// assert!(problems.contains(&ValidationProblem::MissingColumn { field: "close_date".into(), column: "CloseDate".into() }));
/// # Ok::<(), cosell::mapping::MappingError>(())
/// ```
pub fn validate_salesforce(
    mapping: &DeclarativeMapping,
    describe: &SObjectDescribe,
) -> Vec<ValidationProblem> {
    let mut problems = Vec::new();
    for (field, column, kind, transform) in columns(mapping) {
        let Some(metadata) = describe.field(&column) else {
            problems.push(ValidationProblem::MissingColumn { field, column });
            continue;
        };
        use FieldType as T;
        let t = &metadata.field_type;
        let text = matches!(
            t,
            T::String | T::TextArea | T::Url | T::Email | T::Phone | T::Id
        );
        let fits = match (&transform, kind) {
            (Transform::Map(_), _) => matches!(t, T::Picklist),
            (Transform::FirstOf { .. } | Transform::Joined { map: Some(_), .. }, _) => {
                matches!(t, T::MultiPicklist)
            }
            (Transform::Joined { .. }, _) => text || matches!(t, T::MultiPicklist),
            (Transform::IsoCode, _) => text || matches!(t, T::Picklist),
            (_, ValueKind::Text) => text || matches!(t, T::Reference),
            (_, ValueKind::Decimal) => {
                matches!(t, T::Currency | T::Double | T::Percent | T::Int)
            }
            (_, ValueKind::Date) => matches!(t, T::Date | T::DateTime),
            (_, ValueKind::DateTime) => matches!(t, T::DateTime),
            (_, ValueKind::Bool) => matches!(t, T::Boolean),
            (_, ValueKind::Choice) => text || matches!(t, T::Picklist),
            (_, ValueKind::MultiChoice | ValueKind::List) => text || matches!(t, T::MultiPicklist),
        };
        if !fits {
            problems.push(ValidationProblem::WrongType {
                field: field.clone(),
                column: column.clone(),
                found: t.to_string(),
                expected: format!("a field for {kind} values"),
            });
            continue;
        }
        if !metadata.picklist_values.is_empty() {
            let values = metadata
                .picklist_values
                .iter()
                .filter(|value| value.active != Some(false))
                .map(|value| Json::String(value.value.clone()))
                .collect();
            choice_problems(
                &field,
                &column,
                &transform,
                |wire| {
                    wire.as_str()
                        .is_some_and(|v| metadata.has_picklist_value(v))
                },
                values,
                &mut problems,
            );
        }
    }
    if let Some(StatusRules::Stages {
        on_hold,
        active,
        won,
        lost,
    }) = mapping.status_rules()
    {
        match describe.field("StageName") {
            None => problems.push(ValidationProblem::MissingColumn {
                field: "status".into(),
                column: "StageName".into(),
            }),
            Some(stage) if !stage.picklist_values.is_empty() => {
                for value in [on_hold, active, won, lost] {
                    if !stage.has_picklist_value(value) {
                        problems.push(ValidationProblem::UnmappedChoice {
                            field: "status".into(),
                            column: "StageName".into(),
                            value: value.clone(),
                            problem: "not in the target",
                        });
                    }
                }
            }
            Some(_) => {}
        }
    }
    problems
}

impl DeclarativeMapping {
    fn with_limits(
        self,
        limit_of: impl Fn(&str) -> Option<usize>,
    ) -> Result<DeclarativeMapping, crate::mapping::MappingError> {
        let limits: Vec<(String, usize)> = self
            .schema()
            .fields()
            .filter(|(_, spec)| spec.kind() == ValueKind::Text)
            .filter_map(|(id, spec)| {
                let rule = self.rule(id)?;
                if rule.crm_entity() != CrmEntity::Opportunity {
                    return None;
                }
                let limit = limit_of(rule.crm_path()?)?;
                (limit > 0).then(|| (spec.name().to_owned(), limit))
            })
            .collect();
        limits
            .into_iter()
            .fold(self.to_builder(), |builder, (name, limit)| {
                builder.update_field(&name, |field| field.max_chars(limit))
            })
            .build()
    }

    /// This mapping with each text column's length limit taken from the table's metadata
    /// (`name` is 300 characters in a standard organisation, but customisable).
    ///
    /// ```
    /// use cosell::dataverse::{ColumnMetadata, TableMetadata};
    /// use cosell::mapping::{dynamics365, fields, FieldMapping};
    ///
    /// let mut table = TableMetadata::default();
    /// table.columns.insert("name".into(), ColumnMetadata { max_length: Some(200), ..Default::default() });
    /// let mapping = dynamics365().build()?.with_limits_from_dataverse(&table)?;
    /// assert_eq!(mapping.schema().field(fields::DEAL_NAME).unwrap().normalization_rules().max_chars, Some(200));
    /// # Ok::<(), cosell::mapping::MappingError>(())
    /// ```
    pub fn with_limits_from_dataverse(
        self,
        table: &TableMetadata,
    ) -> Result<DeclarativeMapping, crate::mapping::MappingError> {
        self.with_limits(|column| {
            table
                .column(column)
                .and_then(|metadata| metadata.max_length)
                .map(|length| length as usize)
        })
    }

    /// This mapping with each text field's length limit taken from the object's describe
    /// (`Name` is 120 characters).
    pub fn with_limits_from_salesforce(
        self,
        describe: &SObjectDescribe,
    ) -> Result<DeclarativeMapping, crate::mapping::MappingError> {
        self.with_limits(|name| {
            describe
                .field(name)
                .filter(|field| matches!(field.field_type, FieldType::String | FieldType::TextArea))
                .and_then(|field| field.length)
                .and_then(|length| usize::try_from(length).ok())
        })
    }
}
