// Guard points from JavaScript: mount one, receive its events, unmount it. The FUSE
// session runs on its own native threads; events reach JavaScript through a thread-safe
// function that never blocks those threads.
#include <functional>
#include <memory>
#include <vector>

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

Napi::Object scanEntryObject(Napi::Env env, const LdtScanEntry& entry) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("path", entry.path);
  o.Set("size", Napi::Number::New(env, static_cast<double>(entry.size)));
  o.Set("kind", entry.kind == LdtScanEntry::Kind::Plaintext  ? "plaintext"
                : entry.kind == LdtScanEntry::Kind::Container ? "container"
                                                               : "reencrypting");
  if (entry.kind == LdtScanEntry::Kind::Plaintext) return o;
  o.Set("cipher", cipherName(entry.cipher));
  o.Set("keyId", formatUuid(entry.keyId));
  o.Set("keyVersion", Napi::Number::New(env, entry.keyVersion));
  if (entry.kind == LdtScanEntry::Kind::Reencrypting) {
    o.Set("targetKeyId", formatUuid(entry.targetKeyId));
    o.Set("targetKeyVersion", Napi::Number::New(env, entry.targetKeyVersion));
    o.Set("progress", Napi::Number::New(env, static_cast<double>(entry.progress)));
  }
  return o;
}

Napi::Object resultObject(Napi::Env env, const LdtResult& result) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("path", result.path);
  o.Set("done", Napi::Boolean::New(env, result.done));
  o.Set("bytes", Napi::Number::New(env, static_cast<double>(result.bytes)));
  if (!result.skipped.empty()) o.Set("skipped", result.skipped);
  if (!result.errorCode.empty()) {
    Napi::Object error = Napi::Object::New(env);
    error.Set("code", result.errorCode);
    error.Set("message", result.errorMessage);
    o.Set("error", error);
  }
  return o;
}

// native/core.ts has checked every request.
std::vector<LdtRequest> requestsArg(const Napi::Value& value) {
  Napi::Array array = value.As<Napi::Array>();
  std::vector<LdtRequest> out(array.Length());
  for (uint32_t i = 0; i < array.Length(); ++i) {
    Napi::Object r = array.Get(i).As<Napi::Object>();
    LdtRequest& request = out[i];
    request.path = r.Get("path").As<Napi::String>().Utf8Value();
    const std::string op = r.Get("op").As<Napi::String>().Utf8Value();
    request.op = op == "rewrap" ? LdtRequest::Op::Rewrap
                 : op == "reencrypt" ? LdtRequest::Op::Reencrypt
                                     : LdtRequest::Op::Encrypt;
    request.keyId = uuidArg(r.Get("keyId"));
    request.version = versionArg(r.Get("version"));
    const double maxBytes = r.Get("maxBytes").As<Napi::Number>().DoubleValue();
    request.maxBytes = maxBytes > 0 ? static_cast<uint64_t>(maxBytes) : 0;
  }
  return out;
}

// Scans and transformations run off the JavaScript thread: they read and write many
// files. Only the VeilException of a misuse (not mounted) rejects; file failures are results.
template <typename Result>
class LdtWorker : public Napi::AsyncWorker {
 public:
  LdtWorker(Napi::Env env, const char* name, std::function<Result()> work,
            std::function<Napi::Value(Napi::Env, const Result&)> convert)
      : Napi::AsyncWorker(env, name),
        deferred_(Napi::Promise::Deferred::New(env)),
        work_(std::move(work)),
        convert_(std::move(convert)) {}
  Napi::Promise promise() const { return deferred_.Promise(); }
  void Execute() override {
    try {
      result_ = work_();
    } catch (const VeilException& e) {
      code_ = e.code();
      SetError(e.what());
    } catch (const std::exception&) {
      code_ = "VEIL_CRYPTO_FAILED";
      SetError("live data transformation failed");
    }
  }
  void OnOK() override { deferred_.Resolve(convert_(Env(), result_)); }
  void OnError(const Napi::Error& error) override {
    deferred_.Reject(makeJsError(Env(), code_, error.Message()).Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::function<Result()> work_;
  std::function<Napi::Value(Napi::Env, const Result&)> convert_;
  Result result_;
  const char* code_ = "VEIL_CRYPTO_FAILED";
};

class GuardPointObject : public Napi::ObjectWrap<GuardPointObject> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "NativeGuardPoint",
                       {InstanceAccessor<&GuardPointObject::directory>("directory"),
                        InstanceMethod<&GuardPointObject::setPolicy>("setPolicy"),
                        InstanceMethod<&GuardPointObject::scanFiles>("scanFiles"),
                        InstanceMethod<&GuardPointObject::transformFiles>("transformFiles"),
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
      Napi::Value journal = options.Get("ldtJournal");
      if (journal.IsString()) config.ldtJournal = journal.As<Napi::String>().Utf8Value();
      Napi::Value plaintext = options.Get("plaintextFiles");
      config.servePlaintext = plaintext.IsString() && plaintext.As<Napi::String>().Utf8Value() == "serve";
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

  Napi::Value scanFiles(const Napi::CallbackInfo& info) {
    std::shared_ptr<GuardFs> fs = fs_;
    auto* worker = new LdtWorker<std::vector<LdtScanEntry>>(
        info.Env(), "veil.scanFiles", [fs] { return fs->scanFiles(); },
        [](Napi::Env env, const std::vector<LdtScanEntry>& entries) -> Napi::Value {
          Napi::Array out = Napi::Array::New(env, entries.size());
          for (uint32_t i = 0; i < entries.size(); ++i) out.Set(i, scanEntryObject(env, entries[i]));
          return out;
        });
    Napi::Promise promise = worker->promise();
    worker->Queue();
    return promise;
  }

  Napi::Value transformFiles(const Napi::CallbackInfo& info) {
    std::vector<LdtRequest> requests = guarded(info.Env(), [&] { return requestsArg(info[0]); });
    std::shared_ptr<GuardFs> fs = fs_;
    auto* worker = new LdtWorker<std::vector<LdtResult>>(
        info.Env(), "veil.transformFiles", [fs, requests] { return fs->transformFiles(requests); },
        [](Napi::Env env, const std::vector<LdtResult>& results) -> Napi::Value {
          Napi::Array out = Napi::Array::New(env, results.size());
          for (uint32_t i = 0; i < results.size(); ++i) out.Set(i, resultObject(env, results[i]));
          return out;
        });
    Napi::Promise promise = worker->promise();
    worker->Queue();
    return promise;
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
