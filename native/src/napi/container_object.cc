// The JavaScript object for one open container: header fields, header updates, and the
// block codec both synchronously and on the libuv thread pool (AsyncWorker), so that
// JavaScript never blocks on bulk crypto.
#include <memory>

#include "format/container.h"
#include "keys/key_table.h"
#include "napi/convert.h"
#include "napi/js_errors.h"
#include "napi/register.h"

namespace veil {

namespace {

Napi::Buffer<uint8_t> headerBuffer(Napi::Env env, const HeaderBytes& bytes) {
  return Napi::Buffer<uint8_t>::Copy(env, bytes.data(), bytes.size());
}

// A run is the ciphertext of `count` blocks, then (GCM) their tag entries.
void runBlocks(Container& container, bool encrypt, uint64_t first, const uint8_t* input, size_t count,
               uint8_t* output) {
  if (encrypt) {
    container.encryptBlocks(first, input, count, output, output + count * kPlainBlockSize);
  } else {
    container.decryptBlocks(first, input, input + count * kPlainBlockSize, count, output);
  }
}

uint64_t blockIndexArg(const Napi::Value& value) {
  double v = value.As<Napi::Number>().DoubleValue();
  if (!(v >= 0 && v <= 9007199254740991.0)) throw VeilException("VEIL_INVALID_ARGUMENT", "block index out of range");
  return static_cast<uint64_t>(v);
}

// One batch of blocks, run off the JavaScript thread. The buffers are referenced until
// the promise settles; Execute() touches only the fields of this object.
class BlockBatchWorker : public Napi::AsyncWorker {
 public:
  BlockBatchWorker(Napi::Env env, std::shared_ptr<Container> container, bool encrypt, uint64_t first,
                   Napi::Buffer<uint8_t> input, size_t count, size_t outputSize)
      : Napi::AsyncWorker(env, "veil.blockBatch"),
        deferred_(Napi::Promise::Deferred::New(env)),
        container_(std::move(container)),
        encrypt_(encrypt),
        first_(first),
        count_(count),
        input_(input.Data()),
        output_(Napi::Buffer<uint8_t>::New(env, outputSize)),
        outputData_(output_.Data()) {
    inputRef_ = Napi::Persistent(input);
    outputRef_ = Napi::Persistent(output_);
  }

  Napi::Promise promise() const { return deferred_.Promise(); }

  void Execute() override {
    try {
      runBlocks(*container_, encrypt_, first_, input_, count_, outputData_);
    } catch (const VeilException& e) {
      code_ = e.code();
      SetError(e.what());
    } catch (const std::exception&) {
      code_ = "VEIL_CRYPTO_FAILED";
      SetError("the block batch failed");
    }
  }

  void OnOK() override { deferred_.Resolve(outputRef_.Value()); }
  void OnError(const Napi::Error& error) override {
    deferred_.Reject(makeJsError(Env(), code_, error.Message()).Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<Container> container_;
  bool encrypt_;
  uint64_t first_;
  size_t count_;
  const uint8_t* input_;
  Napi::Buffer<uint8_t> output_;
  uint8_t* outputData_;
  Napi::Reference<Napi::Buffer<uint8_t>> inputRef_;
  Napi::Reference<Napi::Buffer<uint8_t>> outputRef_;
  const char* code_ = "VEIL_CRYPTO_FAILED";
};

class ContainerObject : public Napi::ObjectWrap<ContainerObject> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "NativeContainer",
                       {
                           InstanceAccessor<&ContainerObject::fileId>("fileId"),
                           InstanceAccessor<&ContainerObject::cipher>("cipher"),
                           InstanceAccessor<&ContainerObject::size>("size"),
                           InstanceAccessor<&ContainerObject::state>("state"),
                           InstanceAccessor<&ContainerObject::progress>("progress"),
                           InstanceAccessor<&ContainerObject::keyId>("keyId"),
                           InstanceAccessor<&ContainerObject::keyVersion>("keyVersion"),
                           InstanceMethod<&ContainerObject::header>("header"),
                           InstanceMethod<&ContainerObject::setSize>("setSize"),
                           InstanceMethod<&ContainerObject::rewrap>("rewrap"),
                           InstanceMethod<&ContainerObject::encryptBlocks>("encryptBlocks"),
                           InstanceMethod<&ContainerObject::decryptBlocks>("decryptBlocks"),
                           InstanceMethod<&ContainerObject::encryptBlocksAsync>("encryptBlocksAsync"),
                           InstanceMethod<&ContainerObject::decryptBlocksAsync>("decryptBlocksAsync"),
                           InstanceMethod<&ContainerObject::close>("close"),
                       });
  }

  // Only wrap() below constructs these, passing the container as an External.
  explicit ContainerObject(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ContainerObject>(info) {
    if (info.Length() != 1 || !info[0].IsExternal()) {
      throw Napi::TypeError::New(info.Env(), "NativeContainer cannot be constructed from JavaScript");
    }
    container_ = *info[0].As<Napi::External<std::shared_ptr<Container>>>().Data();
  }

  static Napi::Value wrap(Napi::Env env, std::shared_ptr<Container> container) {
    auto* data = env.GetInstanceData<AddonData>();
    std::shared_ptr<Container> holder = std::move(container);
    auto external = Napi::External<std::shared_ptr<Container>>::New(env, &holder);
    return data->containerConstructor.New({external});
  }

 private:
  Napi::Value fileId(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&] {
      auto id = container_->header().fileId;
      return Napi::Value(Napi::String::New(info.Env(), toHex(id.data(), id.size())));
    });
  }
  Napi::Value cipher(const Napi::CallbackInfo& info) {
    return guarded(info.Env(),
                   [&] { return Napi::Value(Napi::String::New(info.Env(), cipherName(container_->header().cipher))); });
  }
  Napi::Value size(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&] {
      return Napi::Value(Napi::Number::New(info.Env(), static_cast<double>(container_->header().size)));
    });
  }
  Napi::Value state(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&] {
      bool stable = container_->header().state == FileState::Stable;
      return Napi::Value(Napi::String::New(info.Env(), stable ? "stable" : "re-encrypting"));
    });
  }
  Napi::Value progress(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&] {
      return Napi::Value(Napi::Number::New(info.Env(), static_cast<double>(container_->header().progress)));
    });
  }
  Napi::Value keyId(const Napi::CallbackInfo& info) {
    return guarded(info.Env(),
                   [&] { return Napi::Value(Napi::String::New(info.Env(), formatUuid(container_->header().a.keyId))); });
  }
  Napi::Value keyVersion(const Napi::CallbackInfo& info) {
    return guarded(info.Env(),
                   [&] { return Napi::Value(Napi::Number::New(info.Env(), container_->header().a.version)); });
  }
  Napi::Value header(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&] { return Napi::Value(headerBuffer(info.Env(), container_->headerBytes())); });
  }
  Napi::Value setSize(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&] {
      double size = info[0].As<Napi::Number>().DoubleValue();
      if (!(size >= 0 && size <= static_cast<double>(kMaxLogicalSize))) {
        throw VeilException("VEIL_INVALID_ARGUMENT", "file size out of range");
      }
      return Napi::Value(headerBuffer(info.Env(), container_->setSize(static_cast<uint64_t>(size))));
    });
  }
  Napi::Value rewrap(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&] {
      auto bytes = container_->rewrap(KeyTable::instance(), uuidArg(info[0]), versionArg(info[1]));
      return Napi::Value(headerBuffer(info.Env(), bytes));
    });
  }

  // Whole blocks only: plaintext in 4096-byte blocks, runs at the cipher's unit.
  size_t runUnit() { return Layout::runUnit(container_->header().cipher); }
  size_t blocksIn(const Napi::Buffer<uint8_t>& input, bool encrypt) {
    size_t unit = encrypt ? kPlainBlockSize : runUnit();
    if (input.Length() % unit != 0) throw VeilException("VEIL_INVALID_ARGUMENT", "input is not whole blocks");
    return input.Length() / unit;
  }
  size_t outputSize(size_t count, bool encrypt) { return count * (encrypt ? runUnit() : kPlainBlockSize); }

  Napi::Value runSync(const Napi::CallbackInfo& info, bool encrypt) {
    return guarded(info.Env(), [&] {
      uint64_t first = blockIndexArg(info[0]);
      Napi::Buffer<uint8_t> input = bufferArg(info[1]);
      size_t count = blocksIn(input, encrypt);
      auto output = Napi::Buffer<uint8_t>::New(info.Env(), outputSize(count, encrypt));
      runBlocks(*container_, encrypt, first, input.Data(), count, output.Data());
      return Napi::Value(output);
    });
  }

  Napi::Value runAsync(const Napi::CallbackInfo& info, bool encrypt) {
    return guarded(info.Env(), [&] {
      uint64_t first = blockIndexArg(info[0]);
      Napi::Buffer<uint8_t> input = bufferArg(info[1]);
      size_t count = blocksIn(input, encrypt);
      auto* worker =
          new BlockBatchWorker(info.Env(), container_, encrypt, first, input, count, outputSize(count, encrypt));
      Napi::Promise promise = worker->promise();
      worker->Queue();
      return Napi::Value(promise);
    });
  }

  Napi::Value encryptBlocks(const Napi::CallbackInfo& info) { return runSync(info, true); }
  Napi::Value decryptBlocks(const Napi::CallbackInfo& info) { return runSync(info, false); }
  Napi::Value encryptBlocksAsync(const Napi::CallbackInfo& info) { return runAsync(info, true); }
  Napi::Value decryptBlocksAsync(const Napi::CallbackInfo& info) { return runAsync(info, false); }

  Napi::Value close(const Napi::CallbackInfo& info) {
    container_->close();
    return info.Env().Undefined();
  }

  std::shared_ptr<Container> container_;
};

Napi::Value containerCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&] {
    auto container =
        Container::create(KeyTable::instance(), uuidArg(info[0]), versionArg(info[1]), cipherArg(info[2]));
    return ContainerObject::wrap(env, std::move(container));
  });
}

Napi::Value containerOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&] {
    Napi::Buffer<uint8_t> bytes = bufferArg(info[0]);
    return ContainerObject::wrap(env, Container::open(KeyTable::instance(), bytes.Data(), bytes.Length()));
  });
}

}  // namespace

void registerContainer(Napi::Env env, Napi::Object exports) {
  env.GetInstanceData<AddonData>()->containerConstructor = Napi::Persistent(ContainerObject::define(env));
  exports.Set("containerCreate", Napi::Function::New(env, containerCreate, "containerCreate"));
  exports.Set("containerOpen", Napi::Function::New(env, containerOpen, "containerOpen"));
}

}  // namespace veil
