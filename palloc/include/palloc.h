/* palloc.h — the persistent arena's public C API.
 *
 * An arena is a file-backed range of memory at a fixed virtual address. The program
 * writes to it like ordinary memory; palloc_commit() makes the current contents durable
 * as one atomic step. After a crash or restart, palloc_open() maps the arena at the same
 * address with the contents of the last commit, so absolute pointers inside it stay
 * valid.
 *
 * Errors: every call that can fail returns a palloc_status (or a negative status) and
 * leaves a message for this thread in palloc_last_error(). Nothing here aborts the
 * process on an I/O error.
 *
 * Threads: one thread may commit while others keep running, but the image a commit
 * captures is only consistent if no other thread writes to the arena meanwhile (the
 * allocator provides that barrier). Calls on one arena are thread-safe.
 */
#ifndef PALLOC_H
#define PALLOC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PALLOC_API __attribute__((visibility("default")))

typedef struct palloc_arena palloc_arena;

typedef enum palloc_status {
  PALLOC_OK = 0,
  PALLOC_E_INVALID = 1,      /* bad argument or option */
  PALLOC_E_IO = 2,           /* an I/O call failed (errno in the message) */
  PALLOC_E_NOT_ARENA = 3,    /* the file is not a palloc arena */
  PALLOC_E_CORRUPT = 4,      /* a checksum failed or a structure is inconsistent */
  PALLOC_E_VERSION = 5,      /* the file's format version is not supported */
  PALLOC_E_LOCKED = 6,       /* another process owns the arena */
  PALLOC_E_ADDRESS = 7,      /* the arena's address range is already in use */
  PALLOC_E_NOSPACE = 8,      /* the disk is full (or a quota was hit) */
  PALLOC_E_PERMISSION = 9,   /* permission denied or read-only file system */
  PALLOC_E_NOT_FOUND = 10,   /* the arena (or a named item) does not exist */
  PALLOC_E_EXISTS = 11,      /* the arena exists and PALLOC_EXCLUSIVE was given */
  PALLOC_E_BINARY = 12,      /* a binary the image depends on changed */
  PALLOC_E_DETACHED = 13,    /* this process is a fork() child: it may not commit */
  PALLOC_E_NOMEM = 14,       /* out of memory, or the arena reached its maximum size */
  PALLOC_E_UNSUPPORTED = 15  /* the kernel lacks a feature that was asked for */
} palloc_status;

typedef enum palloc_durability {
  PALLOC_DURABILITY_SYNC = 0,  /* a commit is on disk (fdatasync) before it returns */
  PALLOC_DURABILITY_ASYNC = 1, /* on disk within async_bound_ms; survives a process crash at once */
  PALLOC_DURABILITY_NONE = 2   /* survives a process crash, not a power loss */
} palloc_durability;

typedef enum palloc_tracker_kind {
  PALLOC_TRACKER_AUTO = 0, /* uffd when the kernel supports it, else hash */
  PALLOC_TRACKER_UFFD = 1, /* userfaultfd async write-protect + PAGEMAP_SCAN (Linux >= 6.7) */
  PALLOC_TRACKER_HASH = 2  /* per-page XXH3 comparison; commit cost grows with resident size */
} palloc_tracker_kind;

/* Option flags. */
#define PALLOC_CREATE 0x1u       /* create the arena if it does not exist */
#define PALLOC_EXCLUSIVE 0x2u    /* with PALLOC_CREATE: fail if it exists */
#define PALLOC_NO_VERIFY_BINARIES 0x4u /* do not compare recorded binaries at open */

#define PALLOC_ROOT_SLOTS 64
#define PALLOC_ROOT_NAME_MAX 23 /* characters, without the terminating NUL */

typedef struct palloc_options {
  uint32_t flags;
  palloc_durability durability;
  palloc_tracker_kind tracker;
  uint32_t async_bound_ms;   /* ASYNC: longest time a commit may stay un-synced */
  uint64_t base;             /* creation: fixed address (0 = choose); open: ignored */
  uint64_t initial_size;     /* creation: bytes usable at first (rounded to pages) */
  uint64_t max_size;         /* creation: most the arena may ever grow to */
  uint64_t checkpoint_bytes; /* log size that triggers a background checkpoint */
} palloc_options;

/* Defaults, then the environment: PALLOC_DURABILITY (sync|async|none), PALLOC_TRACKER
 * (auto|uffd|hash), PALLOC_MAX_SIZE (bytes, k/m/g/t suffixes), PALLOC_ASYNC_MS,
 * PALLOC_CHECKPOINT_BYTES. An unparsable variable is an error reported by palloc_open. */
PALLOC_API void palloc_options_init(palloc_options *opts);

/* Opens (and with PALLOC_CREATE creates) the arena stored at `path` (the data file;
 * its logs are `path`.wal0 and `path`.wal1). Recovers the last commit, maps it at its
 * recorded address and takes ownership (flock). */
PALLOC_API palloc_status palloc_open(const char *path, const palloc_options *opts,
                                     palloc_arena **out);

/* Unmaps and releases the arena. Does not commit: uncommitted changes are dropped.
 * Checkpoints the log into the data file first unless the process is detached. */
PALLOC_API palloc_status palloc_close(palloc_arena *arena);

/* Makes the arena's current contents, roots and size the new committed state. Returns
 * the new epoch (> 0), or minus a palloc_status. On failure the previous commit stays
 * intact and a later commit may succeed. Concurrent commits share one fdatasync. */
PALLOC_API int64_t palloc_commit(palloc_arena *arena);

/* Waits until every commit so far is on disk (for ASYNC/NONE). */
PALLOC_API palloc_status palloc_sync(palloc_arena *arena);

/* The mapped range. Usable bytes are [base, base + size); size grows with palloc_grow. */
PALLOC_API void *palloc_base(const palloc_arena *arena);
PALLOC_API size_t palloc_size(const palloc_arena *arena);
PALLOC_API size_t palloc_max_size(const palloc_arena *arena);
PALLOC_API uint64_t palloc_epoch(const palloc_arena *arena); /* last committed epoch */

/* Makes [base, base + new_size) usable, reserving the disk space for it now (a full disk
 * fails here with PALLOC_E_NOSPACE, never later as SIGBUS). Shrinking is not supported.
 * The new size becomes durable with the next commit. In a fork() child, whose copy is
 * private and never committed, the arena grows in memory only. */
PALLOC_API palloc_status palloc_grow(palloc_arena *arena, size_t new_size);

/* Roots: PALLOC_ROOT_SLOTS 64-bit values, optionally named, committed with the arena. */
PALLOC_API palloc_status palloc_root_set(palloc_arena *arena, unsigned slot, uint64_t value);
PALLOC_API uint64_t palloc_root_get(const palloc_arena *arena, unsigned slot);
/* Named roots: finds the slot with this name, or claims a free one on first set. */
PALLOC_API palloc_status palloc_root_set_named(palloc_arena *arena, const char *name,
                                               uint64_t value);
PALLOC_API palloc_status palloc_root_get_named(const palloc_arena *arena, const char *name,
                                               uint64_t *value);

/* Extra persistent regions: memory outside the arena (a library's writable data, say)
 * committed and restored with it. If the image holds a region of this name, its saved
 * contents are copied into [addr, addr + len) now and *restored is set to 1; the
 * region's length must match. The region is tracked from now on. addr and len must be
 * page-aligned. At most 64 regions, 64 MiB in all. A region inside a loaded binary (its
 * data or bss) also records that binary, as palloc_depend_on does. */
PALLOC_API palloc_status palloc_region_register(palloc_arena *arena, const char *name,
                                                void *addr, size_t len, int *restored);

/* Records that the image depends on the binary (executable or shared object) that
 * contains `addr`: its path, GNU build-id and load address. From the next commit on,
 * palloc_open refuses to resume unless that binary is loaded with the same build-id at
 * the same address (PALLOC_E_BINARY, with a message naming what differs). */
PALLOC_API palloc_status palloc_depend_on(palloc_arena *arena, const void *addr);

/* The identity of the loaded binary (executable or shared object) containing `addr`:
 * canonical path, GNU build-id (build_id_len bytes, 0 if it has none) and load address.
 * For adapters that check binaries the arena does not know about, such as interpreter
 * extension modules loaded again after a resume. */
typedef struct palloc_binary {
  char path[256];
  uint8_t build_id[64];
  uint32_t build_id_len;
  uint64_t load_address;
} palloc_binary;

PALLOC_API palloc_status palloc_binary_identity(const void *addr, palloc_binary *out);

typedef struct palloc_stats {
  uint64_t epoch;             /* last committed epoch */
  uint64_t durable_epoch;     /* last epoch known to be on disk */
  uint64_t size;              /* usable bytes */
  uint64_t max_size;
  uint64_t page_size;
  uint64_t last_commit_pages; /* dirty pages written by the last commit */
  uint64_t last_commit_ns;    /* wall time the last commit took */
  uint64_t last_commit_unix_ns; /* when the last commit happened (CLOCK_REALTIME) */
  uint64_t commits;           /* commits by this process */
  uint64_t pages_written;     /* pages logged by this process */
  uint64_t bytes_written;     /* log bytes written by this process */
  uint64_t log_bytes;         /* current size of the logs */
  uint64_t checkpoints;       /* checkpoints by this process */
  uint64_t checkpoint_epoch;  /* newest epoch contained in the data file */
  const char *tracker;        /* "uffd" or "hash" */
  const char *durability;     /* "sync", "async" or "none" */
} palloc_stats;

PALLOC_API palloc_status palloc_get_stats(const palloc_arena *arena, palloc_stats *out);

/* The message for the last failure of a palloc call on this thread. */
PALLOC_API const char *palloc_last_error(void);
/* A short constant name for a status ("PALLOC_E_LOCKED", ...). */
PALLOC_API const char *palloc_status_name(palloc_status status);

/* Tracker support of the running kernel: 1 if the uffd tracker can be used. */
PALLOC_API int palloc_uffd_supported(void);

/* ---- The persistent heap (libpalloc.so only) -------------------------------------
 *
 * libpalloc.so is also the process's malloc. With PALLOC_ARENA=path in the environment
 * (what `palloc run` sets up) every allocation lives in that arena and the heap survives
 * restarts: it resumes as of its last commit. Without it, the library is a plain fast
 * malloc (transient mode). Linking libpalloc.so replaces malloc just as preloading it
 * does. Keep a pointer to your data in a root (palloc_root_set on palloc_heap_arena())
 * to find it again after a restart. */

/* The arena the heap lives in, or NULL in transient mode. Use it for roots and stats;
 * do not close it. */
PALLOC_API palloc_arena *palloc_heap_arena(void);

/* 1 if this process resumed an existing heap, 0 if it started a fresh one or is
 * transient. */
PALLOC_API int palloc_heap_resumed(void);

/* Commits the whole heap: waits until no thread is inside the allocator (threads that
 * call it meanwhile wait), drains delayed frees, records the roots and commits the arena.
 * Returns the new epoch (> 0) or minus a palloc_status: PALLOC_E_DETACHED in a fork()
 * child, PALLOC_E_INVALID in transient mode. The heap is also committed at normal exit
 * and, with PALLOC_COMMIT_INTERVAL_MS, periodically. */
PALLOC_API int64_t palloc_heap_commit(void);

/* palloc_heap_commit that returns once the dirty pages are copied aside: a background
 * thread writes the record (a crash before it is written leaves the previous commit) and,
 * with PALLOC_DURABILITY_SYNC, puts it on disk right away. A later palloc_heap_commit or
 * palloc_sync waits for it. For periodic commits, which should not stall the program on
 * the log or the disk. */
PALLOC_API int64_t palloc_heap_commit_background(void);
/* For an interpreter adapter that commits at its own safe points: returns the interval
 * PALLOC_COMMIT_INTERVAL_MS asked for (0 if none, or in transient mode) and stops the
 * background thread's periodic commits, which could catch the interpreter between two
 * related updates. The adapter then commits on that schedule itself. */
PALLOC_API uint32_t palloc_heap_claim_commit_interval(void);

/* Between palloc_local_enter() and palloc_local_leave() this thread's allocations go to
 * the C library's process-local heap instead of the persistent one (and are never
 * committed): for state that is meaningless after a restart, such as a line editor's
 * history or a dynamic loader's bookkeeping. Calls nest. free() works on either heap. */
PALLOC_API void palloc_local_enter(void);
PALLOC_API void palloc_local_leave(void);

/* Walks every page of every heap, including segments left by threads that ended, and
 * checks its structure (free lists, counts, owners). Returns the number of blocks in
 * use, or -1 with palloc_last_error() set. */
PALLOC_API int64_t palloc_heap_validate(void);

/* The malloc family under explicit names (the same heap as malloc). */
PALLOC_API void *palloc_malloc(size_t size);
PALLOC_API void *palloc_calloc(size_t count, size_t size);
PALLOC_API void *palloc_realloc(void *p, size_t size);
PALLOC_API void palloc_free(void *p);
PALLOC_API void *palloc_aligned_alloc(size_t alignment, size_t size);
PALLOC_API size_t palloc_usable_size(const void *p);

#ifdef __cplusplus
}
#endif
#endif /* PALLOC_H */
