"""pp_counter.py — counts its runs.   py-persist pp_counter.py HOW

HOW: "kill" commits, prints "committed" and waits on stdin (the driver kills it);
"sysexit" ends with sys.exit(3); "raise" with an uncaught exception; anything else falls
off the end. Only "kill" commits explicitly: the others rely on the commit at exit.
"""
import sys

count = globals().get("count", 0) + 1
print("count", count, flush=True)
how = sys.argv[1]
if how == "kill":
    import palloc
    palloc.commit()
    print("committed", flush=True)
    sys.stdin.readline()
elif how == "sysexit":
    sys.exit(3)
elif how == "raise":
    raise ValueError(f"uncaught in run {count}")
