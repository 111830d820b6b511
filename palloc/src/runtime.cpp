// runtime.cpp — storage for the RuntimeScope depth.
#include "runtime.h"

namespace palloc {

__thread unsigned t_runtime_depth __attribute__((tls_model("initial-exec"))) = 0;

}  // namespace palloc
