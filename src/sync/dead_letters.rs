//! Dead letters: listed, read, retried one by one or all, exported, discarded.

use std::io::Write;

use super::{Synchronizer, Trigger};
use crate::error::{Error, Result};
use crate::store::{DeadLetter, DeadLetterId, RecordRef};
use crate::sync::outcome::SyncOutcome;
use crate::webhook::WebhookEvent;

/// What retrying a tenant's dead letters did ([`Synchronizer::retry_dead_letters`]).
#[derive(Debug, Default)]
pub struct DeadLetterRetries {
    /// Each letter retried (and so taken off the list), with its pair's outcome now. A pair
    /// that fails again is a new letter.
    pub retried: Vec<(DeadLetterId, SyncOutcome)>,
    /// Letters left on the list because they cannot be retried, each with the reason.
    pub kept: Vec<(DeadLetterId, Error)>,
}

/// The work a dead letter stands for.
enum Retry {
    /// A pair sync, from the side that triggered it.
    Pair(Trigger),
    /// An inbox event whose payload now reads as an event.
    Event(Box<WebhookEvent>),
}

impl Retry {
    /// What retrying `letter` would do, or why it cannot be retried (the error names the
    /// letter and its kind).
    fn of(letter: &DeadLetter) -> Result<Self> {
        let cannot = |why: &str| {
            Error::validation(format!(
                "dead letter {} (kind `{}`) cannot be retried: {why}; export it and discard it",
                letter.id.0, letter.kind
            ))
        };
        // The record a pair sync started from: of the side its kind names.
        let trigger = |record: &RecordRef| match (letter.kind.as_str(), record) {
            ("referral", RecordRef::Referral(id)) => Some(Trigger::Referral(id.clone())),
            ("crm", RecordRef::Crm(id)) => Some(Trigger::Crm(id.clone())),
            _ => None,
        };
        match letter.kind.as_str() {
            "referral" | "crm" => letter
                .records
                .iter()
                .find_map(trigger)
                .map(Retry::Pair)
                .ok_or_else(|| cannot("it names no record of its side")),
            "inbox" => serde_json::from_value::<WebhookEvent>(letter.payload.clone())
                .map(|event| Retry::Event(Box::new(event)))
                .map_err(|_| cannot("its payload is not a webhook event")),
            _ => Err(cannot("the synchronizer does not write that kind")),
        }
    }
}

impl Synchronizer {
    /// The tenant's dead letters, oldest first, at most `limit`.
    ///
    /// # Errors
    /// The store's.
    pub async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>> {
        Ok(self
            .inner
            .store
            .dead_letters(&self.inner.tenant, limit)
            .await?)
    }

    /// Takes a dead letter off the list and does its work again: syncs the pair it names, or
    /// handles the inbox event it holds. `None` when there is no such letter (or another
    /// worker took it first). A sync that fails again is a new dead letter.
    ///
    /// # Errors
    /// The store's; [`Error::Validation`] naming the letter when it cannot be retried (an
    /// inbox payload that is not an event, a kind the synchronizer does not write), which
    /// then stays on the list — [`export_dead_letters`](Self::export_dead_letters) and
    /// [`discard_dead_letter`](Self::discard_dead_letter) are what is left to do with it.
    pub async fn retry_dead_letter(&self, id: DeadLetterId) -> Result<Option<SyncOutcome>> {
        let Some(letter) = self.inner.store.dead_letter(&self.inner.tenant, id).await? else {
            return Ok(None);
        };
        let retry = Retry::of(&letter)?;
        self.retry(id, retry).await
    }

    /// Retries the oldest `limit` dead letters, one after another
    /// ([`retry_dead_letter`](Self::retry_dead_letter)); those that cannot be retried stay on
    /// the list and are reported. Letters a retry adds (a pair failing again) are not retried
    /// in the same call.
    ///
    /// # Errors
    /// The store's; the letters retried before it failed stay retried.
    pub async fn retry_dead_letters(&self, limit: usize) -> Result<DeadLetterRetries> {
        let mut report = DeadLetterRetries::default();
        for letter in self.dead_letters(limit).await? {
            match Retry::of(&letter) {
                Ok(retry) => {
                    if let Some(outcome) = self.retry(letter.id, retry).await? {
                        report.retried.push((letter.id, outcome));
                    }
                }
                Err(why) => report.kept.push((letter.id, why)),
            }
        }
        Ok(report)
    }

    async fn retry(&self, id: DeadLetterId, retry: Retry) -> Result<Option<SyncOutcome>> {
        // Taken off before the work starts: of two workers retrying it, one does the work.
        if self.discard_dead_letter(id).await?.is_none() {
            return Ok(None);
        }
        Ok(Some(match retry {
            Retry::Pair(trigger) => self.run_one(trigger).await,
            Retry::Event(event) => self.handle_event(&event).await,
        }))
    }

    /// Keeps a callback whose signature was verified but whose body is not a webhook event
    /// as an `inbox` dead letter, so that nothing Partner Center sent is lost: its payload is
    /// `{"raw_body": <text>}`, or `{"raw_body_base64": <base64>}` when the body is not UTF-8,
    /// and `why` (the parse error) is its error. Such a letter is never retried
    /// ([`retry_dead_letter`](Self::retry_dead_letter) refuses it): it is exported and
    /// discarded.
    ///
    /// ```no_run
    /// # async fn demo(sync: &cosell::sync::Synchronizer) -> cosell::Result<()> {
    /// let id = sync
    ///     .keep_unreadable_callback(b"{\"not\": \"an event\"}", "missing field `EventName`")
    ///     .await?;
    /// println!("kept as dead letter {}", id.0);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// The store's: the callback is then not kept, and should be refused so that Partner
    /// Center delivers it again.
    pub async fn keep_unreadable_callback(&self, body: &[u8], why: &str) -> Result<DeadLetterId> {
        use base64::Engine as _;
        let payload = match std::str::from_utf8(body) {
            Ok(text) => serde_json::json!({ "raw_body": text }),
            Err(_) => serde_json::json!({
                "raw_body_base64": base64::engine::general_purpose::STANDARD.encode(body)
            }),
        };
        let letter = DeadLetter {
            id: DeadLetterId(0),
            tenant: self.inner.tenant.clone(),
            records: Vec::new(),
            error: format!("a verified callback is not a webhook event: {why}"),
            kind: "inbox".into(),
            payload,
            attempts: 1,
            at: self.inner.clock.now(),
        };
        Ok(self.inner.store.add_dead_letter(letter).await?)
    }

    /// Takes a dead letter off the list without retrying it, and returns it (`None` when
    /// there is no such letter).
    ///
    /// # Errors
    /// The store's.
    pub async fn discard_dead_letter(&self, id: DeadLetterId) -> Result<Option<DeadLetter>> {
        Ok(self
            .inner
            .store
            .take_dead_letter(&self.inner.tenant, id)
            .await?)
    }

    /// Writes the oldest `limit` dead letters to `out` as JSON Lines (one [`DeadLetter`] a
    /// line, as its `Serialize` writes it) and answers how many; the letters stay on the list.
    ///
    /// ```
    /// # async fn export(sync: &cosell::sync::Synchronizer) -> cosell::Result<()> {
    /// let mut file = std::fs::File::create("dead-letters.jsonl")?;
    /// let written = sync.export_dead_letters(10_000, &mut file).await?;
    /// println!("{written} dead letters exported");
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// The store's, or [`Error::Io`] when `out` refuses a write (the letters written before it
    /// stay written).
    pub async fn export_dead_letters(&self, limit: usize, mut out: impl Write) -> Result<usize> {
        let letters = self.dead_letters(limit).await?;
        for letter in &letters {
            serde_json::to_writer(&mut out, letter).map_err(std::io::Error::from)?;
            out.write_all(b"\n")?;
        }
        out.flush()?;
        Ok(letters.len())
    }
}
