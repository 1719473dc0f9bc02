// Live data transformation: what the agent's worker asks a mounted guard point to do to
// its files while it stays mounted (rewrap, re-encrypt, initially encrypt), and what a
// scan of the backing files tells it. The work itself is GuardFs's (ldt.cc).
#pragma once

#include <cstdint>
#include <string>

#include "common/uuid.h"
#include "format/header.h"

namespace veil {

// The name of the guard point's own directory at its backing root, where whole-file
// replacements are written before they are renamed over the original. The mount hides it.
inline constexpr char kLdtDirName[] = ".veil-ldt";

struct LdtScanEntry {
  enum class Kind { Plaintext, Container, Reencrypting };
  std::string path;
  uint64_t size = 0;
  Kind kind = Kind::Plaintext;
  Cipher cipher = Cipher::Gcm;
  Uuid keyId{};
  uint32_t keyVersion = 0;
  Uuid targetKeyId{};
  uint32_t targetKeyVersion = 0;
  uint64_t progress = 0;
};

struct LdtRequest {
  enum class Op { Rewrap, Reencrypt, Encrypt };
  std::string path;
  Op op = Op::Rewrap;
  Uuid keyId{};
  uint32_t version = 0;
  uint64_t maxBytes = 0;
};

struct LdtResult {
  std::string path;
  bool done = false;
  uint64_t bytes = 0;
  std::string skipped;  // "", "busy" or "gone"
  std::string errorCode;  // empty: no error
  std::string errorMessage;
};

}  // namespace veil
