// The compiled decision table (policies/compile.ts, DecisionTable) from JavaScript into the
// native one. The agent compiled and validated it; this checks again everything native
// code relies on (types, index ranges, hash lengths), so a bad table is an error, never an
// out-of-range read on a FUSE thread.
#pragma once

#include <napi.h>

#include <memory>

#include "policy/decision_table.h"

namespace veil {

// Null for `null` or `undefined`: no policy.
std::shared_ptr<const DecisionTable> decisionTableArg(const Napi::Value& value);

}  // namespace veil
