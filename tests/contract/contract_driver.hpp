// The sync contract, checked by random operation sequences: a driver applies seeded, weighted
// random operations to the real daemon (`exsyncd run`: engine, store, HTTPS) and the tenant
// simulator, from both sides and with faults in between, while a small reference model tracks
// what the CRM and Exchange must end up seeing. At quiescence points (faults lifted, every
// mailbox caught up) it checks the invariants against the model, then continues from what it
// observed.
//
// The invariants, each one a promise of README's "The CRM's API":
//   converged    the store equals Exchange item by item (a series with its occurrences),
//                except what is visibly parked
//   kept         every acknowledged CRM write is in Exchange exactly once, or visibly parked,
//                or lost to a conflict that kept it (`.../conflicts`); nothing is duplicated
//                (a series' renamed and cancelled occurrences among them: the CRM makes weekly
//                series and changes single occurrences through .../occurrences/{original_start})
//   not reverted Exchange's own changes survive the CRM's writes to other fields
//   deleted      what either side deleted stays deleted, unless the CRM edited it afterwards
//   stable ids   a local id never changes
//   feed         seqs strictly increase; no item is reported deleted that exists; every item
//                made in Exchange was reported
//   messages     every accepted message is in Sent Items exactly once (or visibly failed);
//                none is sent twice
//   live         every folder syncs: a probe made in Exchange arrives, deletions held are
//                visible and apply once confirmed
//
// Each run is reproducible from its seed (the Simulator's own seed is derived from it; the
// daemon's timing is not, so a run that found something is repeated with the same seed to see
// it again, usually at once).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace exsync::contract {

struct RunOptions {
  std::uint32_t seed = 1;
  int operations = 150;
  int mailboxes = 2;
  int contacts = 12;  // seeded per mailbox
  int events = 2;
  // Operation weights replacing the defaults, by name ("resync" -> 0 leaves resyncs out).
  std::map<std::string, int> weights;
};

struct RunReport {
  std::uint32_t seed = 0;
  int operations = 0;
  std::map<std::string, int> by_kind;  // operations applied, by kind
  int quiescence_points = 0;
  int checks = 0;                      // individual invariant checks made
  int deletions_confirmed = 0;
  std::vector<std::string> violations;  // empty when the contract held
};

// One run: a fresh simulator and daemon, `operations` random operations, a check at every
// quiescence point and at the end. Never throws for a broken invariant: it is reported.
RunReport run_contract(const RunOptions& options);

std::string describe(const RunReport& report);

}  // namespace exsync::contract
