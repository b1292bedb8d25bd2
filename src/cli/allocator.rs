//! The process's memory allocator: glibc's malloc, with one arena.
//!
//! glibc gives each thread that meets contention an arena of its own (up to eight per core),
//! and memory freed into one arena serves only that arena's threads. The server's threads
//! (the runtime's workers, the blocking pool that runs appends, sled's flusher) allocate and
//! free in turn, so after a long ingest the arenas held far more than was in use: measured
//! with `benches/remote_write.sh` (2,000 series × 1 sample per request, figures in
//! docs/metrics.md), 128 MB resident for 58 MB in use after 24 M samples. With one arena: 89 MB
//! after 24 M samples, 43–45 MB instead of 54–58 after 8 M (a restart on the same data: 34–36),
//! and no slower (on two cores the lock is rarely contended; 100 × 100 samples per request ran
//! faster, 4.3–5.1 M samples/s against 3.9–4.2 M). mimalloc was tried too: a fifth to a quarter less
//! CPU on 2,000 series × 1 sample, but 3–10 % slower on 100 × 100 and 100 × 10 with more memory.
//!
//! Freed memory inside the heap stays the process's until glibc gives it back, which it does
//! on its own only from the heap's top. So the server calls `malloc_trim` (which also returns
//! free pages inside the heap) once writes stop ([`Trimmer`]): after 8 M samples of 200 series
//! × 100 a request, 38.4 → 35.5 MB resident by the trim alone.

use std::time::{Duration, Instant};

/// Sets the allocator up: first thing in `main`, before other threads start.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes a malloc parameter; called before any other thread runs.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// Returns the heap's free pages to the system (glibc's `malloc_trim`; nothing elsewhere).
/// Walks the heap under its lock: a few milliseconds for tens of MB.
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory; it is safe to call from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Decides when to [`trim`]: once writes stop (a tick sees the store's write count standing
/// still after it moved), and at most every [`Trimmer::BUSY_EVERY`] while they go on, so a
/// server under steady ingest returns what each burst freed too. Fed a tick a second.
#[derive(Debug)]
pub struct Trimmer {
    seen: u64,
    /// Writes came since the last trim.
    pending: bool,
    last_trim: Instant,
}

impl Trimmer {
    /// The longest a server with writes going on keeps freed memory.
    pub const BUSY_EVERY: Duration = Duration::from_secs(60);

    /// A trimmer that has seen `writes` writes (nothing pending).
    pub fn new(writes: u64, now: Instant) -> Trimmer {
        Trimmer {
            seen: writes,
            pending: false,
            last_trim: now,
        }
    }

    /// One tick, with the store's write count now: whether to trim now.
    pub fn tick(&mut self, writes: u64, now: Instant) -> bool {
        let moved = writes != self.seen;
        self.seen = writes;
        let due = if moved {
            self.pending = true;
            now.duration_since(self.last_trim) >= Self::BUSY_EVERY
        } else {
            self.pending
        };
        if due {
            self.pending = false;
            self.last_trim = now;
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_once_when_writes_stop() {
        let start = Instant::now();
        let at = |s: u64| start + Duration::from_secs(s);
        let mut trimmer = Trimmer::new(7, start);
        // Quiet from the start: nothing to give back.
        assert!(!trimmer.tick(7, at(1)));
        // Writes for a few seconds: no trim while they go on.
        assert!(!trimmer.tick(9, at(2)));
        assert!(!trimmer.tick(15, at(3)));
        // They stop: one trim, then none while it stays quiet.
        assert!(trimmer.tick(15, at(4)));
        assert!(!trimmer.tick(15, at(5)));
        assert!(!trimmer.tick(15, at(6)));
    }

    #[test]
    fn trims_every_minute_under_steady_writes() {
        let start = Instant::now();
        let mut trimmer = Trimmer::new(0, start);
        let trims: Vec<u64> = (1..=150)
            .filter(|&s| trimmer.tick(s, start + Duration::from_secs(s)))
            .collect();
        assert_eq!(trims, vec![60, 120]);
    }

    #[test]
    fn trim_runs() {
        let freed: Vec<Vec<u8>> = (0..64).map(|_| vec![1; 1 << 16]).collect();
        drop(freed);
        trim();
    }

    /// `mallopt` accepts the parameter (it returns 1 on success, 0 on error).
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn glibc_takes_one_arena() {
        assert_eq!(unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) }, 1);
    }
}
