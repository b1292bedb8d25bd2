//! The process's memory allocator: mimalloc, set to give freed memory back to the system at
//! once.
//!
//! Measured with `benches/remote_write.sh` (2,000 series, one sample each per request; figures
//! in docs/metrics.md): with glibc's malloc the server spent about a sixth of its time in
//! `malloc`/`free`, and its threads' arenas kept what a long ingest freed: after 24 M samples
//! it held 128 MB resident for 58 MB in use. mimalloc took a quarter less CPU per sample there
//! and ended at 99 MB. By default mimalloc delays purging freed memory and commits its arenas
//! eagerly, which on a kernel with transparent huge pages set to `always` faults whole 2 MiB
//! pages in (twice glibc's resident size); so arena memory is committed on demand and freed
//! memory purged at once.
//!
//! mimalloc reads an arena's commit option when it reserves the arena, which the first Rust
//! allocation does, before `main`. So on Linux the options are set by a function in the
//! executable's `.init_array`, which the loader runs before the Rust runtime starts (and so
//! before anything is allocated through this allocator); elsewhere `main` sets them, and only
//! later arenas follow them.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's option numbers (`mi_option_e` in mimalloc.h of the v3 sources that
/// libmimalloc-sys 0.1.49 builds; the crate names only some of them).
const MI_OPTION_ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

extern "C" fn set_options() {
    // SAFETY: mi_option_set only stores a value, read when memory is next reserved or purged.
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_ARENA_EAGER_COMMIT, 0);
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0);
    }
}

#[cfg(target_os = "linux")]
#[used]
#[unsafe(link_section = ".init_array")]
static SET_OPTIONS_AT_LOAD: extern "C" fn() = set_options;

/// Sets the allocator's options where the loader could not (see the module doc).
pub fn tune() {
    if cfg!(not(target_os = "linux")) {
        set_options();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_options_are_set_before_main() {
        // In the test binary too the loader has run `set_options`.
        unsafe {
            assert_eq!(
                libmimalloc_sys::mi_option_get(MI_OPTION_ARENA_EAGER_COMMIT),
                0
            );
            assert_eq!(libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY), 0);
        }
    }
}
