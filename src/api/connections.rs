//! Serving HTTP/1.1 connections with bounds, for both HTTP ports: at most
//! `max_connections` at once, a deadline on every request head, and an idle timeout.
//!
//! axum's own `serve` holds a connection for as long as the client keeps it open: one that
//! never finishes its request head, or never sends one, is held forever. [`serve`] runs each
//! connection with hyper's HTTP/1.1 server and three rules, as Go's `ReadHeaderTimeout` and
//! `IdleTimeout` do:
//!
//! - **a request head has [`HEADER_TIMEOUT`] (10 s) from its first byte** to arrive whole;
//! - **a connection with nothing to do is closed after `idle_timeout`** (60 s by default):
//!   between requests (keep-alive), and whenever a read or write makes no progress that long;
//! - **at most `max_connections` are served at once**; past that, new connections wait in the
//!   kernel's queue until one closes (as Go's `LimitListener`).
//!
//! hyper measures its header-read timeout from the moment it starts waiting for a head, which on
//! a keep-alive connection is also the idle time between requests. So its timer is given
//! [`HeadTimer`], which waits for the head's first byte (seen by [`Watched`], the connection
//! wrapper) and only then allows the head [`HEADER_TIMEOUT`]; before it, the idle timeout runs.
//!
//! When the token is cancelled, the accept loop stops and every connection finishes the request
//! in flight and closes (idle ones at once).
//!
//! The KEDA gRPC port (HTTP/2, served by tonic) takes its connections as a stream: [`limited`]
//! accepts them within the same connection limit and idle timeout ([`Limited`]); tonic's own
//! HTTP/2 keep-alive pings keep a live but quiet connection (a KEDA stream waiting for a change)
//! busy, so only a peer that stopped answering goes idle.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// How long a request head may take to arrive, from its first byte.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// The bounds of one HTTP port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionSettings {
    /// The most connections served at once.
    pub max_connections: usize,
    /// How long a connection may sit without progress (between requests, or in a stalled
    /// read or write) before it is closed.
    pub idle_timeout: Duration,
}

/// Connections served at once unless configured otherwise: below the 1,024 open files many
/// systems allow a process by default, leaving room for the store's and the clients' own.
pub const DEFAULT_MAX_CONNECTIONS: usize = 768;
/// The idle timeout unless configured otherwise.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

impl Default for ConnectionSettings {
    fn default() -> Self {
        ConnectionSettings {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
        }
    }
}

/// Serves `router` on the connections `listener` accepts, within `settings`, until `token` is
/// cancelled; the connections run on `tasks`. Each request carries its connection's address
/// as [`ConnectInfo`]`<L::Addr>`. `what` names the port in logs.
pub async fn serve<L>(
    mut listener: L,
    router: Router,
    settings: ConnectionSettings,
    what: &'static str,
    token: CancellationToken,
    tasks: TaskTracker,
) where
    L: axum::serve::Listener,
    L::Addr: Clone + Send + Sync + 'static,
{
    let permits = Arc::new(Semaphore::new(settings.max_connections));
    loop {
        let Some(permit) = slot(&permits, settings, what, &token).await else {
            return;
        };
        let (io, address) = tokio::select! {
            biased;
            () = token.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let router = router.clone();
        let token = token.clone();
        tasks.spawn(async move {
            serve_connection(io, address, router, settings, token).await;
            drop(permit);
        });
    }
}

/// A place under the connection limit: at once, or (saying so) once a connection closes;
/// `None` when `token` is cancelled first.
async fn slot(
    permits: &Arc<Semaphore>,
    settings: ConnectionSettings,
    what: &'static str,
    token: &CancellationToken,
) -> Option<OwnedSemaphorePermit> {
    if let Ok(permit) = permits.clone().try_acquire_owned() {
        return Some(permit);
    }
    tracing::warn!(
        port = what,
        limit = settings.max_connections,
        "connection limit reached: new connections wait until one closes"
    );
    tokio::select! {
        biased;
        () = token.cancelled() => None,
        permit = permits.clone().acquire_owned() => permit.ok(),
    }
}

async fn serve_connection<I, A>(
    io: I,
    address: A,
    router: Router,
    settings: ConnectionSettings,
    token: CancellationToken,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    A: Clone + Send + Sync + 'static,
{
    let activity = Arc::new(Activity::default());
    let io = TokioIo::new(Watched::new(io, activity.clone(), settings.idle_timeout));
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let mut request = request.map(Body::new);
        request
            .extensions_mut()
            .insert(ConnectInfo(address.clone()));
        router.clone().oneshot(request)
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(HeadTimer {
            activity,
            idle_timeout: settings.idle_timeout,
        })
        .header_read_timeout(HEADER_TIMEOUT);
    let connection = builder.serve_connection(io, service);
    tokio::pin!(connection);
    let served = tokio::select! {
        served = connection.as_mut() => served,
        () = token.cancelled() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = served {
        tracing::debug!(%error, "connection closed with an error");
    }
}

/// What the connection wrapper tells the head timer: when the head being waited for got its
/// first byte.
#[derive(Debug, Default)]
struct Activity {
    /// `None` from the moment hyper starts waiting for a head until a byte arrives.
    first_byte: Mutex<Option<Instant>>,
}

impl Activity {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.first_byte
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// A new head is awaited.
    fn arm(&self) {
        *self.lock() = None;
    }

    /// Bytes arrived.
    fn bytes_read(&self) {
        self.lock().get_or_insert_with(Instant::now);
    }

    fn first_byte(&self) -> Option<Instant> {
        *self.lock()
    }
}

/// hyper's timer for its header-read timeout (the only use hyper's HTTP/1 server makes of it):
/// its sleep ends [`HEADER_TIMEOUT`] after the head's first byte, or `idle_timeout` after it
/// started when no byte comes.
struct HeadTimer {
    activity: Arc<Activity>,
    idle_timeout: Duration,
}

impl hyper::rt::Timer for HeadTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(PlainSleep(Box::pin(tokio::time::sleep(duration))))
    }

    fn sleep_until(&self, _deadline: std::time::Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        self.activity.arm();
        let started = Instant::now();
        Box::pin(HeadSleep {
            activity: self.activity.clone(),
            idle_deadline: started + self.idle_timeout,
            sleep: Box::pin(tokio::time::sleep_until(started + self.idle_timeout)),
        })
    }
}

/// A plain sleep, for any other use hyper might make of the timer.
struct PlainSleep(Pin<Box<Sleep>>);

impl Future for PlainSleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx)
    }
}

impl hyper::rt::Sleep for PlainSleep {}

/// The header-read deadline (see [`HeadTimer`]). hyper polls it again whenever bytes of the
/// head arrive without completing it, so the deadline moves to the first byte's then.
struct HeadSleep {
    activity: Arc<Activity>,
    idle_deadline: Instant,
    sleep: Pin<Box<Sleep>>,
}

impl Future for HeadSleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let deadline = match self.activity.first_byte() {
            Some(first) => first + HEADER_TIMEOUT,
            None => self.idle_deadline,
        };
        if self.sleep.deadline() != deadline {
            self.sleep.as_mut().reset(deadline);
        }
        self.sleep.as_mut().poll(cx)
    }
}

impl hyper::rt::Sleep for HeadSleep {}

/// A connection that reports the bytes it reads to [`Activity`] and fails a read or write that
/// makes no progress for `idle_timeout` (so hyper closes the connection).
struct Watched<I> {
    inner: I,
    activity: Arc<Activity>,
    idle_timeout: Duration,
    idle: Pin<Box<Sleep>>,
}

impl<I> Watched<I> {
    fn new(inner: I, activity: Arc<Activity>, idle_timeout: Duration) -> Watched<I> {
        Watched {
            inner,
            activity,
            idle_timeout,
            idle: Box::pin(tokio::time::sleep(idle_timeout)),
        }
    }

    fn progressed(&mut self) {
        let deadline = Instant::now() + self.idle_timeout;
        self.idle.as_mut().reset(deadline);
    }

    /// `Pending`, or the idle timeout's error once it has passed.
    fn stalled<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        match self.idle.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "no progress within the idle timeout",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Watched<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    self.activity.bytes_read();
                    self.progressed();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => self.stalled(cx),
        }
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Watched<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, data) {
            Poll::Ready(Ok(written)) => {
                if written > 0 {
                    self.progressed();
                }
                Poll::Ready(Ok(written))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => self.stalled(cx),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.inner).poll_flush(cx) {
            Poll::Pending => self.stalled(cx),
            done => done,
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A TCP connection accepted within a port's limits (see [`limited`]): it holds its place in the
/// connection limit until dropped, and fails a read or write that makes no progress for the
/// idle timeout.
pub struct Limited {
    io: Watched<TcpStream>,
    remote: std::net::SocketAddr,
    _slot: OwnedSemaphorePermit,
}

impl Limited {
    /// The peer's address.
    pub fn remote(&self) -> std::net::SocketAddr {
        self.remote
    }
}

/// Accepts connections on `listener` within `settings` until `token` is cancelled, as a stream
/// for servers that take one (tonic); the accept loop runs on `tasks`.
pub fn limited(
    listener: TcpListener,
    settings: ConnectionSettings,
    what: &'static str,
    token: CancellationToken,
    tasks: &TaskTracker,
) -> tokio_stream::wrappers::ReceiverStream<io::Result<Limited>> {
    let (send, receive) = mpsc::channel(16);
    let permits = Arc::new(Semaphore::new(settings.max_connections));
    tasks.spawn(async move {
        loop {
            let Some(slot) = slot(&permits, settings, what, &token).await else {
                return;
            };
            let accepted = tokio::select! {
                biased;
                () = token.cancelled() => return,
                accepted = listener.accept() => accepted,
            };
            let (stream, remote) = match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: back off rather than spin.
                    tracing::warn!(port = what, %error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let io = Watched::new(stream, Arc::default(), settings.idle_timeout);
            let connection = Limited {
                io,
                remote,
                _slot: slot,
            };
            if send.send(Ok(connection)).await.is_err() {
                return;
            }
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(receive)
}

impl AsyncRead for Limited {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Limited {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
