/* forkexec.c — fork() children, exec'd programs and a second owner, of a persistent heap.
 *
 *   forkexec fork [--hang] [--no-child-grow]
 *                            build (or resume) a list in the heap, with another thread
 *                            allocating meanwhile; fork three children that each change
 *                            the list, allocate ~60 MiB (more than the parent's heap
 *                            holds; less with --no-child-grow), free, set root 1 and try
 *                            to commit (must fail with PALLOC_E_DETACHED), then exit
 *                            normally; the parent checks that it sees none of that,
 *                            appends its own nodes and commits: `parent epoch= digest=`.
 *                            --hang: then wait to be killed instead of exiting.
 *   forkexec verify          check the list, print `verify digest=`: no trace of a child.
 *   forkexec exec DIR        run `env` four ways (system, popen, fork+exec, posix_spawn)
 *                            and this program's `probe` through system(): none may see
 *                            LD_PRELOAD=...libpalloc... or a PALLOC_ variable, and the
 *                            probe must be a transient (non-persistent) process.
 *   forkexec hold            print `holding pid=`, wait for end of input, exit.
 *   forkexec probe           print `probe pid= arena= resumed=`.
 */
#define _GNU_SOURCE
#include "alloc_test.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define ROOT_MAGIC 0x6b726f66746f6f72ull

struct node {
  struct node *next;
  uint64_t id;
  char *text;
  uint64_t check;
};

struct froot {
  uint64_t magic;
  uint64_t nodes;
  uint64_t next_id;
  uint64_t runs;
  struct node *head;
  char *marker;
};

static uint64_t node_check(const struct node *n) {
  return at_hash(at_hash_u64(AT_HASH_INIT, n->id), n->text, strlen(n->text));
}

static struct node *node_new(uint64_t id, const char *who) {
  struct node *n = malloc(sizeof *n);
  AT_CHECK(n != NULL, "malloc failed");
  char buf[128];
  snprintf(buf, sizeof buf, "%s node %" PRIu64 " %.*s", who, id, (int)(at_mix(id) % 60),
           "............................................................");
  n->id = id;
  n->text = strdup(buf);
  AT_CHECK(n->text != NULL, "strdup failed");
  n->check = node_check(n);
  return n;
}

static void push(struct froot *r, struct node *n) {
  n->next = r->head;
  r->head = n;
  r->nodes++;
}

/* Checks the list and returns its digest; `forbidden` must not appear in any node text. */
static uint64_t verify(const struct froot *r, const char *forbidden) {
  AT_CHECK(at_in_arena(r) && r->magic == ROOT_MAGIC, "root damaged");
  AT_CHECK(at_in_arena(r->marker) && strcmp(r->marker, "parent") == 0, "marker is \"%s\"", r->marker);
  uint64_t h = at_hash(at_hash_u64(AT_HASH_INIT, r->runs), r->marker, strlen(r->marker));
  uint64_t n = 0;
  for (const struct node *x = r->head; x; x = x->next) {
    AT_CHECK(at_in_arena(x) && at_in_arena(x->text), "node outside the arena");
    AT_CHECK(x->check == node_check(x), "node %" PRIu64 " damaged", x->id);
    AT_CHECK(!forbidden || !strstr(x->text, forbidden), "node %" PRIu64 " is \"%s\"", x->id, x->text);
    h = at_hash(at_hash_u64(h, x->id), x->text, strlen(x->text));
    n++;
  }
  AT_CHECK(n == r->nodes, "list has %" PRIu64 " nodes, root says %" PRIu64, n, r->nodes);
  return at_hash_u64(h, n);
}

static struct froot *get_root(int create) {
  palloc_arena *a = palloc_heap_arena();
  AT_CHECK(a != NULL, "not a persistent process (run it under `palloc run`)");
  struct froot *r = (struct froot *)(uintptr_t)palloc_root_get(a, 0);
  if (r || !create) return r;
  r = calloc(1, sizeof *r);
  AT_CHECK(r != NULL, "calloc failed");
  r->magic = ROOT_MAGIC;
  r->marker = strdup("parent");
  for (int i = 0; i < 1000; i++) push(r, node_new(r->next_id++, "parent"));
  AT_CHECK(palloc_root_set(a, 0, (uint64_t)(uintptr_t)r) == PALLOC_OK, "root_set");
  return r;
}

/* --- fork ----------------------------------------------------------------------------- */

static atomic_int bg_stop;
static int child_grow = 1; /* --no-child-grow: the child stays within the parent's heap size */

/* Allocates and frees all the time, so that fork() happens while another thread is in
 * the allocator. */
static void *background(void *arg) {
  void *keep[64] = {0};
  uint64_t rng = 7;
  while (!atomic_load(&bg_stop)) {
    unsigned i = (unsigned)(at_next(&rng) % 64);
    free(keep[i]);
    keep[i] = malloc(16 + at_next(&rng) % 4096);
    AT_CHECK(keep[i] != NULL, "malloc failed");
    memset(keep[i], 0x5a, 16);
  }
  for (int i = 0; i < 64; i++) free(keep[i]);
  return NULL;
}

static void child(struct froot *r) {
  palloc_arena *a = palloc_heap_arena();
  verify(r, "child");
  /* Change what the parent committed. */
  free(r->marker);
  r->marker = strdup("child");
  r->runs += 1000;
  for (int i = 0; i < 500; i++) push(r, node_new(r->next_id++, "child"));
  for (int i = 0; i < 300 && r->head; i++) {
    struct node *n = r->head->next;
    if (!n) break;
    r->head->next = n->next;
    free(n->text);
    free(n);
    r->nodes--;
  }
  /* Allocate more than the parent ever did: the child's heap must grow on its own. */
  enum { SMALL = 4096, BIG = 24 };
  int nbig = child_grow ? BIG : 0;
  void **small = malloc(SMALL * sizeof *small), *big[BIG];
  AT_CHECK(small != NULL, "malloc failed");
  for (int i = 0; i < SMALL; i++) {
    small[i] = malloc(16 + (size_t)(at_mix((uint64_t)i) % 2048));
    AT_CHECK(small[i] != NULL, "child: malloc failed");
    memset(small[i], 1, 16);
  }
  for (int i = 0; i < nbig; i++) {
    size_t n = (size_t)(1 + i % 4) << 20; /* 1..4 MiB */
    big[i] = i % 3 ? malloc(n) : calloc(1, n);
    AT_CHECK(big[i] != NULL, "child: malloc(%zu) failed", n);
    memset(big[i], 0x77, n);
  }
  for (int i = 0; i < SMALL; i += 2) free(small[i]);
  for (int i = 0; i < nbig; i += 2) free(big[i]);
  AT_CHECK(palloc_root_set(a, 1, (uint64_t)(uintptr_t)r->head) == PALLOC_OK ||
               palloc_root_get(a, 1) == 0,
           "child: root_set failed oddly");
  int64_t e = palloc_heap_commit();
  AT_CHECK(e == -(int64_t)PALLOC_E_DETACHED, "child: palloc_heap_commit() = %" PRId64
           ", expected -PALLOC_E_DETACHED (%d)", e, -(int)PALLOC_E_DETACHED);
  int64_t live = palloc_heap_validate();
  AT_CHECK(live >= 0, "child: palloc_heap_validate() = %" PRId64, live);
  at_say("child pid=%d commit=%" PRId64 " live=%" PRId64, (int)getpid(), e, live);
  exit(0); /* a normal exit: must not commit */
}

static int do_fork(int hang) {
  struct froot *r = get_root(1);
  palloc_arena *a = palloc_heap_arena();
  int resumed = palloc_heap_resumed();
  r->runs++;
  uint64_t before = verify(r, "child");
  int64_t e0 = palloc_heap_commit();
  AT_CHECK(e0 > 0, "palloc_heap_commit() = %" PRId64 ": %s", e0, palloc_last_error());

  pthread_t t;
  AT_CHECK(pthread_create(&t, NULL, background, NULL) == 0, "pthread_create");
  at_sleep_ms(5);
  for (int round = 0; round < 3; round++) {
    fflush(stdout);
    pid_t pid = fork();
    AT_CHECK(pid >= 0, "fork failed");
    if (pid == 0) child(r);
    int st;
    AT_CHECK(waitpid(pid, &st, 0) == pid, "waitpid failed");
    AT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d ended with status %#x", (int)pid, st);
    AT_CHECK(verify(r, "child") == before, "the parent sees the child's changes");
    AT_CHECK(palloc_root_get(a, 1) == 0, "the parent sees the child's root");
  }
  atomic_store(&bg_stop, 1);
  pthread_join(t, NULL);

  for (int i = 0; i < 100; i++) push(r, node_new(r->next_id++, "parent"));
  int64_t e = palloc_heap_commit();
  AT_CHECK(e > e0, "palloc_heap_commit() = %" PRId64 " after fork (before %" PRId64 "): %s", e, e0,
           palloc_last_error());
  int64_t live = palloc_heap_validate();
  AT_CHECK(live >= 0, "palloc_heap_validate() = %" PRId64, live);
  at_say("parent resumed=%d epoch=%" PRId64 " nodes=%" PRIu64 " digest=%016" PRIx64 " live=%" PRId64,
         resumed, e, r->nodes, verify(r, "child"), live);
  if (hang)
    for (;;) pause();
  return 0;
}

static int do_verify(void) {
  struct froot *r = get_root(0);
  AT_CHECK(r != NULL, "no root after resuming");
  AT_CHECK(palloc_heap_resumed() == 1, "palloc_heap_resumed() = %d", palloc_heap_resumed());
  uint64_t d = verify(r, "child");
  AT_CHECK(palloc_root_get(palloc_heap_arena(), 1) == 0, "root 1 set by a child was committed");
  int64_t live = palloc_heap_validate();
  AT_CHECK(live >= 0 && (uint64_t)live >= 2 * r->nodes, "palloc_heap_validate() = %" PRId64, live);
  at_say("verify nodes=%" PRIu64 " digest=%016" PRIx64 " live=%" PRId64, r->nodes, d, live);
  return 0;
}

/* --- exec ----------------------------------------------------------------------------- */

static char *slurp(const char *path) {
  FILE *f = fopen(path, "r");
  AT_CHECK(f != NULL, "cannot open %s", path);
  size_t cap = 1 << 16, n = 0;
  char *s = malloc(cap);
  size_t k;
  while ((k = fread(s + n, 1, cap - n - 1, f)) > 0) {
    n += k;
    if (cap - n < 2) s = realloc(s, cap *= 2);
  }
  s[n] = 0;
  fclose(f);
  return s;
}

/* An environment listing must show neither the preload nor PALLOC_ variables. */
static void check_env_text(const char *how, const char *text) {
  AT_CHECK(strstr(text, "PATH=") != NULL, "%s: printed no environment:\n%s", how, text);
  const char *line = text;
  while (*line) {
    const char *eol = strchr(line, '\n');
    size_t len = eol ? (size_t)(eol - line) : strlen(line);
    AT_CHECK(strncmp(line, "PALLOC_", 7) != 0, "%s: an exec'd program sees %.*s", how, (int)len, line);
    if (strncmp(line, "LD_PRELOAD=", 11) == 0) {
      char buf[4096];
      snprintf(buf, sizeof buf, "%.*s", (int)len, line);
      AT_CHECK(!strstr(buf, "libpalloc"), "%s: an exec'd program sees %s", how, buf);
    }
    line += len + (eol ? 1 : 0);
  }
}

/* Waits for the child `env` started by HOW, which wrote its environment to PATH, and
 * checks that environment. */
static void check_child_env(pid_t pid, const char *path, const char *how) {
  int st;
  AT_CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: env failed (%#x)", how, st);
  char *text = slurp(path);
  check_env_text(how, text);
  free(text);
}

static int do_exec(const char *dir, const char *self) {
  AT_CHECK(palloc_heap_arena() != NULL, "not a persistent process: the test would prove nothing");
  char path[4096], cmd[16384];

  snprintf(path, sizeof path, "%s/env-system.txt", dir);
  snprintf(cmd, sizeof cmd, "env > '%s'", path);
  AT_CHECK(system(cmd) == 0, "system(\"%s\") failed", cmd);
  char *text = slurp(path);
  check_env_text("system()", text);
  free(text);

  FILE *p = popen("env", "r");
  AT_CHECK(p != NULL, "popen failed");
  size_t cap = 1 << 16, n = 0, k;
  text = malloc(cap);
  while ((k = fread(text + n, 1, cap - n - 1, p)) > 0) {
    n += k;
    if (cap - n < 2) text = realloc(text, cap *= 2);
  }
  text[n] = 0;
  AT_CHECK(pclose(p) == 0, "pclose failed");
  check_env_text("popen()", text);
  free(text);

  snprintf(path, sizeof path, "%s/env-execv.txt", dir);
  fflush(stdout);
  pid_t pid = fork();
  AT_CHECK(pid >= 0, "fork failed");
  if (pid == 0) {
    FILE *f = freopen(path, "w", stdout);
    if (!f) _exit(126);
    execle("/usr/bin/env", "env", (char *)NULL, environ);
    _exit(127);
  }
  check_child_env(pid, path, "fork()+execle(environ)");

  snprintf(path, sizeof path, "%s/env-spawn.txt", dir);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  char *argv[] = {"env", NULL};
  AT_CHECK(posix_spawnp(&pid, "env", &fa, NULL, argv, environ) == 0, "posix_spawnp failed");
  posix_spawn_file_actions_destroy(&fa);
  check_child_env(pid, path, "posix_spawnp(environ)");

  /* This program again, exec'd by system(): it links libpalloc, so it would open the
   * (locked) arena if PALLOC_ARENA had leaked; it must run transient. */
  snprintf(path, sizeof path, "%s/probe.txt", dir);
  snprintf(cmd, sizeof cmd, "'%s' probe > '%s' 2>&1", self, path);
  int rc = system(cmd);
  text = slurp(path);
  AT_CHECK(rc == 0, "the exec'd probe failed (%#x): %s", rc, text);
  AT_CHECK(strstr(text, " arena=0 resumed=0") != NULL, "the exec'd probe is persistent: %s", text);
  free(text);
  at_say("exec ok arena=1");
  return 0;
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "";
  if (strcmp(mode, "probe") == 0) {
    void *p = malloc(64);
    at_say("probe pid=%d arena=%d resumed=%d", (int)getpid(), palloc_heap_arena() != NULL,
           palloc_heap_resumed());
    free(p);
    return 0;
  }
  if (strcmp(mode, "hold") == 0) {
    AT_CHECK(palloc_heap_arena() != NULL, "not a persistent process");
    at_say("holding pid=%d resumed=%d", (int)getpid(), palloc_heap_resumed());
    char buf[64];
    while (fread(buf, 1, sizeof buf, stdin) > 0) {
    }
    return 0;
  }
  if (strcmp(mode, "fork") == 0) {
    child_grow = !at_flag(argc, argv, "--no-child-grow");
    return do_fork(at_flag(argc, argv, "--hang"));
  }
  if (strcmp(mode, "verify") == 0) return do_verify();
  if (strcmp(mode, "exec") == 0 && argc > 2) {
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    AT_CHECK(n > 0, "readlink /proc/self/exe failed");
    self[n] = 0;
    return do_exec(argv[2], self);
  }
  fprintf(stderr, "usage: forkexec fork [--hang] | verify | exec DIR | hold | probe\n");
  return 64;
}
