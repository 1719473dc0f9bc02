// Errors of the native core: a stable code (native/errors.ts lists them all) and a
// sentence a person can act on. Messages never carry key material.
#pragma once

#include <stdexcept>
#include <string>

namespace veil {

class VeilException : public std::runtime_error {
 public:
  VeilException(const char* code, const std::string& message) : std::runtime_error(message), code_(code) {}
  const char* code() const noexcept { return code_; }

 private:
  const char* code_;
};

// One message for every authentication failure, so an error says nothing about why.
inline constexpr const char* kAuthFailedMessage =
    "authentication failed: the data was modified or damaged, or is not under this key";

[[noreturn]] inline void throwAuthFailed() { throw VeilException("VEIL_CRYPTO_AUTH_FAILED", kAuthFailedMessage); }

}  // namespace veil
