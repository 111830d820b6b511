"""pp_env.py — environment, working directory and locale across restarts.

    py-persist pp_env.py BASE HOW     HOW: exit, or kill (commit, "COMMITTED", wait)

Each run makes its own changes (run 1: sets PP_SET and PP_CHANGED, removes PP_REMOVE,
changes to BASE/sub1, sets the locale to C.UTF-8; run 2: sets PP_LATER, changes to
../sub2; run 3: removes PP_SET), then prints "env {json}", "cwd DIR", "locale L" and
"sh TEXT" (what a shell it starts sees).
"""
import json
import locale
import os
import subprocess
import sys

import palloc

NAMES = ["PP_SET", "PP_REMOVE", "PP_CHANGED", "PP_DRIVER", "PP_GONE", "PP_LATER"]

run = globals().get("run", 0) + 1
if run == 1:
    os.environ["PP_SET"] = "set by the program"
    os.environ["PP_CHANGED"] = "program value"
    del os.environ["PP_REMOVE"]
    os.chdir(os.path.join(sys.argv[1], "sub1"))
    locale.setlocale(locale.LC_ALL, "C.UTF-8")
elif run == 2:
    os.environ["PP_LATER"] = "from run 2"
    os.chdir("../sub2")
elif run == 3:
    del os.environ["PP_SET"]

print("env", json.dumps({n: os.environ.get(n) for n in NAMES}, sort_keys=True))
print("cwd", os.getcwd())
print("locale", locale.setlocale(locale.LC_ALL))
script = 'printf "%s|" "${PP_SET-unset}" "${PP_REMOVE-unset}" "${PP_CHANGED-unset}" "${PP_DRIVER-unset}" ' \
         '"${PP_GONE-unset}" "${PP_LATER-unset}"; pwd'
sh = subprocess.run(["sh", "-c", script], capture_output=True, text=True)
print("sh", sh.stdout.strip().replace("\n", " "), sh.returncode, flush=True)
if sys.argv[2] == "kill":
    palloc.commit()
    print("COMMITTED", flush=True)
    sys.stdin.readline()
