//! Field mappings: the default Dynamics 365 and Salesforce mappings, round trips,
//! customisation, dates, amounts, validation and errors.

use std::collections::HashMap;

use cosell::dataverse::{ChoiceOption, ColumnMetadata, TableMetadata};
use cosell::diff;
use cosell::mapping::{
    AccountCandidate, CrmReadFields, CrmWrite, CrmWriteContext, DeclarativeMapping, Direction,
    EmailContactMatch, ExactAccountMatch, FieldMapping, FieldRule, FieldSpec, HoldReason,
    LookupTarget, MappingError, MappingIssue, Policy, Record, Resolution, Transform,
    ValidationProblem, Value, ValueKind, ValueMap, dynamics365, fields, referral_json, salesforce,
    validate_dataverse, validate_salesforce,
};
use cosell::partner_center::Referral;
use cosell::salesforce::SObjectDescribe;
use jiff::civil::{Date, date};
use proptest::prelude::*;
use rust_decimal::Decimal;
use serde_json::{Map, Value as Json, json};

fn fixture(path: &str) -> Json {
    let text = std::fs::read_to_string(format!("tests/fixtures/{path}")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The sample referral, read through the typed model and back to JSON, as a sync would.
fn sample_referral() -> Json {
    let text = std::fs::read("tests/fixtures/partner_center/incoming_cosell.json").unwrap();
    let referral = Referral::from_json(&text).unwrap();
    serde_json::to_value(&referral).unwrap()
}

fn create() -> CrmWriteContext<'static> {
    CrmWriteContext {
        create: true,
        current: None,
        partner_center: None,
    }
}

fn dec(text: &str) -> Decimal {
    text.parse().unwrap()
}

const REFERRAL_ID: &str = "a4b2c9d0-1111-4e2a-9c3b-5d6e7f800001";
const LINK: &str = "https://partner.microsoft.com/dashboard/referrals/v2/leads/a4b2c9d0-1111-4e2a-9c3b-5d6e7f800001/details";

fn assert_sample_canonical(record: &Record) {
    assert_eq!(
        record.get(fields::DEAL_NAME),
        &Value::text("Contoso Retail - Azure data platform")
    );
    assert_eq!(
        record.get(fields::NOTES),
        &Value::text("Customer wants to consolidate three warehouses.")
    );
    assert_eq!(
        record.get(fields::DEAL_VALUE).as_decimal(),
        Some(dec("250000.75"))
    );
    assert_eq!(record.get(fields::CURRENCY), &Value::choice("USD"));
    assert_eq!(
        record.get(fields::CLOSE_DATE),
        &Value::Date(date(2019, 3, 25))
    );
    assert_eq!(record.get(fields::STATUS), &Value::choice("on_hold"));
    // "100" is not a sales stage: reported, left absent.
    assert!(record.get(fields::SALES_STAGE).is_absent());
    assert_eq!(
        record.get(fields::HELP_REQUESTED),
        &Value::choice("CustomerTechnicalArchitecture")
    );
    assert_eq!(
        record.get(fields::VISIBLE_TO_MICROSOFT_SELLERS),
        &Value::Bool(true)
    );
    assert_eq!(
        record.get(fields::SOLUTIONS),
        &Value::multi_choice(["SOL-15974-MQF"])
    );
    assert_eq!(
        record.get(fields::MICROSOFT_CRM_ID),
        &Value::text("7-ABCDEF123")
    );
    assert_eq!(
        record.get(fields::CUSTOMER_NAME),
        &Value::text("Contoso Retail")
    );
    assert_eq!(
        record.get(fields::CUSTOMER_ADDRESS_LINE1),
        &Value::text("1 Microsoft Way")
    );
    assert_eq!(record.get(fields::CUSTOMER_CITY), &Value::text("Redmond"));
    assert_eq!(record.get(fields::CUSTOMER_STATE), &Value::text("WA"));
    assert_eq!(
        record.get(fields::CUSTOMER_POSTAL_CODE),
        &Value::text("98052")
    );
    assert_eq!(record.get(fields::CUSTOMER_COUNTRY), &Value::choice("US"));
    assert_eq!(record.get(fields::CONTACT_FIRST_NAME), &Value::text("Ana"));
    assert_eq!(
        record.get(fields::CONTACT_LAST_NAME),
        &Value::text("O'Neil")
    );
    assert_eq!(
        record.get(fields::CONTACT_EMAIL),
        &Value::text("ana@contoso-retail.example")
    );
    assert_eq!(
        record.get(fields::CONTACT_PHONE),
        &Value::text("0000000000")
    );
    assert_eq!(record.get(fields::REFERRAL_ID), &Value::text(REFERRAL_ID));
    assert_eq!(record.get(fields::REFERRAL_LINK), &Value::text(LINK));
    assert_eq!(record.get(fields::CRM_ID), &Value::Null, "empty is null");
    assert!(record.get(fields::SYNC_WITH_PARTNER_CENTER).is_absent());
    assert!(record.get(fields::AUDIT_TRAIL).is_absent());
    assert_eq!(
        record.modified().map(|t| t.to_string()).as_deref(),
        Some("2018-10-31T08:15:00.1234567Z")
    );
}

#[test]
fn dynamics_default_maps_the_sample_referral_into_a_create() {
    let mapping = dynamics365().build().unwrap();
    let projected = mapping.referral_to_canonical(&sample_referral()).unwrap();
    assert_sample_canonical(&projected.record);
    // The service's numeric stage is unknown, not a mapping problem.
    assert_eq!(projected.issues, []);

    let write = mapping
        .crm_write(&projected.create_changes(), create())
        .unwrap();
    let body = &write.body;
    assert_eq!(body["name"], "Contoso Retail - Azure data platform");
    assert_eq!(
        body["description"],
        "Customer wants to consolidate three warehouses."
    );
    assert_eq!(body["estimatedvalue"].to_string(), "250000.75");
    assert_eq!(body["estimatedclosedate"], "2019-03-25");
    assert_eq!(body["statuscode"], 2, "a new referral is on hold");
    assert!(
        !body.contains_key("statecode"),
        "Dataverse never takes statecode on create"
    );
    assert!(
        !body.contains_key("salesstage"),
        "unmapped stage is not written"
    );
    assert_eq!(body["cosell_howcanmicrosofthelp"], "2");
    assert_eq!(body["cosell_sharewithmicrosoftsellers"], true);
    assert_eq!(body["cosell_solutions"], "SOL-15974-MQF");
    assert_eq!(body["cosell_microsoftcrmid"], "7-ABCDEF123");
    assert_eq!(body["cosell_referralid"], REFERRAL_ID);
    assert_eq!(body["cosell_referrallink"], LINK);
    assert_eq!(
        body["cosell_syncwithpartnercenter"], true,
        "referrals from Partner Center set the gate"
    );
    assert!(
        !body.contains_key("opportunityid"),
        "the CRM id is read only"
    );
    assert!(write.state.is_none());
    assert_eq!(write.lookups.len(), 3);

    let account = write
        .lookups
        .iter()
        .find(|l| matches!(l.target, LookupTarget::Account(_)))
        .unwrap();
    assert_eq!(account.property, "customerid_account@odata.bind");
    assert_eq!(
        Json::Object(account.create_body.clone()),
        json!({"name": "Contoso Retail", "address1_line1": "1 Microsoft Way", "address1_city": "Redmond",
               "address1_stateorprovince": "WA", "address1_postalcode": "98052", "address1_country": "US"})
    );
    let LookupTarget::Account(customer) = &account.target else {
        unreachable!()
    };
    assert_eq!(customer.name.as_deref(), Some("Contoso Retail"));
    assert_eq!(customer.postal_code.as_deref(), Some("98052"));
    assert_eq!(customer.country.as_deref(), Some("US"));
    let contact = write
        .lookups
        .iter()
        .find(|l| matches!(l.target, LookupTarget::Contact(_)))
        .unwrap();
    assert_eq!(contact.property, "parentcontactid@odata.bind");
    assert_eq!(
        Json::Object(contact.create_body.clone()),
        json!({"firstname": "Ana", "lastname": "O'Neil", "emailaddress1": "ana@contoso-retail.example", "telephone1": "0000000000"})
    );
    assert!(
        write
            .lookups
            .iter()
            .any(|l| l.target == LookupTarget::Currency("USD".into())
                && l.property == "transactioncurrencyid@odata.bind")
    );
}

#[test]
fn salesforce_default_maps_the_same_referral_into_a_create() {
    let mapping = salesforce().build().unwrap();
    let projected = mapping.referral_to_canonical(&sample_referral()).unwrap();
    assert_sample_canonical(&projected.record);

    let write = mapping
        .crm_write(&projected.create_changes(), create())
        .unwrap();
    let body = &write.body;
    assert_eq!(body["Name"], "Contoso Retail - Azure data platform");
    assert_eq!(
        body["Description"],
        "Customer wants to consolidate three warehouses."
    );
    assert_eq!(body["Amount"].to_string(), "250000.75");
    assert_eq!(body["CurrencyIsoCode"], "USD");
    assert_eq!(body["CloseDate"], "2019-03-25");
    assert_eq!(
        body["StageName"], "Prospecting",
        "the configured on-hold stage"
    );
    assert_eq!(
        body["Microsoft_Help_Requested__c"],
        "CustomerTechnicalArchitecture"
    );
    assert_eq!(body["Share_With_Microsoft_Sellers__c"], true);
    assert_eq!(body["Microsoft_Solutions__c"], "SOL-15974-MQF");
    assert_eq!(body["Microsoft_CRM_Id__c"], "7-ABCDEF123");
    assert_eq!(body["Referral_Id__c"], REFERRAL_ID);
    assert_eq!(body["Referral_Link__c"], LINK);
    assert_eq!(body["Sync_With_Partner_Center__c"], true);
    assert!(!body.contains_key("Id"));
    assert!(write.state.is_none(), "Salesforce closes through StageName");
    let account = write
        .lookups
        .iter()
        .find(|l| matches!(l.target, LookupTarget::Account(_)))
        .unwrap();
    assert_eq!(account.property, "AccountId");
    assert_eq!(
        Json::Object(account.create_body.clone()),
        json!({"Name": "Contoso Retail", "BillingStreet": "1 Microsoft Way", "BillingCity": "Redmond",
               "BillingState": "WA", "BillingPostalCode": "98052", "BillingCountry": "US"})
    );
    let contact = write
        .lookups
        .iter()
        .find(|l| matches!(l.target, LookupTarget::Contact(_)))
        .unwrap();
    assert_eq!(contact.property, "ContactId");
    assert_eq!(contact.create_body["Email"], "ana@contoso-retail.example");
    assert!(
        !write
            .lookups
            .iter()
            .any(|l| matches!(l.target, LookupTarget::Currency(_)))
    );
}

fn assert_crm_fixture_canonical(record: &Record) {
    assert_eq!(
        record.get(fields::DEAL_NAME),
        &Value::text("Contoso Retail - Azure data platform (phase 2)")
    );
    assert_eq!(
        record.get(fields::NOTES),
        &Value::text("Three warehouses, two regions.")
    );
    assert_eq!(
        record.get(fields::DEAL_VALUE).as_decimal(),
        Some(dec("312000.50"))
    );
    assert_eq!(record.get(fields::CURRENCY), &Value::choice("EUR"));
    assert_eq!(
        record.get(fields::CLOSE_DATE),
        &Value::Date(date(2019, 4, 30))
    );
    assert_eq!(record.get(fields::STATUS), &Value::choice("won"));
    assert_eq!(
        record.get(fields::HELP_REQUESTED),
        &Value::choice("ProofOfConceptOrDemo")
    );
    assert_eq!(
        record.get(fields::VISIBLE_TO_MICROSOFT_SELLERS),
        &Value::Bool(true)
    );
    assert_eq!(
        record.get(fields::SOLUTIONS),
        &Value::multi_choice(["SOL-15974-MQF", "SOL-20001-ABC"])
    );
    assert_eq!(
        record.get(fields::MICROSOFT_CRM_ID),
        &Value::text("7-ABCDEF123")
    );
    assert_eq!(
        record.get(fields::CUSTOMER_NAME),
        &Value::text("Contoso Retail")
    );
    assert_eq!(
        record.get(fields::CUSTOMER_ADDRESS_LINE1),
        &Value::text("1 Microsoft Way")
    );
    assert_eq!(record.get(fields::CUSTOMER_CITY), &Value::text("Redmond"));
    assert_eq!(record.get(fields::CUSTOMER_STATE), &Value::text("WA"));
    assert_eq!(
        record.get(fields::CUSTOMER_POSTAL_CODE),
        &Value::text("98052")
    );
    assert_eq!(record.get(fields::CUSTOMER_COUNTRY), &Value::choice("US"));
    assert_eq!(record.get(fields::CONTACT_FIRST_NAME), &Value::text("Ana"));
    assert_eq!(
        record.get(fields::CONTACT_LAST_NAME),
        &Value::text("O'Neil")
    );
    assert_eq!(
        record.get(fields::CONTACT_EMAIL),
        &Value::text("ana@contoso-retail.example")
    );
    assert_eq!(
        record.get(fields::CONTACT_PHONE),
        &Value::text("0000000000")
    );
    assert_eq!(record.get(fields::REFERRAL_ID), &Value::text(REFERRAL_ID));
    assert_eq!(record.get(fields::REFERRAL_LINK), &Value::text(LINK));
    assert_eq!(
        record.get(fields::SYNC_WITH_PARTNER_CENTER),
        &Value::Bool(true)
    );
    assert_eq!(
        record.get(fields::AUDIT_TRAIL),
        &Value::text("2019-04-02 synced")
    );
    assert_eq!(
        record.modified().map(|t| t.to_string()).as_deref(),
        Some("2019-04-02T10:00:00Z")
    );
}

#[test]
fn dynamics_record_maps_back_to_the_same_canonical_fields() {
    let mapping = dynamics365().build().unwrap();
    let projected = mapping
        .crm_to_canonical(&fixture("mapping/dynamics_opportunity_expanded.json"))
        .unwrap();
    assert_crm_fixture_canonical(&projected.record);
    assert_eq!(
        projected.record.get(fields::SALES_STAGE),
        &Value::choice("Close")
    );
    assert_eq!(
        projected.record.get(fields::CRM_ID),
        &Value::text("c0ffee00-3333-4a5e-8f00-0123456789ab")
    );
    assert!(projected.issues.is_empty(), "{:?}", projected.issues);
}

#[test]
fn salesforce_record_maps_back_to_the_same_canonical_fields() {
    let mapping = salesforce().build().unwrap();
    let projected = mapping
        .crm_to_canonical(&fixture("mapping/salesforce_opportunity_expanded.json"))
        .unwrap();
    assert_crm_fixture_canonical(&projected.record);
    // `Closed Won` shows the status, not a sales stage: the stage is unknown.
    assert!(projected.record.get(fields::SALES_STAGE).is_absent());
    assert_eq!(
        projected.record.get(fields::CRM_ID),
        &Value::text("006Dn00000A1b2CIAR")
    );
}

/// A stage that shows the status (on hold, won, lost) is not a sales stage: it is neither read
/// as one nor reported as a sales-stage value the mapping cannot map.
#[test]
fn salesforce_status_stages_are_not_unmapped_sales_stages() {
    let mapping = salesforce().build().unwrap();
    let opportunity = |stage: &str, closed: bool, won: bool| json!({"Id": "006Dn00000A1b2CIAR", "StageName": stage, "IsClosed": closed, "IsWon": won});
    for (stage, closed, won, status) in [
        ("Prospecting", false, false, "on_hold"),
        ("Closed Won", true, true, "won"),
        ("Closed Lost", true, false, "lost"),
    ] {
        let projected = mapping
            .crm_to_canonical(&opportunity(stage, closed, won))
            .unwrap();
        assert_eq!(
            projected.record.get(fields::STATUS),
            &Value::choice(status),
            "{stage}"
        );
        assert!(
            projected.record.get(fields::SALES_STAGE).is_absent(),
            "{stage}: {:?}",
            projected.record.get(fields::SALES_STAGE)
        );
        assert!(
            projected.raw.get(fields::SALES_STAGE).is_absent(),
            "{stage}: the raw projection too"
        );
        let unmapped: Vec<_> = projected
            .issues
            .iter()
            .filter(|issue| matches!(issue, MappingIssue::UnmappedValue { .. }))
            .collect();
        assert!(unmapped.is_empty(), "{stage}: {unmapped:?}");
    }
    // Also when the status is not synced: the stage still shows it, not a sales stage.
    let without_status = salesforce().remove("status").build().unwrap();
    let projected = without_status
        .crm_to_canonical(&json!({"Id": "006Dn00000A1b2CIAR", "StageName": "Prospecting"}))
        .unwrap();
    assert!(projected.record.get(fields::SALES_STAGE).is_absent());
    assert!(projected.issues.is_empty(), "{:?}", projected.issues);
    // An open stage the map does not hold is still reported.
    let projected = mapping
        .crm_to_canonical(&opportunity("Custom Stage", false, false))
        .unwrap();
    assert!(
        projected.issues.iter().any(|issue| matches!(
            issue,
            MappingIssue::UnmappedValue { field, value } if field == "sales_stage" && value == "Custom Stage"
        )),
        "{:?}",
        projected.issues
    );
}

#[test]
fn crm_changes_become_a_partner_center_patch_with_replace_and_add_only() {
    let mapping = dynamics365().build().unwrap();
    let mut accepted = sample_referral();
    accepted["status"] = json!("Active");
    accepted["substatus"] = json!("Accepted");
    let changes = [
        (fields::STATUS, Value::choice("won")),
        (fields::DEAL_VALUE, Value::Decimal(dec("300000.10"))),
        (fields::CLOSE_DATE, Value::Date(date(2019, 4, 30))),
        (fields::SOLUTIONS, Value::multi_choice(["SOL-1", "SOL-2"])),
        (
            fields::CRM_ID,
            Value::text("c0ffee00-3333-4a5e-8f00-0123456789ab"),
        ),
        (fields::NOTES, Value::Null),
    ];
    let write = mapping.partner_center_write(&changes, &accepted).unwrap();
    assert_eq!(
        serde_json::to_value(&write.patch).unwrap(),
        json!([
            {"op": "replace", "path": "/status", "value": "Closed"},
            {"op": "replace", "path": "/substatus", "value": "Won"},
            {"op": "replace", "path": "/details/dealValue", "value": "300000.1"},
            {"op": "replace", "path": "/details/closingDateTime", "value": "2019-04-30T00:00:00Z"},
            {"op": "replace", "path": "/details/requirements/solutions", "value": [{"id": "SOL-1"}, {"id": "SOL-2"}]},
            {"op": "replace", "path": "/externalReferenceId", "value": "c0ffee00-3333-4a5e-8f00-0123456789ab"},
            {"op": "replace", "path": "/details/notes", "value": null},
        ])
    );
    assert!(write.issues.is_empty());

    // A field the referral never had is added, not replaced.
    let sparse = json!({"status": "Active", "substatus": "Accepted", "trackingInfo": {}});
    let write = mapping
        .partner_center_write(&[(fields::MICROSOFT_CRM_ID, Value::text("7-X"))], &sparse)
        .unwrap();
    assert_eq!(
        write.patch.operations()[0].path,
        "/trackingInfo/microsoftMsxId"
    );
    assert_eq!(serde_json::to_value(&write.patch).unwrap()[0]["op"], "add");
}

/// `patch` applied to `referral` by an RFC 6902 implementation, which refuses an `add` whose
/// parent does not exist.
fn apply_patch(referral: &Json, patch: &cosell::partner_center::referrals::ReferralPatch) -> Json {
    let operations: json_patch::Patch =
        serde_json::from_value(serde_json::to_value(patch).unwrap()).unwrap();
    let mut patched = referral.clone();
    json_patch::patch(&mut patched, &operations)
        .unwrap_or_else(|error| panic!("{error}: {}", serde_json::to_string(patch).unwrap()));
    patched
}

#[test]
fn a_patch_adds_the_parent_objects_a_referral_lacks() {
    let changes = [
        (fields::HELP_REQUESTED, Value::choice("QuotesOrLicensing")),
        (fields::SOLUTIONS, Value::multi_choice(["SOL-1", "SOL-2"])),
        (fields::MICROSOFT_CRM_ID, Value::text("7-X")),
        (fields::NOTES, Value::text("first note")),
    ];
    for mapping in [
        dynamics365().build().unwrap(),
        salesforce().build().unwrap(),
    ] {
        for referral in [
            // No inviteContext, no trackingInfo, details without requirements.
            json!({"id": "r-1", "status": "Active", "substatus": "Accepted", "details": {"dealValue": 10}}),
            // No details at all.
            json!({"id": "r-1", "status": "Active", "substatus": "Accepted"}),
            // Parents present with other members, which the patch must keep.
            json!({"id": "r-1", "status": "Active", "substatus": "Accepted",
                   "inviteContext": {"invitedBy": {"organizationId": "msft"}},
                   "details": {"notes": null, "requirements": {"industries": [{"id": "Retail"}]}},
                   "trackingInfo": {"microsoftMsxId": null}}),
            // A null parent.
            json!({"id": "r-1", "status": "Active", "substatus": "Accepted", "details": null, "inviteContext": null}),
        ] {
            let write = mapping.partner_center_write(&changes, &referral).unwrap();
            let patched = apply_patch(&referral, &write.patch);
            let back = mapping.referral_to_canonical(&patched).unwrap();
            for (field, value) in &changes {
                assert_eq!(back.record.get(*field), value, "{field} in {patched}");
            }
            // Nothing else the referral held was lost.
            for (path, kept) in [
                ("/inviteContext/invitedBy/organizationId", json!("msft")),
                ("/details/requirements/industries/0/id", json!("Retail")),
                ("/details/dealValue", json!(10)),
            ] {
                if let Some(before) = referral.pointer(path) {
                    assert_eq!(before, &kept);
                    assert_eq!(patched.pointer(path), Some(&kept), "{path} in {patched}");
                }
            }
        }
    }
}

#[test]
fn status_rules_hold_edits_to_closed_and_unaccepted_referrals() {
    let mapping = salesforce().build().unwrap();
    let closed = json!({"status": "Closed", "substatus": "Won"});
    let write = mapping
        .partner_center_write(&[(fields::NOTES, Value::text("late edit"))], &closed)
        .unwrap();
    assert!(write.patch.is_empty());
    assert_eq!(
        write.issues,
        [MappingIssue::Held {
            field: "notes".into(),
            reason: HoldReason::ReferralClosed
        }]
    );

    let pending = json!({"status": "New", "substatus": "Pending"});
    let write = mapping
        .partner_center_write(&[(fields::NOTES, Value::text("local"))], &pending)
        .unwrap();
    assert!(write.patch.is_empty());
    assert_eq!(
        write.issues,
        [MappingIssue::Held {
            field: "notes".into(),
            reason: HoldReason::NotAccepted
        }]
    );

    // Moving the CRM record out of on-hold accepts the referral, edits included.
    let write = mapping
        .partner_center_write(
            &[
                (fields::STATUS, Value::choice("active")),
                (fields::NOTES, Value::text("go")),
            ],
            &pending,
        )
        .unwrap();
    assert_eq!(
        serde_json::to_value(&write.patch).unwrap(),
        json!([
            {"op": "replace", "path": "/status", "value": "Active"},
            {"op": "replace", "path": "/substatus", "value": "Accepted"},
            {"op": "add", "path": "/details", "value": {"notes": "go"}},
        ])
    );

    // Visibility to Microsoft sellers is never sent as false.
    let active = json!({"status": "Active", "substatus": "Accepted"});
    let write = mapping
        .partner_center_write(
            &[(fields::VISIBLE_TO_MICROSOFT_SELLERS, Value::Bool(false))],
            &active,
        )
        .unwrap();
    assert!(write.patch.is_empty());
    assert_eq!(
        write.issues,
        [MappingIssue::Held {
            field: "visible_to_microsoft_sellers".into(),
            reason: HoldReason::Irreversible
        }]
    );
}

#[test]
fn dynamics_closes_through_a_state_change_and_salesforce_through_the_stage() {
    let dynamics = dynamics365().build().unwrap();
    let open = Record::default().with(fields::STATUS, Value::choice("active"));
    let context = CrmWriteContext {
        create: false,
        current: Some(&open),
        partner_center: None,
    };
    for (status, state, reason) in [
        ("won", 1, 3),
        ("lost", 2, 5),
        ("declined", 2, 4),
        ("expired", 2, 4),
    ] {
        let write = dynamics
            .crm_write(&[(fields::STATUS, Value::choice(status))], context)
            .unwrap();
        let change = write.state.unwrap();
        assert_eq!(
            (change.state_code, change.status_code),
            (state, reason),
            "{status}"
        );
        assert_eq!(change.is_win(), status == "won");
        assert!(write.body.is_empty(), "no statecode in the body");
    }
    let write = dynamics
        .crm_write(&[(fields::STATUS, Value::choice("on_hold"))], context)
        .unwrap();
    assert_eq!(Json::Object(write.body), json!({"statuscode": 2}));

    let sf = salesforce().build().unwrap();
    let context = CrmWriteContext {
        create: false,
        current: Some(&open),
        partner_center: None,
    };
    for (status, stage) in [
        ("won", "Closed Won"),
        ("lost", "Closed Lost"),
        ("expired", "Closed Lost"),
        ("on_hold", "Prospecting"),
    ] {
        let write = sf
            .crm_write(&[(fields::STATUS, Value::choice(status))], context)
            .unwrap();
        assert_eq!(write.body["StageName"], stage);
    }
    // An open referral's sales stage moves the stage; a closed one's does not.
    let write = sf
        .crm_write(&[(fields::SALES_STAGE, Value::choice("Propose"))], context)
        .unwrap();
    assert_eq!(write.body["StageName"], "Proposal/Price Quote");
    let won = Record::default().with(fields::STATUS, Value::choice("won"));
    let write = sf
        .crm_write(
            &[(fields::SALES_STAGE, Value::choice("Propose"))],
            CrmWriteContext {
                create: false,
                current: Some(&won),
                partner_center: None,
            },
        )
        .unwrap();
    assert!(!write.body.contains_key("StageName"));
}

#[test]
fn update_bodies_hold_only_the_changed_columns() {
    let mapping = dynamics365().build().unwrap();
    let write = mapping
        .crm_write(
            &[
                (fields::DEAL_NAME, Value::text("Renamed")),
                (fields::NOTES, Value::Null),
            ],
            CrmWriteContext::default(),
        )
        .unwrap();
    assert_eq!(
        Json::Object(write.body.clone()),
        json!({"name": "Renamed", "description": null})
    );
    assert!(write.lookups.is_empty());
    // Customer fields are written on create only.
    let write = mapping
        .crm_write(
            &[(fields::CUSTOMER_CITY, Value::text("Oslo"))],
            CrmWriteContext::default(),
        )
        .unwrap();
    assert!(write.is_empty());
    let patch = mapping
        .crm_write(
            &[(fields::DEAL_NAME, Value::text("Renamed"))],
            CrmWriteContext::default(),
        )
        .unwrap()
        .to_dataverse_patch();
    assert_eq!(
        serde_json::to_value(&patch).unwrap(),
        json!({"name": "Renamed"})
    );
}

/// An account resolver that asks the CRM: here, a lookup table behind an await, which fails for
/// one name as an unreachable CRM would.
struct QueryingResolver;

#[async_trait::async_trait]
impl cosell::mapping::AccountResolver for QueryingResolver {
    async fn resolve_account(
        &self,
        customer: &cosell::mapping::CustomerQuery,
    ) -> cosell::Result<Resolution> {
        tokio::task::yield_now().await;
        match customer.name.as_deref() {
            Some("Contoso Retail") => Ok(Resolution::Existing("acc-queried".into())),
            _ => Err(cosell::Error::validation("the CRM could not be asked")),
        }
    }
}

#[tokio::test]
async fn resolvers_are_async_and_their_errors_stop_the_write() {
    let mapping = dynamics365().build().unwrap();
    let projected = mapping.referral_to_canonical(&sample_referral()).unwrap();
    let currencies = HashMap::from([("USD".to_string(), "cur-usd".to_string())]);
    let mut write = mapping
        .crm_write(&projected.create_changes(), create())
        .unwrap();
    let left = write
        .resolve(
            &QueryingResolver,
            &EmailContactMatch::default(),
            &currencies,
        )
        .await
        .unwrap();
    assert_eq!(
        write.body["customerid_account@odata.bind"],
        "/accounts(acc-queried)"
    );
    assert_eq!(left.len(), 1, "the contact is to be created");

    let changes: Vec<_> = projected
        .create_changes()
        .into_iter()
        .map(|(field, value)| match field {
            fields::CUSTOMER_NAME => (field, Value::text("Fabrikam")),
            _ => (field, value),
        })
        .collect();
    let mut write = mapping.crm_write(&changes, create()).unwrap();
    let error = write
        .resolve(
            &QueryingResolver,
            &EmailContactMatch::default(),
            &currencies,
        )
        .await
        .unwrap_err();
    assert!(error.to_string().contains("could not be asked"), "{error}");
    assert!(
        !write.body.contains_key("customerid_account@odata.bind"),
        "nothing bound for the account"
    );
}

#[tokio::test]
async fn lookups_resolve_through_replaceable_resolvers() {
    let mapping = dynamics365().build().unwrap();
    let projected = mapping.referral_to_canonical(&sample_referral()).unwrap();
    let mut write = mapping
        .crm_write(&projected.create_changes(), create())
        .unwrap();
    let accounts = ExactAccountMatch::new(vec![
        AccountCandidate {
            id: "acc-near".into(),
            name: Some("Contoso Retail Inc".into()),
            postal_code: Some("98052".into()),
            country: Some("US".into()),
        },
        AccountCandidate {
            id: "acc-1".into(),
            name: Some("contoso retail".into()),
            postal_code: Some("98052".into()),
            country: Some("us".into()),
        },
    ]);
    let currencies = HashMap::from([("USD".to_string(), "cur-usd".to_string())]);
    let left = write
        .resolve(&accounts, &EmailContactMatch::default(), &currencies)
        .await
        .unwrap();
    assert_eq!(
        write.body["customerid_account@odata.bind"],
        "/accounts(acc-1)"
    );
    assert_eq!(
        write.body["transactioncurrencyid@odata.bind"],
        "/transactioncurrencies(cur-usd)"
    );
    assert_eq!(left.len(), 1, "the contact is to be created");
    assert_eq!(left[0].1, Resolution::Create);
    let (contact, _) = left[0].clone();
    write.bind(&contact, "con-9");
    assert_eq!(write.body["parentcontactid@odata.bind"], "/contacts(con-9)");
    assert!(write.lookups.is_empty());

    // Never a fuzzy merge: a near name creates, two exact matches are ambiguous.
    let mut fresh = mapping
        .crm_write(&projected.create_changes(), create())
        .unwrap();
    let near_only = ExactAccountMatch::new(vec![AccountCandidate {
        id: "x".into(),
        name: Some("Contoso Retail Inc".into()),
        postal_code: Some("98052".into()),
        country: Some("US".into()),
    }]);
    let left = fresh
        .resolve(&near_only, &EmailContactMatch::default(), &currencies)
        .await
        .unwrap();
    assert!(
        left.iter()
            .any(|(l, r)| matches!(l.target, LookupTarget::Account(_)) && *r == Resolution::Create)
    );
    let twice = ExactAccountMatch::new(vec![
        AccountCandidate {
            id: "a".into(),
            name: Some("Contoso Retail".into()),
            postal_code: Some("98052".into()),
            country: Some("US".into()),
        },
        AccountCandidate {
            id: "b".into(),
            name: Some("Contoso Retail".into()),
            postal_code: Some("98052".into()),
            country: Some("US".into()),
        },
    ]);
    let mut fresh = mapping
        .crm_write(&projected.create_changes(), create())
        .unwrap();
    let left = fresh
        .resolve(&twice, &EmailContactMatch::default(), &currencies)
        .await
        .unwrap();
    assert!(
        left.iter()
            .any(|(_, r)| *r == Resolution::Ambiguous(vec!["a".into(), "b".into()]))
    );
}

/// `record` as a CRM answers a query for `fields` only: the listed columns, and the listed
/// columns of each related record.
fn serve(record: &Json, fields: &CrmReadFields) -> Json {
    let mut served = Map::new();
    for column in fields.columns() {
        if let Some(value) = record.get(column) {
            served.insert(column.to_owned(), value.clone());
        }
    }
    for (relation, related) in fields.relations() {
        if let Some(value) = record.get(relation) {
            let value = match value {
                Json::Object(_) => serve(value, related),
                other => other.clone(),
            };
            served.insert(relation.to_owned(), value);
        }
    }
    Json::Object(served)
}

#[test]
fn every_field_a_mapping_reads_is_in_its_derived_read_list() {
    let industries = ValueMap::new().pair("Retail", 100_000_001);
    let custom = dynamics365()
        .update("referral_link", |rule| rule.crm("contoso_partnercenterurl"))
        .field(
            FieldSpec::new("industry", ValueKind::Choice)
                .direction(Direction::PartnerCenterToCrm)
                .policy(Policy::PartnerCenterWins),
            FieldRule::new("industry")
                .partner_center("details.requirements.industries[0].id")
                .crm("contoso_industry")
                .crm_transform(Transform::Map(industries)),
        )
        .build()
        .unwrap();
    let mut custom_row = fixture("mapping/dynamics_opportunity_expanded.json");
    custom_row["contoso_partnercenterurl"] = json!("https://example.test/r/1");
    custom_row["contoso_industry"] = json!(100_000_001);
    for (mapping, mut row) in [
        (
            dynamics365().build().unwrap(),
            fixture("mapping/dynamics_opportunity_expanded.json"),
        ),
        (custom, custom_row),
        (
            salesforce().build().unwrap(),
            fixture("mapping/salesforce_opportunity_expanded.json"),
        ),
    ] {
        // Columns and related columns nobody maps, which a query need not bring.
        row["budgetamount"] = json!(5);
        for relation in [
            "customerid_account",
            "Account",
            "parentcontactid",
            "Contact",
        ] {
            if let Some(related) = row.get_mut(relation) {
                related["unmapped_column"] = json!("x");
            }
        }
        let fields = mapping.crm_read_fields();
        let served = serve(&row, &fields);
        assert_ne!(served, row, "the list leaves the unmapped columns out");
        let full = mapping.crm_to_canonical(&row).unwrap();
        let read = mapping.crm_to_canonical(&served).unwrap();
        assert_eq!(read.record, full.record, "{served}");
        assert!(
            read.record.modified().is_some(),
            "the modification time is read"
        );
        // The lists fit the query builders.
        cosell::salesforce::soql::Soql::select(fields.soql_fields())
            .from("Opportunity")
            .build()
            .unwrap();
    }

    // The default Dynamics list, checked by hand.
    let fields = dynamics365().build().unwrap().crm_read_fields();
    assert_eq!(
        fields.dataverse_expand(),
        [
            "transactioncurrencyid($select=isocurrencycode)",
            "customerid_account($select=name,address1_line1,address1_city,address1_stateorprovince,address1_postalcode,address1_country)",
            "parentcontactid($select=firstname,lastname,emailaddress1,telephone1)",
        ]
    );
    for column in [
        "name",
        "cosell_sharewithmicrosoftsellers",
        "cosell_microsoftcrmid",
        "opportunityid",
        "statecode",
        "statuscode",
        "modifiedon",
    ] {
        assert!(
            fields.dataverse_select().iter().any(|held| held == column),
            "{column}"
        );
    }
    let fields = salesforce().build().unwrap().crm_read_fields();
    for field in [
        "Account.BillingCountry",
        "Contact.Email",
        "IsWon",
        "LastModifiedDate",
    ] {
        assert!(fields.contains(field), "{field}");
        assert!(
            fields.soql_fields().iter().any(|held| held == field),
            "{field}"
        );
    }
}

#[test]
fn a_crm_record_becomes_a_referral_to_create() {
    for (mapping, row) in [
        (
            dynamics365().build().unwrap(),
            fixture("mapping/dynamics_opportunity_expanded.json"),
        ),
        (
            salesforce().build().unwrap(),
            fixture("mapping/salesforce_opportunity_expanded.json"),
        ),
    ] {
        let crm = mapping.crm_to_canonical(&row).unwrap();
        let create = mapping
            .partner_center_create(&crm.create_changes())
            .unwrap();
        let referral = &create.referral;
        assert_eq!(
            referral.referral_type.value(),
            Some(&cosell::partner_center::ReferralType::Independent)
        );
        assert!(referral.id.is_absent(), "Partner Center assigns the id");
        let profile = referral.customer_profile.value().unwrap();
        assert_eq!(profile.name.as_deref(), Some("Contoso Retail"));
        assert_eq!(
            profile.address.value().unwrap().country.as_deref(),
            Some("US")
        );
        assert_eq!(
            profile.team.value().unwrap()[0].email.as_deref(),
            Some("ana@contoso-retail.example")
        );
        assert_eq!(
            referral
                .consent
                .value()
                .unwrap()
                .consent_to_share_referral_with_microsoft_sellers
                .value(),
            Some(&true)
        );
        // Read back, the referral holds every value that flows to Partner Center.
        let back = mapping
            .referral_to_canonical(&referral_json(referral))
            .unwrap();
        for (field, spec) in mapping.schema().fields() {
            if matches!(
                spec.sync_direction(),
                Direction::Both | Direction::CrmToPartnerCenter | Direction::CreateOnly
            ) {
                assert_eq!(
                    back.record.get(field),
                    crm.record.get(field),
                    "{}",
                    spec.name()
                );
            }
        }
        assert!(back.record.get(fields::REFERRAL_ID).is_absent());
    }
}

#[test]
fn a_referral_create_names_every_value_partner_center_needs() {
    let mapping = salesforce().build().unwrap();
    let missing = |values: &[(cosell::mapping::FieldId, Value)]| match mapping
        .partner_center_create(values)
        .unwrap_err()
    {
        MappingError::IncompleteReferral { missing } => missing
            .into_iter()
            .map(|missing| (missing.path, missing.field))
            .collect::<Vec<_>>(),
        other => panic!("{other}"),
    };
    let named = |path: &str, field: Option<&str>| (path.to_owned(), field.map(str::to_owned));
    assert_eq!(
        missing(&[]),
        [
            named("name", Some("deal_name")),
            named("customerProfile.name", Some("customer_name")),
            named("customerProfile.address.country", Some("customer_country")),
            named("details", None),
        ]
    );
    // Microsoft's help asked for: solutions, a customer contact and sharing are needed.
    let base = [
        (fields::DEAL_NAME, Value::text("Deal")),
        (fields::CUSTOMER_NAME, Value::text("Fabrikam")),
        (fields::CUSTOMER_COUNTRY, Value::choice("GBR")),
        (fields::DEAL_VALUE, Value::Decimal(dec("100"))),
        (fields::HELP_REQUESTED, Value::choice("QuotesOrLicensing")),
        (fields::VISIBLE_TO_MICROSOFT_SELLERS, Value::Bool(false)),
    ];
    assert_eq!(
        missing(&base),
        [
            named("customerProfile.address.country", Some("customer_country")),
            named("details.requirements.solutions", Some("solutions")),
            named("customerProfile.team[0].email", Some("contact_email")),
            named(
                "consent.consentToShareReferralWithMicrosoftSellers",
                Some("visible_to_microsoft_sellers")
            ),
        ]
    );
    let error = mapping
        .partner_center_create(&base)
        .unwrap_err()
        .to_string();
    assert!(error.contains("`customerProfile.address.country` (field `customer_country`): `GBR` is not a two-letter ISO 3166 code"), "{error}");
    // Shared without help: solutions still needed.
    let shared = [
        (fields::DEAL_NAME, Value::text("Deal")),
        (fields::CUSTOMER_NAME, Value::text("Fabrikam")),
        (fields::CUSTOMER_COUNTRY, Value::choice("gb")),
        (fields::NOTES, Value::text("ERP")),
        (fields::VISIBLE_TO_MICROSOFT_SELLERS, Value::Bool(true)),
    ];
    assert_eq!(
        missing(&shared),
        [named("details.requirements.solutions", Some("solutions"))]
    );
    // A private deal needs no more than the customer and the deal.
    let private = mapping
        .partner_center_create(&shared[..4])
        .unwrap()
        .referral;
    assert_eq!(
        private
            .consent
            .into_value()
            .unwrap()
            .consent_to_share_referral_with_microsoft_sellers
            .into_value(),
        Some(false)
    );
}

// ---------------------------------------------------------------------------------------------
// Round trips.

const DATAVERSE_ID: &str = "c0ffee00-0000-4000-8000-000000000001";
const SALESFORCE_ID: &str = "006000000000001AAA";

/// The CRM record as the CRM stores `write` over `existing` (`None` for a create) and answers a
/// query for what `mapping` reads: columns as sent, amounts at the columns' two decimal places
/// (rounded half to even, as a CRM may round), empty text as null, every column read but never
/// set as null, lookups bound to the records they name, the state a state change reaches, and
/// the flags Salesforce derives from the stage. Text longer than the column is refused, as the
/// CRMs refuse it.
fn store(
    mapping: &DeclarativeMapping,
    write: &CrmWrite,
    existing: Option<&Json>,
    dataverse: bool,
) -> Json {
    let mut record = existing
        .and_then(Json::as_object)
        .cloned()
        .unwrap_or_default();
    for (column, value) in &write.body {
        let value = match (write.decimals.get(column), value) {
            (Some(exact), Json::Number(_)) => json!(
                exact
                    .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointNearestEven)
                    .to_string()
            ),
            (_, Json::String(text)) if text.is_empty() => Json::Null,
            _ => value.clone(),
        };
        let limit = match column.as_str() {
            "name" => Some(300),
            "Name" => Some(120),
            _ => None,
        };
        if let (Some(limit), Some(text)) = (limit, value.as_str()) {
            assert!(
                text.chars().count() <= limit,
                "{column} is too long: {text}"
            );
        }
        record.insert(column.clone(), value);
    }
    for lookup in &write.lookups {
        let (read, body) = match (&lookup.target, dataverse) {
            (LookupTarget::Account(_), true) => ("customerid_account", lookup.create_body.clone()),
            (LookupTarget::Account(_), false) => ("Account", lookup.create_body.clone()),
            (LookupTarget::Contact(_), true) => ("parentcontactid", lookup.create_body.clone()),
            (LookupTarget::Contact(_), false) => ("Contact", lookup.create_body.clone()),
            (LookupTarget::Currency(code), _) => {
                let mut currency = Map::new();
                currency.insert("isocurrencycode".into(), json!(code));
                ("transactioncurrencyid", currency)
            }
            _ => unreachable!(),
        };
        record.insert(read.into(), Json::Object(body));
    }
    if dataverse {
        record.insert("opportunityid".into(), json!(DATAVERSE_ID));
        match (&write.state, write.body.get("statuscode")) {
            (Some(state), _) => {
                record.insert("statecode".into(), json!(state.state_code));
                record.insert("statuscode".into(), json!(state.status_code));
            }
            (None, Some(_)) => {
                record.insert("statecode".into(), json!(0));
            }
            (None, None) => {
                record.entry("statecode").or_insert(json!(0));
                record.entry("statuscode").or_insert(json!(1));
            }
        }
        record.insert("modifiedon".into(), json!("2030-01-01T00:00:00Z"));
    } else {
        record.insert("Id".into(), json!(SALESFORCE_ID));
        let stage = record.get("StageName").and_then(Json::as_str).unwrap_or("");
        let (closed, won) = match stage {
            "Closed Won" => (true, true),
            "Closed Lost" => (true, false),
            _ => (false, false),
        };
        record.insert("IsClosed".into(), json!(closed));
        record.insert("IsWon".into(), json!(won));
        record.insert(
            "LastModifiedDate".into(),
            json!("2030-01-01T00:00:00.000+0000"),
        );
    }
    // A query answers null for the columns it selects that were never set.
    let mut answer = Json::Object(record);
    fill_nulls(&mut answer, &mapping.crm_read_fields());
    answer
}

fn fill_nulls(record: &mut Json, fields: &CrmReadFields) {
    let Json::Object(map) = record else { return };
    for column in fields.columns() {
        map.entry(column).or_insert(Json::Null);
    }
    for (relation, related) in fields.relations() {
        if let Some(nested) = map.get_mut(relation) {
            fill_nulls(nested, related);
        } else {
            map.insert(relation.to_owned(), Json::Null);
        }
    }
}

fn through_crm(
    mapping: &DeclarativeMapping,
    canonical: &cosell::mapping::Projection,
    dataverse: bool,
) -> cosell::mapping::Projection {
    let write = mapping
        .crm_write(&canonical.create_changes(), create())
        .unwrap();
    mapping
        .crm_to_canonical(&store(mapping, &write, None, dataverse))
        .unwrap()
}

/// Fields a CRM round trip keeps exactly.
const REVERSIBLE: [cosell::mapping::FieldId; 20] = [
    fields::DEAL_NAME,
    fields::NOTES,
    fields::DEAL_VALUE,
    fields::CURRENCY,
    fields::CLOSE_DATE,
    fields::HELP_REQUESTED,
    fields::VISIBLE_TO_MICROSOFT_SELLERS,
    fields::SOLUTIONS,
    fields::MICROSOFT_CRM_ID,
    fields::CUSTOMER_NAME,
    fields::CUSTOMER_ADDRESS_LINE1,
    fields::CUSTOMER_CITY,
    fields::CUSTOMER_STATE,
    fields::CUSTOMER_POSTAL_CODE,
    fields::CUSTOMER_COUNTRY,
    fields::CONTACT_FIRST_NAME,
    fields::CONTACT_LAST_NAME,
    fields::CONTACT_EMAIL,
    fields::REFERRAL_ID,
    fields::REFERRAL_LINK,
];

#[test]
fn the_sample_referral_survives_a_round_trip_through_both_crms() {
    for (mapping, dataverse) in [
        (dynamics365().build().unwrap(), true),
        (salesforce().build().unwrap(), false),
    ] {
        let first = mapping.referral_to_canonical(&sample_referral()).unwrap();
        let back = through_crm(&mapping, &first, dataverse);
        for field in REVERSIBLE
            .iter()
            .chain([&fields::STATUS, &fields::CONTACT_PHONE])
        {
            assert_eq!(
                back.record.get(*field),
                first.record.get(*field),
                "field {field}"
            );
        }
    }
}

prop_compose! {
    fn text_value()(text in "[A-Za-z0-9 ,.'-]{0,40}") -> String { text }
}

prop_compose! {
    fn referral()(
        name in "[A-Za-z][A-Za-z0-9 -]{0,150}",
        notes in proptest::option::of(text_value()),
        cents in 0i64..10_000_000_000_000,
        scale in 0u32..=4,
        currency in prop::sample::select(vec!["USD", "EUR", "JPY", "KWD", "gbp"]),
        day in 0i64..3_000,
        offset_minutes in prop::sample::select(vec![-660i64, -300, -180, 0, 60, 330, 540, 720]),
        status in prop::sample::select(vec![("New", "Pending"), ("New", "Received"), ("Active", "Accepted"), ("Closed", "Won"), ("Closed", "Lost"), ("Closed", "Declined"), ("Closed", "Expired")]),
        stage in prop::sample::select(vec!["Qualify", "Develop", "Propose", "Close", "2"]),
        help in prop::sample::select(vec!["GeneralOrOther", "CustomerTechnicalArchitecture", "QuotesOrLicensing"]),
        visible in any::<bool>(),
        solutions in prop::collection::btree_set("SOL-[0-9]{3}", 1..4),
        msx in "7-[A-Z0-9]{6}",
        customer in "[A-Z][a-z]{2,20}( [A-Z][a-z]{2,10})?",
        city in "[A-Z][a-z]{2,15}",
        postal in "[0-9]{5}",
        country in prop::sample::select(vec!["US", "de", "IN", "JP"]),
        first in "[A-Z][a-z]{1,10}",
        last in "[A-Z][a-z]{1,10}",
        id in "[a-f0-9]{8}-[a-f0-9]{4}",
    ) -> Json {
        let midnight = date(2020, 1, 1).checked_add(jiff::Span::new().days(day)).unwrap();
        let closing = midnight.to_zoned_datetime(jiff::tz::TimeZone::UTC).unwrap().timestamp()
            - jiff::SignedDuration::from_mins(offset_minutes);
        json!({
            "id": id,
            "name": name,
            "status": status.0,
            "substatus": status.1,
            "salesStage": stage,
            "externalReferenceId": null,
            "customerProfile": {
                "name": customer,
                "address": {"addressLine1": "1 Main St", "city": city, "state": "ST", "postalCode": postal, "country": country},
                "team": [{"firstName": first, "lastName": last, "email": format!("{}@example.com", first.to_lowercase()), "phoneNumber": "0100"}]
            },
            "consent": {"consentToShareReferralWithMicrosoftSellers": visible},
            "details": {
                "notes": notes,
                "dealValue": Decimal::new(cents, scale).to_string(),
                "currency": currency,
                "closingDateTime": closing.to_string(),
                "requirements": {"solutions": solutions.iter().map(|id| json!({"id": id})).collect::<Vec<_>>()}
            },
            "inviteContext": {"assistanceRequestCode": help},
            "trackingInfo": {"microsoftMsxId": msx}
        })
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn round_trip_keeps_reversible_fields_and_lossy_ones_are_stable(referral in referral()) {
        for (mapping, dataverse) in [(dynamics365().build().unwrap(), true), (salesforce().build().unwrap(), false)] {
            let first = mapping.referral_to_canonical(&referral).unwrap();
            let second = through_crm(&mapping, &first, dataverse);
            for field in REVERSIBLE {
                prop_assert_eq!(second.record.get(field), first.record.get(field), "field {}", field);
            }
            // The close date is the seller's local date, whatever their offset.
            let picked: Date = referral["details"]["closingDateTime"].as_str().unwrap()
                .parse::<jiff::Timestamp>().unwrap().checked_add(jiff::SignedDuration::from_hours(12)).unwrap()
                .to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
            prop_assert_eq!(second.record.get(fields::CLOSE_DATE), &Value::Date(picked));
            // Lossy fields (declined/expired → lost, stages folded into Salesforce's picklist,
            // names cut to the target's limit) are stable on a second pass.
            let third = through_crm(&mapping, &second, dataverse);
            prop_assert!(diff::is_same(mapping.schema(), &second.record, &third.record),
                "second pass changed: {:?}", diff::two_way(mapping.schema(), &second.record, &third.record));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Convergence: reading back what a sync wrote compares equal, so the next pass writes nothing.

/// Optional JSON: a value, `null`, or no key at all.
fn maybe<T: std::fmt::Debug + Clone + 'static>(
    value: impl Strategy<Value = T> + 'static,
) -> BoxedStrategy<Option<Option<T>>> {
    prop_oneof![
        3 => value.prop_map(|v| Some(Some(v))),
        1 => Just(Some(None)),
        1 => Just(None),
    ]
    .boxed()
}

fn put(object: &mut Map<String, Json>, key: &str, value: Option<Option<Json>>) {
    match value {
        Some(Some(value)) => {
            object.insert(key.into(), value);
        }
        Some(None) => {
            object.insert(key.into(), Json::Null);
        }
        None => {}
    }
}

prop_compose! {
    /// Any referral Partner Center may send: text of any script and length with stray space,
    /// amounts of any scale in currencies of 0 to 4 decimals, any closing instant, every status,
    /// stage and help code the service uses (numeric stages and `Unknown` included), values
    /// null or missing.
    fn any_referral()(
        name in "[A-Za-z\u{e9}\u{4e2d}\u{1f600}][\\PC ]{0,330}",
        notes in maybe("[\\PC \n]{0,60}"),
        amount in maybe((0i64..1_000_000_000_000_000, 0u32..=6)),
        currency in maybe(prop::sample::select(vec!["USD", "eur", "JPY", "KWD", "BHD", "CLF", "GBP"])),
        closing in maybe(-631_152_000i64..4_102_444_800),
        status in prop::sample::select(vec![("New", "Pending"), ("New", "Received"), ("Active", "Accepted"), ("Closed", "Won"), ("Closed", "Lost"), ("Closed", "Declined"), ("Closed", "Expired")]),
        stage in maybe(prop::sample::select(vec!["Qualify", "Develop", "Propose", "Close", "0", "2", "100"])),
        help in maybe(prop::sample::select(vec!["Unknown", "GeneralOrOther", "CustomerTechnicalArchitecture", "ProofOfConceptOrDemo", "QuotesOrLicensing", "PostSalesCustomerSuccess", "WorkloadSpecificValueProposition"])),
        visible in any::<bool>(),
        solutions in prop::collection::btree_set("SOL-[0-9]{3,5}-[A-Z]{3}", 0..4),
        msx in maybe("7-[A-Z0-9]{6}|"),
        customer in "[A-Z][a-z]{2,20}",
        country in prop::sample::select(vec!["US", "de", "IN", "JP"]),
        first in "[A-Z][a-z]{1,10}",
        id in "[a-f0-9]{8}-[a-f0-9]{4}",
    ) -> Json {
        let mut details = Map::new();
        put(&mut details, "notes", notes.map(|n| n.map(Json::from)));
        put(&mut details, "dealValue", amount.map(|a| a.map(|(units, scale)| json!(Decimal::new(units, scale).to_string()))));
        put(&mut details, "currency", currency.map(|c| c.map(Json::from)));
        put(&mut details, "closingDateTime", closing.map(|c| c.map(|s| json!(jiff::Timestamp::from_second(s).unwrap().to_string()))));
        details.insert("requirements".into(), json!({"solutions": solutions.iter().map(|id| json!({"id": id})).collect::<Vec<_>>()}));
        let mut referral = Map::new();
        referral.insert("id".into(), json!(id));
        referral.insert("name".into(), json!(name));
        referral.insert("status".into(), json!(status.0));
        referral.insert("substatus".into(), json!(status.1));
        put(&mut referral, "salesStage", stage.map(|s| s.map(Json::from)));
        referral.insert("customerProfile".into(), json!({
            "name": customer,
            "address": {"addressLine1": "1 Main St", "city": "Leeds", "postalCode": "LS1 1AA", "country": country},
            "team": [{"firstName": first, "lastName": "Lee", "email": format!("{}@example.com", first.to_lowercase())}]
        }));
        referral.insert("consent".into(), json!({"consentToShareReferralWithMicrosoftSellers": visible}));
        referral.insert("details".into(), Json::Object(details));
        let mut invite = Map::new();
        put(&mut invite, "assistanceRequestCode", help.map(|h| h.map(Json::from)));
        referral.insert("inviteContext".into(), Json::Object(invite));
        let mut tracking = Map::new();
        put(&mut tracking, "microsoftMsxId", msx.map(|m| m.map(Json::from)));
        referral.insert("trackingInfo".into(), Json::Object(tracking));
        Json::Object(referral)
    }
}

/// The two default mappings, each with the CRM it maps and the id its record gets.
fn default_mappings() -> [(DeclarativeMapping, bool, &'static str); 2] {
    [
        (dynamics365().build().unwrap(), true, DATAVERSE_ID),
        (salesforce().build().unwrap(), false, SALESFORCE_ID),
    ]
}

/// What a plan would still write to either side, by field name, and its conflicts.
fn writes_and_conflicts(mapping: &DeclarativeMapping, plan: &diff::SyncPlan) -> Vec<String> {
    let name = |field: cosell::mapping::FieldId| mapping.schema().field(field).unwrap().name();
    let mut found = Vec::new();
    for change in plan.partner_center().changes() {
        found.push(format!(
            "PC {}: {:?} -> {:?}",
            name(change.field),
            change.old,
            change.new
        ));
    }
    for change in plan.crm().changes() {
        found.push(format!(
            "CRM {}: {:?} -> {:?}",
            name(change.field),
            change.old,
            change.new
        ));
    }
    for conflict in plan.conflicts() {
        found.push(format!("conflict {}: {conflict:?}", name(conflict.field)));
    }
    found
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A referral written to a new CRM record and read back plans no write on either side.
    #[test]
    fn a_referral_written_to_a_crm_reads_back_as_written(referral in any_referral()) {
        for (mapping, dataverse, crm_id) in default_mappings() {
            let mut referral = referral.clone();
            referral["externalReferenceId"] = json!(crm_id);
            let written = mapping.referral_to_canonical(&referral).unwrap();
            let write = mapping.crm_write(&written.create_changes(), create()).unwrap();
            let stored = store(&mapping, &write, None, dataverse);
            let read = mapping.crm_to_canonical(&stored).unwrap();
            // What the sync stores once the create succeeded: the values it wrote.
            let plan = diff::three_way(mapping.schema(), &written.record, &written.record, &read.record);
            let left = writes_and_conflicts(&mapping, &plan);
            prop_assert!(left.is_empty(), "{}: {:#?}\nstored: {}", mapping.schema().version(), left, stored);
        }
    }

    /// A CRM record written to a new referral and read back plans no write on either side.
    #[test]
    fn a_crm_record_written_to_partner_center_reads_back_as_written(referral in any_referral()) {
        for (mapping, dataverse, crm_id) in default_mappings() {
            // A CRM record of any of these values: one the sync wrote, as the CRM holds it.
            let mut referral = referral.clone();
            referral["externalReferenceId"] = json!(crm_id);
            let source = mapping.referral_to_canonical(&referral).unwrap();
            let write = mapping.crm_write(&source.create_changes(), create()).unwrap();
            let crm = mapping.crm_to_canonical(&store(&mapping, &write, None, dataverse)).unwrap();
            let created = match mapping.partner_center_create(&crm.create_changes()) {
                Ok(created) => created,
                // Records Partner Center would refuse are not created.
                Err(MappingError::IncompleteReferral { .. }) => continue,
                Err(other) => return Err(TestCaseError::fail(other.to_string())),
            };
            let read = mapping.referral_to_canonical(&referral_json(&created.referral)).unwrap();
            let plan = diff::three_way(mapping.schema(), &crm.record, &read.record, &crm.record);
            let left = writes_and_conflicts(&mapping, &plan);
            prop_assert!(left.is_empty(), "{}: {:#?}", mapping.schema().version(), left);
        }
    }
}

/// A pass of a sync over a pair: the plan, with what the mappings held back taken out, and both
/// writes rendered.
fn settle(
    mapping: &DeclarativeMapping,
    baseline: &Record,
    referral: &Json,
    crm: &cosell::mapping::Projection,
) -> (
    diff::SyncPlan,
    cosell::mapping::PartnerCenterWrite,
    CrmWrite,
) {
    let pc = mapping.referral_to_canonical(referral).unwrap();
    let mut plan = diff::three_way(mapping.schema(), baseline, &pc.record, &crm.record);
    let pc_write = mapping
        .partner_center_write(
            &cosell::mapping::changes_of(plan.partner_center()),
            referral,
        )
        .unwrap();
    let crm_write = mapping
        .crm_write(
            &cosell::mapping::changes_of(plan.crm()),
            CrmWriteContext {
                create: false,
                current: Some(&crm.record),
                partner_center: Some(&pc.record),
            },
        )
        .unwrap();
    plan.hold_back(
        mapping.schema(),
        cosell::mapping::Side::PartnerCenter,
        &pc_write.issues,
    );
    plan.hold_back(
        mapping.schema(),
        cosell::mapping::Side::Crm,
        &crm_write.issues,
    );
    (plan, pc_write, crm_write)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A referral that changes after its CRM record was created: the sync writes both sides,
    /// each as its service applies the write, and the next pass writes nothing.
    #[test]
    fn an_update_written_both_ways_reads_back_as_written(before in any_referral(), after in any_referral()) {
        // A currency cleared in Partner Center stays in the CRM (held: the CRM requires one), so
        // the two sides then read the amount in different currencies.
        prop_assume!(!after["details"]["currency"].is_null() || before["details"].get("currency").is_none_or(Json::is_null));
        for (mapping, dataverse, crm_id) in default_mappings() {
            let mut before = before.clone();
            before["externalReferenceId"] = json!(crm_id);
            let mut after = after.clone();
            after["id"] = before["id"].clone();
            after["externalReferenceId"] = json!(crm_id);

            let written = mapping.referral_to_canonical(&before).unwrap();
            let create = mapping.crm_write(&written.create_changes(), create()).unwrap();
            let stored = store(&mapping, &create, None, dataverse);
            let crm = mapping.crm_to_canonical(&stored).unwrap();
            let mut baseline = written.record.clone();

            let (plan, pc_write, crm_write) = settle(&mapping, &baseline, &after, &crm);
            let referral = apply_patch(&after, &pc_write.patch);
            let stored = store(&mapping, &crm_write, Some(&stored), dataverse);
            let crm = mapping.crm_to_canonical(&stored).unwrap();
            plan.apply_to_baseline(&mut baseline, diff::WriteOutcome::BOTH);

            let (again, _, _) = settle(&mapping, &baseline, &referral, &crm);
            let left: Vec<String> = writes_and_conflicts(&mapping, &again)
                .into_iter()
                .filter(|line| !line.starts_with("conflict"))
                .collect();
            prop_assert!(left.is_empty(), "{}: {:#?}\nfirst pass: {:#?}", mapping.schema().version(), left, writes_and_conflicts(&mapping, &plan));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Customisation: each a few lines of user code.

#[test]
fn customise_override_one_fields_target() {
    let mapping = dynamics365()
        .update("referral_link", |rule| rule.crm("contoso_partnercenterurl"))
        .build()
        .unwrap();
    let projected = mapping.referral_to_canonical(&sample_referral()).unwrap();
    let write = mapping
        .crm_write(&projected.create_changes(), create())
        .unwrap();
    assert_eq!(write.body["contoso_partnercenterurl"], LINK);
    assert!(!write.body.contains_key("cosell_referrallink"));
}

#[test]
fn customise_add_a_field_with_a_value_map() {
    let mapping = salesforce()
        .field(
            FieldSpec::new("industry", ValueKind::Choice)
                .direction(Direction::Both)
                .policy(Policy::CrmWins),
            FieldRule::new("industry")
                .partner_center("details.requirements.industries[0].id")
                .crm("Industry")
                .crm_transform(Transform::Map(
                    ValueMap::new()
                        .pair("Retail", "Retail & Consumer")
                        .pair("Banking", "Finance"),
                )),
        )
        .build()
        .unwrap();
    let industry = mapping.schema().id("industry").unwrap();
    let projected = mapping.referral_to_canonical(&sample_referral()).unwrap();
    assert_eq!(projected.record.get(industry), &Value::choice("Retail"));
    let write = mapping
        .crm_write(&projected.create_changes(), create())
        .unwrap();
    assert_eq!(write.body["Industry"], "Retail & Consumer");

    // A value the map does not know is reported, never dropped silently.
    let crm = mapping
        .crm_to_canonical(&json!({"Industry": "Mining"}))
        .unwrap();
    assert!(crm.record.get(industry).is_absent());
    assert_eq!(
        crm.issues,
        [MappingIssue::UnmappedValue {
            field: "industry".into(),
            value: "Mining".into()
        }]
    );
    let write = mapping
        .crm_write(
            &[(industry, Value::choice("Energy"))],
            CrmWriteContext::default(),
        )
        .unwrap();
    assert!(write.body.is_empty());
    assert_eq!(
        write.issues,
        [MappingIssue::UnmappedValue {
            field: "industry".into(),
            value: "Energy".into()
        }]
    );
}

#[test]
fn customise_remove_a_field() {
    let mapping = dynamics365().remove("microsoft_crm_id").build().unwrap();
    let projected = mapping.referral_to_canonical(&sample_referral()).unwrap();
    assert!(projected.record.get(fields::MICROSOFT_CRM_ID).is_absent());
    let write = mapping
        .crm_write(&projected.create_changes(), create())
        .unwrap();
    assert!(!write.body.contains_key("cosell_microsoftcrmid"));
    assert_eq!(
        mapping
            .schema()
            .field(fields::MICROSOFT_CRM_ID)
            .unwrap()
            .sync_direction(),
        Direction::None
    );
}

#[test]
fn customise_change_a_direction() {
    let mapping = salesforce()
        .direction("notes", Direction::PartnerCenterToCrm)
        .build()
        .unwrap();
    assert_eq!(
        mapping
            .schema()
            .field(fields::NOTES)
            .unwrap()
            .sync_direction(),
        Direction::PartnerCenterToCrm
    );
    // The diff engine now sends CRM edits of the notes nowhere.
    let schema = mapping.schema();
    let base = schema.record().with(fields::NOTES, Value::text("a"));
    let crm = base.clone().with(fields::NOTES, Value::text("b"));
    let plan = diff::three_way(schema, &base, &base, &crm);
    assert!(plan.partner_center().is_empty());
}

#[test]
fn customise_renamed_columns_and_a_required_field_with_a_default() {
    let mapping = dynamics365()
        .update("solutions", |rule| rule.crm("new_solutionids"))
        .update("customer_postal_code", |rule| rule.required(true))
        .update("notes", |rule| {
            rule.default_on_create(Value::text("From Partner Center"))
        })
        .build()
        .unwrap();
    let write = mapping
        .crm_write(
            &[
                (fields::DEAL_NAME, Value::text("x")),
                (fields::CUSTOMER_POSTAL_CODE, Value::text("1")),
            ],
            create(),
        )
        .unwrap();
    assert_eq!(write.body["description"], "From Partner Center");
    let error = mapping
        .crm_write(&[(fields::DEAL_NAME, Value::text("x"))], create())
        .unwrap_err();
    assert_eq!(
        error,
        MappingError::MissingRequired {
            field: "customer_postal_code".into()
        }
    );
    assert!(error.to_string().contains("customer_postal_code"));
}

// ---------------------------------------------------------------------------------------------
// Dates and amounts.

#[test]
fn closing_midnights_east_and_west_land_on_the_sellers_date_in_both_crms() {
    // (instant, seller's UTC offset in minutes, the date they picked)
    let cases = [
        ("2022-03-24T18:30:00Z", 330, date(2022, 3, 25)),
        ("2022-01-30T23:00:00Z", 60, date(2022, 1, 31)),
        ("2022-06-30T05:00:00Z", -300, date(2022, 6, 30)),
    ];
    for (mapping, column) in [
        (dynamics365().build().unwrap(), "estimatedclosedate"),
        (salesforce().build().unwrap(), "CloseDate"),
    ] {
        for (instant, offset, picked) in cases {
            // The seller's local midnight is that instant: the rule only uses UTC arithmetic,
            // so the process's own zone never enters.
            let zone =
                jiff::tz::TimeZone::fixed(jiff::tz::Offset::from_seconds(offset * 60).unwrap());
            let local = instant
                .parse::<jiff::Timestamp>()
                .unwrap()
                .to_zoned_datetime(zone);
            assert_eq!((local.date(), local.hour(), local.minute()), (picked, 0, 0));

            let referral = json!({"name": "Deal", "status": "Active", "substatus": "Accepted", "details": {"closingDateTime": instant}});
            let projected = mapping.referral_to_canonical(&referral).unwrap();
            assert_eq!(
                projected.record.get(fields::CLOSE_DATE),
                &Value::Date(picked)
            );
            let write = mapping
                .crm_write(&projected.create_changes(), create())
                .unwrap();
            assert_eq!(
                write.body[column],
                picked.to_string(),
                "{instant} in {column}"
            );

            // And back: the CRM's date goes to Partner Center as that date's UTC midnight.
            let crm = mapping
                .crm_to_canonical(&json!({column: picked.to_string()}))
                .unwrap();
            let active = json!({"status": "Active", "substatus": "Accepted", "details": {}});
            let patch = mapping
                .partner_center_write(
                    &[(
                        fields::CLOSE_DATE,
                        crm.record.get(fields::CLOSE_DATE).clone(),
                    )],
                    &active,
                )
                .unwrap()
                .patch;
            assert_eq!(
                serde_json::to_value(&patch).unwrap()[0]["value"],
                format!("{picked}T00:00:00Z")
            );
        }
    }
}

/// Picks a seller's close date in the CRM and sends it to Partner Center and back, through a
/// mapping whose close dates are in `zone`.
fn close_date_round_trip(
    mapping: &DeclarativeMapping,
    column: &str,
    picked: Date,
) -> (String, Value) {
    let crm = mapping
        .crm_to_canonical(&json!({column: picked.to_string()}))
        .unwrap();
    let referral = json!({"status": "Active", "substatus": "Accepted", "details": {}});
    let patch = mapping
        .partner_center_write(
            &[(
                fields::CLOSE_DATE,
                crm.record.get(fields::CLOSE_DATE).clone(),
            )],
            &referral,
        )
        .unwrap()
        .patch;
    let instant = serde_json::to_value(&patch).unwrap()[0]["value"]
        .as_str()
        .unwrap()
        .to_owned();
    let back = mapping
        .referral_to_canonical(&json!({"details": {"closingDateTime": instant}}))
        .unwrap();
    (instant, back.record.get(fields::CLOSE_DATE).clone())
}

#[test]
fn a_seller_time_zone_east_of_utc_plus_12_keeps_the_picked_date() {
    // (zone, the date the seller picked, its local midnight in UTC, checked by hand)
    let cases = [
        (
            "Pacific/Kiritimati",
            date(2026, 3, 31),
            "2026-03-30T10:00:00Z",
        ), // +14
        ("Pacific/Apia", date(2026, 3, 31), "2026-03-30T11:00:00Z"), // +13
        (
            "Pacific/Tongatapu",
            date(2026, 3, 31),
            "2026-03-30T11:00:00Z",
        ), // +13
        (
            "Pacific/Auckland",
            date(2026, 1, 15),
            "2026-01-14T11:00:00Z",
        ), // NZDT +13
        (
            "Pacific/Auckland",
            date(2026, 7, 15),
            "2026-07-14T12:00:00Z",
        ), // NZST +12
        (
            "America/Los_Angeles",
            date(2026, 3, 31),
            "2026-03-31T07:00:00Z",
        ), // PDT −7
        (
            "Pacific/Pago_Pago",
            date(2026, 3, 31),
            "2026-03-31T11:00:00Z",
        ), // −11
    ];
    for (zone, picked, midnight) in cases {
        let zone = jiff::tz::TimeZone::get(zone).unwrap();
        for (builder, column) in [
            (dynamics365(), "estimatedclosedate"),
            (salesforce(), "CloseDate"),
        ] {
            let mapping = builder.seller_time_zone(zone.clone()).build().unwrap();
            assert_eq!(mapping.seller_time_zone(), Some(&zone));
            // Partner Center → CRM: the instant is the seller's local midnight.
            let referral = json!({"name": "Deal", "details": {"closingDateTime": midnight}});
            let projected = mapping.referral_to_canonical(&referral).unwrap();
            assert_eq!(
                projected.record.get(fields::CLOSE_DATE),
                &Value::Date(picked)
            );
            let write = mapping
                .crm_write(&projected.create_changes(), create())
                .unwrap();
            assert_eq!(write.body[column], picked.to_string(), "{zone:?}");
            // CRM → Partner Center: the date goes as that local midnight, and reads back.
            let (instant, back) = close_date_round_trip(&mapping, column, picked);
            assert_eq!(instant, midnight, "{zone:?} {picked}");
            assert_eq!(back, Value::Date(picked));
        }
    }
    // Without a seller zone, the nearest UTC midnight cannot tell +14 from −10: the documented
    // limit of the default rule.
    let default = dynamics365().build().unwrap();
    let projected = default
        .referral_to_canonical(&json!({"details": {"closingDateTime": "2026-03-30T10:00:00Z"}}))
        .unwrap();
    assert_eq!(
        projected.record.get(fields::CLOSE_DATE),
        &Value::Date(date(2026, 3, 30))
    );
}

/// Every zone name of the tz database.
fn tz_names() -> Vec<String> {
    let names: Vec<String> = jiff::tz::db()
        .available()
        .map(|name| name.to_string())
        .collect();
    // An empty database would make the checks below vacuous.
    assert!(
        names.len() > 300,
        "the tz database holds {} zones",
        names.len()
    );
    names
}

/// `picked` → instant → date under the seller zone `zone`, checked against jiff's own view of
/// the zone: the instant falls on `picked` there, and at 00:00 wherever midnight exists.
fn check_seller_midnight(zone: &jiff::tz::TimeZone, name: &str, picked: Date) {
    let rule = cosell::mapping::DateRule::InTimeZone(zone.clone());
    let instant = rule.instant_of(picked).unwrap();
    let local = instant.to_zoned_datetime(zone.clone());
    assert_eq!(local.date(), picked, "{name}: {picked} became {instant}");
    assert_eq!(
        rule.date_of(instant),
        picked,
        "{name}: {picked} → {instant}"
    );
    let midnight = zone.to_ambiguous_timestamp(picked.to_datetime(jiff::civil::Time::midnight()));
    if !matches!(midnight.offset(), jiff::tz::AmbiguousOffset::Gap { .. }) {
        assert_eq!(
            local.time(),
            jiff::civil::Time::midnight(),
            "{name}: {picked} → {local}"
        );
    }
}

#[test]
fn every_zone_in_the_tz_database_round_trips_close_dates_across_its_transitions() {
    let from = jiff::Timestamp::from_second(0).unwrap(); // 1970
    let until: jiff::Timestamp = "2040-01-01T00:00:00Z".parse().unwrap();
    let day = jiff::SignedDuration::from_hours(24);
    let mut checked = 0usize;
    for name in tz_names() {
        let zone = jiff::tz::TimeZone::get(&name).unwrap();
        let transitions: Vec<jiff::Timestamp> = zone
            .following(from)
            .map(|transition| transition.timestamp())
            .take_while(|at| *at < until)
            .collect();
        for at in transitions {
            // The dates on both sides of each change of offset (DST and otherwise).
            for instant in [
                at - jiff::SignedDuration::from_nanos(1),
                at,
                at - day,
                at + day,
            ] {
                check_seller_midnight(&zone, &name, instant.to_zoned_datetime(zone.clone()).date());
                checked += 1;
            }
        }
        for month in 1..=12 {
            check_seller_midnight(&zone, &name, date(2026, month, 1));
            checked += 1;
        }
    }
    assert!(checked > 10_000, "only {checked} dates checked");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_zone_and_day_round_trip_through_the_mapping(
        zone_index in any::<prop::sample::Index>(),
        second in -2_208_988_800i64..4_102_444_800, // 1900..2100
        dynamics in any::<bool>(),
    ) {
        let names = tz_names();
        let name = &names[zone_index.index(names.len())];
        let zone = jiff::tz::TimeZone::get(name).unwrap();
        let picked = jiff::Timestamp::from_second(second).unwrap().to_zoned_datetime(zone.clone()).date();
        let (builder, column) = if dynamics {
            (dynamics365(), "estimatedclosedate")
        } else {
            (salesforce(), "CloseDate")
        };
        let mapping = builder.seller_time_zone(zone.clone()).build().unwrap();
        let (instant, back) = close_date_round_trip(&mapping, column, picked);
        prop_assert_eq!(back, Value::Date(picked), "{} {} → {}", name, picked, instant);
        let instant: jiff::Timestamp = instant.parse().unwrap();
        prop_assert_eq!(instant.to_zoned_datetime(zone).date(), picked);
    }
}

#[test]
fn large_and_four_decimal_amounts_keep_their_value() {
    let active = json!({"status": "Active", "substatus": "Accepted", "details": {}});
    // (Partner Center's amount, as the CRM columns' two places hold it)
    for (amount, stored) in [
        ("98765432109876.5432", "98765432109876.54"),
        ("0.0001", "0.00"),
        ("1234.5678", "1234.57"),
        ("79228162514264.3375", "79228162514264.34"),
    ] {
        let referral = json!({"name": "Deal", "details": {"dealValue": amount, "currency": "USD"}});
        for (mapping, column) in [
            (dynamics365().build().unwrap(), "estimatedvalue"),
            (salesforce().build().unwrap(), "Amount"),
        ] {
            let projected = mapping.referral_to_canonical(&referral).unwrap();
            assert_eq!(
                projected.raw.get(fields::DEAL_VALUE).as_decimal(),
                Some(dec(amount))
            );
            // The CRM gets the amount at its column's places, every digit of them kept, so it
            // stores exactly what was written.
            let write = mapping
                .crm_write(&projected.create_changes(), create())
                .unwrap();
            assert_eq!(write.decimals[column].to_string(), stored);
            assert!(
                write
                    .body_json()
                    .contains(&format!("\"{column}\":{}", dec(stored).normalize())),
                "{}",
                write.body_json()
            );
            let typed = if column == "Amount" {
                serde_json::to_string(&write.to_salesforce_patch()).unwrap()
            } else {
                serde_json::to_string(&write.to_dataverse_patch()).unwrap()
            };
            assert!(
                typed.contains(&format!("\"{column}\":{}", dec(stored).normalize())),
                "{typed}"
            );
            // A column of four places (configured) takes all four.
            let four = mapping
                .to_builder()
                .update("deal_value", |rule| rule.crm_transform(Transform::Scale(4)))
                .build()
                .unwrap();
            let write = four
                .crm_write(&projected.create_changes(), create())
                .unwrap();
            assert_eq!(write.decimals[column], dec(amount));
            assert!(
                write
                    .body_json()
                    .contains(&format!("\"{column}\":{amount}"))
            );
            // Partner Center takes the amount as a string, every digit kept.
            let patch = mapping
                .partner_center_write(
                    &[(fields::DEAL_VALUE, Value::Decimal(dec(amount)))],
                    &active,
                )
                .unwrap()
                .patch;
            assert_eq!(serde_json::to_value(&patch).unwrap()[0]["value"], amount);
        }
    }
    // Read back from a CRM, an amount with up to 15 significant digits (all a JSON number holds
    // without the `arbitrary-precision` feature) keeps its value, four decimals included.
    for (mapping, column) in [
        (dynamics365().build().unwrap(), "estimatedvalue"),
        (salesforce().build().unwrap(), "Amount"),
    ] {
        let record: Json =
            serde_json::from_str(&format!("{{\"{column}\": 12345678901.2345}}")).unwrap();
        let back = mapping.crm_to_canonical(&record).unwrap();
        assert_eq!(
            back.raw.get(fields::DEAL_VALUE).as_decimal(),
            Some(dec("12345678901.2345"))
        );
        assert_eq!(
            back.record
                .get(fields::DEAL_VALUE)
                .as_decimal()
                .unwrap()
                .to_string(),
            "12345678901.23"
        );
    }
}

#[test]
fn amounts_compare_at_their_currencys_scale() {
    let mapping = dynamics365().build().unwrap();
    let same = |pc: &str, crm: &str, currency: &str| {
        let a = mapping
            .referral_to_canonical(&json!({"details": {"dealValue": pc, "currency": currency}}))
            .unwrap();
        let b = mapping
            .crm_to_canonical(&json!({"estimatedvalue": crm.parse::<f64>().unwrap(), "transactioncurrencyid": {"isocurrencycode": currency}}))
            .unwrap();
        diff::is_same(mapping.schema(), &a.record, &b.record)
    };
    assert!(
        same("1234.5678", "1234.57", "USD"),
        "Dynamics keeps 4 places, USD compares at 2"
    );
    assert!(same("1500.4", "1500", "JPY"), "JPY has no minor unit");
    assert!(
        same("1.2345", "1.23", "KWD"),
        "KWD compares at the column's 2 places, all the CRM holds"
    );
    assert!(!same("10.00", "10.01", "USD"));
    assert!(!same("1.234", "1.24", "KWD"));
    let custom = dynamics365().currency_scale("USD", 0).build().unwrap();
    assert_eq!(custom.currency_scale("usd"), 0);
    // A column of four places compares KWD at its three.
    let four = dynamics365()
        .update("deal_value", |rule| rule.crm_transform(Transform::Scale(4)))
        .build()
        .unwrap();
    let a = four
        .referral_to_canonical(&json!({"details": {"dealValue": "1.2345", "currency": "KWD"}}))
        .unwrap();
    let b = four
        .crm_to_canonical(
            &json!({"estimatedvalue": 1.235, "transactioncurrencyid": {"isocurrencycode": "KWD"}}),
        )
        .unwrap();
    assert!(diff::is_same(four.schema(), &a.record, &b.record));
}

// ---------------------------------------------------------------------------------------------
// Normalization, validation and errors.

#[test]
fn names_are_cut_to_each_targets_limit_and_the_cut_is_reported() {
    let long = "N".repeat(400);
    let referral = json!({"name": long});
    for (mapping, column, limit) in [
        (dynamics365().build().unwrap(), "name", 300),
        (salesforce().build().unwrap(), "Name", 120),
    ] {
        let projected = mapping.referral_to_canonical(&referral).unwrap();
        assert_eq!(
            projected
                .record
                .get(fields::DEAL_NAME)
                .as_text()
                .unwrap()
                .chars()
                .count(),
            limit
        );
        assert!(projected.issues.contains(&MappingIssue::Truncated {
            field: "deal_name".into(),
            original_chars: 400,
            max_chars: limit
        }));
        let write = mapping
            .crm_write(
                &[(fields::DEAL_NAME, Value::text(long.clone()))],
                CrmWriteContext::default(),
            )
            .unwrap();
        assert_eq!(write.body[column].as_str().unwrap().len(), limit);
        assert_eq!(write.issues.len(), 1);
    }
}

#[test]
fn stored_forms_never_look_like_changes() {
    let mapping = salesforce().build().unwrap();
    let pc = mapping
        .referral_to_canonical(&json!({"details": {"notes": "", "requirements": {"solutions": [{"id": "B"}, {"id": "A"}]}}}))
        .unwrap();
    let crm = mapping
        .crm_to_canonical(&json!({"Description": null, "Microsoft_Solutions__c": "A\nB\n"}))
        .unwrap();
    assert_eq!(
        pc.record.get(fields::NOTES),
        &Value::Null,
        "empty notes are null"
    );
    assert!(diff::is_same(mapping.schema(), &pc.record, &crm.record));
}

#[test]
fn wrong_wire_types_are_typed_errors_naming_field_and_value() {
    let mapping = dynamics365().build().unwrap();
    let error = mapping
        .referral_to_canonical(&json!({"details": {"dealValue": "lots"}}))
        .unwrap_err();
    match &error {
        MappingError::WrongType {
            field, path, value, ..
        } => {
            assert_eq!(field, "deal_value");
            assert_eq!(path, "details.dealValue");
            assert_eq!(value, &json!("lots"));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(error.to_string().contains("deal_value") && error.to_string().contains("lots"));
    let error = mapping
        .crm_to_canonical(&json!({"cosell_syncwithpartnercenter": [1]}))
        .unwrap_err();
    assert!(
        matches!(error, MappingError::WrongType { ref field, .. } if field == "sync_with_partner_center")
    );
    let error = DeclarativeMapping::builder(cosell::mapping::Schema::cosell_builder())
        .rule(FieldRule::new("deal_name").crm("a[x]"))
        .build()
        .unwrap_err();
    assert!(matches!(error, MappingError::BadPath { ref field, .. } if field == "deal_name"));
    let error = dynamics365()
        .update("no_such_field", |rule| rule)
        .build()
        .unwrap_err();
    assert_eq!(
        error,
        MappingError::UnknownField {
            field: "no_such_field".into()
        }
    );
}

fn column(name: &str, type_name: &str, options: &[i32]) -> (String, ColumnMetadata) {
    (
        name.to_owned(),
        ColumnMetadata {
            logical_name: name.into(),
            attribute_type_name: Some(type_name.into()),
            options: options
                .iter()
                .map(|value| ChoiceOption {
                    value: *value,
                    label: None,
                })
                .collect(),
            ..Default::default()
        },
    )
}

#[test]
fn dataverse_validation_reports_missing_columns_wrong_types_and_unmapped_choices() {
    let mapping = dynamics365().build().unwrap();
    let table = TableMetadata {
        logical_name: "opportunity".into(),
        columns: [
            column("name", "StringType", &[]),
            column("description", "MemoType", &[]),
            column("estimatedvalue", "StringType", &[]),
            column("estimatedclosedate", "DateTimeType", &[]),
            column("salesstage", "PicklistType", &[0, 1, 2, 3, 4]),
            column(
                "cosell_howcanmicrosofthelp",
                "MultiSelectPicklistType",
                &[1, 2, 3, 4, 5],
            ),
            column("cosell_sharewithmicrosoftsellers", "BooleanType", &[]),
            column("cosell_solutions", "MemoType", &[]),
            column("cosell_microsoftcrmid", "StringType", &[]),
            column("cosell_referralid", "StringType", &[]),
            column("cosell_referrallink", "StringType", &[]),
            column("opportunityid", "UniqueidentifierType", &[]),
            column("cosell_syncwithpartnercenter", "BooleanType", &[]),
            column("statecode", "StateType", &[0, 1, 2]),
            column("statuscode", "StatusType", &[1, 2, 3, 4]),
        ]
        .into_iter()
        .collect(),
        ..Default::default()
    };
    let problems = validate_dataverse(&mapping, &table);
    assert_eq!(
        problems,
        [
            ValidationProblem::WrongType {
                field: "deal_value".into(),
                column: "estimatedvalue".into(),
                found: "StringType".into(),
                expected: "a column for decimal values".into()
            },
            ValidationProblem::UnmappedChoice {
                field: "sales_stage".into(),
                column: "salesstage".into(),
                value: "4".into(),
                problem: "not in the value map"
            },
            ValidationProblem::UnmappedChoice {
                field: "help_requested".into(),
                column: "cosell_howcanmicrosofthelp".into(),
                value: "6".into(),
                problem: "not in the target"
            },
            ValidationProblem::MissingColumn {
                field: "audit_trail".into(),
                column: "cosell_audit".into()
            },
            ValidationProblem::UnmappedChoice {
                field: "status".into(),
                column: "statuscode".into(),
                value: "5".into(),
                problem: "not in the target"
            },
        ]
    );
}

#[test]
fn salesforce_validation_reads_the_describe() {
    let describe: SObjectDescribe =
        serde_json::from_value(fixture("salesforce/describe_opportunity.json")).unwrap();
    let problems = validate_salesforce(&salesforce().build().unwrap(), &describe);
    // The fixture describes a handful of fields: the co-sell ones it lacks are missing, and its
    // help-requested picklist holds values the default map does not know.
    assert!(problems.contains(&ValidationProblem::MissingColumn {
        field: "notes".into(),
        column: "Description".into()
    }));
    assert!(!problems.iter().any(|p| matches!(p, ValidationProblem::MissingColumn { column, .. } if column == "Name" || column == "CloseDate" || column == "Amount")));
    assert!(problems.iter().any(|p| matches!(p, ValidationProblem::UnmappedChoice { field, .. } if field == "help_requested")), "{problems:?}");
    assert!(problems.contains(&ValidationProblem::UnmappedChoice {
        field: "status".into(),
        column: "StageName".into(),
        value: "Closed Lost".into(),
        problem: "not in the target"
    }));
    assert!(problems.contains(&ValidationProblem::UnmappedChoice {
        field: "sales_stage".into(),
        column: "StageName".into(),
        value: "Qualification".into(),
        problem: "not in the target"
    }));
    // An inactive picklist value needs no mapping.
    assert!(!problems.iter().any(
        |p| matches!(p, ValidationProblem::UnmappedChoice { value, .. } if value == "Retired")
    ));
}

#[test]
fn typed_client_models_map_through_their_json() {
    let row: cosell::dataverse::Opportunity =
        serde_json::from_value(fixture("dataverse/opportunity.json")).unwrap();
    let mapping = dynamics365().build().unwrap();
    let projected = mapping
        .crm_to_canonical(&cosell::mapping::dataverse_json(&row))
        .unwrap();
    let record = &projected.record;
    assert_eq!(
        record.get(fields::DEAL_NAME),
        &Value::text("Fabrikam renewal 2025")
    );
    // The typed row keeps no difference between a null and a missing `description`.
    assert!(record.get(fields::NOTES).is_absent());
    assert_eq!(
        record.get(fields::DEAL_VALUE).as_decimal(),
        Some(dec("125000.50"))
    );
    assert_eq!(
        record.get(fields::CLOSE_DATE),
        &Value::Date(date(2025, 9, 30))
    );
    assert_eq!(record.get(fields::STATUS), &Value::choice("active"));
    assert_eq!(record.get(fields::SALES_STAGE), &Value::choice("Develop"));
    assert_eq!(
        record.get(fields::HELP_REQUESTED),
        &Value::choice("GeneralOrOther")
    );
    assert_eq!(
        record.get(fields::SOLUTIONS),
        &Value::multi_choice(["Azure Migrate"])
    );
    assert_eq!(
        record.get(fields::REFERRAL_ID),
        &Value::text("a1b2c3d4-referral")
    );
    assert_eq!(
        record.get(fields::CRM_ID),
        &Value::text("c0ffee00-3333-4a5e-8f00-0123456789ab")
    );
    assert_eq!(record.get(fields::AUDIT_TRAIL), &Value::Null);
    // "1,9": the first mapped code wins, the unknown 9 is never read.
    assert!(projected.issues.is_empty(), "{:?}", projected.issues);

    let sf: cosell::salesforce::Opportunity =
        serde_json::from_value(fixture("salesforce/opportunity.json")).unwrap();
    let mapping = salesforce().build().unwrap();
    let projected = mapping
        .crm_to_canonical(&cosell::mapping::salesforce_json(&sf))
        .unwrap();
    let record = &projected.record;
    assert_eq!(
        record.get(fields::CRM_ID),
        &Value::text("006Dn00000A1b2CIAR")
    );
    assert_eq!(
        record.get(fields::STATUS),
        &Value::choice("on_hold"),
        "Prospecting is the on-hold stage"
    );
    assert_eq!(
        record.get(fields::DEAL_VALUE).as_decimal(),
        Some(dec("125000.55"))
    );
    assert_eq!(record.get(fields::CUSTOMER_NAME), &Value::text("Fabrikam"));
    assert_eq!(
        record.get(fields::SOLUTIONS),
        &Value::multi_choice(["sol-1", "sol-2"])
    );
    assert!(record.modified().is_some());
    assert!(projected.issues.contains(&MappingIssue::UnmappedValue {
        field: "help_requested".into(),
        value: "Technical".into()
    }));
}

#[test]
fn text_limits_come_from_metadata_and_the_audit_trail_stays_bounded() {
    let describe: SObjectDescribe =
        serde_json::from_value(fixture("salesforce/describe_opportunity.json")).unwrap();
    let mapping = salesforce()
        .update_field("deal_name", |field| field.max_chars(10_000))
        .build()
        .unwrap()
        .with_limits_from_salesforce(&describe)
        .unwrap();
    let rules = mapping
        .schema()
        .field(fields::DEAL_NAME)
        .unwrap()
        .normalization_rules();
    assert_eq!(rules.max_chars, Some(120));
    assert_eq!(
        mapping
            .schema()
            .field(fields::REFERRAL_ID)
            .unwrap()
            .normalization_rules()
            .max_chars,
        Some(64)
    );
    let trail = cosell::mapping::audit_trail_with(Some("b\na"), "c", 3);
    assert_eq!(trail, "c\nb");
}

/// A mapping for another CRM entity, written by hand: a lead with a title and a budget.
struct LeadMapping {
    schema: cosell::mapping::Schema,
}

impl FieldMapping for LeadMapping {
    fn schema(&self) -> &cosell::mapping::Schema {
        &self.schema
    }

    fn referral_to_canonical(
        &self,
        referral: &Json,
    ) -> Result<cosell::mapping::Projection, MappingError> {
        let mut record = self.schema.record();
        record.set(
            fields::DEAL_NAME,
            referral["name"].as_str().map_or(Value::Absent, Value::text),
        );
        Ok(cosell::mapping::Projection {
            raw: record.clone(),
            record,
            issues: Vec::new(),
        })
    }

    fn crm_to_canonical(&self, lead: &Json) -> Result<cosell::mapping::Projection, MappingError> {
        let mut record = self.schema.record();
        record.set(
            fields::DEAL_NAME,
            lead["subject"].as_str().map_or(Value::Absent, Value::text),
        );
        Ok(cosell::mapping::Projection {
            raw: record.clone(),
            record,
            issues: Vec::new(),
        })
    }

    fn partner_center_write(
        &self,
        changes: &[(cosell::mapping::FieldId, Value)],
        _referral: &Json,
    ) -> Result<cosell::mapping::PartnerCenterWrite, MappingError> {
        let mut patch = cosell::partner_center::ReferralPatch::new();
        for (field, value) in changes {
            if let (true, Some(text)) = (*field == fields::DEAL_NAME, value.as_text()) {
                patch = patch.name(text);
            }
        }
        Ok(cosell::mapping::PartnerCenterWrite {
            patch,
            issues: Vec::new(),
        })
    }

    fn crm_write(
        &self,
        changes: &[(cosell::mapping::FieldId, Value)],
        _context: CrmWriteContext<'_>,
    ) -> Result<CrmWrite, MappingError> {
        let mut write = CrmWrite::default();
        for (field, value) in changes {
            if let (true, Some(text)) = (*field == fields::DEAL_NAME, value.as_text()) {
                write.body.insert("subject".into(), json!(text));
            }
        }
        Ok(write)
    }

    fn partner_center_create(
        &self,
        values: &[(cosell::mapping::FieldId, Value)],
    ) -> Result<cosell::mapping::PartnerCenterCreate, MappingError> {
        let name = values
            .iter()
            .find(|(field, _)| *field == fields::DEAL_NAME)
            .and_then(|(_, value)| value.as_text());
        Ok(cosell::mapping::PartnerCenterCreate {
            referral: Referral {
                name: name.map_or(cosell::Nullable::Absent, |n| n.into()),
                ..Referral::default()
            },
            issues: Vec::new(),
        })
    }

    fn crm_read_fields(&self) -> CrmReadFields {
        CrmReadFields::new().path("subject")
    }
}

#[test]
fn field_mapping_can_be_written_by_hand_for_any_entity() {
    let mapping: Box<dyn FieldMapping> = Box::new(LeadMapping {
        schema: cosell::mapping::Schema::cosell(),
    });
    let pc = mapping
        .referral_to_canonical(&json!({"name": "Lead A"}))
        .unwrap();
    let crm = mapping
        .crm_to_canonical(&json!({"subject": "Lead B"}))
        .unwrap();
    let baseline = mapping
        .schema()
        .record()
        .with(fields::DEAL_NAME, Value::text("Lead B"));
    let plan = diff::three_way(mapping.schema(), &baseline, &pc.record, &crm.record);
    let write = mapping
        .crm_write(
            &cosell::mapping::changes_of(plan.crm()),
            CrmWriteContext::default(),
        )
        .unwrap();
    assert_eq!(write.body["subject"], "Lead A");
    let write = mapping
        .partner_center_write(&[(fields::DEAL_NAME, Value::text("C"))], &json!({}))
        .unwrap();
    assert_eq!(
        serde_json::to_value(&write.patch).unwrap()[0]["path"],
        "/name"
    );
}

#[test]
fn accepting_on_salesforce_keeps_the_records_sales_stage() {
    let mapping = salesforce().build().unwrap();
    let current = Record::default()
        .with(fields::STATUS, Value::choice("on_hold"))
        .with(fields::SALES_STAGE, Value::choice("Propose"));
    let context = CrmWriteContext {
        create: false,
        current: Some(&current),
        partner_center: None,
    };
    let write = mapping
        .crm_write(&[(fields::STATUS, Value::choice("active"))], context)
        .unwrap();
    assert_eq!(write.body["StageName"], "Proposal/Price Quote");
    let write = mapping
        .crm_write(
            &[(fields::STATUS, Value::choice("active"))],
            CrmWriteContext::default(),
        )
        .unwrap();
    assert_eq!(
        write.body["StageName"], "Qualification",
        "the configured active stage"
    );
}

#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn the_services_own_values_are_not_reported_and_unmapped_ones_once_each() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        // No timestamps: their digits could read as the value this test says is never logged.
        .without_time()
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    // Another test's thread may have met the event's callsite first, with no subscriber, and
    // cached it as never enabled: have every callsite ask again now that this one exists.
    tracing::callsite::rebuild_interest_cache();

    for mapping in [
        dynamics365().build().unwrap(),
        salesforce().build().unwrap(),
    ] {
        // Real referrals carry `Unknown` and numeric stages: no help asked, stage unknown.
        for id in ["r-1", "r-2", "r-3"] {
            let referral = json!({"id": id, "salesStage": "100",
                "inviteContext": {"assistanceRequestCode": "Unknown"}});
            let projected = mapping.referral_to_canonical(&referral).unwrap();
            assert_eq!(projected.record.get(fields::HELP_REQUESTED), &Value::Null);
            assert!(
                projected.record.get(fields::SALES_STAGE).is_absent(),
                "the CRM's stage is kept"
            );
            assert_eq!(projected.issues, [], "{id}");
        }
        // A value the map lacks is reported the first time it is seen, not on every record.
        let unmapped = |stage: &str| MappingIssue::UnmappedValue {
            field: "sales_stage".into(),
            value: stage.into(),
        };
        let issues = |stage: &str| {
            mapping
                .referral_to_canonical(&json!({"salesStage": stage}))
                .unwrap()
                .issues
        };
        assert_eq!(issues("Negotiate"), [unmapped("Negotiate")]);
        assert_eq!(issues("Negotiate"), []);
        assert_eq!(issues("Won"), [unmapped("Won")]);
        assert_eq!(issues("Negotiate"), []);
        assert_eq!(issues("Won"), []);
        // A fresh mapping has seen nothing yet.
        let fresh = mapping.to_builder().build().unwrap();
        assert_eq!(
            fresh
                .referral_to_canonical(&json!({"salesStage": "Won"}))
                .unwrap()
                .issues,
            [unmapped("Won")]
        );
    }
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    // Named by its field, never by its value (customer data stays out of traces).
    assert!(
        text.contains("DEBUG") && text.contains("sales_stage"),
        "{text}"
    );
    assert!(!text.contains("100"), "{text}");
}

#[test]
fn hostile_input_gives_typed_errors_or_absent_values_never_a_panic() {
    let mapping = salesforce().build().unwrap();
    for referral in [
        json!([1, 2]),
        json!("x"),
        json!(null),
        json!({"details": 5}),
        json!({"customerProfile": {"team": "nobody"}}),
    ] {
        let projected = mapping.referral_to_canonical(&referral).unwrap();
        // A null parent reads as null, a missing one as absent: neither holds a name.
        assert!(projected.record.get(fields::DEAL_NAME).is_blank());
    }
    let error = mapping
        .referral_to_canonical(&json!({"details": {"dealValue": "1e99999"}}))
        .unwrap_err();
    assert!(matches!(error, MappingError::WrongType { ref field, .. } if field == "deal_value"));
    let error = mapping
        .referral_to_canonical(&json!({"details": {"closingDateTime": "next tuesday"}}))
        .unwrap_err();
    assert!(
        matches!(error, MappingError::WrongType { ref field, ref value, .. } if field == "close_date" && value == "next tuesday")
    );
    for path in ["", "a[", "[0]", "a[x]", "a..b", "a[0]b", "a[][]"] {
        assert!(cosell::mapping::WirePath::parse(path).is_err(), "{path:?}");
    }
    let error = mapping
        .crm_write(
            &[(fields::CURRENCY, Value::choice("€"))],
            CrmWriteContext::default(),
        )
        .unwrap_err();
    assert!(matches!(error, MappingError::Unwritable { ref field, .. } if field == "currency"));
}
