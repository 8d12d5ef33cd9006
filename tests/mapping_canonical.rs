//! The canonical model: schema, values, records and normalization rules.

use cosell::mapping::{
    ChoiceSet, DateRule, Direction, FieldSpec, Normalization, NormalizeError, Policy, Record,
    Schema, SchemaError, Side, Value, ValueKind, fields, nearest_utc_midnight, round_to_scale,
    truncate_chars, utc_midnight,
};
use jiff::Timestamp;
use jiff::civil::date;
use rust_decimal::Decimal;

fn instant(text: &str) -> Timestamp {
    text.parse().unwrap()
}

#[test]
fn default_schema_lists_every_canonical_field_in_a_fixed_order() {
    let schema = Schema::cosell();
    let names: Vec<&str> = schema.fields().map(|(_, field)| field.name()).collect();
    assert_eq!(
        names,
        [
            "deal_name",
            "notes",
            "deal_value",
            "currency",
            "close_date",
            "status",
            "sales_stage",
            "help_requested",
            "visible_to_microsoft_sellers",
            "solutions",
            "microsoft_crm_id",
            "customer_name",
            "customer_address_line1",
            "customer_city",
            "customer_state",
            "customer_postal_code",
            "customer_country",
            "contact_first_name",
            "contact_last_name",
            "contact_email",
            "contact_phone",
            "referral_id",
            "referral_link",
            "crm_id",
            "sync_with_partner_center",
            "audit_trail",
        ]
    );
    for (id, name) in [
        (fields::DEAL_NAME, "deal_name"),
        (fields::SOLUTIONS, "solutions"),
        (fields::CRM_ID, "crm_id"),
        (fields::AUDIT_TRAIL, "audit_trail"),
    ] {
        assert_eq!(schema.id(name), Some(id));
    }
    assert_eq!(schema.version(), "cosell-default/1");
}

#[test]
fn default_schema_carries_the_documented_directions_and_policies() {
    let schema = Schema::cosell();
    let rule = |id| {
        let field = schema.field(id).unwrap();
        (
            field.kind(),
            field.sync_direction(),
            field.conflict_policy(),
        )
    };
    use Direction::*;
    assert_eq!(
        rule(fields::DEAL_NAME),
        (ValueKind::Text, Both, Policy::NewestWins)
    );
    assert_eq!(
        rule(fields::DEAL_VALUE),
        (ValueKind::Decimal, Both, Policy::NewestWins)
    );
    assert_eq!(
        rule(fields::CURRENCY),
        (ValueKind::Choice, Both, Policy::PartnerCenterWins)
    );
    assert_eq!(
        rule(fields::CLOSE_DATE),
        (ValueKind::Date, Both, Policy::NewestWins)
    );
    assert_eq!(
        rule(fields::STATUS),
        (ValueKind::Choice, Both, Policy::CrmWins)
    );
    assert_eq!(
        rule(fields::HELP_REQUESTED),
        (ValueKind::Choice, CrmToPartnerCenter, Policy::CrmWins)
    );
    assert_eq!(
        rule(fields::VISIBLE_TO_MICROSOFT_SELLERS),
        (ValueKind::Bool, CrmToPartnerCenter, Policy::StickyTrue)
    );
    assert_eq!(
        rule(fields::SOLUTIONS),
        (ValueKind::MultiChoice, CrmToPartnerCenter, Policy::Union)
    );
    assert_eq!(
        rule(fields::MICROSOFT_CRM_ID),
        (
            ValueKind::Text,
            PartnerCenterToCrm,
            Policy::PartnerCenterWins
        )
    );
    assert_eq!(rule(fields::CUSTOMER_NAME).1, CreateOnly);
    assert_eq!(rule(fields::CONTACT_EMAIL).1, CreateOnly);
    assert_eq!(rule(fields::REFERRAL_ID).1, PartnerCenterToCrm);
    assert_eq!(rule(fields::CRM_ID).1, CrmToPartnerCenter);
    assert_eq!(rule(fields::SYNC_WITH_PARTNER_CENTER).1, Gate);
    assert_eq!(rule(fields::AUDIT_TRAIL).1, Direction::None);
}

#[test]
fn builder_changes_and_appends_fields_without_moving_ids() {
    let schema = Schema::cosell_builder()
        .version("contoso/2")
        .update("deal_name", |field| field.max_chars(120))
        .update("status", |field| field.policy(Policy::Manual))
        .field(
            FieldSpec::new("industry", ValueKind::Choice)
                .direction(Direction::Both)
                .policy(Policy::PreferUnlessBlank(Side::Crm)),
        )
        .build()
        .unwrap();
    assert_eq!(schema.version(), "contoso/2");
    assert_eq!(schema.id("deal_name"), Some(fields::DEAL_NAME));
    assert_eq!(
        schema
            .field(fields::DEAL_NAME)
            .unwrap()
            .normalization_rules()
            .max_chars,
        Some(120)
    );
    assert_eq!(
        schema.field(fields::STATUS).unwrap().conflict_policy(),
        Policy::Manual
    );
    assert_eq!(
        schema.id("industry").unwrap().index(),
        Schema::cosell().len()
    );
}

#[test]
fn builder_reports_its_mistakes() {
    let unknown = Schema::cosell_builder()
        .update("no_such_field", |f| f)
        .build();
    assert_eq!(
        unknown.unwrap_err(),
        SchemaError::UnknownField("no_such_field".into())
    );

    let duplicate = Schema::cosell_builder()
        .field(FieldSpec::new("notes", ValueKind::Text))
        .build();
    assert_eq!(
        duplicate.unwrap_err(),
        SchemaError::DuplicateField("notes".into())
    );

    let union_on_text = Schema::builder("v")
        .field(FieldSpec::new("title", ValueKind::Text).policy(Policy::Union))
        .build();
    assert!(matches!(
        union_on_text,
        Err(SchemaError::PolicyDoesNotFitKind { ref field, .. }) if field == "title"
    ));

    let sticky_on_choice = Schema::builder("v")
        .field(FieldSpec::new("stage", ValueKind::Choice).policy(Policy::StickyTrue))
        .build();
    assert!(sticky_on_choice.is_err());

    let empty_name = Schema::builder("v")
        .field(FieldSpec::new("", ValueKind::Text))
        .build();
    assert_eq!(empty_name.unwrap_err(), SchemaError::EmptyName);
}

#[test]
fn null_absent_and_empty_are_three_states() {
    assert_ne!(Value::Null, Value::Absent);
    assert_ne!(Value::text(""), Value::Null);
    assert_ne!(Value::text(""), Value::Absent);
    assert!(Value::Absent.is_absent() && !Value::Null.is_absent());
    assert!(Value::Null.is_null() && !Value::text("").is_null());
    for blank in [
        Value::Absent,
        Value::Null,
        Value::text(""),
        Value::text("   "),
        Value::multi_choice(Vec::<String>::new()),
        Value::list([]),
    ] {
        assert!(blank.is_blank(), "{blank:?} should be blank");
    }
    for filled in [
        Value::text("x"),
        Value::Bool(false),
        Value::Decimal(Decimal::ZERO),
    ] {
        assert!(!filled.is_blank(), "{filled:?} should not be blank");
    }
    assert_eq!(Value::default(), Value::Absent);
}

#[test]
fn empty_becomes_null_only_where_the_field_says_so() {
    let schema = Schema::cosell();
    let mut record = schema
        .record()
        .with(fields::DEAL_NAME, Value::text("  "))
        .with(fields::NOTES, Value::text("  "));
    schema.normalize(&mut record).unwrap();
    assert_eq!(record.get(fields::DEAL_NAME), &Value::text(""));
    assert_eq!(record.get(fields::NOTES), &Value::Null);
    assert!(record.get(fields::CLOSE_DATE).is_absent());
}

#[test]
fn decimals_compare_and_normalize_at_the_field_scale() {
    assert_eq!(
        Value::Decimal(Decimal::new(100, 0)),
        Value::Decimal(Decimal::new(10_000, 2))
    );
    assert_eq!(
        round_to_scale(Decimal::new(12_345, 3), 2).to_string(),
        "12.35"
    );
    assert_eq!(
        round_to_scale(Decimal::new(-12_345, 3), 2).to_string(),
        "-12.35"
    );
    assert_eq!(round_to_scale(Decimal::new(5, 0), 2).to_string(), "5.00");

    let schema = Schema::cosell();
    let large = Decimal::from_str_exact("99999999999999.9949").unwrap();
    let mut record = schema
        .record()
        .with(fields::DEAL_VALUE, Value::Decimal(large));
    schema.normalize(&mut record).unwrap();
    assert_eq!(
        record
            .get(fields::DEAL_VALUE)
            .as_decimal()
            .unwrap()
            .to_string(),
        "99999999999999.99"
    );

    let four_places = schema
        .to_builder()
        .update("deal_value", |f| f.decimal_scale(4));
    let schema = four_places.build().unwrap();
    let amount = Decimal::from_str_exact("1234.5678").unwrap();
    let mut record = schema
        .record()
        .with(fields::DEAL_VALUE, Value::Decimal(amount));
    schema.normalize(&mut record).unwrap();
    assert_eq!(record.get(fields::DEAL_VALUE).as_decimal(), Some(amount));
}

#[test]
fn closing_instants_land_on_the_date_the_seller_picked() {
    for (stored, picked) in [
        ("2022-03-24T18:30:00Z", date(2022, 3, 25)), // UTC+05:30
        ("2022-06-29T23:00:00Z", date(2022, 6, 30)), // UTC+01:00
        ("2022-06-30T05:00:00Z", date(2022, 6, 30)), // UTC-05:00
        ("2022-06-30T00:00:00Z", date(2022, 6, 30)), // UTC
        ("2022-06-29T12:00:00Z", date(2022, 6, 30)), // UTC+12:00
        ("2022-06-30T11:59:00Z", date(2022, 6, 30)), // UTC-11:59
    ] {
        assert_eq!(nearest_utc_midnight(instant(stored)), picked, "{stored}");
    }
    assert_eq!(
        utc_midnight(date(2022, 3, 25)).unwrap(),
        instant("2022-03-25T00:00:00Z")
    );
    assert_eq!(
        nearest_utc_midnight(Timestamp::MAX),
        Timestamp::MAX
            .to_zoned_datetime(jiff::tz::TimeZone::UTC)
            .date()
    );
}

#[test]
fn date_fields_take_instants_by_the_configured_rule() {
    let stored = instant("2022-03-24T18:30:00Z");
    let mut rules = Normalization::default();
    let as_date = |rules: &Normalization| {
        rules
            .apply(ValueKind::Date, Value::DateTime(stored))
            .unwrap()
            .value
    };
    assert_eq!(as_date(&rules), Value::Date(date(2022, 3, 25)));
    rules.date_rule = DateRule::UtcDate;
    assert_eq!(as_date(&rules), Value::Date(date(2022, 3, 24)));
    rules.date_rule = DateRule::InTimeZone(jiff::tz::TimeZone::fixed(jiff::tz::offset(-8)));
    assert_eq!(as_date(&rules), Value::Date(date(2022, 3, 24)));
    rules.date_rule = DateRule::InTimeZone(jiff::tz::TimeZone::fixed(jiff::tz::offset(9)));
    assert_eq!(as_date(&rules), Value::Date(date(2022, 3, 25)));

    let back = Normalization::default()
        .apply(ValueKind::DateTime, Value::Date(date(2022, 3, 25)))
        .unwrap();
    assert_eq!(back.value, Value::DateTime(instant("2022-03-25T00:00:00Z")));
}

#[test]
fn text_is_trimmed_and_cut_to_the_limit_with_a_report() {
    assert_eq!(truncate_chars("héllo", 3), ("hél", true));
    assert_eq!(truncate_chars("héllo", 5), ("héllo", false));
    assert_eq!(truncate_chars("", 0), ("", false));

    let schema = Schema::cosell_builder()
        .update("deal_name", |f| f.max_chars(10))
        .build()
        .unwrap();
    let mut record = schema
        .record()
        .with(
            fields::DEAL_NAME,
            Value::text("  Contoso Azure migration  "),
        )
        .with(fields::NOTES, Value::text(" short "));
    let truncations = schema.normalize(&mut record).unwrap();
    // Cut to 10 characters ("Contoso Az"), no trailing space left behind.
    assert_eq!(record.get(fields::DEAL_NAME), &Value::text("Contoso Az"));
    assert_eq!(record.get(fields::NOTES), &Value::text("short"));
    assert_eq!(truncations.len(), 1);
    assert_eq!(truncations[0].field, fields::DEAL_NAME);
    assert_eq!(truncations[0].original_chars, 23);
    assert_eq!(truncations[0].max_chars, 10);

    // A second pass is stable: nothing more to cut.
    assert!(schema.normalize(&mut record).unwrap().is_empty());
    assert_eq!(record.get(fields::DEAL_NAME), &Value::text("Contoso Az"));
}

#[test]
fn codes_are_upper_cased_and_multi_selects_ordered() {
    let schema = Schema::cosell();
    let mut record = schema
        .record()
        .with(fields::CURRENCY, Value::choice(" eur"))
        .with(fields::CUSTOMER_COUNTRY, Value::choice("de"))
        .with(
            fields::SOLUTIONS,
            Value::multi_choice(["sol-2", " sol-1 ", "sol-2", " "]),
        );
    schema.normalize(&mut record).unwrap();
    assert_eq!(record.get(fields::CURRENCY), &Value::choice("EUR"));
    assert_eq!(record.get(fields::CUSTOMER_COUNTRY), &Value::choice("DE"));
    assert_eq!(
        record.get(fields::SOLUTIONS),
        &Value::multi_choice(["sol-1", "sol-2"])
    );
    assert_eq!(
        ChoiceSet::new(["b", "a"]).iter().collect::<Vec<_>>(),
        ["a", "b"]
    );
}

#[test]
fn a_value_of_the_wrong_kind_is_a_typed_error_naming_the_field() {
    let schema = Schema::cosell();
    let mut record = schema
        .record()
        .with(fields::DEAL_VALUE, Value::text("lots"));
    let error = schema.normalize(&mut record).unwrap_err();
    let NormalizeError::KindMismatch { field, source } = &error else {
        panic!("unexpected {error:?}");
    };
    assert_eq!(field, "deal_value");
    assert_eq!(source.expected, ValueKind::Decimal);
    assert_eq!(source.found, Value::text("lots"));
    assert!(error.to_string().contains("deal_value"));
    assert!(Value::Null.fits(ValueKind::Decimal));
    assert!(!Value::text("x").fits(ValueKind::Decimal));
}

#[test]
fn list_items_are_normalized_and_empty_lists_follow_the_rule() {
    let rules = Normalization::default();
    let list = Value::list([Value::text(" a "), Value::Bool(true), Value::Null]);
    let normalized = rules.apply(ValueKind::List, list).unwrap().value;
    assert_eq!(
        normalized,
        Value::list([Value::text("a"), Value::Bool(true), Value::Null])
    );
    let mut null_rules = Normalization::default();
    null_rules.empty_is_null = true;
    assert_eq!(
        null_rules
            .apply(ValueKind::List, Value::list([]))
            .unwrap()
            .value,
        Value::Null
    );
    assert_eq!(
        null_rules
            .apply(ValueKind::MultiChoice, Value::multi_choice(["  "]))
            .unwrap()
            .value,
        Value::Null
    );
}

#[test]
fn records_read_absent_past_their_end_and_grow_on_set() {
    let schema = Schema::cosell();
    let mut short = Record::from_values([Value::text("Contoso")]);
    assert_eq!(short.get(fields::DEAL_NAME), &Value::text("Contoso"));
    assert!(short.get(fields::AUDIT_TRAIL).is_absent());
    let previous = short.set(fields::CRM_ID, Value::text("opp-1"));
    assert!(previous.is_absent());
    assert_eq!(short.values().len(), fields::CRM_ID.index() + 1);
    assert_eq!(schema.record().values().len(), schema.len());
}

#[test]
fn records_round_trip_through_json_for_stores() {
    let schema = Schema::cosell();
    let record = schema
        .record()
        .with(fields::DEAL_NAME, Value::text("Contoso"))
        .with(fields::NOTES, Value::Null)
        .with(fields::DEAL_VALUE, Value::Decimal(Decimal::new(123_456, 2)))
        .with(fields::CLOSE_DATE, Value::Date(date(2026, 6, 30)))
        .with(fields::SOLUTIONS, Value::multi_choice(["b", "a"]))
        .with(fields::VISIBLE_TO_MICROSOFT_SELLERS, Value::Bool(true))
        .with(
            fields::AUDIT_TRAIL,
            Value::list([Value::DateTime(instant("2026-01-02T03:04:05Z"))]),
        )
        .modified_at(instant("2026-01-02T03:04:05Z"));
    let json = serde_json::to_string(&record).unwrap();
    let back: Record = serde_json::from_str(&json).unwrap();
    assert_eq!(back, record);
    // An unsorted set in a stored document is re-sorted on the way in.
    let unsorted: Value = serde_json::from_str(r#"{"multi_choice":["z","a","z"]}"#).unwrap();
    assert_eq!(unsorted, Value::multi_choice(["a", "z"]));
}
