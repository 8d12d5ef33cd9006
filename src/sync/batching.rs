//! A sweep's pairs, batched: the linked pairs of one chunk are synced side by side, each as a
//! pair sync of its own (its lock, its three-way diff, its retries), while their CRM reads and
//! writes wait here. Once every pair of the chunk is waiting (or done), the reads go out as one
//! bulk read ([`Crm::get_many`]) and the writes as batched conditional writes
//! ([`Crm::update_many`]); each answer goes back to its pair, which carries on exactly as after
//! a request of its own: a `412` re-reads and decides again, a failure is retried or
//! dead-lettered for that pair alone.
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

/// The referrals a sweep listed for its linked pairs, by id; boxed, as a `Referral` is 2.3 KB
/// inline and a map holds room for more entries than it has.
pub(super) type Listed = HashMap<String, Box<Referral>>;

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

/// The shared state of one chunk of a sweep.
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

    /// The referral as listed, once.
    pub(super) fn take_listed(&self, id: &str) -> Option<Referral> {
        crate::http::lock(&self.listed)
            .remove(id)
            .map(|referral| *referral)
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
                let by_id: HashMap<RecordId, CrmRecord> = records
                    .into_iter()
                    .map(|record| (RecordId::new(&record.id), record))
                    .collect();
                for (id, reply) in reads {
                    let key = RecordId::new(&id);
                    let _ = reply.send(Answer::Done(Ok(by_id.get(&key).cloned())));
                }
            }
            Err(error) => share(Some(&error), reads.into_iter().map(|(_, reply)| reply)),
        }
    }

    async fn send_writes(&self, writes: Vec<(CrmRecord, CrmWrite, Reply<()>)>) {
        let limit = self.crm.write_batch_limit().max(1);
        let mut writes = writes.into_iter().peekable();
        while writes.peek().is_some() {
            let (batch, replies): (Vec<(CrmRecord, CrmWrite)>, Vec<Reply<()>>) = writes
                .by_ref()
                .take(limit)
                .map(|(record, write, reply)| ((record, write), reply))
                .unzip();
            match self.crm.update_many(&batch).await {
                Ok(results) if results.len() == batch.len() => {
                    for (result, reply) in results.into_iter().zip(replies) {
                        let _ = reply.send(Answer::Done(result));
                    }
                }
                // An implementation that answered for some writes only: each goes on its own.
                Ok(_) => share(None, replies),
                Err(error) => share(Some(&error), replies),
            }
        }
    }
}

/// Gives each waiting request the failure of the whole batched request: a service's refusal
/// (its status and code, so a rate limit or an exhausted allowance is seen as such), or — for
/// failures that cannot be shared, where the outcome may be unknown — a request of its own.
fn share<T>(error: Option<&Error>, replies: impl IntoIterator<Item = Reply<T>>) {
    for reply in replies {
        let answer = match error {
            Some(Error::Api(api)) => Answer::Done(Err(Error::Api(api.clone()))),
            _ => Answer::Alone,
        };
        let _ = reply.send(answer);
    }
}
