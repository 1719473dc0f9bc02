// Native failures reach JavaScript as the project's own error class (handed over by
// native/core.ts through setErrorClass), carrying the stable code of the VeilException.
#pragma once

#include <napi.h>

#include <new>
#include <string>

#include "common/error.h"

namespace veil {

struct AddonData {
  Napi::FunctionReference errorClass;
  Napi::FunctionReference containerConstructor;
};

Napi::Error makeJsError(Napi::Env env, const char* code, const std::string& message);

// Runs `body`, turning C++ failures into JavaScript exceptions of the project's class.
template <typename Body>
auto guarded(Napi::Env env, Body&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const VeilException& e) {
    throw makeJsError(env, e.code(), e.what());
  } catch (const std::bad_alloc&) {
    throw makeJsError(env, "VEIL_CRYPTO_FAILED", "out of memory");
  }
}

}  // namespace veil
