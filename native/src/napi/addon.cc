#include <napi.h>
#include <openssl/evp.h>
Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("ok", Napi::Boolean::New(env, EVP_get_cipherbyname("aes-256-gcm") != nullptr));
  return exports;
}
NODE_API_MODULE(veil_native, Init)
