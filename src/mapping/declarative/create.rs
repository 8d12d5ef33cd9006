//! A referral to create from a CRM record, checked against what Partner Center requires
//! (`reference/partner-center.md`, "Create"): the documented `type`, `customerProfile`,
//! `consent` and `details`, a two-letter country, and the solutions, customer contact and
//! sharing a request for Microsoft's help needs.

use serde_json::{Map, Value as Json};

use super::{DeclarativeMapping, Segment, status};
use crate::mapping::cosell::fields;
use crate::mapping::error::{MappingError, MissingValue};
use crate::mapping::patch::PatchTarget;
use crate::mapping::plan::PartnerCenterCreate;
use crate::mapping::policy::Direction;
use crate::mapping::schema::FieldId;
use crate::mapping::transform::Transform;
use crate::mapping::value::Value;
use crate::partner_center::Referral;

/// The kind of referral a mapped create makes: visible to the partner only, and shared with
/// Microsoft through the consent flag (the current single-call recipe).
const REFERRAL_TYPE: &str = "Independent";

impl DeclarativeMapping {
    pub(super) fn render_partner_center_create(
        &self,
        values: &[(FieldId, Value)],
    ) -> Result<PartnerCenterCreate, MappingError> {
        let (values, unfilled) = self.with_create_defaults(values);
        let mut issues = Vec::new();
        let mut document = Map::new();
        document.insert("type".into(), Json::from(REFERRAL_TYPE));
        let mut target = PatchTarget::new(&Json::Object(document));
        for (field, value) in &values {
            let field = *field;
            let direction = self
                .schema
                .field(field)
                .map(|spec| spec.sync_direction())
                .unwrap_or(Direction::None);
            // What flows to Partner Center, and the customer, which is written on create only;
            // the fields Partner Center owns (its ids, Microsoft's CRM id) are its to set.
            if !matches!(
                direction,
                Direction::Both | Direction::CrmToPartnerCenter | Direction::CreateOnly
            ) {
                continue;
            }
            if field == fields::STATUS && self.status.is_some() {
                // Only the states a partner may create in; anything else is the service's call.
                if let Some((status, substatus)) = value
                    .as_choice()
                    .filter(|code| *code != status::ON_HOLD)
                    .and_then(|code| self.partner_center_status(code))
                {
                    for (key, wire) in [("status", status), ("substatus", substatus)] {
                        self.set(&mut target, field, value, &[Segment::Key(key.into())], wire)?;
                    }
                }
                continue;
            }
            let Some(compiled) = self.compiled(field) else {
                continue;
            };
            let Some(path) = &compiled.partner_center else {
                continue;
            };
            let transform = &compiled.rule.partner_center_transform;
            if matches!(transform, Transform::Template(_)) {
                continue;
            }
            let value = self.normalized(field, value, &mut issues)?;
            if value.is_null() {
                continue;
            }
            let Some(json) = self.encode(field, transform, &value, &mut issues)? else {
                continue;
            };
            let (segments, each) = path.pointer_segments();
            let json = match each {
                Some(rest) => super::wrap_items(json, &rest),
                None => json,
            };
            self.set(&mut target, field, &value, &segments, json)?;
        }
        let mut document = target.into_document();
        let consent = document.as_object_mut().map(|root| {
            root.entry("consent")
                .or_insert_with(|| Json::Object(Map::new()))
        });
        // Not shared unless the record says so: sharing with Microsoft cannot be undone.
        if let Some(Json::Object(consent)) = consent {
            consent
                .entry("consentToShareReferralWithMicrosoftSellers")
                .or_insert(Json::Bool(false));
        }
        let mut missing: Vec<MissingValue> = unfilled
            .into_iter()
            .map(|field| MissingValue {
                path: self
                    .compiled(field)
                    .and_then(|compiled| compiled.rule.partner_center_path())
                    .unwrap_or_default()
                    .to_owned(),
                field: Some(self.name(field)),
                reason: "required by the mapping".into(),
            })
            .collect();
        for (path, reason) in requirements(&document) {
            if missing.iter().all(|held| held.path != path) {
                missing.push(MissingValue {
                    field: self.field_at(path),
                    path: path.to_owned(),
                    reason,
                });
            }
        }
        if !missing.is_empty() {
            return Err(MappingError::IncompleteReferral { missing });
        }
        let referral = serde_json::from_value::<Referral>(document.clone()).map_err(|error| {
            MappingError::WrongType {
                field: "referral".into(),
                path: error.to_string(),
                value: document,
                expected: "a referral".into(),
            }
        })?;
        Ok(PartnerCenterCreate { referral, issues })
    }

    fn set(
        &self,
        target: &mut PatchTarget,
        field: FieldId,
        value: &Value,
        segments: &[Segment],
        json: impl Into<Json>,
    ) -> Result<(), MappingError> {
        target
            .set(segments, json.into())
            .map_err(|reason| MappingError::Unwritable {
                field: self.name(field),
                value: value.clone(),
                reason,
            })
    }

    /// The canonical field mapped at the Partner Center path `path` (or at a list item below
    /// it), for naming it in an error.
    fn field_at(&self, path: &str) -> Option<String> {
        self.schema.fields().find_map(|(id, spec)| {
            let mapped = self.compiled(id)?.rule.partner_center_path()?;
            let at = mapped == path
                || mapped
                    .strip_prefix(path)
                    .is_some_and(|rest| rest.starts_with('['));
            at.then(|| spec.name().to_owned())
        })
    }
}

/// What Partner Center would refuse in `referral`: each path with the reason.
fn requirements(referral: &Json) -> Vec<(&'static str, String)> {
    let text = |pointer: &str| {
        referral
            .pointer(pointer)
            .and_then(Json::as_str)
            .map(str::trim)
            .filter(|text| !text.is_empty())
    };
    let mut missing = Vec::new();
    let mut need = |path: &'static str, reason: &str| missing.push((path, reason.to_owned()));
    if text("/name").is_none() {
        need("name", "required");
    }
    if text("/customerProfile/name").is_none() {
        need("customerProfile.name", "required");
    }
    match text("/customerProfile/address/country") {
        None => need(
            "customerProfile.address.country",
            "required: a two-letter ISO 3166 code",
        ),
        Some(code) if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_alphabetic()) => need(
            "customerProfile.address.country",
            &format!("`{code}` is not a two-letter ISO 3166 code"),
        ),
        Some(_) => {}
    }
    if referral
        .pointer("/details")
        .and_then(Json::as_object)
        .is_none_or(Map::is_empty)
    {
        need(
            "details",
            "required: the deal (value, currency, closing date, notes or requirements)",
        );
    }
    let help = text("/inviteContext/assistanceRequestCode").is_some();
    let shared = referral.pointer("/consent/consentToShareReferralWithMicrosoftSellers")
        == Some(&Json::Bool(true));
    let solutions = referral
        .pointer("/details/requirements/solutions")
        .and_then(Json::as_array)
        .is_some_and(|solutions| !solutions.is_empty());
    if help && !solutions {
        need(
            "details.requirements.solutions",
            "at least one solution id when Microsoft's help is requested",
        );
    } else if shared && !solutions {
        need(
            "details.requirements.solutions",
            "at least one solution id before sharing with Microsoft sellers",
        );
    }
    if help && text("/customerProfile/team/0/email").is_none() {
        need(
            "customerProfile.team[0].email",
            "a customer contact when Microsoft's help is requested",
        );
    }
    if help && !shared {
        need(
            "consent.consentToShareReferralWithMicrosoftSellers",
            "true when Microsoft's help is requested (a co-sell deal is shared)",
        );
    }
    missing
}
