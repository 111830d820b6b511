// fault_files.h — file handling for the fault-injection tests: scratch directories,
// copies of an arena's three files, bit flips, truncation and content digests.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace crash {

// A fresh directory, removed with everything in it when this goes out of scope.
// Created under $PALLOC_TEST_DIR, else /dev/shm if it has 1 GiB free (fast reopen
// loops), else $TMPDIR or /tmp.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir &) = delete;
  TempDir &operator=(const TempDir &) = delete;
  const std::string &path() const { return path_; }
  std::string operator/(const std::string &name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// The arena at `path` is these files: the data file and its two logs.
std::vector<std::string> arena_files(const std::string &path);

// Copies one file, keeping holes as holes (data files are mostly holes).
void copy_file_sparse(const std::string &from, const std::string &to);
// Copies an arena's three files next to `to` (which names the copy's data file).
void copy_arena(const std::string &from, const std::string &to);

// Flips bit `bit` (0-7) of the byte at `offset`.
void flip_bit(const std::string &file, uint64_t offset, unsigned bit);
void truncate_file(const std::string &file, uint64_t size);
uint64_t file_size(const std::string &file);
// Reads `len` bytes at `offset` (short at the end of the file).
std::vector<uint8_t> read_bytes(const std::string &file, uint64_t offset, uint64_t len);

// A digest of size and content of every file of the arena: equal digests, unchanged files.
std::string arena_fingerprint(const std::string &path);

}  // namespace crash
