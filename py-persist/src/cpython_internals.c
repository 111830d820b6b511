/* cpython_internals.c — see cpython_internals.h. Built against the internal headers of the
 * very libpython3.11 the launcher links (Debian's libpython3.11-dev ships them). */
#define Py_BUILD_CORE 1
#include "cpython_internals.h"

#include <internal/pycore_frame.h>
#include <internal/pycore_runtime.h>

Py_tss_t *ppi_autotss_key(void) { return &_PyRuntime.gilstate.autoTSSkey; }

PyThreadState *ppi_current_tstate(void) {
  return (PyThreadState *)_Py_atomic_load_relaxed(&_PyRuntime.gilstate.tstate_current);
}

int ppi_stack_is_empty(PyThreadState *tstate) {
  return tstate->cframe == &tstate->root_cframe && tstate->root_cframe.current_frame == NULL;
}

void ppi_discard_frames(PyThreadState *tstate) {
  tstate->cframe = &tstate->root_cframe;
  tstate->root_cframe.current_frame = NULL;
  tstate->recursion_remaining = tstate->recursion_limit;
  tstate->tracing = 0;
  /* The root frame's flag may predate a trace or profile function set inside the frames
   * discarded: recompute it as PyEval_SetTrace does, or the next frame would not be traced. */
  tstate->root_cframe.use_tracing = (tstate->c_tracefunc || tstate->c_profilefunc) ? 255 : 0;
  tstate->curexc_type = tstate->curexc_value = tstate->curexc_traceback = NULL;
  tstate->exc_state.exc_value = NULL;
  tstate->exc_state.previous_item = NULL;
  tstate->exc_info = &tstate->exc_state;
  /* Back to the first data-stack chunk, as a new thread state has it (its first slot is
   * skipped so that popping the bottom frame never frees the chunk). Later chunks are
   * abandoned with the frames in them. */
  _PyStackChunk *chunk = tstate->datastack_chunk;
  if (chunk) {
    while (chunk->previous) chunk = chunk->previous;
    tstate->datastack_chunk = chunk;
    tstate->datastack_top = &chunk->data[1];
    tstate->datastack_limit = (PyObject **)(((char *)chunk) + chunk->size);
  }
}

int ppi_runtime_initialized(void) { return _PyRuntime.initialized; }
