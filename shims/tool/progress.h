// progress.h — a percentage on stderr for long jobs, at most once a second.
#pragma once

#include <cstdint>
#include <string>

namespace palloc::tool {

class Progress {
 public:
  // Shows nothing unless `enabled`; the first report waits a second, so quick jobs stay
  // silent. On a terminal the line is rewritten in place; elsewhere each report is a line.
  Progress(std::string label, uint64_t total, bool enabled);
  ~Progress() { finish(); }
  Progress(const Progress &) = delete;
  Progress &operator=(const Progress &) = delete;

  void set_total(uint64_t total) { total_ = total; }
  void update(uint64_t done);
  void finish();

 private:
  std::string label_;
  uint64_t total_;
  bool enabled_;
  bool tty_;
  bool shown_ = false;
  uint64_t last_ns_;
};

}  // namespace palloc::tool
