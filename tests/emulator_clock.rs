//! One manual clock drives the SDK and the emulator: the SDK's `ManualClock`, adapted to the
//! emulator's own clock trait (the emulator does not depend on the SDK).

use std::sync::Arc;
use std::time::Duration;

use cosell::http::{Clock, ManualClock};
use cosell_emulator::{Emulator, EmulatorClock};

#[derive(Debug)]
struct Shared(Arc<ManualClock>);

impl EmulatorClock for Shared {
    fn now(&self) -> jiff::Timestamp {
        self.0.now()
    }
}

#[tokio::test]
async fn the_sdk_clock_moves_the_emulator_stamps() {
    let clock = Arc::new(ManualClock::new("2026-04-01T08:00:00Z".parse().unwrap()));
    let emulator = Emulator::builder()
        .clock(Arc::new(Shared(clock.clone())))
        .start()
        .await
        .unwrap();
    let pc = emulator.partner_center();
    let first = pc.share_referral(serde_json::json!({})).unwrap();
    clock.advance(Duration::from_secs(3600));
    let second = pc.share_referral(serde_json::json!({})).unwrap();
    assert_eq!(first["createdDateTime"], "2026-04-01T08:00:00.0000000Z");
    assert_eq!(second["createdDateTime"], "2026-04-01T09:00:00.0000000Z");
    assert_eq!(emulator.journal().len(), 0);
}
