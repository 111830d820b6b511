// api_arena.h — what a palloc_arena handle is (shared by the C API and the heap).
#pragma once

#include <memory>

#include "arena.h"

struct palloc_arena {
  std::unique_ptr<palloc::Arena> impl;
};
