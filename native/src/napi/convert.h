// Conversions between JavaScript values and the native core's types. native/core.ts has
// validated every argument already; these only translate.
#pragma once

#include <napi.h>

#include <string>

#include "common/uuid.h"
#include "format/header.h"
#include "format/wrapping_key.h"
#include "keys/key_table.h"

namespace veil {

Uuid uuidArg(const Napi::Value& value);
uint32_t versionArg(const Napi::Value& value);
KeyState stateArg(const Napi::Value& value);
Cipher cipherArg(const Napi::Value& value);
Napi::Buffer<uint8_t> bufferArg(const Napi::Value& value);

// A fixed-length Buffer argument (VEIL_INVALID_ARGUMENT otherwise).
Napi::Buffer<uint8_t> bufferArg(const Napi::Value& value, size_t length, const char* what);

const char* stateName(KeyState state);
const char* algorithmName(KeyAlgorithm algorithm);
const char* cipherName(Cipher cipher);
// { keyId, version, state, algorithm }: never material.
Napi::Object keyInfoObject(Napi::Env env, const KeyInfo& info);
Napi::Array keyInfoArray(Napi::Env env, const std::vector<KeyInfo>& keys);

}  // namespace veil
