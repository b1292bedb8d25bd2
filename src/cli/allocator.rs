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

/// Sets the allocator up: first thing in `main`, before other threads start.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes a malloc parameter; called before any other thread runs.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    /// `mallopt` accepts the parameter (it returns 1 on success, 0 on error).
    #[test]
    fn glibc_takes_one_arena() {
        assert_eq!(unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) }, 1);
    }
}
