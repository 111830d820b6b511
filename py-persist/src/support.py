"""_py_persist: the Python half of py-persist (built into the launcher).

It runs inside the persistent interpreter, so its functions and globals are part of the
image like everything else. The launcher calls:
  install_import_guard(paths)  fresh start: only declared extension modules may be imported
  record_watchdog()            fresh start: faulthandler.dump_traceback_later() records its
                               arguments (see watchdog.cpp)
  note_environment(env)        fresh start and every resume: the environment this process
                               started with, to tell the program's own changes from it
  resume(env)                  after the C-level repairs: the Python-level ones (the
                               launcher then calls the palloc.on_resume handlers itself)
  repl_compile(source)         compile a REPL statement (None while it is incomplete)
  join_threads()               at exit: wait for non-daemon threads, as Python does
"""

import sys

_declared = frozenset()
_start_env = {}


class _ExtensionGuard:
    """A meta path finder that refuses extension modules outside the declared set.

    It raises ModuleNotFoundError, as for a module that is not installed, so code with a
    fallback for a missing accelerator (hashlib without _hashlib) takes it."""

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        machinery = _machinery
        spec = machinery.PathFinder.find_spec(name, path, target)
        if spec is None or not isinstance(spec.loader, machinery.ExtensionFileLoader):
            return None
        if spec.origin in _declared:
            return None
        short = name.rpartition(".")[2]
        raise ModuleNotFoundError(
            f"py-persist: the extension module {name!r} ({spec.origin}) is not declared, so "
            f"it cannot be part of the persistent image. Declare it by starting py-persist "
            f"with --extension {short} (from the arena's first run on; its state must "
            f"survive a restart for this to be safe)",
            name=name, path=spec.origin)


_machinery = None


def install_import_guard(paths):
    global _declared, _machinery
    import importlib.machinery
    _machinery = importlib.machinery
    _declared = frozenset(paths)
    if _ExtensionGuard not in sys.meta_path:
        sys.meta_path.insert(0, _ExtensionGuard)


def note_environment(env):
    global _start_env
    _start_env = dict(env)


def join_threads():
    threading = sys.modules.get("threading")
    if threading is None:
        return
    main = threading.main_thread()
    for t in threading.enumerate():
        if t is not main and not t.daemon:
            t.join()


def _repair_signals():
    # The kernel forgot the dispositions; Python's handler table still has them.
    import signal
    for n in signal.valid_signals():
        if n in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            handler = signal.getsignal(n)
            if handler is None or handler == signal.SIG_DFL:
                continue
            signal.signal(n, handler)
        except (OSError, ValueError, RuntimeError):
            pass


def _repair_faulthandler():
    faulthandler = sys.modules.get("faulthandler")
    if faulthandler is not None and faulthandler.is_enabled():
        faulthandler.disable()
        faulthandler.enable(all_threads=True)


# faulthandler.dump_traceback_later()'s arguments while its watchdog is armed:
# (timeout, repeat, file, fd, exit); file is None when a descriptor number was passed.
_watchdog = None
_faulthandler_arm = None
_faulthandler_cancel = None


def _dump_traceback_later(timeout, repeat=False, file=None, exit=False):
    global _watchdog
    if file is None:
        file = sys.stderr  # what faulthandler itself takes
    _faulthandler_arm(timeout, repeat, file, exit)
    if isinstance(file, int):
        _watchdog = (timeout, bool(repeat), None, file, bool(exit))
    else:
        _watchdog = (timeout, bool(repeat), file, file.fileno(), bool(exit))


def _cancel_dump_traceback_later():
    global _watchdog
    _watchdog = None
    _faulthandler_cancel()


def record_watchdog():
    global _faulthandler_arm, _faulthandler_cancel
    import faulthandler
    if _faulthandler_arm is None:
        _faulthandler_arm = faulthandler.dump_traceback_later
        _faulthandler_cancel = faulthandler.cancel_dump_traceback_later
    _dump_traceback_later.__doc__ = _faulthandler_arm.__doc__
    _cancel_dump_traceback_later.__doc__ = _faulthandler_cancel.__doc__
    faulthandler.dump_traceback_later = _dump_traceback_later
    faulthandler.cancel_dump_traceback_later = _cancel_dump_traceback_later


def _repair_watchdog():
    """The watchdog thread is gone; watchdog.cpp made faulthandler's state say it ended.
    It is cancelled and armed again: its timeout starts over in this process."""
    global _watchdog
    if _watchdog is None:
        return
    timeout, repeat, file, fd, exit = _watchdog
    _watchdog = None
    _faulthandler_cancel()
    try:
        _dump_traceback_later(timeout, repeat, fd if file is None else file, exit)
    except (OSError, ValueError, RuntimeError, AttributeError) as e:
        print(f"py-persist: faulthandler.dump_traceback_later() was armed at the commit and cannot be armed "
              f"again: {e}", file=sys.stderr)


def _repair_environment(env):
    """Variables the program set or removed stay so; the rest come from this process."""
    import os
    old = dict(os.environ)
    result = dict(env)
    for key in set(old) | set(_start_env):
        if old.get(key) != _start_env.get(key):
            if key in old:
                result[key] = old[key]
            else:
                result.pop(key, None)
    for key in set(os.environ) | set(env):
        if key not in result:
            os.environ.pop(key, None)
            os.unsetenv(key)  # also when only the C library's environment has it
    for key, value in result.items():
        os.environ[key] = value  # also sets the C library's environment
    note_environment(env)


def _repair_stdio():
    import io
    import os
    # Read-ahead buffered before the restart belongs to the old process's input.
    old = sys.__stdin__
    if old is not None and not old.closed:
        new = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "rb", closefd=False)),
                               encoding=old.encoding, errors=old.errors,
                               line_buffering=old.line_buffering)
        new.mode = "r"
        if sys.stdin is old:
            sys.stdin = new
        sys.__stdin__ = new
    for name, fd in (("stdout", 1), ("stderr", 2)):
        stream = getattr(sys, name)
        if stream is None or not hasattr(stream, "reconfigure"):
            continue
        try:
            tty = os.isatty(fd)
        except OSError:
            continue
        if name == "stdout" and not stream.write_through:
            stream.reconfigure(line_buffering=tty)


def resume(env):
    import time
    _repair_signals()
    _repair_faulthandler()
    _repair_watchdog()
    _repair_environment(env)
    time.tzset()
    _repair_stdio()


_compiler = None


def repl_compile(source):
    global _compiler
    if _compiler is None:
        import codeop
        _compiler = codeop.CommandCompiler()
    return _compiler(source, "<stdin>", "single")
