// progress.cpp — throttled progress reports.
#include "progress.h"

#include <unistd.h>

#include <cstdio>

#include "io.h"

namespace palloc::tool {

Progress::Progress(std::string label, uint64_t total, bool enabled)
    : label_(std::move(label)), total_(total), enabled_(enabled), tty_(isatty(STDERR_FILENO) == 1),
      last_ns_(now_monotonic_ns()) {}

void Progress::update(uint64_t done) {
  if (!enabled_ || total_ == 0) return;
  const uint64_t now = now_monotonic_ns();
  if (now - last_ns_ < 1000000000ull) return;
  last_ns_ = now;
  const unsigned pct = static_cast<unsigned>(done >= total_ ? 100 : done * 100 / total_);
  std::fprintf(stderr, tty_ ? "\r%s: %3u%%" : "%s: %u%%\n", label_.c_str(), pct);
  std::fflush(stderr);
  shown_ = true;
}

void Progress::finish() {
  if (!shown_) return;
  shown_ = false;
  // Leave the terminal line clean for the verdict; a log just gets the final line.
  if (tty_)
    std::fprintf(stderr, "\r%*s\r", static_cast<int>(label_.size() + 6), "");
  else
    std::fprintf(stderr, "%s: 100%%\n", label_.c_str());
  std::fflush(stderr);
}

}  // namespace palloc::tool
