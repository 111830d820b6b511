// fork.h — fork() hygiene: a child's copy of an arena detaches (never commits, owns no
// files). Arenas register here when they map and unregister when they unmap.
#pragma once

namespace palloc {

class Arena;
// False if too many arenas are open (64).
bool register_for_fork(Arena *arena);
void unregister_for_fork(Arena *arena);

}  // namespace palloc
