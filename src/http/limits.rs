//! How much of an answer the pipeline reads: bounded, so a huge or endless body cannot fill the
//! memory.

use bytes::{Bytes, BytesMut};

/// What a request's answer holds, which decides how large it may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum AnswerKind {
    /// One record, or a small document (the default).
    #[default]
    Record,
    /// A page of a listing, a `$batch` answer, metadata: many records at once.
    Listing,
}

/// The largest answers the pipeline reads, in bytes.
///
/// A success answer larger than its limit fails with [`Error::AnswerTooLarge`]
/// (the declared `Content-Length` is checked first; a body without one is read only up to the
/// limit). An error answer is read only up to [`error`](Self::error) bytes: enough for the API's
/// error code and the excerpt the error keeps.
///
/// | Answer | Default | Sized for |
/// |---|---|---|
/// | [`AnswerKind::Record`] | 8 MiB | one record with its expanded relations |
/// | [`AnswerKind::Listing`] | 64 MiB | a 5,000-row Dataverse page, a 1,000-part `$batch` answer |
/// | an error body | 64 KiB | the error code, message and a bounded excerpt |
///
/// Webhook callbacks are not read by the pipeline: the webhook verifier has its own body limit.
///
/// ```
/// use cosell::http::{AnswerKind, AnswerLimits, ClientOptions};
///
/// let limits = AnswerLimits::default().listing(16 * 1024 * 1024);
/// assert_eq!(limits.for_kind(AnswerKind::Listing), 16 * 1024 * 1024);
/// let options = ClientOptions::default().answer_limits(limits);
/// # let _ = options;
/// ```
///
/// [`Error::AnswerTooLarge`]: crate::Error::AnswerTooLarge
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnswerLimits {
    record: u64,
    listing: u64,
    error: u64,
}

const MIB: u64 = 1024 * 1024;

impl Default for AnswerLimits {
    fn default() -> Self {
        AnswerLimits {
            record: 8 * MIB,
            listing: 64 * MIB,
            error: 64 * 1024,
        }
    }
}

impl AnswerLimits {
    /// The limit of a record answer.
    pub fn record(mut self, bytes: u64) -> Self {
        self.record = bytes;
        self
    }

    /// The limit of a listing page, a `$batch` answer or metadata.
    pub fn listing(mut self, bytes: u64) -> Self {
        self.listing = bytes;
        self
    }

    /// How much of an error answer is read.
    pub fn error(mut self, bytes: u64) -> Self {
        self.error = bytes;
        self
    }

    /// The limit of a success answer of `kind`.
    pub fn for_kind(&self, kind: AnswerKind) -> u64 {
        match kind {
            AnswerKind::Record => self.record,
            AnswerKind::Listing => self.listing,
        }
    }

    /// How much of an error answer is read.
    pub fn error_limit(&self) -> u64 {
        self.error
    }
}

/// How the reading of a body ended.
pub(crate) enum BodyEnd {
    /// The whole body arrived.
    Whole,
    /// The body went on past the limit and was cut there.
    Cut,
    /// The connection broke before the body ended.
    Broken(reqwest::Error),
}

/// Reads `response`'s body, stopping at `limit` bytes; answers what arrived and how it ended.
pub(crate) async fn read_capped(mut response: reqwest::Response, limit: u64) -> (Bytes, BodyEnd) {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    // A declared length only sizes the first allocation, never beyond the limit or 1 MiB: the
    // declaration may be false.
    let expected = response
        .content_length()
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(0);
    let mut body = BytesMut::with_capacity(expected.min(limit).min(1024 * 1024));
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = limit - body.len();
                if chunk.len() > room {
                    body.extend_from_slice(&chunk[..room]);
                    return (body.freeze(), BodyEnd::Cut);
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return (body.freeze(), BodyEnd::Whole),
            Err(e) => return (body.freeze(), BodyEnd::Broken(e)),
        }
    }
}
