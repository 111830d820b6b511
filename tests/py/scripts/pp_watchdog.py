# pp_watchdog.py — faulthandler.dump_traceback_later() armed when the state is committed.
# Run 1 arms a 1.5 s watchdog, commits and waits to be killed. Run 2 (resumed) sleeps
# past 1.5 s (the watchdog, armed again, fires: stderr gets a "Timeout" dump), cancels it,
# arms a 0.3 s one and cancels it after it fired too, then exits normally.
import faulthandler
import sys
import time

import palloc

runs = globals().get("runs", 0) + 1
if runs == 1:
    faulthandler.dump_traceback_later(1.5)
    palloc.commit()
    print("armed", flush=True)
    time.sleep(60)
    sys.exit(3)  # not killed in time
t0 = time.monotonic()
time.sleep(2.0)
faulthandler.cancel_dump_traceback_later()  # waited for ever for the vanished thread before
print("cancelled", flush=True)
faulthandler.dump_traceback_later(0.3)
time.sleep(0.8)
faulthandler.cancel_dump_traceback_later()
print("done", runs, round(time.monotonic() - t0, 1), flush=True)
