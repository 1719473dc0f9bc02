// Conversions between JavaScript values and the native core's types. native/core.ts has
// validated every argument already; these only translate.
#pragma once

#include <napi.h>

#include <string>

#include "common/uuid.h"
#include "format/header.h"
#include "format/wrapping_key.h"

namespace veil {

Uuid uuidArg(const Napi::Value& value);
uint32_t versionArg(const Napi::Value& value);
KeyState stateArg(const Napi::Value& value);
Cipher cipherArg(const Napi::Value& value);
Napi::Buffer<uint8_t> bufferArg(const Napi::Value& value);

const char* stateName(KeyState state);
const char* algorithmName(KeyAlgorithm algorithm);
const char* cipherName(Cipher cipher);

}  // namespace veil
