// image.cpp — create, find, validate and seal the adapter's record in the arena.
#include "image.h"

#define XXH_STATIC_LINKING_ONLY  // XXH3_state_t on the stack
#include <xxhash.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "lua_persist.h"

namespace lp {
namespace {

Image *g_image = nullptr;

uint64_t checksum_of(const Image *img) {
  XXH3_state_t st;
  XXH3_64bits_reset(&st);
  XXH3_64bits_update(&st, img, offsetof(Image, checksum));
  if (img->modules && img->module_count)
    XXH3_64bits_update(&st, img->modules, sizeof(ModuleRecord) * img->module_count);
  return XXH3_64bits_digest(&st);
}

}  // namespace

Image *image() { return g_image; }

void seal_image(Image *img) { img->checksum = checksum_of(img); }

Image *create_image(lua_State *L) {
  auto *img = static_cast<Image *>(calloc(1, sizeof(Image)));
  if (!img) fail("cannot allocate the image record", "out of memory");
  img->magic = kImageMagic;
  img->version = kImageVersion;
  img->size = sizeof(Image);
  img->L = L;
  img->created_unix_ns = now_unix_ns();
  seal_image(img);
  if (palloc_root_set_named(palloc_heap_arena(), kRootName, reinterpret_cast<uint64_t>(img)) != PALLOC_OK)
    fail("cannot record the Lua state in the arena", palloc_last_error());
  g_image = img;
  return img;
}

Image *find_image() {
  uint64_t value = 0;
  if (palloc_root_get_named(palloc_heap_arena(), kRootName, &value) != PALLOC_OK || value == 0) return nullptr;
  auto *img = reinterpret_cast<Image *>(value);
  char why[160];
  if (img->magic != kImageMagic) {
    snprintf(why, sizeof why, "the root \"%s\" does not point at a Lua image record", kRootName);
    fail("the arena holds something else than a Lua state", why);
  }
  if (img->version != kImageVersion || img->size != sizeof(Image)) {
    snprintf(why, sizeof why, "its Lua image record has version %u (size %u); this build reads version %u (size %zu)",
             img->version, img->size, kImageVersion, sizeof(Image));
    fail("the arena was written by another version of lua-persist", why);
  }
  if (img->checksum != checksum_of(img)) fail("the arena's Lua image record is damaged", "its checksum does not match");
  g_image = img;
  return img;
}

std::string hex(const uint8_t *p, uint32_t n) {
  static const char digits[] = "0123456789abcdef";
  std::string s;
  for (uint32_t i = 0; i < n; i++) {
    s += digits[p[i] >> 4];
    s += digits[p[i] & 15];
  }
  return n ? s : std::string("none");
}

uint64_t now_unix_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

}  // namespace lp
