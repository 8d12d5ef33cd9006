//! Reading a callback's body before verifying it: bounded in size and in time.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};

use super::WebhookError;

/// Reads a callback's body from the receiver's HTTP server: at most `limit` bytes, all of them
/// within `within`. A receiver exposed to the internet reads through this before verifying, so
/// neither an endless body nor a sender trickling a byte at a time holds it.
///
/// ```
/// use std::time::Duration;
/// use bytes::Bytes;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let chunks = futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(b"{\"EventName\":"))]);
/// let body = cosell::webhook::read_body(chunks, 1 << 20, Duration::from_secs(10)).await?;
/// assert_eq!(&body[..], b"{\"EventName\":");
/// # Ok::<(), cosell::webhook::WebhookError>(())
/// # }).unwrap();
/// ```
///
/// # Errors
/// [`WebhookError::BodyTooLarge`] past `limit` (reading stops there),
/// [`WebhookError::BodyTooSlow`] past `within`, [`WebhookError::BodyUnreadable`] when the
/// stream fails.
pub async fn read_body<S, E>(body: S, limit: usize, within: Duration) -> Result<Bytes, WebhookError>
where
    S: Stream<Item = Result<Bytes, E>>,
    E: std::fmt::Display,
{
    let read = async {
        let mut body = std::pin::pin!(body);
        let mut buffer = BytesMut::new();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| WebhookError::BodyUnreadable(e.to_string()))?;
            if buffer.len() + chunk.len() > limit {
                return Err(WebhookError::BodyTooLarge {
                    limit,
                    actual: buffer.len() + chunk.len(),
                });
            }
            buffer.extend_from_slice(&chunk);
        }
        Ok(buffer.freeze())
    };
    tokio::time::timeout(within, read)
        .await
        .unwrap_or(Err(WebhookError::BodyTooSlow { within }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(bytes: &'static [u8]) -> Result<Bytes, std::io::Error> {
        Ok(Bytes::from_static(bytes))
    }

    #[tokio::test(start_paused = true)]
    async fn a_sender_trickling_its_body_is_cut_off_at_the_deadline() {
        // One byte, then nothing more: the paused clock jumps to the deadline.
        let trickle = futures::stream::iter([chunk(b"{")]).chain(futures::stream::pending());
        let started = tokio::time::Instant::now();
        let error = read_body(trickle, 1024, Duration::from_secs(10))
            .await
            .unwrap_err();
        assert_eq!(
            error,
            WebhookError::BodyTooSlow {
                within: Duration::from_secs(10)
            }
        );
        assert_eq!(started.elapsed(), Duration::from_secs(10));
    }

    #[tokio::test]
    async fn a_body_past_the_limit_stops_the_read() {
        let endless = futures::stream::repeat_with(|| chunk(&[b'x'; 1024]));
        let error = read_body(endless, 64 * 1024, Duration::from_secs(10))
            .await
            .unwrap_err();
        assert!(
            matches!(error, WebhookError::BodyTooLarge { limit: 65536, .. }),
            "{error}"
        );
    }

    #[tokio::test]
    async fn a_broken_stream_is_unreadable_and_a_whole_body_is_returned() {
        let broken = futures::stream::iter([chunk(b"ab"), Err(std::io::Error::other("reset"))]);
        let error = read_body(broken, 1024, Duration::from_secs(1))
            .await
            .unwrap_err();
        assert!(matches!(error, WebhookError::BodyUnreadable(_)), "{error}");
        let whole = futures::stream::iter([chunk(b"ab"), chunk(b"cd")]);
        assert_eq!(
            &read_body(whole, 4, Duration::from_secs(1)).await.unwrap()[..],
            b"abcd"
        );
    }
}
