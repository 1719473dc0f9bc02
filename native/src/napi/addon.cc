// Entry point of the native core: registers the surface of native/index.d.ts.
#include <napi.h>

#include <cstdlib>
#include <mutex>

#include "crypto/secure_memory.h"
#include "format/header.h"
#include "format/layout.h"
#include "keys/key_table.h"
#include "keys/offline_unlock.h"
#include "napi/js_errors.h"
#include "napi/register.h"

namespace veil {

namespace {

Napi::Value setErrorClass(const Napi::CallbackInfo& info) {
  info.Env().GetInstanceData<AddonData>()->errorClass = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

Napi::Object formatConstants(Napi::Env env) {
  Napi::Object format = Napi::Object::New(env);
  format.Set("headerSize", Napi::Number::New(env, kHeaderSize));
  format.Set("plainBlockSize", Napi::Number::New(env, kPlainBlockSize));
  format.Set("version", Napi::Number::New(env, kFormatVersion));
  format.Set("pageSize", Napi::Number::New(env, static_cast<double>(kPageSize)));
  format.Set("groupBlocks", Napi::Number::New(env, static_cast<double>(kGroupBlocks)));
  format.Set("tagEntrySize", Napi::Number::New(env, kTagEntrySize));
  format.Set("tagEntriesOffset", Napi::Number::New(env, static_cast<double>(kTagEntriesOffset)));
  format.Set("maxLogicalSize", Napi::Number::New(env, static_cast<double>(kMaxLogicalSize)));
  return format;
}

}  // namespace

}  // namespace veil

static Napi::Object init(Napi::Env env, Napi::Object exports) {
  using namespace veil;
  hardenProcessAgainstDumps();
  env.SetInstanceData(new AddonData());
  // The key table is one per process, shared by every environment (worker threads
  // included), so it is wiped when the process exits rather than when one of them ends.
  static std::once_flag atExit;
  std::call_once(atExit, [] {
    std::atexit([] {
      KeyTable::instance().clear();
      clearOfflineChallenge();
    });
  });
  exports.Set("format", formatConstants(env));
  exports.Set("setErrorClass", Napi::Function::New(env, setErrorClass, "setErrorClass"));
  registerKeys(env, exports);
  registerContainer(env, exports);
  registerSelfTest(env, exports);
  registerMount(env, exports);
  registerHost(env, exports);
  registerOffline(env, exports);
  return exports;
}

NODE_API_MODULE(veil_native, init)
