//! The "nothing changed" path allocates nothing. Its own test binary, with a counting global
//! allocator and a single test, so no other test's allocations are counted.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use cosell::diff::{self, ConvergenceHash};
use cosell::mapping::{Record, Schema, Value, fields};
use jiff::civil::date;
use rust_decimal::Decimal;

struct CountingAllocator;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; only a counter is added.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn allocations_during<T>(work: impl FnOnce() -> T) -> (usize, T) {
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    let result = work();
    let after = ALLOCATIONS.load(Ordering::SeqCst);
    (after - before, result)
}

fn deal(schema: &Schema) -> Record {
    schema
        .record()
        .with(fields::DEAL_NAME, Value::text("Contoso – Azure migration"))
        .with(fields::NOTES, Value::text("Landing zone first."))
        .with(
            fields::DEAL_VALUE,
            Value::Decimal(Decimal::new(25_000_000, 2)),
        )
        .with(fields::CURRENCY, Value::choice("USD"))
        .with(fields::CLOSE_DATE, Value::Date(date(2026, 6, 30)))
        .with(fields::SOLUTIONS, Value::multi_choice(["sol-1", "sol-2"]))
        .with(fields::VISIBLE_TO_MICROSOFT_SELLERS, Value::Bool(true))
        .with(fields::AUDIT_TRAIL, Value::list([Value::text("synced")]))
}

#[test]
fn nothing_changed_allocates_nothing() {
    let schema = Schema::cosell();
    let baseline = deal(&schema);
    let partner_center = baseline.clone();
    let crm = baseline.clone();

    let (count, plan) =
        allocations_during(|| diff::three_way(&schema, &baseline, &partner_center, &crm));
    assert!(plan.is_empty());
    assert_eq!(count, 0, "three-way diff of unchanged records allocated");

    let (count, changed) = allocations_during(|| diff::two_way(&schema, &baseline, &crm));
    assert!(changed.is_empty());
    assert_eq!(count, 0, "two-way diff of equal records allocated");

    let (count, same) = allocations_during(|| diff::is_same(&schema, &baseline, &crm));
    assert!(same);
    assert_eq!(count, 0, "is_same allocated");

    let (count, hashes) = allocations_during(|| {
        (
            ConvergenceHash::of(&schema, &baseline),
            ConvergenceHash::of(&schema, &crm),
        )
    });
    assert_eq!(hashes.0, hashes.1);
    assert_eq!(count, 0, "hashing allocated");

    drop(plan);
    drop(changed);

    // The counter works: a real change allocates the plan's lists.
    let edited = crm.clone().with(fields::DEAL_NAME, Value::text("renamed"));
    let (count, plan) =
        allocations_during(|| diff::three_way(&schema, &baseline, &partner_center, &edited));
    assert_eq!(plan.partner_center().len(), 1);
    assert!(count > 0);
}
