//! Tuning of the C library's allocator (glibc's malloc), which the Rust
//! standard library allocates with.
//!
//! glibc serves large blocks with their own mappings, but raises that
//! threshold each time such a block is freed (up to 32 MiB), after which
//! large blocks come from the arenas of the threads that freed them and
//! stay there as free space. For a server whose large blocks are stanzas
//! queued for clients that stopped reading, that kept hundreds of MiB
//! resident after those clients were gone. A fixed threshold keeps every
//! block of 128 KiB and more in its own mapping, returned to the system
//! when freed; smaller blocks, which are most of them, are unaffected.

/// Blocks this large and larger get their own mapping.
const MMAP_THRESHOLD: i32 = 128 * 1024;

/// Apply the tuning; call once at start, before other threads run.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; it is called before
    // any other thread exists.
    unsafe {
        if libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) != 1 {
            eprintln!("warning: could not set malloc's mmap threshold");
        }
    }
}
