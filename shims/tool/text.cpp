// text.cpp — human-readable formatting.
#include "text.h"

#include <ctime>

#include <algorithm>
#include <fstream>

namespace palloc::tool {

std::string human_bytes(uint64_t n) {
  static const char *units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB"};
  if (n < 1024) return std::to_string(n) + (n == 1 ? " byte" : " bytes");
  double v = static_cast<double>(n);
  unsigned u = 0;
  while (v >= 1024 && u + 1 < sizeof units / sizeof *units) {
    v /= 1024;
    u++;
  }
  char buf[32];
  // Whole numbers print without a fraction: "64 GiB" rather than "64.0 GiB".
  if (n % (1ull << (10 * u)) == 0)
    std::snprintf(buf, sizeof buf, "%.0f %s", v, units[u]);
  else
    std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
  return buf;
}

std::string hex_addr(uint64_t a) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(a));
  return buf;
}

std::string local_time(uint64_t unix_ns) {
  if (unix_ns == 0) return "-";
  const time_t t = static_cast<time_t>(unix_ns / 1000000000ull);
  struct tm tm;
  if (!localtime_r(&t, &tm)) return std::to_string(unix_ns) + " ns";
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S %z", &tm);
  return buf;
}

std::string iso_time(uint64_t unix_ns) {
  const time_t t = static_cast<time_t>(unix_ns / 1000000000ull);
  struct tm tm;
  if (!gmtime_r(&t, &tm)) return "";
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[80];
  std::snprintf(out, sizeof out, "%s.%03lluZ", buf, static_cast<unsigned long long>(unix_ns / 1000000 % 1000));
  return out;
}

std::string process_name(long pid) {
  std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
  std::string name;
  std::getline(comm, name);
  return name;
}

void KeyValues::print(FILE *out, const std::string &indent) const {
  size_t width = 0;
  for (const auto &row : rows_) width = std::max(width, row.first.size());
  for (const auto &[key, value] : rows_)
    std::fprintf(out, "%s%-*s  %s\n", indent.c_str(), static_cast<int>(width), key.c_str(), value.c_str());
}

void print_columns(FILE *out, const std::vector<std::vector<std::string>> &rows, const std::string &indent) {
  std::vector<size_t> widths;
  for (const auto &row : rows)
    for (size_t c = 0; c < row.size(); c++) {
      if (widths.size() <= c) widths.push_back(0);
      widths[c] = std::max(widths[c], row[c].size());
    }
  for (const auto &row : rows) {
    std::string line = indent;
    for (size_t c = 0; c < row.size(); c++) {
      line += row[c];
      if (c + 1 < row.size()) line += std::string(widths[c] - row[c].size() + 2, ' ');
    }
    std::fprintf(out, "%s\n", line.c_str());
  }
}

}  // namespace palloc::tool
