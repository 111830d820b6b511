/* alloc-small: millions of small objects in linked structures.
 *
 * Like the "binary-trees" program: one long-lived tree stays up while many short-lived
 * trees of increasing depth are built, walked and freed, and a linked list of small
 * strings is built, half of it freed in place and refilled (which scatters new objects
 * among old ones). Tree nodes are 32 bytes and each carries a name of 8-40 bytes, so
 * every object is in the 8-64 byte range, the case interpreters and compilers live in.
 * Reports objects allocated per second. */
#include "alloc_common.h"

typedef struct node {
  struct node *left, *right;
  char *name;
  uint32_t name_len;
  uint32_t key;
} node_t;

static long max_depth = 16, list_len = 1000000, seed = 1;
static long allocated;

static node_t *make_tree(int depth, uint32_t *key, rng_t *rng) {
  node_t *n = must_malloc(sizeof *n);
  n->key = (*key)++;
  n->name_len = (uint32_t)rng_range(rng, 8, 40);
  n->name = must_malloc(n->name_len);
  stamp(n->name, n->name_len, mix64(n->key));
  allocated += 2;
  n->left = depth > 0 ? make_tree(depth - 1, key, rng) : NULL;
  n->right = depth > 0 ? make_tree(depth - 1, key, rng) : NULL;
  return n;
}

/* Checks every node (keys were handed out in pre-order) and returns the node count. */
static long check_tree(const node_t *n, uint32_t *key) {
  if (n->key != (*key)++) corrupt("tree node key changed", n, sizeof *n);
  if (!stamp_ok(n->name, n->name_len, mix64(n->key))) corrupt("node name changed", n->name, n->name_len);
  return 1 + (n->left ? check_tree(n->left, key) : 0) + (n->right ? check_tree(n->right, key) : 0);
}

static void free_tree(node_t *n) {
  if (n->left) free_tree(n->left);
  if (n->right) free_tree(n->right);
  free(n->name);
  free(n);
}

static void tree_phase(rng_t *rng) {
  uint32_t key = 0, k;
  node_t *long_lived = make_tree((int)max_depth, &key, rng);
  for (int d = 4; d <= max_depth; d += 2) {
    long trees = 1L << (max_depth - d + 4);
    for (long i = 0; i < trees; i++) {
      uint32_t first = key;
      node_t *t = make_tree(d, &key, rng);
      k = first;
      if (check_tree(t, &k) != (2L << d) - 1) corrupt("tree lost nodes", t, sizeof *t);
      free_tree(t);
    }
  }
  k = 0;
  if (check_tree(long_lived, &k) != (2L << max_depth) - 1) corrupt("long-lived tree lost nodes", long_lived, 0);
  free_tree(long_lived);
}

typedef struct item {
  struct item *next;
  uint64_t tag;
  uint32_t len;
  char text[]; /* len bytes */
} item_t;

static item_t *new_item(rng_t *rng, uint64_t tag) {
  uint32_t len = (uint32_t)rng_range(rng, 0, 40);
  item_t *it = must_malloc(sizeof(item_t) + len); /* 24-64 bytes */
  it->tag = tag;
  it->len = len;
  stamp(it->text, len, tag);
  allocated++;
  return it;
}

static void check_item(const item_t *it) {
  if (!stamp_ok(it->text, it->len, it->tag)) corrupt("list item changed", it, sizeof *it + it->len);
}

static void list_phase(rng_t *rng) {
  item_t *head = NULL;
  uint64_t tag = 0;
  for (long i = 0; i < list_len; i++) {
    item_t *it = new_item(rng, mix64(tag++));
    it->next = head;
    head = it;
  }
  /* Replace every other item by a new one of a different size. */
  for (item_t *it = head; it && it->next; it = it->next) {
    item_t *old = it->next;
    check_item(old);
    item_t *repl = new_item(rng, mix64(tag++));
    repl->next = old->next;
    it->next = repl;
    free(old);
    it = repl;
  }
  long n = 0;
  while (head) {
    item_t *next = head->next;
    check_item(head);
    free(head);
    head = next;
    n++;
  }
  if (n != list_len) die("the list lost items");
}

int main(int argc, char **argv) {
  opt_t opts[] = {
    {"depth", &max_depth, 12, 4, 30, "depth of the deepest tree"},
    {"list", &list_len, 100000, 0, 1L << 34, "items in the linked list"},
    {"seed", &seed, 1, 0, 1L << 62, "random seed"},
  };
  parse_options(argc, argv, "alloc-small",
                "Many small objects: binary trees of 32-byte nodes with 8-40 byte names, and a\n"
                "linked list of 24-64 byte items, built, checked and freed.",
                opts, sizeof opts / sizeof opts[0]);
  rng_t rng = rng_seed((uint64_t)seed);
  double t0 = now_sec();
  tree_phase(&rng);
  list_phase(&rng);
  double elapsed = now_sec() - t0;
  printf("alloc-small: depth=%ld list=%ld objects=%ld time=%.3f s throughput=%.2f Mobjects/s "
         "malloc=%s\n",
         max_depth, list_len, allocated, elapsed, (double)allocated / elapsed / 1e6,
         malloc_provider());
  return 0;
}
