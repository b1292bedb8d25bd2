//! Group commit: a write is acknowledged only after a flush that started after it.
//!
//! An fsync costs milliseconds; one per request would cap the push path at a few hundred
//! batches per second. Instead each writer appends (unflushed), then queues a ticket here. One
//! task takes every queued ticket, flushes once, and answers them all: under load, many writes
//! share one flush, and a write is never acknowledged by a flush that began before it.
//!
//! Nor by a flush of another database: when a write error put the store out of service and a
//! repair reopened it (see `Store::repair`), samples appended before the repair lived only in
//! the database it threw away. A writer notes [`Committer::generation`] before it appends, and
//! [`Committer::durable`] refuses to acknowledge it if a repair happened since.

use tokio::sync::{mpsc, oneshot};
use tokio_util::task::TaskTracker;

use crate::store::Store;

type Ticket = oneshot::Sender<Result<(), String>>;

/// A handle for waiting on durability; cheap to clone.
#[derive(Clone)]
pub struct Committer {
    tickets: mpsc::UnboundedSender<Ticket>,
    store: Store,
}

impl Committer {
    /// Starts the flushing task on `tasks`. It ends when every handle is gone.
    ///
    /// It watches no cancellation token, unlike the service's other tasks: while the HTTP
    /// servers shut down gracefully, the requests still in flight wait here for their writes
    /// to be durable, and must get an answer. Their handles go with them, and so does this task.
    pub fn start(store: Store, tasks: &TaskTracker) -> Committer {
        let (tickets, mut queue) = mpsc::unbounded_channel::<Ticket>();
        let handle = store.clone();
        tasks.spawn(async move {
            while let Some(first) = queue.recv().await {
                let mut waiting = vec![first];
                while let Ok(more) = queue.try_recv() {
                    waiting.push(more);
                }
                let store = store.clone();
                let result = tokio::task::spawn_blocking(move || store.flush())
                    .await
                    .map_err(|e| format!("flush task failed: {e}"))
                    .and_then(|flushed| flushed.map_err(|e| e.to_string()));
                for ticket in waiting {
                    // A writer that went away (client disconnected) needs no answer.
                    let _ = ticket.send(result.clone());
                }
            }
        });
        Committer {
            tickets,
            store: handle,
        }
    }

    /// The store's repair generation: read it before appending, pass it to
    /// [`durable`](Self::durable).
    pub fn generation(&self) -> u64 {
        self.store.generation()
    }

    /// Returns once everything appended before this call is durable on disk, and no repair
    /// has replaced the database since `generation` was read (the appended samples would have
    /// gone with the old one).
    pub async fn durable(&self, generation: u64) -> Result<(), String> {
        let (ticket, answer) = oneshot::channel();
        self.tickets
            .send(ticket)
            .map_err(|_| "the flushing task has stopped".to_string())?;
        answer
            .await
            .map_err(|_| "the flushing task has stopped".to_string())??;
        if self.store.generation() != generation {
            return Err(
                "the store was repaired after a write error before these samples were durable: \
                 send them again"
                    .to_string(),
            );
        }
        Ok(())
    }
}
