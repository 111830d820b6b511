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
    if (s.torn_tail && s.later_valid_epoch == 0)
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
  // Valid records after damage. If none of them was written when anything past the
  // recovered commit was known to be on disk, the damage is an un-synced write that a
  // power loss cut while later un-synced writes reached the disk: a torn tail, as far as
  // any acknowledged durable commit is concerned. Otherwise a commit that was durable
  // is damaged, and replaying only what precedes it would silently drop commits.
  for (unsigned i = 0; i < 2; i++) {
    const LogScan &s = p.scans[i];
    if (s.later_valid_epoch == 0) continue;
    const std::string where = logs[i].path + " is damaged at offset " + std::to_string(s.valid_end) + " (" + s.tail_problem + ")";
    if (s.later_durable_epoch != kDurableUnknown && s.later_durable_epoch <= p.epoch) {
      p.notes.push_back(where + "; the commits after it up to epoch " + std::to_string(s.later_valid_epoch) +
                        " were never known to be on disk (a power loss?) and were dropped");
    } else if (discard_damaged) {
      p.notes.push_back(where + "; discarded the commits after it, up to epoch " + std::to_string(s.later_valid_epoch));
      p.lost_commits = true;
    } else {
      return {PALLOC_E_CORRUPT, where + " but a valid commit (epoch " + std::to_string(s.later_valid_epoch) +
                                    ") follows the damage; recovering would silently drop commits. Run `palloc check` "
                                    "for details; `palloc recover --discard-damaged` accepts the loss"};
    }
  }
  *plan = std::move(p);
  return ok_status();
}

}  // namespace palloc
