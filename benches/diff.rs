//! Diff of realistic 40-field co-sell records: our engine against `json_patch::diff` on the
//! equivalent JSON documents, identical and with 1-3 changed fields.

use std::hint::black_box;

use cosell::diff;
use cosell::mapping::{Direction, FieldSpec, Policy, Record, Schema, Value, ValueKind, fields};
use criterion::{Criterion, criterion_group, criterion_main};
use jiff::civil::date;
use rust_decimal::Decimal;
use serde_json::{Map, json};

/// The default co-sell schema plus 14 custom columns: 40 fields.
fn schema() -> Schema {
    let mut builder = Schema::cosell_builder().version("bench/1");
    let custom: [(&str, ValueKind); 14] = [
        ("industry", ValueKind::Choice),
        ("segment", ValueKind::Choice),
        ("territory", ValueKind::Text),
        ("owner_email", ValueKind::Text),
        ("partner_role", ValueKind::Choice),
        ("probability", ValueKind::Decimal),
        ("monthly_consumption", ValueKind::Decimal),
        ("contract_start", ValueKind::Date),
        ("contract_end", ValueKind::Date),
        ("last_contacted", ValueKind::DateTime),
        ("is_marketplace", ValueKind::Bool),
        ("is_strategic", ValueKind::Bool),
        ("products", ValueKind::MultiChoice),
        ("competitors", ValueKind::List),
    ];
    for (name, kind) in custom {
        let policy = match kind {
            ValueKind::MultiChoice | ValueKind::List => Policy::Union,
            _ => Policy::NewestWins,
        };
        builder = builder.field(
            FieldSpec::new(name, kind)
                .direction(Direction::Both)
                .policy(policy),
        );
    }
    builder.build().expect("bench schema")
}

fn record(schema: &Schema) -> Record {
    let mut record = schema.record();
    let t = Value::text;
    let c = Value::choice;
    let values = [
        t("Contoso – Azure migration and modernization"),
        t("Customer wants a landing zone first, then the SAP workloads in two waves."),
        Value::Decimal(Decimal::new(25_000_000, 2)),
        c("USD"),
        Value::Date(date(2026, 6, 30)),
        c("active"),
        c("Develop"),
        c("technical_presales"),
        Value::Bool(true),
        Value::multi_choice(["sol-azure-migrate", "sol-sap-on-azure"]),
        t("7-ABCDEF123"),
        t("Contoso Ltd"),
        t("1 Microsoft Way"),
        t("Redmond"),
        t("WA"),
        t("98052"),
        c("US"),
        t("Avery"),
        t("Howard"),
        t("avery.howard@contoso.example"),
        t("+1 425 555 0100"),
        t("6f0c5a3e-7c1e-4d0a-9d49-1c7a2b7b9d10"),
        t("https://partner.microsoft.com/dashboard/referrals/6f0c5a3e-7c1e-4d0a-9d49-1c7a2b7b9d10"),
        t("0c3b0d3e-1111-4222-8333-944455556666"),
        Value::Bool(true),
        t("2026-05-01 synced; 2026-04-20 created"),
        c("manufacturing"),
        c("enterprise"),
        t("West US"),
        t("seller@fabrikam.example"),
        c("co_sell"),
        Value::Decimal(Decimal::new(60, 2)),
        Value::Decimal(Decimal::new(1_250_075, 2)),
        Value::Date(date(2026, 7, 1)),
        Value::Date(date(2029, 6, 30)),
        Value::DateTime("2026-05-01T14:30:00Z".parse().expect("instant")),
        Value::Bool(false),
        Value::Bool(true),
        Value::multi_choice(["azure-sql", "aks", "defender"]),
        Value::list([t("Northwind"), t("Tailspin")]),
    ];
    for ((field, _), value) in schema.fields().zip(values) {
        record.set(field, value);
    }
    record
}

/// The same record as a JSON document, as a JSON-tree diff would see it.
fn to_json(schema: &Schema, record: &Record) -> serde_json::Value {
    let mut object = Map::new();
    for (field, spec) in schema.fields() {
        let value = match record.get(field) {
            Value::Absent | Value::Null => serde_json::Value::Null,
            Value::Text(text) | Value::Choice(text) => json!(text),
            Value::Decimal(number) => json!(number.to_string().parse::<f64>().expect("number")),
            Value::Date(date) => json!(date.to_string()),
            Value::DateTime(instant) => json!(instant.to_string()),
            Value::Bool(flag) => json!(flag),
            Value::MultiChoice(set) => json!(set.iter().collect::<Vec<_>>()),
            Value::List(items) => {
                json!(items.iter().filter_map(Value::as_text).collect::<Vec<_>>())
            }
        };
        object.insert(spec.name().to_owned(), value);
    }
    serde_json::Value::Object(object)
}

fn edit(schema: &Schema, changes: usize) -> Record {
    let edits = [
        (
            fields::DEAL_NAME,
            Value::text("Contoso – Azure migration, phase 2"),
        ),
        (
            fields::DEAL_VALUE,
            Value::Decimal(Decimal::new(31_000_000, 2)),
        ),
        (
            schema.id("products").expect("products"),
            Value::multi_choice(["azure-sql", "aks"]),
        ),
    ];
    // Built afresh rather than cloned, so no text is shared with the other record: as in a
    // real sync, where each side's record comes from its own mapping.
    let mut edited = record(schema);
    for (field, value) in edits.into_iter().take(changes) {
        edited.set(field, value);
    }
    edited
}

fn bench(c: &mut Criterion) {
    let schema = schema();
    assert_eq!(schema.len(), 40);
    let base = record(&schema);
    let base_json = to_json(&schema, &base);

    for changes in [0, 1, 3] {
        let other = edit(&schema, changes);
        let other_json = to_json(&schema, &other);
        assert_eq!(diff::two_way(&schema, &base, &other).len(), changes);
        assert_eq!(json_patch::diff(&base_json, &other_json).0.len(), changes);

        let label = if changes == 0 {
            "identical".to_owned()
        } else {
            format!("{changes}_changes")
        };
        let mut group = c.benchmark_group(format!("diff_40_fields/{label}"));
        group.bench_function("cosell_two_way", |b| {
            b.iter(|| diff::two_way(black_box(&schema), black_box(&base), black_box(&other)))
        });
        group.bench_function("cosell_three_way", |b| {
            b.iter(|| {
                diff::three_way(
                    black_box(&schema),
                    black_box(&base),
                    black_box(&other),
                    black_box(&base),
                )
            })
        });
        group.bench_function("json_patch_diff", |b| {
            b.iter(|| json_patch::diff(black_box(&base_json), black_box(&other_json)))
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
