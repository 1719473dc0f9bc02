// The policy of one guard point as the FUSE threads see it: a decision table swapped in
// atomically (a decision in progress keeps the table it started with) and a generation
// number that open files compare to know their cached decisions are stale.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "policy/decision_table.h"
#include "policy/executable.h"

namespace veil {

class PolicyGate {
 public:
  explicit PolicyGate(std::string guardPoint) : hashes_(std::move(guardPoint)) {}

  // Null: no policy, every operation is permitted and nothing is recorded (a standalone
  // mount without --policy).
  void install(std::shared_ptr<const DecisionTable> table) {
    std::atomic_store(&table_, std::move(table));
    generation_.fetch_add(1);
  }
  std::shared_ptr<const DecisionTable> table() const { return std::atomic_load(&table_); }
  uint64_t generation() const { return generation_.load(); }
  ExecutableHashes& hashes() { return hashes_; }

 private:
  std::shared_ptr<const DecisionTable> table_;
  std::atomic<uint64_t> generation_{1};
  ExecutableHashes hashes_;
};

}  // namespace veil
