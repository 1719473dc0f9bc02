// Each file of napi/ adds its part of the surface typed in native/index.d.ts.
#pragma once

#include <napi.h>

namespace veil {

void registerKeys(Napi::Env env, Napi::Object exports);
void registerContainer(Napi::Env env, Napi::Object exports);
void registerSelfTest(Napi::Env env, Napi::Object exports);
void registerMount(Napi::Env env, Napi::Object exports);
void registerHost(Napi::Env env, Napi::Object exports);
void registerOffline(Napi::Env env, Napi::Object exports);

}  // namespace veil
