// binaries.h — identity (path, GNU build-id, load address) of the loaded executable and
// shared objects, so an image that holds pointers into them is only resumed when the
// very same binaries sit at the very same addresses.
#pragma once

#include <vector>

#include "format.h"

namespace palloc {

// The identity of the loaded object containing addr.
Status binary_containing(const void *addr, BinaryRecord *out);
// Checks that every recorded binary is loaded with the same build-id and address.
Status verify_binaries(const std::vector<BinaryRecord> &binaries);

}  // namespace palloc
