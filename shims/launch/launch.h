// launch.h — starting a program on a persistent heap: what `palloc run` and the
// interpreter front ends (lua-persist) share.
#pragma once

#include <string>

namespace palloc::launch {

// The directory of the running executable.
std::string self_dir();
// path made absolute against the current directory.
std::string absolute(const std::string &path);
// mkdir -p with mode 0700. False with errno set on failure.
bool make_dirs(const std::string &dir);
// ${XDG_DATA_HOME:-$HOME/.local/share}/palloc: where arenas live by default.
std::string data_dir();
// The installed library NAME (e.g. "libpalloc.so"): $ENV_VAR if set, else ../lib/NAME
// next to this executable.
std::string library_path(const char *name, const char *env_var);

// Makes the next exec'd image load at the same addresses every run: no address-space
// randomisation, and a finite stack limit (an unlimited one switches the kernel to the
// legacy mmap layout). False with *error set on failure.
bool pin_address_space(std::string *error);

}  // namespace palloc::launch
