// recovery.cpp — replay planning.
#include "recovery.h"

#include <algorithm>

namespace palloc {

Status plan_recovery(const DataFile &df, LogFile logs[2], bool verify_pages, bool discard_damaged,
                     RecoveryPlan *plan, const std::function<void(uint64_t)> &progress) {
  const DataHeader &h = df.header;
  const uint64_t seed = uuid_seed(h.uuid);
  RecoveryPlan p;
  p.epoch = h.checkpoint_epoch;
  p.unix_ns = h.checkpoint_unix_ns;
  p.state = h.state;

  std::vector<RecordInfo> all;
  uint64_t scanned_before = 0;
  for (unsigned i = 0; i < 2; i++) {
    if (logs[i].header.uuid != h.uuid)
      return {PALLOC_E_CORRUPT, logs[i].path + " belongs to a different arena (uuid " +
                                    uuid_string(logs[i].header.uuid) + ", arena " + uuid_string(h.uuid) + ")"};
    if (logs[i].header.page_size != h.layout.page_size)
      return {PALLOC_E_CORRUPT, logs[i].path + " has a different page size than its arena"};
    auto report = [&](uint64_t off) {
      if (progress) progress(scanned_before + off);
    };
    PALLOC_TRY(log_scan(logs[i], h.layout, seed, verify_pages, &p.scans[i], report));
    scanned_before += p.scans[i].file_end;
    const LogScan &s = p.scans[i];
    if (s.later_valid_epoch != 0 && discard_damaged) {
      p.notes.push_back(logs[i].path + ": discarded damaged commits from offset " + std::to_string(s.valid_end) +
                        " on (" + s.tail_problem + ")");
      p.lost_commits = true;
    } else if (s.later_valid_epoch != 0)
      return {PALLOC_E_CORRUPT,
              logs[i].path + " is damaged at offset " + std::to_string(s.valid_end) + " (" + s.tail_problem +
                  ") but a valid commit (epoch " + std::to_string(s.later_valid_epoch) +
                  ") follows the damage; recovering would silently drop commits. Run `palloc check` for details; "
                  "`palloc recover --discard-damaged` accepts the loss"};
    else if (s.torn_tail)
      p.notes.push_back(logs[i].path + ": ignored an incomplete record at offset " + std::to_string(s.valid_end) +
                        " (" + s.tail_problem + ")");
    for (const RecordInfo &r : s.records) all.push_back(r);
  }
  std::sort(all.begin(), all.end(),
            [](const RecordInfo &a, const RecordInfo &b) { return a.header.epoch < b.header.epoch; });
  for (RecordInfo &r : all) {
    if (r.header.epoch <= p.epoch) continue;  // already in the data file
    if (r.header.epoch != p.epoch + 1 && discard_damaged) {
      p.notes.push_back("discarded commits from epoch " + std::to_string(r.header.epoch) + " on: commit " +
                        std::to_string(p.epoch + 1) + " is missing or damaged");
      p.lost_commits = true;
      break;
    }
    if (r.header.epoch != p.epoch + 1)
      return {PALLOC_E_CORRUPT, "the logs hold commit " + std::to_string(r.header.epoch) + " but commit " +
                                    std::to_string(p.epoch + 1) +
                                    " is missing or damaged; recovering would silently drop commits. "
                                    "`palloc recover --discard-damaged` accepts the loss"};
    p.epoch = r.header.epoch;
    p.unix_ns = r.header.unix_ns;
    p.state = r.state;
    p.chain.push_back(std::move(r));
  }
  *plan = std::move(p);
  return ok_status();
}

}  // namespace palloc
