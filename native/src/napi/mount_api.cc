// Guard points from JavaScript: mount one, receive its events, unmount it. The FUSE
// session runs on its own native threads; events reach JavaScript through a thread-safe
// function that never blocks those threads.
#include <functional>
#include <memory>

#include "fs/guard_fs.h"
#include "keys/key_table.h"
#include "napi/convert.h"
#include "napi/js_errors.h"
#include "napi/policy_convert.h"
#include "napi/register.h"

namespace veil {

namespace {

Napi::Object eventObject(Napi::Env env, const FsEvent& event) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("type", event.type);
  o.Set("path", event.path);
  if (!event.code.empty()) o.Set("code", event.code);
  o.Set("message", event.message);
  o.Set("uid", Napi::Number::New(env, event.uid));
  o.Set("pid", Napi::Number::New(env, event.pid));
  if (event.access) {
    const FsEvent::Access& a = *event.access;
    Napi::Object access = Napi::Object::New(env);
    access.Set("time", Napi::Number::New(env, static_cast<double>(a.timeMs)));
    access.Set("policy", a.policy);
    access.Set("digest", a.digest);
    access.Set("rule", a.rule < 0 ? env.Null() : Napi::Number::New(env, a.rule));
    access.Set("action", a.action);
    access.Set("effect", a.effect);
    access.Set("applyKey", Napi::Boolean::New(env, a.applyKey));
    access.Set("learned", Napi::Boolean::New(env, a.learned));
    access.Set("gid", Napi::Number::New(env, a.gid));
    access.Set("executable", a.executable);
    o.Set("access", access);
  }
  return o;
}

// Unmounting waits for the FUSE threads, so it runs off the JavaScript thread; `done`
// runs back on it, after every event of the guard point has been queued.
class UnmountWorker : public Napi::AsyncWorker {
 public:
  UnmountWorker(Napi::Env env, std::shared_ptr<GuardFs> fs, std::function<void()> done)
      : Napi::AsyncWorker(env, "veil.unmount"),
        deferred_(Napi::Promise::Deferred::New(env)),
        fs_(std::move(fs)),
        done_(std::move(done)) {}
  Napi::Promise promise() const { return deferred_.Promise(); }
  void Execute() override { fs_->unmount(); }
  void OnOK() override {
    done_();
    deferred_.Resolve(Env().Undefined());
  }
  void OnError(const Napi::Error& error) override {
    done_();
    deferred_.Reject(error.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<GuardFs> fs_;
  std::function<void()> done_;
};

class GuardPointObject : public Napi::ObjectWrap<GuardPointObject> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "NativeGuardPoint",
                       {InstanceAccessor<&GuardPointObject::directory>("directory"),
                        InstanceMethod<&GuardPointObject::setPolicy>("setPolicy"),
                        InstanceMethod<&GuardPointObject::unmount>("unmount")});
  }

  explicit GuardPointObject(const Napi::CallbackInfo& info) : Napi::ObjectWrap<GuardPointObject>(info) {
    Napi::Env env = info.Env();
    guarded(env, [&] {
      Napi::Object options = info[0].As<Napi::Object>();
      GuardConfig config;
      config.directory = options.Get("directory").As<Napi::String>().Utf8Value();
      config.keyId = uuidArg(options.Get("keyId"));
      config.keyVersion = versionArg(options.Get("keyVersion"));
      config.cipher = cipherArg(options.Get("cipher"));
      config.threads = options.Get("threads").As<Napi::Number>().Uint32Value();
      Napi::Value verifyKeys = options.Get("verifyKeys");
      config.verifyKeys = verifyKeys.IsUndefined() || verifyKeys.ToBoolean().Value();
      events_ = Napi::ThreadSafeFunction::New(env, info[1].As<Napi::Function>(), "veil.guardPointEvents", 0, 1);
      Napi::ThreadSafeFunction events = events_;
      auto sink = [events](FsEvent event) mutable {
        auto* copy = new FsEvent(std::move(event));
        napi_status status = events.NonBlockingCall(copy, [](Napi::Env env, Napi::Function callback, FsEvent* e) {
          callback.Call({eventObject(env, *e)});
          delete e;
        });
        if (status != napi_ok) delete copy;  // queue closed or full: the event is dropped, never waited for
      };
      auto policy = decisionTableArg(options.Get("policy"));
      fs_ = std::make_shared<GuardFs>(config, KeyTable::instance(), sink, std::move(policy));
      try {
        fs_->mount();
      } catch (...) {
        events_.Release();
        throw;
      }
      return 0;
    });
  }

  ~GuardPointObject() override {
    if (fs_) fs_->unmount();
    releaseEvents();
  }

 private:
  Napi::Value directory(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), fs_->directory()); }

  Napi::Value setPolicy(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&] {
      fs_->setPolicy(decisionTableArg(info[0]));
      return info.Env().Undefined();
    });
  }

  Napi::Value unmount(const Napi::CallbackInfo& info) {
    // The object stays referenced until the worker is done with its events.
    Ref();
    auto* worker = new UnmountWorker(info.Env(), fs_, [this] {
      releaseEvents();
      Unref();
    });
    Napi::Promise promise = worker->promise();
    worker->Queue();
    return promise;
  }

  // Only once no FUSE thread can emit any more: calling a released function aborts.
  void releaseEvents() {
    if (released_) return;
    released_ = true;
    events_.Release();
  }

  std::shared_ptr<GuardFs> fs_;
  Napi::ThreadSafeFunction events_;
  bool released_ = false;
};

Napi::Value clearStaleMount(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), GuardFs::clearStaleMount(info[0].As<Napi::String>().Utf8Value()));
}

}  // namespace

void registerMount(Napi::Env env, Napi::Object exports) {
  exports.Set("GuardPoint", GuardPointObject::define(env));
  exports.Set("clearStaleMount", Napi::Function::New(env, clearStaleMount, "clearStaleMount"));
}

}  // namespace veil
