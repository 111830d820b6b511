// image.h — the adapter's record in the arena, found through the named root "lua-persist".
//
// It points at the persistent lua_State and lists the C modules the state has loaded,
// with the identity each had at the last commit. Versioned and checksummed like every
// on-disk structure (docs/format.md, "The Lua image record").
#pragma once

#include <lua.h>

#include <cstdint>
#include <string>

#include "palloc.h"

namespace lp {

constexpr const char *kRootName = "lua-persist";
constexpr uint64_t kImageMagic = 0x31414c5541554c50ull;  // "PLUAULA1"
constexpr uint32_t kImageVersion = 1;

struct ModuleRecord {
  char key[256];            // the CLIBS key: the path package.loadlib/require opened
  palloc_binary identity;   // its file, build-id and load address at the last commit
};

enum ImageFlags : uint32_t {
  kCommittedInCoroutine = 1u << 0,  // some coroutine had live C frames at the commit
};

struct Image {
  uint64_t magic;
  uint32_t version;
  uint32_t size;             // sizeof(Image)
  lua_State *L;              // the main thread of the persistent state
  uint64_t created_unix_ns;
  uint64_t commits;          // commits of this state, all processes
  uint64_t last_commit_unix_ns;
  uint32_t flags;
  uint32_t module_count;
  ModuleRecord *modules;     // module_count records, malloc'd in the heap
  uint8_t liblua_build_id[64];
  uint32_t liblua_build_id_len;
  uint32_t reserved;
  uint64_t checksum;         // XXH3-64 of the fields above and of the module records
};

// The image of this process's persistent state (NULL before one exists).
Image *image();
// Creates the record for a new state and points the root at it.
Image *create_image(lua_State *L);
// The committed record, validated; NULL if the arena has none. A record that fails its
// checks ends the process with a message (lp::fail).
Image *find_image();
uint64_t now_unix_ns();  // CLOCK_REALTIME
// Lower-case hex of a build-id ("none" if empty), for messages.
std::string hex(const uint8_t *bytes, uint32_t n);
// Recomputes the checksum (after any field changed).
void seal_image(Image *img);

}  // namespace lp
