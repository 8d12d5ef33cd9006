//! A CRM listing held compactly. A sweep matches each listed record against the store as its
//! page arrives: a record at the version its pair's last sync left is only remembered as
//! listed ([`QuietSet`], 8 bytes a record), and the others — changed, or not linked — are
//! kept with their modification times until Partner Center's listing has been matched against
//! them ([`CrmListing`]). A first full sweep, which finds no record linked, keeps them all:
//! `String` ids and `Timestamp`s would take about 8 MB at 100,000 records, the packed form
//! here 2.2 MB. A Dataverse GUID packs into its 16 bytes, a Salesforce id into its 15
//! case-sensitive characters (the 18-character form is derived from them), a time into the 6
//! bytes of its milliseconds since the epoch (both CRMs stamp records to the second or the
//! millisecond); any other id or time is kept as it came.

use std::hash::BuildHasher;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::Poll;

use jiff::Timestamp;

use crate::error::Result;
use crate::http::lock;

use super::ids::RecordId;

/// The records a listing (`Crm::each_changed_since`) hands to its callback, which pushes
/// them onto `page`.
pub(super) type HandedOver = Mutex<Vec<(String, Timestamp)>>;

/// A callback listing taken a batch at a time: the listing is polled only while nothing it
/// handed over waits, so it runs at most a page ahead of whoever takes its records.
pub(super) struct Paced<'a, F> {
    listing: Pin<&'a mut F>,
    page: &'a HandedOver,
    done: bool,
}

impl<'a, F: Future<Output = Result<()>>> Paced<'a, F> {
    /// `listing` hands its records to a callback that pushes them onto `page`.
    pub(super) fn new(listing: Pin<&'a mut F>, page: &'a HandedOver) -> Self {
        Paced {
            listing,
            page,
            done: false,
        }
    }

    /// The records handed over since the last call (a page, as the listing hands them over),
    /// or `None` once the listing is done and every record was taken.
    pub(super) async fn next(&mut self) -> Result<Option<Vec<(String, Timestamp)>>> {
        loop {
            let records = std::mem::take(&mut *lock(self.page));
            if !records.is_empty() {
                return Ok(Some(records));
            }
            if self.done {
                return Ok(None);
            }
            let (listing, page, done) = (&mut self.listing, self.page, &mut self.done);
            std::future::poll_fn(|cx| match listing.as_mut().poll(cx) {
                Poll::Ready(result) => {
                    *done = true;
                    Poll::Ready(result)
                }
                Poll::Pending if lock(page).is_empty() => Poll::Pending,
                Poll::Pending => Poll::Ready(Ok(())),
            })
            .await?;
        }
    }
}

/// What settles a listed CRM record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cover {
    /// No listed referral covers it.
    Open,
    /// Its referral was listed and is synced (with it, this record).
    Job,
}

/// The fewest entries a listing's room grows by.
const GROWTH_FLOOR: usize = 1024;

/// Pushes onto `entries`, growing its room by an eighth rather than doubling it: a listing of
/// 100,000 records would otherwise hold room for 131,072 until sealed. It takes about 30
/// reallocations more at that size, against a listing of 20 or more pages.
fn push_lean<E>(entries: &mut Vec<E>, entry: E) {
    if entries.len() == entries.capacity() {
        let more = (entries.len() / 8).max(GROWTH_FLOOR);
        entries.reserve_exact(more);
    }
    entries.push(entry);
}

/// The records a sweep listed at the version their pair's last sync left, each as a 64-bit
/// hash of its id under keys drawn afresh for every set: a full sweep asks it whether a linked
/// pair's record was listed (a record not listed may be gone, and is looked at). Two ids share
/// a hash with a chance of one in 2^64 per pair of ids; at 100,000 records a deleted record
/// passes for listed with a chance of about 5 × 10^-15 in one sweep, and the next sweep's keys
/// are others.
#[derive(Debug, Default)]
pub(super) struct QuietSet {
    keys: std::collections::hash_map::RandomState,
    hashes: Vec<u64>,
    sealed: bool,
}

impl QuietSet {
    pub(super) fn new() -> Self {
        QuietSet::default()
    }

    /// Adds a record listed unchanged.
    pub(super) fn insert(&mut self, id: &RecordId) {
        debug_assert!(!self.sealed, "inserted into a sealed set");
        push_lean(&mut self.hashes, self.keys.hash_one(id.as_str()));
    }

    /// Makes the set searchable, once every record is in.
    pub(super) fn seal(&mut self) {
        self.hashes.sort_unstable();
        self.hashes.dedup();
        self.hashes.shrink_to_fit();
        self.sealed = true;
    }

    /// Whether `id` was listed unchanged.
    pub(super) fn contains(&self, id: &RecordId) -> bool {
        debug_assert!(self.sealed, "searched before it was sealed");
        self.hashes
            .binary_search(&self.keys.hash_one(id.as_str()))
            .is_ok()
    }
}

/// Entries of one id form, sorted by id once the listing is complete.
#[derive(Debug)]
struct Keyed<K, T> {
    entries: Vec<(K, T)>,
    cover: Vec<Cover>,
}

impl<K: Ord, T: Ord> Keyed<K, T> {
    fn new() -> Self {
        Keyed {
            entries: Vec::new(),
            cover: Vec::new(),
        }
    }

    fn push(&mut self, key: K, at: T) {
        push_lean(&mut self.entries, (key, at));
    }

    /// Sorts by id and keeps one entry per id, the newest (a record changed while it was
    /// being listed can come twice).
    fn seal(&mut self) {
        self.entries
            .sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| b.1.cmp(&a.1)));
        self.entries.dedup_by(|later, kept| later.0 == kept.0);
        self.entries.shrink_to_fit();
        self.cover = vec![Cover::Open; self.entries.len()];
    }

    fn find(&self, key: &K) -> Option<usize> {
        self.entries.binary_search_by(|entry| entry.0.cmp(key)).ok()
    }
}

/// Where an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Slot {
    Guid(usize),
    Salesforce(usize),
    Other(usize),
}

/// The CRM's listing: each record's id and modification time, and what settles it.
#[derive(Debug)]
pub(super) struct CrmListing {
    guids: Keyed<[u8; 16], Millis>,
    salesforce: Keyed<[u8; 15], Millis>,
    other: Keyed<RecordId, Timestamp>,
}

/// An id in its packed form, when it has one.
enum Packed {
    Guid([u8; 16]),
    Salesforce([u8; 15]),
}

fn pack(id: &RecordId) -> Option<Packed> {
    let text = id.as_str();
    if text.len() == 36 {
        return uuid::Uuid::try_parse(text)
            .ok()
            .map(|guid| Packed::Guid(guid.into_bytes()));
    }
    // A normalised Salesforce id is its 15 characters and a suffix derived from them.
    if text.len() == 18 && RecordId::new(&text[..15]) == *id {
        let mut base = [0; 15];
        base.copy_from_slice(&text.as_bytes()[..15]);
        return Some(Packed::Salesforce(base));
    }
    None
}

/// A time in whole milliseconds since the epoch, in 48 bits, big-endian (so that its bytes
/// order as its times do): 22 bytes an entry with a GUID, where an `i64` would pad it to 24.
type Millis = [u8; 6];

fn millis(at: Timestamp) -> Option<Millis> {
    let nanos = at.as_nanosecond();
    if nanos % 1_000_000 != 0 {
        return None;
    }
    let ms = u64::try_from(nanos / 1_000_000)
        .ok()
        .filter(|ms| *ms < 1 << 48)?;
    let mut packed = [0; 6];
    packed.copy_from_slice(&ms.to_be_bytes()[2..]);
    Some(packed)
}

fn from_millis(at: Millis) -> Timestamp {
    let mut bytes = [0; 8];
    bytes[2..].copy_from_slice(&at);
    let ms = i64::try_from(u64::from_be_bytes(bytes)).expect("48 bits");
    Timestamp::from_millisecond(ms).expect("packed from a timestamp")
}

impl CrmListing {
    pub(super) fn new() -> Self {
        CrmListing {
            guids: Keyed::new(),
            salesforce: Keyed::new(),
            other: Keyed::new(),
        }
    }

    /// Adds a record as listed.
    pub(super) fn push(&mut self, id: &str, at: Timestamp) {
        let id = RecordId::new(id);
        match (pack(&id), millis(at)) {
            (Some(Packed::Guid(key)), Some(at)) => self.guids.push(key, at),
            (Some(Packed::Salesforce(key)), Some(at)) => self.salesforce.push(key, at),
            _ => self.other.push(id, at),
        }
    }

    /// Makes the listing searchable, once every record is in.
    pub(super) fn seal(&mut self) {
        self.guids.seal();
        self.salesforce.seal();
        self.other.seal();
    }

    /// Where `id` is, if it was listed.
    pub(super) fn find(&self, id: &RecordId) -> Option<Slot> {
        match pack(id) {
            Some(Packed::Guid(key)) => self.guids.find(&key).map(Slot::Guid),
            Some(Packed::Salesforce(key)) => self.salesforce.find(&key).map(Slot::Salesforce),
            None => None,
        }
        .or_else(|| self.other.find(id).map(Slot::Other))
    }

    /// The modification time listed at `slot`.
    #[cfg(test)]
    fn at(&self, slot: Slot) -> Timestamp {
        match slot {
            Slot::Guid(i) => from_millis(self.guids.entries[i].1),
            Slot::Salesforce(i) => from_millis(self.salesforce.entries[i].1),
            Slot::Other(i) => self.other.entries[i].1,
        }
    }

    /// Notes what settles the record at `slot`.
    pub(super) fn cover(&mut self, slot: Slot, cover: Cover) {
        match slot {
            Slot::Guid(i) => self.guids.cover[i] = cover,
            Slot::Salesforce(i) => self.salesforce.cover[i] = cover,
            Slot::Other(i) => self.other.cover[i] = cover,
        }
    }

    /// Every record once, with its time and cover.
    pub(super) fn entries(&self) -> impl Iterator<Item = (RecordId, Timestamp, Cover)> + '_ {
        let guids = self
            .guids
            .entries
            .iter()
            .zip(&self.guids.cover)
            .map(|((key, at), cover)| {
                let id = uuid::Uuid::from_bytes(*key).hyphenated().to_string();
                (RecordId::new(&id), from_millis(*at), *cover)
            });
        let salesforce = self
            .salesforce
            .entries
            .iter()
            .zip(&self.salesforce.cover)
            .map(|((key, at), cover)| {
                let id = std::str::from_utf8(key).expect("packed from text");
                (RecordId::new(id), from_millis(*at), *cover)
            });
        let other = self
            .other
            .entries
            .iter()
            .zip(&self.other.cover)
            .map(|((id, at), cover)| (id.clone(), *at, *cover));
        guids.chain(salesforce).chain(other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn id_strategy() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<u128>().prop_map(|n| uuid::Uuid::from_u128(n).hyphenated().to_string()),
            any::<u128>()
                .prop_map(|n| uuid::Uuid::from_u128(n).braced().to_string().to_uppercase()),
            "[0-9A-Za-z]{15}",
            "[0-9A-Za-z]{15}".prop_map(|id| RecordId::new(&id).into_string().to_lowercase()),
            "[a-z-]{1,20}",
        ]
    }

    /// Times to the second (Dataverse), to the millisecond (Salesforce), and finer or before
    /// the epoch (kept as they came); a few shared, as records stamped in one second are.
    fn time_strategy() -> impl Strategy<Value = Timestamp> {
        prop_oneof![
            (0i64..4).prop_map(|n| Timestamp::from_second(1_800_000_000 + n).unwrap()),
            (0i64..4_000_000_000).prop_map(|s| Timestamp::from_second(s).unwrap()),
            (0i64..4_000_000_000_000).prop_map(|ms| Timestamp::from_millisecond(ms).unwrap()),
            (-4_000_000_000i64..4_000_000_000)
                .prop_map(|s| Timestamp::from_nanosecond(i128::from(s) * 1_000_000_007).unwrap()),
        ]
    }

    proptest! {
        /// The packed listing answers every lookup as a plain list of normalised ids would:
        /// the same records found, with the newest time listed for each.
        #[test]
        fn a_packed_listing_finds_what_a_plain_one_does(
            listed in proptest::collection::vec((id_strategy(), time_strategy()), 0..60),
            probes in proptest::collection::vec(id_strategy(), 0..20),
        ) {
            let mut listing = CrmListing::new();
            let mut plain: std::collections::BTreeMap<RecordId, Timestamp> = Default::default();
            for (id, at) in &listed {
                let at = *at;
                listing.push(id, at);
                let entry = plain.entry(RecordId::new(id)).or_insert(at);
                *entry = (*entry).max(at);
            }
            listing.seal();
            for (id, at) in &plain {
                let slot = listing.find(id);
                prop_assert!(slot.is_some(), "{} not found", id);
                prop_assert_eq!(listing.at(slot.unwrap()), *at);
            }
            for probe in &probes {
                let id = RecordId::new(probe);
                prop_assert_eq!(listing.find(&id).is_some(), plain.contains_key(&id));
            }
            let mut entries: Vec<(RecordId, Timestamp)> =
                listing.entries().map(|(id, at, _)| (id, at)).collect();
            entries.sort();
            let expected: Vec<(RecordId, Timestamp)> = plain.into_iter().collect();
            prop_assert_eq!(entries, expected);
        }
    }

    proptest! {
        /// The set of records listed unchanged answers as a plain set of normalised ids does
        /// (a shared hash is a chance of one in 2^64 per pair of ids: not seen here).
        #[test]
        fn a_quiet_set_holds_what_a_plain_one_does(
            listed in proptest::collection::vec(id_strategy(), 0..60),
            probes in proptest::collection::vec(id_strategy(), 0..20),
        ) {
            let mut quiet = QuietSet::new();
            let mut plain = std::collections::BTreeSet::new();
            for id in &listed {
                let id = RecordId::new(id);
                quiet.insert(&id);
                plain.insert(id);
            }
            quiet.seal();
            for id in listed.iter().chain(&probes) {
                let id = RecordId::new(id);
                prop_assert_eq!(quiet.contains(&id), plain.contains(&id), "{}", id);
            }
        }
    }

    /// A listing of three pages, waiting between them as one waits for the next page's answer:
    /// taken page by page, never more than one page handed over ahead of what was taken.
    #[tokio::test]
    async fn a_paced_listing_runs_at_most_a_page_ahead() {
        let at = Timestamp::from_second(1_800_000_000).unwrap();
        let handed = std::sync::atomic::AtomicUsize::new(0);
        let page = HandedOver::default();
        let mut hand_over = |id: String, at| {
            handed.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            lock(&page).push((id, at));
        };
        let hand_over: &mut (dyn FnMut(String, Timestamp) + Send) = &mut hand_over;
        let listing = std::pin::pin!(async move {
            for n in 0..3 {
                for i in 0..4 {
                    hand_over(format!("{n}-{i}"), at);
                }
                tokio::task::yield_now().await;
            }
            Ok(())
        });
        let mut paced = Paced::new(listing, &page);
        let (mut taken, mut pages) = (0, Vec::new());
        while let Some(records) = paced.next().await.unwrap() {
            taken += records.len();
            assert!(
                handed.load(std::sync::atomic::Ordering::SeqCst) <= taken,
                "handed over ahead of what was taken"
            );
            pages.push(records.into_iter().map(|(id, _)| id).collect::<Vec<_>>());
        }
        let expected: Vec<Vec<String>> = (0..3)
            .map(|n| (0..4).map(|i| format!("{n}-{i}")).collect())
            .collect();
        assert_eq!(pages, expected);
    }

    #[test]
    fn a_quiet_set_of_100_000_records_takes_8_bytes_a_record() {
        let mut quiet = QuietSet::new();
        for n in 0..100_000u128 {
            quiet.insert(&RecordId::new(
                &uuid::Uuid::from_u128(n).hyphenated().to_string(),
            ));
            let (len, room) = (quiet.hashes.len(), quiet.hashes.capacity());
            assert!(
                room <= len + len / 8 + GROWTH_FLOOR,
                "{room} of room for {len}"
            );
        }
        quiet.seal();
        assert_eq!(quiet.hashes.capacity(), 100_000);
        assert!(quiet.contains(&RecordId::new(
            &uuid::Uuid::from_u128(99_999).hyphenated().to_string()
        )));
        assert!(!quiet.contains(&RecordId::new(
            &uuid::Uuid::from_u128(100_000).hyphenated().to_string()
        )));
    }

    #[test]
    fn a_large_listing_holds_little_spare_room() {
        let mut listing = CrmListing::new();
        let at = Timestamp::from_second(1_800_000_000).unwrap();
        for n in 0..100_000u128 {
            listing.push(&uuid::Uuid::from_u128(n).hyphenated().to_string(), at);
        }
        let (len, room) = (
            listing.guids.entries.len(),
            listing.guids.entries.capacity(),
        );
        assert_eq!(len, 100_000);
        assert!(
            room <= len + len / 8 + GROWTH_FLOOR,
            "{room} entries of room for {len}"
        );
        listing.seal();
        assert_eq!(listing.guids.entries.capacity(), 100_000);
    }

    #[test]
    fn a_cover_stays_with_its_record() {
        let mut listing = CrmListing::new();
        let at = Timestamp::from_second(1_800_000_000).unwrap();
        listing.push("006Mk00000AbCdE", at);
        listing.push("0e3a2b4c-1d2e-4f50-9a8b-7c6d5e4f3a2b", at);
        listing.seal();
        let slot = listing.find(&RecordId::new("006Mk00000AbCdEIAV")).unwrap();
        listing.cover(slot, Cover::Job);
        let covers: Vec<(String, Cover)> = listing
            .entries()
            .map(|(id, _, cover)| (id.into_string(), cover))
            .collect();
        assert!(covers.contains(&("006Mk00000AbCdEIAV".to_owned(), Cover::Job)));
        assert!(covers.contains(&(
            "0e3a2b4c-1d2e-4f50-9a8b-7c6d5e4f3a2b".to_owned(),
            Cover::Open
        )));
    }
}
