// binaries.cpp — build-ids and load addresses from the dynamic loader's module list.
#include "binaries.h"

#include <elf.h>
#include <link.h>
#include <unistd.h>

#include <climits>
#include <cstring>

namespace palloc {
namespace {

struct Module {
  std::string path;
  uint64_t load_address = 0;
  std::vector<uint8_t> build_id;
  bool contains = false;
};

std::string self_exe() {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string("/proc/self/exe");
}

std::string canonical(const char *name) {
  if (!name || !*name) return self_exe();
  char buf[PATH_MAX];
  return realpath(name, buf) ? std::string(buf) : std::string(name);
}

std::vector<uint8_t> build_id_of(const dl_phdr_info *info) {
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) &ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_NOTE) continue;
    const auto *p = reinterpret_cast<const uint8_t *>(info->dlpi_addr + ph.p_vaddr);
    const uint8_t *end = p + ph.p_memsz;
    while (p + sizeof(ElfW(Nhdr)) <= end) {
      const auto *nh = reinterpret_cast<const ElfW(Nhdr) *>(p);
      const uint8_t *name = p + sizeof(ElfW(Nhdr));
      const uint8_t *desc = name + ((nh->n_namesz + 3) & ~3u);
      if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && std::memcmp(name, "GNU", 4) == 0 &&
          nh->n_descsz <= kBuildIdMax)
        return std::vector<uint8_t>(desc, desc + nh->n_descsz);
      p = desc + ((nh->n_descsz + 3) & ~3u);
    }
  }
  return {};
}

std::vector<Module> loaded_modules(const void *probe) {
  struct Ctx {
    std::vector<Module> mods;
    uintptr_t probe;
  } ctx{{}, reinterpret_cast<uintptr_t>(probe)};
  dl_iterate_phdr(
      [](dl_phdr_info *info, size_t, void *arg) -> int {
        auto *c = static_cast<Ctx *>(arg);
        Module m;
        for (int i = 0; i < info->dlpi_phnum; i++) {
          const ElfW(Phdr) &ph = info->dlpi_phdr[i];
          if (ph.p_type != PT_LOAD) continue;
          uintptr_t lo = info->dlpi_addr + ph.p_vaddr;
          if (c->probe >= lo && c->probe < lo + ph.p_memsz) m.contains = true;
        }
        if (info->dlpi_name && std::strstr(info->dlpi_name, "linux-vdso")) return 0;
        // Resolving a path costs a readlink per component: with a probe, only the
        // module that contains it is needed (an interpreter registers dozens of regions).
        if (c->probe && !m.contains) return 0;
        m.path = canonical(info->dlpi_name);
        m.load_address = info->dlpi_addr;
        m.build_id = build_id_of(info);
        c->mods.push_back(std::move(m));
        return 0;
      },
      &ctx);
  return ctx.mods;
}

std::string addr_hex(uint64_t a) {
  char buf[32];
  snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(a));
  return buf;
}

}  // namespace

Status binary_containing(const void *addr, BinaryRecord *out) {
  for (Module &m : loaded_modules(addr)) {
    if (!m.contains) continue;
    if (m.path.size() > kBinaryPathMax) return {PALLOC_E_INVALID, "binary path too long: " + m.path};
    out->path = m.path;
    out->build_id = m.build_id;
    out->load_address = m.load_address;
    return ok_status();
  }
  return {PALLOC_E_NOT_FOUND, "no loaded binary contains address " + addr_hex(reinterpret_cast<uintptr_t>(addr))};
}

Status verify_binaries(const std::vector<BinaryRecord> &binaries) {
  if (binaries.empty()) return ok_status();
  std::vector<Module> mods = loaded_modules(nullptr);
  for (const BinaryRecord &b : binaries) {
    const Module *found = nullptr;
    for (const Module &m : mods)
      if (m.path == b.path) found = &m;
    const std::string hint = " Start the program the same way it was started before (e.g. under `palloc run`), or start over with a new arena.";
    if (!found)
      return {PALLOC_E_BINARY, "the image depends on " + b.path + " (build-id " + hex(b.build_id.data(), b.build_id.size()) +
                                   "), which is not loaded in this process." + hint};
    if (found->build_id != b.build_id)
      return {PALLOC_E_BINARY, b.path + " changed since the image was committed: build-id was " +
                                   hex(b.build_id.data(), b.build_id.size()) + ", now " +
                                   hex(found->build_id.data(), found->build_id.size()) +
                                   ". The image holds addresses inside the old binary and cannot be resumed." + hint};
    if (found->load_address != b.load_address)
      return {PALLOC_E_BINARY, b.path + " is loaded at " + addr_hex(found->load_address) + " but the image needs it at " +
                                   addr_hex(b.load_address) + " (address-space randomisation?)." + hint};
  }
  return ok_status();
}

}  // namespace palloc
