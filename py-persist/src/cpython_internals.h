/* cpython_internals.h — the few pieces of CPython 3.11's private runtime state that a
 * resume must touch, behind plain C functions. Only cpython_internals.c includes the
 * internal headers (Py_BUILD_CORE); everything else uses the public API. */
#ifndef PY_PERSIST_CPYTHON_INTERNALS_H
#define PY_PERSIST_CPYTHON_INTERNALS_H

#include <Python.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The key under which the GIL-state API finds a thread's PyThreadState. */
Py_tss_t *ppi_autotss_key(void);
/* The thread state that holds the GIL, read from the runtime (valid right after the
 * interpreter's static data was restored, before any API call). */
PyThreadState *ppi_current_tstate(void);
/* 1 if the thread runs no Python frame (the launcher's own top level). */
int ppi_stack_is_empty(PyThreadState *tstate);
/* Forgets the frames a thread was running when the image was committed: its C stack is
 * gone. References the frames held are leaked; `finally` blocks never run. */
void ppi_discard_frames(PyThreadState *tstate);
/* 1 once the runtime was initialised (read from the restored static data). */
int ppi_runtime_initialized(void);

#ifdef __cplusplus
}
#endif
#endif
