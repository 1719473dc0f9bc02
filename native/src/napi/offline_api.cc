// offlineSeal, offlineChallenge, offlineUnlockPassword, offlineUnlockResponse
// (docs/protocol.md, "Offline unlock"). Key material goes in (the password, the response)
// and stays in native memory; ids, versions and states come back.
#include "crypto/aes.h"
#include "keys/offline_unlock.h"
#include "keys/sealed_keys.h"
#include "napi/convert.h"
#include "napi/js_errors.h"
#include "napi/register.h"

namespace veil {

namespace {

constexpr size_t kWrapperSaltSize = 16;

OfflineBinding bindingArgs(const Napi::CallbackInfo& info, size_t first) {
  return OfflineBinding{uuidArg(info[first]), uuidArg(info[first + 1]), versionArg(info[first + 2])};
}

uint32_t integerField(const Napi::Object& o, const char* name) {
  Napi::Value v = o.Get(name);
  if (!v.IsNumber()) throw VeilException("VEIL_INVALID_ARGUMENT", std::string("wrapper.") + name + " must be a number");
  return v.As<Napi::Number>().Uint32Value();
}

Napi::Value offlineSeal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&] {
    std::vector<uint8_t> sealed = sealKeyTable(KeyTable::instance(), bindingArgs(info, 0));
    return Napi::Value(Napi::Buffer<uint8_t>::Copy(env, sealed.data(), sealed.size()));
  });
}

Napi::Value offlineChallenge(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&] {
    auto publicKey = newOfflineChallenge();
    return Napi::Value(Napi::Buffer<uint8_t>::Copy(env, publicKey.data(), publicKey.size()));
  });
}

// (sealed, hostId, keyId, version, wrapper { salt, N, r, p, nonce, ciphertext }, password)
Napi::Value offlineUnlockPassword(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&] {
    Napi::Buffer<uint8_t> sealed = bufferArg(info[0]);
    OfflineBinding binding = bindingArgs(info, 1);
    Napi::Object w = info[4].As<Napi::Object>();
    Napi::Buffer<uint8_t> salt = bufferArg(w.Get("salt"), kWrapperSaltSize, "wrapper.salt");
    Napi::Buffer<uint8_t> nonce = bufferArg(w.Get("nonce"), kGcmNonceSize, "wrapper.nonce");
    Napi::Buffer<uint8_t> ciphertext = bufferArg(w.Get("ciphertext"), kOfflineResponseSize, "wrapper.ciphertext");
    Napi::Buffer<uint8_t> password = bufferArg(info[5]);
    PasswordWrapper wrapper{};
    wrapper.salt = salt.Data();
    wrapper.saltLength = salt.Length();
    wrapper.N = integerField(w, "N");
    wrapper.r = integerField(w, "r");
    wrapper.p = integerField(w, "p");
    wrapper.nonce = nonce.Data();
    wrapper.ciphertext = ciphertext.Data();
    auto installed =
        unlockWithPassword(sealed.Data(), sealed.Length(), binding, wrapper, password.Data(), password.Length());
    return Napi::Value(keyInfoArray(env, installed));
  });
}

// (sealed, hostId, keyId, version, managerPublicKey, response)
Napi::Value offlineUnlockResponse(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&] {
    Napi::Buffer<uint8_t> sealed = bufferArg(info[0]);
    OfflineBinding binding = bindingArgs(info, 1);
    Napi::Buffer<uint8_t> managerKey = bufferArg(info[4], kX25519KeySize, "the manager's public key");
    Napi::Buffer<uint8_t> response = bufferArg(info[5], kOfflineResponseSize, "the response");
    auto installed = unlockWithResponse(sealed.Data(), sealed.Length(), binding, managerKey.Data(), response.Data());
    return Napi::Value(keyInfoArray(env, installed));
  });
}

}  // namespace

void registerOffline(Napi::Env env, Napi::Object exports) {
  exports.Set("offlineSeal", Napi::Function::New(env, offlineSeal, "offlineSeal"));
  exports.Set("offlineChallenge", Napi::Function::New(env, offlineChallenge, "offlineChallenge"));
  exports.Set("offlineUnlockPassword", Napi::Function::New(env, offlineUnlockPassword, "offlineUnlockPassword"));
  exports.Set("offlineUnlockResponse", Napi::Function::New(env, offlineUnlockResponse, "offlineUnlockResponse"));
}

}  // namespace veil
