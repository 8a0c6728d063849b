//! The process's memory policy, set once at start-up by each binary.
//!
//! A forward pass allocates a fresh buffer for almost every tensor it makes, many of them
//! megabytes (MiniLM at 32×64: 12 MiB per intermediate activation). glibc serves those
//! with `mmap` and gives them back with `munmap` on free, so every layer faults its pages
//! in again (page faults were ~8% of a MiniLM forward's profile). Raising the mmap
//! threshold to glibc's maximum (32 MiB) and never trimming the heap keeps freed blocks for
//! the next layer. Peak memory is unchanged: the heap only holds what was live at the peak.

/// Keeps freed memory in the process for reuse (glibc); a no-op elsewhere.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called before other threads exist.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}
