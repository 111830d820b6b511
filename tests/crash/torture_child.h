// torture_child.h — the body of the process palloc-torture kills.
#pragma once

#include "torture_options.h"

namespace crash {

// Runs until killed (or until the parent closes the "go" pipe). Expects its pipe ends
// and the status memfd at the descriptors named in protocol.h.
[[noreturn]] void run_child(const TortureOptions &opts);

}  // namespace crash
