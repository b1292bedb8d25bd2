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
//! a keep-alive connection is also the idle time between requests. So hyper's timer is given
//! [`HeadTimer`], which only marks when a head is awaited; [`Watched`], the connection wrapper,
//! notes the head's first byte and only then allows the head [`HEADER_TIMEOUT`]; before it, the
//! idle timeout runs.
//!
//! Both deadlines cost little per request: a read or write that makes progress only records the
//! time, and each connection has one timer, polled only when a read or write would wait and
//! moved only when it fires early (there was progress since) or a head's deadline comes first.
//! The requests carry their connection's address as `ConnectInfo` only on a port that asks for
//! it ([`serve_with_connect_info`]).
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
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
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
/// cancelled; the connections run on `tasks`. `what` names the port in logs. The requests do
/// not carry their connection's address (see [`serve_with_connect_info`]).
pub async fn serve<L>(
    listener: L,
    router: Router,
    settings: ConnectionSettings,
    what: &'static str,
    token: CancellationToken,
    tasks: TaskTracker,
) where
    L: axum::serve::Listener,
    L::Addr: Clone + Send + Sync + 'static,
{
    serve_addressed(listener, router, settings, what, token, tasks, false).await;
}

/// [`serve`], each request carrying its connection's address as [`ConnectInfo`]`<L::Addr>`
/// (an extension inserted into every request, so only for routers that read it).
pub async fn serve_with_connect_info<L>(
    listener: L,
    router: Router,
    settings: ConnectionSettings,
    what: &'static str,
    token: CancellationToken,
    tasks: TaskTracker,
) where
    L: axum::serve::Listener,
    L::Addr: Clone + Send + Sync + 'static,
{
    serve_addressed(listener, router, settings, what, token, tasks, true).await;
}

async fn serve_addressed<L>(
    mut listener: L,
    router: Router,
    settings: ConnectionSettings,
    what: &'static str,
    token: CancellationToken,
    tasks: TaskTracker,
    connect_info: bool,
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
        let address = connect_info.then_some(address);
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
    address: Option<A>,
    router: Router,
    settings: ConnectionSettings,
    token: CancellationToken,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    A: Clone + Send + Sync + 'static,
{
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched::new(io, activity.clone(), settings.idle_timeout));
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let mut request = request.map(Body::new);
        if let Some(address) = &address {
            request
                .extensions_mut()
                .insert(ConnectInfo(address.clone()));
        }
        router.clone().oneshot(request)
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(HeadTimer { activity })
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

/// What the head timer and the connection wrapper share: whether hyper is waiting for a
/// request head and, if so, when its first byte arrived. One atomic word, so that the wrapper's
/// check on every read is a load.
#[derive(Debug)]
struct Activity {
    /// The clock [`Activity::head`] counts from: the connection's start.
    base: Instant,
    /// [`NOT_AWAITING`], [`AWAITING`] (no byte of the head yet), or the head's first byte in
    /// nanoseconds since `base`.
    head: AtomicU64,
}

/// [`Activity::head`] when no head is awaited (a request or response in flight).
const NOT_AWAITING: u64 = u64::MAX;
/// [`Activity::head`] from the moment hyper starts waiting for a head until a byte arrives.
const AWAITING: u64 = u64::MAX - 1;

impl Activity {
    fn new() -> Activity {
        Activity {
            base: Instant::now(),
            head: AtomicU64::new(NOT_AWAITING),
        }
    }

    /// A new head is awaited.
    fn arm(&self) {
        self.head.store(AWAITING, Ordering::Relaxed);
    }

    /// The awaited head arrived whole (or the connection is done with it).
    fn disarm(&self) {
        self.head.store(NOT_AWAITING, Ordering::Relaxed);
    }

    /// Bytes arrived at `now`: the awaited head's first, if it had none yet.
    fn bytes_read(&self, now: Instant) {
        if self.head.load(Ordering::Relaxed) == AWAITING {
            let since = now.saturating_duration_since(self.base).as_nanos();
            let since = u64::try_from(since)
                .unwrap_or(AWAITING - 1)
                .min(AWAITING - 1);
            self.head.store(since, Ordering::Relaxed);
        }
    }

    /// When the awaited head must be whole: [`HEADER_TIMEOUT`] after its first byte; `None`
    /// when no head is awaited or none of it has arrived (then the idle timeout runs).
    fn head_deadline(&self) -> Option<Instant> {
        match self.head.load(Ordering::Relaxed) {
            NOT_AWAITING | AWAITING => None,
            first => Some(self.base + Duration::from_nanos(first) + HEADER_TIMEOUT),
        }
    }
}

/// hyper's timer for its header-read timeout (the only use hyper's HTTP/1 server makes of it),
/// used as the signal that a head is awaited: [`HeadTimer::sleep_until`] (called each time
/// hyper starts waiting for a head) arms [`Activity`], and dropping the [`HeadSleep`] it returns
/// (hyper does once the head is parsed) disarms it. The deadline itself is kept by the
/// connection's one timer in [`Watched`].
struct HeadTimer {
    activity: Arc<Activity>,
}

impl hyper::rt::Timer for HeadTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(PlainSleep(Box::pin(tokio::time::sleep(duration))))
    }

    fn sleep_until(&self, _deadline: std::time::Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        self.activity.arm();
        Box::pin(HeadSleep {
            activity: self.activity.clone(),
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

/// The header-read deadline (see [`HeadTimer`]): ready once [`HEADER_TIMEOUT`] has passed since
/// the head's first byte. It registers no waker of its own: hyper polls it only after a read of
/// the head came back pending, and that read armed [`Watched`]'s timer for the same deadline
/// (which, when it passes, fails the read itself).
struct HeadSleep {
    activity: Arc<Activity>,
}

impl Future for HeadSleep {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        match self.activity.head_deadline() {
            Some(deadline) if Instant::now() >= deadline => Poll::Ready(()),
            _ => Poll::Pending,
        }
    }
}

impl Drop for HeadSleep {
    fn drop(&mut self) {
        self.activity.disarm();
    }
}

impl hyper::rt::Sleep for HeadSleep {}

/// A connection that fails a read or write that makes no progress for `idle_timeout`, and a
/// read while a request head is still incomplete [`HEADER_TIMEOUT`] after its first byte (so
/// hyper closes the connection); it reports the bytes it reads to [`Activity`].
///
/// Progress only records the time (`last_progress`); the connection's one timer (`timer`) is
/// polled only when a read or write would wait, and is moved only when it fires before the
/// deadline (progress since it was set) or when a head's deadline comes before it.
struct Watched<I> {
    inner: I,
    activity: Arc<Activity>,
    idle_timeout: Duration,
    last_progress: Instant,
    timer: Pin<Box<Sleep>>,
}

impl<I> Watched<I> {
    fn new(inner: I, activity: Arc<Activity>, idle_timeout: Duration) -> Watched<I> {
        let now = Instant::now();
        Watched {
            inner,
            activity,
            idle_timeout,
            last_progress: now,
            timer: Box::pin(tokio::time::sleep_until(now + idle_timeout)),
        }
    }

    /// `Pending` (with the timer armed for the nearest deadline), or the error of the deadline
    /// that has passed.
    fn stalled<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        loop {
            let idle = self.last_progress + self.idle_timeout;
            let head = self.activity.head_deadline();
            let deadline = head.map_or(idle, |head| head.min(idle));
            if deadline < self.timer.deadline() {
                self.timer.as_mut().reset(deadline);
            }
            if self.timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let now = Instant::now();
            if now >= deadline {
                let what = if head.is_some_and(|head| head <= idle) {
                    "request head not complete within the header timeout"
                } else {
                    "no progress within the idle timeout"
                };
                return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, what)));
            }
            // Fired early: there was progress since the timer was set.
            self.timer.as_mut().reset(deadline);
        }
    }

    /// What a write of the inner connection came back with: progress is recorded, a write that
    /// would wait waits on the deadlines ([`Watched::stalled`]).
    fn written(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        match polled {
            Poll::Ready(Ok(written)) => {
                if written > 0 {
                    self.last_progress = Instant::now();
                }
                Poll::Ready(Ok(written))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => self.stalled(cx),
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
                    let now = Instant::now();
                    self.activity.bytes_read(now);
                    self.last_progress = now;
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
        let polled = Pin::new(&mut self.inner).poll_write(cx, data);
        self.written(cx, polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buffers: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, buffers);
        self.written(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
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
            let io = Watched::new(stream, Arc::new(Activity::new()), settings.idle_timeout);
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

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buffers: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, buffers)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
