//! Close dates do not depend on the process's time zone. This binary holds a single test, so
//! changing `TZ` races with no other thread of the process.

use cosell::mapping::{CrmWriteContext, FieldMapping, Value, dynamics365, fields, salesforce};
use jiff::civil::date;
use serde_json::json;

#[test]
fn close_dates_are_the_same_in_every_process_time_zone() {
    let cases = [
        ("2022-03-24T18:30:00Z", date(2022, 3, 25)),
        ("2022-01-30T23:00:00Z", date(2022, 1, 31)),
        ("2022-06-30T05:00:00Z", date(2022, 6, 30)),
    ];
    let create = CrmWriteContext {
        create: true,
        current: None,
        partner_center: None,
    };
    for zone in [
        "UTC",
        "Asia/Kolkata",
        "America/Chicago",
        "Pacific/Auckland",
        "Pacific/Pago_Pago",
    ] {
        // SAFETY: this is the only test in the binary, so no other thread reads or writes the
        // environment while it changes.
        unsafe { std::env::set_var("TZ", zone) };
        for (mapping, column) in [
            (dynamics365().build().unwrap(), "estimatedclosedate"),
            (salesforce().build().unwrap(), "CloseDate"),
        ] {
            for (instant, picked) in cases {
                let referral = json!({"name": "Deal", "details": {"closingDateTime": instant}});
                let projected = mapping.referral_to_canonical(&referral).unwrap();
                assert_eq!(
                    projected.record.get(fields::CLOSE_DATE),
                    &Value::Date(picked),
                    "TZ={zone}"
                );
                let write = mapping
                    .crm_write(&projected.create_changes(), create)
                    .unwrap();
                assert_eq!(write.body[column], picked.to_string(), "TZ={zone}");
            }
        }
    }
}
