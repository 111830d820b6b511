// text.h — formatting for human-readable output: sizes, times, addresses, aligned
// "key  value" blocks and columns.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

namespace palloc::tool {

// "16 MiB", "1.5 GiB", "812 bytes".
std::string human_bytes(uint64_t n);
// "0x110000000000".
std::string hex_addr(uint64_t a);
// Local time, "2024-11-22 19:02:03 +0100"; "-" for 0.
std::string local_time(uint64_t unix_ns);
// UTC, ISO 8601 with milliseconds, "2024-11-22T18:02:03.123Z" (for JSON).
std::string iso_time(uint64_t unix_ns);
// The command name of a process, from /proc (empty if unknown).
std::string process_name(long pid);

// Key/value lines with the values aligned:
//   format version  1
//   page size       4096
class KeyValues {
 public:
  void add(std::string key, std::string value) { rows_.emplace_back(std::move(key), std::move(value)); }
  void print(FILE *out, const std::string &indent = "") const;

 private:
  std::vector<std::pair<std::string, std::string>> rows_;
};

// Rows of cells printed with every column padded to its widest cell.
void print_columns(FILE *out, const std::vector<std::vector<std::string>> &rows, const std::string &indent);

}  // namespace palloc::tool
