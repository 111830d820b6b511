# pp_tracing.py — the program's trace and profile functions across a restart.
# Run 1 sets sys.settrace and sys.setprofile (both record (event, file) in a list that is
# part of the image), registers an on_resume handler, commits from a function (the
# frames are discarded at the resume) and waits to be killed. Run 2 (resumed) prints what the
# functions recorded between the commit and its own first line, and what they record of
# its own code: py-persist's repairs must not appear, the handler and the program must.
import sys
import time

import palloc

runs = globals().get("runs", 0) + 1
if runs == 1:
    events = []

    def tracer(frame, event, arg):
        events.append(("trace", event, frame.f_code.co_filename, frame.f_code.co_name))
        return None  # no line events

    def profiler(frame, event, arg):
        events.append(("profile", event, frame.f_code.co_filename, getattr(arg, "__name__", "")))

    def on_resume():
        pass

    palloc.on_resume(on_resume)

    def commit_here():
        del events[:]
        palloc.commit()

    sys.settrace(tracer)
    sys.setprofile(profiler)
    commit_here()
    print("committed", flush=True)
    time.sleep(60)
    sys.exit(3)  # not killed in time

since_resume = list(events)  # before anything else of this run is recorded


def work():
    return len(since_resume)


work()
files = sorted({e[2] for e in since_resume + events})
print("resumed", runs, sys.gettrace() is tracer, sys.getprofile() is profiler, flush=True)
print("files", *files, flush=True)
print("handler", any(e[:2] == ("trace", "call") and e[3] == "on_resume" for e in since_resume), flush=True)
print("work", any(e[:2] == ("trace", "call") and e[3] == "work" for e in events), flush=True)
sys.settrace(None)
sys.setprofile(None)
