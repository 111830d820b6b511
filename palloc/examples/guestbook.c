/* guestbook.c — a C program whose data lives in a palloc arena.
 *
 * The guest book is a linked list of entries built with plain pointers inside the
 * arena. `run` appends entries and commits every few of them; kill it with kill -9 at
 * any moment and `show` finds the book exactly as of the last commit that `run`
 * reported, every pointer valid, every entry intact.
 *
 *   guestbook ARENA run [N]   append N entries (default: forever), committing every 5
 *   guestbook ARENA show      open, validate and print the book
 */
#include <palloc.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BOOK_MAGIC 0x6b6f6f6274736567ull /* "gestbook" */

struct entry {
  struct entry *next;
  uint64_t number;
  uint64_t check; /* a checksum of the fields and text: detects any damage */
  char text[64];
};

struct book {
  uint64_t magic;
  uint64_t count;
  struct entry *head; /* newest first */
  char *bump;         /* next free byte of the arena */
};

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static uint64_t entry_check(const struct entry *e) {
  uint64_t h = 1469598103934665603ull ^ e->number;
  for (size_t i = 0; i < sizeof e->text; i++) h = (h ^ (unsigned char)e->text[i]) * 1099511628211ull;
  return h;
}

static void die(const char *what) {
  fprintf(stderr, "guestbook: %s: %s\n", what, palloc_last_error());
  exit(1);
}

/* Allocates from the arena by bumping a pointer; grows the arena when needed. */
static void *book_alloc(palloc_arena *a, struct book *b, size_t n) {
  char *base = palloc_base(a);
  if ((size_t)(b->bump + n - base) > palloc_size(a) &&
      palloc_grow(a, palloc_size(a) * 2) != PALLOC_OK)
    die("growing the arena");
  void *p = b->bump;
  b->bump += (n + 15) & ~(size_t)15;
  return p;
}

static struct book *open_book(palloc_arena *a) {
  uint64_t root = 0;
  if (palloc_root_get_named(a, "book", &root) == PALLOC_OK) return (struct book *)(uintptr_t)root;
  struct book *b = palloc_base(a); /* a new arena: the book sits at its start */
  b->magic = BOOK_MAGIC;
  b->count = 0;
  b->head = NULL;
  b->bump = (char *)b + sizeof *b;
  if (palloc_root_set_named(a, "book", (uintptr_t)b) != PALLOC_OK) die("setting the root");
  return b;
}

static int run(palloc_arena *a, long limit) {
  struct book *b = open_book(a);
  for (long i = 0; limit < 0 || i < limit; i++) {
    struct entry *e = book_alloc(a, b, sizeof *e);
    e->number = b->count + 1;
    memset(e->text, 0, sizeof e->text);
    snprintf(e->text, sizeof e->text, "visit %" PRIu64 " by pid %d", e->number, (int)getpid());
    e->check = entry_check(e);
    e->next = b->head;
    b->head = e;
    b->count++;
    if (b->count % 5 == 0) {
      double t0 = now_ms();
      int64_t epoch = palloc_commit(a);
      if (epoch < 0) die("commit");
      palloc_stats st;
      palloc_get_stats(a, &st);
      printf("committed epoch %" PRId64 ": %" PRIu64 " entries (%" PRIu64 " pages, %.3f ms)\n", epoch, b->count,
             st.last_commit_pages, now_ms() - t0);
      fflush(stdout);
    }
    usleep(20000);
  }
  return 0;
}

static int show(palloc_arena *a, double open_ms) {
  uint64_t root = 0;
  if (palloc_root_get_named(a, "book", &root) != PALLOC_OK) {
    printf("the arena holds no guest book yet\n");
    return 0;
  }
  struct book *b = (struct book *)(uintptr_t)root;
  if (b->magic != BOOK_MAGIC) {
    fprintf(stderr, "guestbook: the book's header is damaged\n");
    return 2;
  }
  uint64_t seen = 0, expect = b->count;
  for (struct entry *e = b->head; e; e = e->next, seen++) {
    if (e->number != expect - seen || e->check != entry_check(e)) {
      fprintf(stderr, "guestbook: entry %" PRIu64 " is damaged\n", expect - seen);
      return 2;
    }
  }
  if (seen != b->count) {
    fprintf(stderr, "guestbook: the list has %" PRIu64 " entries, the count says %" PRIu64 "\n", seen, b->count);
    return 2;
  }
  printf("resumed epoch %" PRIu64 " in %.3f ms: %" PRIu64 " entries, all intact (list walked through %" PRIu64
         " absolute pointers)\n",
         palloc_epoch(a), open_ms, b->count, seen);
  int shown = 0;
  for (struct entry *e = b->head; e && shown < 3; e = e->next, shown++) printf("  #%" PRIu64 ": %s\n", e->number, e->text);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 3 || (strcmp(argv[2], "run") && strcmp(argv[2], "show"))) {
    fprintf(stderr, "usage: guestbook ARENA run [N] | guestbook ARENA show\n");
    return 64;
  }
  palloc_options opts;
  palloc_options_init(&opts);
  opts.flags = PALLOC_CREATE;
  opts.initial_size = 1 << 20;
  palloc_arena *a;
  double t0 = now_ms();
  if (palloc_open(argv[1], &opts, &a) != PALLOC_OK) die("opening the arena");
  double open_ms = now_ms() - t0;
  int rc = strcmp(argv[2], "run") == 0 ? run(a, argc > 3 ? atol(argv[3]) : -1) : show(a, open_ms);
  palloc_close(a);
  return rc;
}
