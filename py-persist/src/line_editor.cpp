// line_editor.cpp — the interactive prompt's input. On a terminal it is GNU readline,
// whose memory (and history) belongs to this process, not to the persistent state: it runs
// between palloc_local_enter/leave. Ctrl-C abandons the line being typed.
#include <readline/history.h>
#include <readline/readline.h>
#include <unistd.h>

#include <csetjmp>
#include <csignal>
#include <cstdio>
#include <cstdlib>

#include "palloc.h"
#include "py_persist.h"

namespace pp {
namespace {

sigjmp_buf g_interrupt;

void on_sigint(int) { siglongjmp(g_interrupt, 1); }

}  // namespace

bool read_line(const std::string &prompt, std::string *line, bool *interrupted) {
  *interrupted = false;
  line->clear();
  if (!isatty(STDIN_FILENO)) {  // as python3 -i: prompts on stderr, plain lines
    fputs(prompt.c_str(), stderr);
    fflush(stderr);
    char buf[4096];
    while (fgets(buf, sizeof buf, stdin)) {
      *line += buf;
      if (line->back() == '\n') break;
    }
    if (line->empty()) return false;
    if (line->back() == '\n') line->pop_back();
    return true;
  }
  static bool configured = false;
  palloc_local_enter();
  if (!configured) {
    rl_catch_signals = 0;  // Ctrl-C is ours (below); the others stay Python's
    rl_readline_name = "python";
    configured = true;
  }
  struct sigaction sa = {}, old = {};
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old);
  char *text = nullptr;
  bool got = false;
  if (sigsetjmp(g_interrupt, 1) == 0) {
    text = readline(prompt.c_str());
    got = text != nullptr;
  } else {
    rl_free_line_state();
    rl_cleanup_after_signal();
    rl_reset_after_signal();
    fputc('\n', stdout);
    *interrupted = true;
  }
  sigaction(SIGINT, &old, nullptr);
  if (text) {
    *line = text;
    if (*text) add_history(text);
    free(text);
  }
  palloc_local_leave();
  return got || *interrupted;
}

}  // namespace pp
