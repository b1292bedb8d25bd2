//! Group commit: a write is acknowledged only after a flush that started after it.
//!
//! An fsync costs milliseconds; one per request would cap the push path at a few hundred
//! batches per second. Instead each writer appends (unflushed), then queues a ticket here. One
//! task takes every queued ticket, flushes once, and answers them all: under load, many writes
//! share one flush, and a write is never acknowledged by a flush that began before it.

use tokio::sync::{mpsc, oneshot};
use tokio_util::task::TaskTracker;

use crate::store::Store;

type Ticket = oneshot::Sender<Result<(), String>>;

/// A handle for waiting on durability; cheap to clone.
#[derive(Clone)]
pub struct Committer {
    tickets: mpsc::UnboundedSender<Ticket>,
}

impl Committer {
    /// Starts the flushing task on `tasks`. It ends when every handle is gone.
    ///
    /// It watches no cancellation token, unlike the service's other tasks: while the HTTP
    /// servers shut down gracefully, the requests still in flight wait here for their writes
    /// to be durable, and must get an answer. Their handles go with them, and so does this task.
    pub fn start(store: Store, tasks: &TaskTracker) -> Committer {
        let (tickets, mut queue) = mpsc::unbounded_channel::<Ticket>();
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
        Committer { tickets }
    }

    /// Returns once everything appended before this call is durable on disk.
    pub async fn durable(&self) -> Result<(), String> {
        let (ticket, answer) = oneshot::channel();
        self.tickets
            .send(ticket)
            .map_err(|_| "the flushing task has stopped".to_string())?;
        answer
            .await
            .map_err(|_| "the flushing task has stopped".to_string())?
    }
}
