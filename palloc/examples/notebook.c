/* notebook.c — an ordinary C program whose heap is persistent.
 *
 * It keeps its data with plain malloc/strdup in a linked list and remembers the list in
 * a root; run under `palloc run`, the whole heap comes back after an exit, a crash or
 * kill -9, as of the last commit.
 *
 *   notebook run     append notes forever, committing every 10
 *   notebook show    check every note and print a summary
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "palloc.h"

struct note {
  struct note *next;
  uint64_t number;
  uint64_t checksum;
  char *text; /* strdup'ed: a second heap block per note */
};

struct book {
  struct note *head;
  uint64_t count;
};

static uint64_t checksum(const struct note *n) {
  uint64_t h = 1469598103934665603ull ^ n->number;
  for (const char *p = n->text; *p; p++) h = (h ^ (uint8_t)*p) * 1099511628211ull;
  return h;
}

/* Every note present, numbered count-1 down to 0, each text intact. */
static int validate(const struct book *b) {
  uint64_t expect = b->count;
  for (const struct note *n = b->head; n; n = n->next) {
    if (n->number != --expect || n->checksum != checksum(n)) {
      fprintf(stderr, "notebook: note %llu is damaged\n", (unsigned long long)n->number);
      return 0;
    }
  }
  return expect == 0;
}

int main(int argc, char **argv) {
  const int run = argc > 1 && strcmp(argv[1], "run") == 0;
  palloc_arena *arena = palloc_heap_arena();
  if (!arena) {
    fprintf(stderr, "notebook: no persistent heap; start me with `palloc run -- notebook ...`\n");
    return 2;
  }
  uint64_t root = 0;
  palloc_root_get_named(arena, "book", &root);
  struct book *b = (struct book *)(uintptr_t)root;
  if (!b) {
    b = calloc(1, sizeof *b);
    palloc_root_set_named(arena, "book", (uint64_t)(uintptr_t)b);
  }
  if (!validate(b)) return 1;
  printf("resumed epoch %llu: %llu notes, all intact (%s)\n", (unsigned long long)palloc_epoch(arena),
         (unsigned long long)b->count, palloc_heap_resumed() ? "resumed heap" : "new heap");
  if (!run) return 0;
  for (;;) {
    char text[96];
    snprintf(text, sizeof text, "note %llu written at %ld", (unsigned long long)b->count, (long)time(NULL));
    struct note *n = malloc(sizeof *n);
    n->text = strdup(text);
    n->number = b->count;
    n->checksum = checksum(n);
    n->next = b->head;
    b->head = n;
    b->count++;
    if (b->count % 10 == 0) {
      int64_t epoch = palloc_heap_commit();
      if (epoch < 0) {
        fprintf(stderr, "notebook: commit failed: %s\n", palloc_last_error());
        return 1;
      }
      printf("committed epoch %lld: %llu notes\n", (long long)epoch, (unsigned long long)b->count);
      fflush(stdout);
    }
    struct timespec ts = {0, 2000000};
    nanosleep(&ts, NULL);
  }
}
