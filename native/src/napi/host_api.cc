// What the host daemon asks of the operating system beyond files: the credentials of a
// control-socket peer and readiness notifications to systemd (common/unix_socket.h).
#include "common/unix_socket.h"
#include "napi/js_errors.h"
#include "napi/register.h"

namespace veil {

namespace {

Napi::Value readPeerCredentials(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&] {
    const PeerCredentials peer = peerCredentials(info[0].As<Napi::Number>().Int32Value());
    Napi::Object out = Napi::Object::New(env);
    out.Set("pid", Napi::Number::New(env, peer.pid));
    out.Set("uid", Napi::Number::New(env, peer.uid));
    out.Set("gid", Napi::Number::New(env, peer.gid));
    return Napi::Value(out);
  });
}

Napi::Value notifySystemd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&] {
    return Napi::Value(Napi::Boolean::New(env, systemdNotify(info[0].As<Napi::String>().Utf8Value())));
  });
}

}  // namespace

void registerHost(Napi::Env env, Napi::Object exports) {
  exports.Set("peerCredentials", Napi::Function::New(env, readPeerCredentials, "peerCredentials"));
  exports.Set("systemdNotify", Napi::Function::New(env, notifySystemd, "systemdNotify"));
}

}  // namespace veil
