//! Giving memory back: a sync of 100,000 users holds tens of megabytes for seconds (every group's
//! members, then every workspace's users) and frees most of it in between. With glibc (the Functions
//! Linux image), freed memory in the middle of the heap stays resident and large buffers end up there
//! once the allocator's dynamic mmap threshold has grown; so large blocks always get their own
//! mapping (returned to the system when freed), and [`release`] hands free pages back after a phase.
//! Elsewhere these do nothing.

/// Large blocks (128 KiB and more: listings, plans, answer bodies) in their own mappings, and at most two
/// malloc arenas, at start-up. glibc gives each thread that meets contention an arena of its own (up to
/// eight per core, and the blocking threads that parse answer bodies as they stream are many), and
/// memory freed in one arena is not reused by another. Measured in account mode at 100,000 users, the
/// five phases' peaks were 63.5 to 64.1 MiB with two arenas, 63.7 to 65.1 without (BENCHMARKS.md).
// The crate denies `unsafe_code`; these two calls into glibc have no safe wrapper, and each is one
// allocator call with its safety argument beside it.
#[allow(unsafe_code)]
pub fn configure() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; it is called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Returns the free pages of the heap to the system (after a phase that freed much).
#[allow(unsafe_code)] // glibc's malloc_trim has no safe wrapper; see `configure`
pub fn release() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory; it is thread-safe.
    unsafe {
        libc::malloc_trim(0);
    }
}
