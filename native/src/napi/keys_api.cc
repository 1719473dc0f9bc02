// keyImport*, keySetState, keyRemove, keyList, transportPublicKey, deliveryInstall.
#include <openssl/crypto.h>

#include "keys/delivery.h"
#include "keys/key_table.h"
#include "keys/transport_key.h"
#include "napi/convert.h"
#include "napi/js_errors.h"
#include "napi/register.h"

namespace veil {

namespace {

void install(const Uuid& id, uint32_t version, KeyState state, const uint8_t* material, size_t length) {
  if (length != 32 && length != 16) throw VeilException("VEIL_KEY_INVALID", "key material must be 16 or 32 bytes");
  if (state == KeyState::Destroyed) {
    throw VeilException("VEIL_KEY_INVALID", "a destroyed key has no material and cannot be imported");
  }
  auto key = std::make_shared<WrappingKey>(id, version, length == 32 ? KeyAlgorithm::Aes256 : KeyAlgorithm::Aes128,
                                           state, material, length);
  KeyTable::instance().apply({key}, {});
}

Napi::Value keyImportRaw(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&] {
    Napi::Buffer<uint8_t> material = bufferArg(info[3]);
    // The caller's copy is wiped whatever happens: the key now lives only in locked memory.
    struct Wipe {
      Napi::Buffer<uint8_t>& b;
      ~Wipe() { OPENSSL_cleanse(b.Data(), b.Length()); }
    } wipe{material};
    install(uuidArg(info[0]), versionArg(info[1]), stateArg(info[2]), material.Data(), material.Length());
    return env.Undefined();
  });
}

Napi::Value keyImportFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&] {
    Uuid id = uuidArg(info[0]);
    uint32_t version = versionArg(info[1]);
    KeyState state = stateArg(info[2]);
    SecureBytes material = readKeyFile(info[3].As<Napi::String>().Utf8Value());
    install(id, version, state, material.data(), material.size());
    return env.Undefined();
  });
}

Napi::Value keySetState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&] {
    KeyTable::instance().setState(uuidArg(info[0]), versionArg(info[1]), stateArg(info[2]));
    return env.Undefined();
  });
}

Napi::Value keyRemove(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&] {
    return Napi::Value(Napi::Boolean::New(env, KeyTable::instance().remove(uuidArg(info[0]), versionArg(info[1]))));
  });
}

Napi::Value keyList(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return keyInfoArray(env, KeyTable::instance().list());
}

Napi::Value transportPublicKey(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&] { return Napi::Value(Napi::String::New(env, transportKey().publicKeyPem())); });
}

Napi::Value deliveryInstall(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&] {
    Napi::Buffer<uint8_t> blob = bufferArg(info[0]);
    Uuid host = uuidArg(info[1]);
    bool lossless = false;
    uint64_t after = info[2].As<Napi::BigInt>().Uint64Value(&lossless);
    if (!lossless) throw VeilException("VEIL_INVALID_ARGUMENT", "afterSequence does not fit 64 bits");
    DeliveryResult result = installDelivery(blob.Data(), blob.Length(), host, after);
    Napi::Object out = Napi::Object::New(env);
    out.Set("deliveryId", formatUuid(result.deliveryId));
    out.Set("sequence", Napi::BigInt::New(env, result.sequence));
    Napi::Array entries = Napi::Array::New(env, result.entries.size());
    for (size_t i = 0; i < result.entries.size(); ++i) {
      Napi::Object entry = keyInfoObject(env, result.entries[i].info);
      entry.Set("action", result.entries[i].installed ? "installed" : "withdrawn");
      entries.Set(static_cast<uint32_t>(i), entry);
    }
    out.Set("entries", entries);
    return Napi::Value(out);
  });
}

}  // namespace

void registerKeys(Napi::Env env, Napi::Object exports) {
  exports.Set("keyImportRaw", Napi::Function::New(env, keyImportRaw, "keyImportRaw"));
  exports.Set("keyImportFile", Napi::Function::New(env, keyImportFile, "keyImportFile"));
  exports.Set("keySetState", Napi::Function::New(env, keySetState, "keySetState"));
  exports.Set("keyRemove", Napi::Function::New(env, keyRemove, "keyRemove"));
  exports.Set("keyList", Napi::Function::New(env, keyList, "keyList"));
  exports.Set("transportPublicKey", Napi::Function::New(env, transportPublicKey, "transportPublicKey"));
  exports.Set("deliveryInstall", Napi::Function::New(env, deliveryInstall, "deliveryInstall"));
}

}  // namespace veil
