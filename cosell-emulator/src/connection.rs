//! The emulator's connections: HTTP and HTTPS on one port, and answers a request can cut.
//!
//! Every port serves both: a connection whose first byte opens a TLS handshake is served over
//! TLS with the certificate generated at start, any other as plain HTTP. Handshakes run on
//! their own tasks so that a slow client never holds up the others.
//!
//! Every connection carries a switch: a handler that throws it makes the connection's next
//! write fail, so the server closes the connection without sending one byte of the answer.
//! That is how "the write was applied but the answer was lost" looks to a client, over HTTP and
//! HTTPS alike (the cut is below HTTP, above TLS).

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// The first byte of a TLS handshake record.
const TLS_HANDSHAKE: u8 = 0x16;

/// Connections accepted and, for HTTPS, through their handshake.
pub(crate) struct CuttableListener {
    ready: mpsc::Receiver<(CuttableStream, SocketAddr)>,
    local: SocketAddr,
}

enum Io {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// One accepted connection and its switch.
pub(crate) struct CuttableStream {
    inner: Io,
    cut: Arc<AtomicBool>,
}

/// What a handler knows of its connection: whether it is TLS, and the switch that cuts it.
#[derive(Clone, Debug)]
pub(crate) struct ConnectionInfo {
    cut: Arc<AtomicBool>,
    pub(crate) secure: bool,
}

impl ConnectionInfo {
    /// Closes the connection before the answer's first byte.
    pub(crate) fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
    }
}

/// Accepts on `tcp` in the background; the task ends when the listener is dropped and a
/// connection arrives, or when it is aborted.
pub(crate) fn listen(
    tcp: TcpListener,
    tls: TlsAcceptor,
) -> io::Result<(CuttableListener, JoinHandle<()>)> {
    let local = tcp.local_addr()?;
    let (sender, ready) = mpsc::channel(64);
    let task = tokio::spawn(async move {
        loop {
            let (stream, addr) = match tcp.accept().await {
                Ok(accepted) => accepted,
                // Out of file descriptors and the like: wait a little and accept again.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                }
            };
            if sender.is_closed() {
                return;
            }
            let (sender, tls) = (sender.clone(), tls.clone());
            tokio::spawn(async move {
                let mut first = [0u8; 1];
                let inner = match stream.peek(&mut first).await {
                    Ok(1) if first[0] == TLS_HANDSHAKE => match tls.accept(stream).await {
                        Ok(stream) => Io::Tls(Box::new(stream)),
                        Err(_) => return,
                    },
                    _ => Io::Plain(stream),
                };
                let stream = CuttableStream {
                    inner,
                    cut: Arc::new(AtomicBool::new(false)),
                };
                // The server is gone when this fails: the connection just closes.
                let _ = sender.send((stream, addr)).await;
            });
        }
    });
    Ok((CuttableListener { ready, local }, task))
}

impl Listener for CuttableListener {
    type Io = CuttableStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(ready) => ready,
            // The acceptor is gone only when the emulator stops: wait to be aborted too.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}

impl Connected<IncomingStream<'_, CuttableListener>> for ConnectionInfo {
    fn connect_info(stream: IncomingStream<'_, CuttableListener>) -> Self {
        let io = stream.io();
        ConnectionInfo {
            cut: io.cut.clone(),
            secure: matches!(io.inner, Io::Tls(_)),
        }
    }
}

impl AsyncRead for CuttableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.inner {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for CuttableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.cut.load(Ordering::SeqCst) {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "emulated loss of the answer",
            )));
        }
        match &mut self.inner {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.inner {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.inner {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
