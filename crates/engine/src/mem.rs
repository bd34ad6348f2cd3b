//! Keeping the daemon's memory small on glibc: few malloc arenas, and
//! freed heap handed back to the kernel after big operations (a pull
//! touches tens of MiB of buffers across threads that glibc would
//! otherwise keep resident for the life of the daemon).

/// Limits glibc to two malloc arenas. Call once at start-up, before the
/// async runtime creates its threads.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning parameters; it is
    // called before other threads exist.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Returns freed heap memory to the kernel.
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim is thread-safe and only releases free memory.
    unsafe {
        libc::malloc_trim(0);
    }
}
