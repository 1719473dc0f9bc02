#include "napi/convert.h"

#include "common/error.h"

namespace veil {

namespace {

constexpr const char* kStateNames[] = {"pre-activation", "active",      "suspended",
                                       "deactivated",    "compromised", "destroyed"};

[[noreturn]] void invalid(const std::string& message) { throw VeilException("VEIL_INVALID_ARGUMENT", message); }

}  // namespace

Uuid uuidArg(const Napi::Value& value) {
  Uuid id;
  if (!value.IsString() || !parseUuid(value.As<Napi::String>().Utf8Value(), id)) invalid("expected a UUID");
  return id;
}

uint32_t versionArg(const Napi::Value& value) {
  if (!value.IsNumber()) invalid("expected a key version");
  double v = value.As<Napi::Number>().DoubleValue();
  if (!(v >= 1 && v <= 4294967295.0) || v != static_cast<double>(static_cast<uint32_t>(v))) {
    invalid("key version out of range");
  }
  return static_cast<uint32_t>(v);
}

KeyState stateArg(const Napi::Value& value) {
  if (value.IsString()) {
    std::string name = value.As<Napi::String>().Utf8Value();
    for (int i = 0; i < 6; ++i) {
      if (name == kStateNames[i]) return static_cast<KeyState>(i + 1);
    }
  }
  invalid("unknown key state");
}

Cipher cipherArg(const Napi::Value& value) {
  if (value.IsString()) {
    std::string name = value.As<Napi::String>().Utf8Value();
    if (name == "aes-256-gcm") return Cipher::Gcm;
    if (name == "aes-256-xts") return Cipher::Xts;
  }
  invalid("unknown cipher");
}

Napi::Buffer<uint8_t> bufferArg(const Napi::Value& value) {
  if (!value.IsBuffer()) invalid("expected a Buffer");
  return value.As<Napi::Buffer<uint8_t>>();
}

Napi::Buffer<uint8_t> bufferArg(const Napi::Value& value, size_t length, const char* what) {
  Napi::Buffer<uint8_t> buffer = bufferArg(value);
  if (buffer.Length() != length) invalid(std::string(what) + " must be " + std::to_string(length) + " bytes");
  return buffer;
}

const char* stateName(KeyState state) { return kStateNames[static_cast<int>(state) - 1]; }

const char* algorithmName(KeyAlgorithm algorithm) { return algorithm == KeyAlgorithm::Aes256 ? "aes-256" : "aes-128"; }

const char* cipherName(Cipher cipher) { return cipher == Cipher::Gcm ? "aes-256-gcm" : "aes-256-xts"; }

Napi::Object keyInfoObject(Napi::Env env, const KeyInfo& info) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("keyId", formatUuid(info.id));
  o.Set("version", Napi::Number::New(env, info.version));
  o.Set("state", stateName(info.state));
  o.Set("algorithm", algorithmName(info.algorithm));
  return o;
}

Napi::Array keyInfoArray(Napi::Env env, const std::vector<KeyInfo>& keys) {
  Napi::Array out = Napi::Array::New(env, keys.size());
  for (size_t i = 0; i < keys.size(); ++i) out.Set(static_cast<uint32_t>(i), keyInfoObject(env, keys[i]));
  return out;
}

}  // namespace veil
