//! A sweep's pairs, batched. The linked pairs of one chunk are synced as pair syncs of their
//! own (each with its lock, its three-way diff, its retries), started in waves of one bulk
//! read: a wave's CRM reads wait here until every pair of the wave waits (or is done), then go
//! out as one bulk read ([`Crm::get_many`]), each answer going back to its pair.
//!
//! A pair whose one write is to the CRM ends its pass with that write decided (see the
//! engine's `Deferred`): the chunk keeps the write and what to store once it is made, not the
//! pass. Once every wave ran, the writes go out as batched conditional writes
//! ([`update_all`], [`Crm::update_many`]); a `412` sends its pair round again, a failure is
//! retried or dead-lettered for that pair alone. A pair that writes both sides waits here for
//! its CRM write with the rest of its wave instead.
//!
//! Partner Center has neither a bulk read by id nor a batch write, so its requests are not
//! collected: each goes out under the synchronizer's in-flight permits.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use super::crm::{Crm, CrmRecord, SyncColumns};
use super::ids::RecordId;
use crate::error::{Error, Result};
use crate::mapping::CrmWrite;
use crate::partner_center::Referral;

/// The referrals a sweep listed for its linked pairs, by id.
pub(super) type Listed = HashMap<String, ListedReferral>;

/// A listed referral, held as its JSON text until its pair takes it: a decoded `Referral` takes
/// about twice the room (2.3 KB inline, and an allocation per text), and a large sweep holds
/// every referral that changed.
pub(super) struct ListedReferral(Box<str>);

impl ListedReferral {
    /// The referral's JSON, or `None` if it cannot be written (then its pair reads it).
    pub(super) fn new(referral: &Referral) -> Option<Self> {
        serde_json::to_string(referral)
            .ok()
            .map(|text| ListedReferral(text.into_boxed_str()))
    }

    pub(super) fn decode(&self) -> Option<Box<Referral>> {
        serde_json::from_str(&self.0).ok()
    }
}

tokio::task_local! {
    /// The chunk a pair sync belongs to, when a sweep runs it batched.
    pub(super) static CHUNK: Arc<Chunk>;
}

/// What a waiting request gets back.
enum Answer<T> {
    /// The batched request's answer for it.
    Done(Result<T>),
    /// The batched request failed as a whole in a way its errors cannot be shared: the pair
    /// sends its own request.
    Alone,
}

type Reply<T> = oneshot::Sender<Answer<T>>;

#[derive(Default)]
struct Waiting {
    /// Pair syncs of the chunk not finished yet.
    active: usize,
    reads: Vec<(String, Reply<Option<CrmRecord>>)>,
    writes: Vec<(CrmRecord, CrmWrite, Reply<()>)>,
}

impl Waiting {
    fn all_waiting(&self) -> bool {
        let waiting = self.reads.len() + self.writes.len();
        waiting > 0 && waiting >= self.active
    }
}

/// The shared state of one wave of a sweep's chunk.
pub(super) struct Chunk {
    crm: Arc<dyn Crm>,
    columns: SyncColumns,
    waiting: Mutex<Waiting>,
    /// The referrals as the sweep listed them, taken once by their pair's first read.
    listed: Mutex<Listed>,
}

impl Chunk {
    /// A chunk of `pairs` pair syncs against `crm`.
    pub(super) fn new(
        crm: Arc<dyn Crm>,
        columns: SyncColumns,
        pairs: usize,
        listed: Listed,
    ) -> Self {
        Chunk {
            crm,
            columns,
            waiting: Mutex::new(Waiting {
                active: pairs,
                ..Waiting::default()
            }),
            listed: Mutex::new(listed),
        }
    }

    /// The referral as listed (its text), once.
    pub(super) fn take_listed(&self, id: &str) -> Option<ListedReferral> {
        crate::http::lock(&self.listed).remove(id)
    }

    /// Reads the record with the others of the chunk.
    pub(super) async fn get(&self, id: &str) -> Result<Option<CrmRecord>> {
        let (reply, answer) = oneshot::channel();
        crate::http::lock(&self.waiting)
            .reads
            .push((id.to_owned(), reply));
        self.flush_if_all_wait().await;
        match answer.await {
            Ok(Answer::Done(result)) => result,
            _ => self.crm.get(id, &self.columns).await,
        }
    }

    /// Writes the record with the others of the chunk.
    pub(super) async fn update(&self, record: &CrmRecord, write: &CrmWrite) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        // A write needs the record's id and version, not the body it was read with.
        let target = CrmRecord {
            id: record.id.clone(),
            body: serde_json::Value::Null,
            version: record.version.clone(),
            modified: record.modified,
        };
        crate::http::lock(&self.waiting)
            .writes
            .push((target, write.clone(), reply));
        self.flush_if_all_wait().await;
        match answer.await {
            Ok(Answer::Done(result)) => result,
            _ => self.crm.update(record, write).await,
        }
    }

    /// A pair sync of the chunk finished.
    pub(super) async fn leave(&self) {
        {
            let mut waiting = crate::http::lock(&self.waiting);
            waiting.active = waiting.active.saturating_sub(1);
        }
        self.flush_if_all_wait().await;
    }

    /// Once every unfinished pair sync waits here, sends what they wait for. The one that
    /// completes the set sends, so no task is spawned and nothing is sent twice.
    async fn flush_if_all_wait(&self) {
        let (reads, writes) = {
            let mut waiting = crate::http::lock(&self.waiting);
            if !waiting.all_waiting() {
                return;
            }
            (
                std::mem::take(&mut waiting.reads),
                std::mem::take(&mut waiting.writes),
            )
        };
        self.send_reads(reads).await;
        self.send_writes(writes).await;
    }

    async fn send_reads(&self, reads: Vec<(String, Reply<Option<CrmRecord>>)>) {
        if reads.is_empty() {
            return;
        }
        let mut ids: Vec<String> = reads.iter().map(|(id, _)| id.clone()).collect();
        ids.sort();
        ids.dedup();
        match self.crm.get_many(&ids, &self.columns).await {
            Ok(records) => {
                let mut by_id: HashMap<RecordId, CrmRecord> = records
                    .into_iter()
                    .map(|record| (RecordId::new(&record.id), record))
                    .collect();
                // Each record is handed over, not copied (a wave's records would be held twice),
                // except to a read whose record another read of the wave still waits for.
                let mut readers: HashMap<RecordId, usize> = HashMap::new();
                for (id, _) in &reads {
                    *readers.entry(RecordId::new(id)).or_default() += 1;
                }
                for (id, reply) in reads {
                    let key = RecordId::new(&id);
                    let left = readers.get_mut(&key).map_or(0, |left| {
                        *left -= 1;
                        *left
                    });
                    let record = if left == 0 {
                        by_id.remove(&key)
                    } else {
                        by_id.get(&key).cloned()
                    };
                    let _ = reply.send(Answer::Done(Ok(record)));
                }
            }
            Err(error) => share(&error, reads.into_iter().map(|(_, reply)| reply)),
        }
    }

    async fn send_writes(&self, writes: Vec<(CrmRecord, CrmWrite, Reply<()>)>) {
        let (updates, replies): (Vec<_>, Vec<_>) = writes
            .into_iter()
            .map(|(record, write, reply)| ((record, write), reply))
            .unzip();
        let results = update_all(&*self.crm, &updates, |write| Ok(write.clone())).await;
        for (result, reply) in results.into_iter().zip(replies) {
            let _ = reply.send(Answer::Done(result));
        }
    }
}

/// Makes every update in batches of the CRM's limit, each still conditional on its record's
/// version: one result per update, in order. Each write is held as the caller keeps it (`W`)
/// and made a [`CrmWrite`] by `write` as its batch is sent, then handed to the batch to be let
/// go once encoded; a write that cannot be made fails on its own. A batch refused as a whole
/// gives each of its updates the service's refusal (its status and code, so a rate limit or
/// an exhausted allowance is seen as such); a batch whose outcome is unknown, or an update it
/// left unanswered, is sent again an update at a time, each conditional as before.
pub(super) async fn update_all<W>(
    crm: &dyn Crm,
    updates: &[(CrmRecord, W)],
    write: impl Fn(&W) -> Result<CrmWrite>,
) -> Vec<Result<()>> {
    let limit = crm.write_batch_limit().max(1);
    let mut results = Vec::with_capacity(updates.len());
    for batch in updates.chunks(limit) {
        // `None` for a write in the request, `Some` for one that could not be made.
        let mut unsent = Vec::with_capacity(batch.len());
        let mut sent = Vec::with_capacity(batch.len());
        for (record, held) in batch {
            match write(held) {
                Ok(made) => {
                    sent.push((record.clone(), made));
                    unsent.push(None);
                }
                Err(error) => unsent.push(Some(Err(error))),
            }
        }
        let count = sent.len();
        let answers: Vec<Option<Result<()>>> = match crm.update_many(sent).await {
            Ok(answers) if answers.len() == count => answers,
            Err(Error::Api(api)) => (0..count)
                .map(|_| Some(Err(Error::Api(api.clone()))))
                .collect(),
            Ok(_) | Err(_) => (0..count).map(|_| None).collect(),
        };
        let mut answers = answers.into_iter();
        for ((record, held), unsent) in batch.iter().zip(unsent) {
            let result = match unsent {
                Some(failed) => failed,
                None => match answers.next().flatten() {
                    Some(answered) => answered,
                    None => match write(held) {
                        Ok(made) => crm.update(record, &made).await,
                        Err(error) => Err(error),
                    },
                },
            };
            results.push(result);
        }
    }
    results
}

/// Gives each waiting read the failure of the whole bulk read: a service's refusal (its
/// status and code, so a rate limit or an exhausted allowance is seen as such), or — for
/// failures that cannot be shared — a read of its own.
fn share<T>(error: &Error, replies: impl IntoIterator<Item = Reply<T>>) {
    for reply in replies {
        let answer = match error {
            Error::Api(api) => Answer::Done(Err(Error::Api(api.clone()))),
            _ => Answer::Alone,
        };
        let _ = reply.send(answer);
    }
}
