// The primitives with caller-supplied keys, for known-answer tests against published
// vectors, and the block benchmark. They run the same C++ the data path runs.
#include <openssl/crypto.h>

#include <chrono>
#include <vector>

#include "crypto/aes.h"
#include "crypto/kdf.h"
#include "crypto/x25519.h"
#include "format/container.h"
#include "policy/glob.h"
#include "napi/policy_convert.h"
#include "napi/convert.h"
#include "napi/js_errors.h"
#include "napi/register.h"

namespace veil {

namespace {

void requireLength(const Napi::Buffer<uint8_t>& b, size_t length, const char* what) {
  if (b.Length() != length) {
    throw VeilException("VEIL_INVALID_ARGUMENT", std::string(what) + " must be " + std::to_string(length) + " bytes");
  }
}

Napi::Value aesGcmEncrypt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&] {
    auto key = bufferArg(info[0]), iv = bufferArg(info[1]), aad = bufferArg(info[2]), plain = bufferArg(info[3]);
    requireLength(key, kGcmKeySize, "key");
    requireLength(iv, kGcmNonceSize, "iv");
    auto ciphertext = Napi::Buffer<uint8_t>::New(env, plain.Length());
    auto tag = Napi::Buffer<uint8_t>::New(env, kGcmTagSize);
    AesGcm(key.Data()).seal(iv.Data(), aad.Data(), aad.Length(), plain.Data(), plain.Length(), ciphertext.Data(),
                            tag.Data());
    Napi::Object out = Napi::Object::New(env);
    out.Set("ciphertext", ciphertext);
    out.Set("tag", tag);
    return Napi::Value(out);
  });
}

Napi::Value aesGcmDecrypt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&] {
    auto key = bufferArg(info[0]), iv = bufferArg(info[1]), aad = bufferArg(info[2]);
    auto ciphertext = bufferArg(info[3]), tag = bufferArg(info[4]);
    requireLength(key, kGcmKeySize, "key");
    requireLength(iv, kGcmNonceSize, "iv");
    requireLength(tag, kGcmTagSize, "tag");
    auto plain = Napi::Buffer<uint8_t>::New(env, ciphertext.Length());
    if (!AesGcm(key.Data()).open(iv.Data(), aad.Data(), aad.Length(), ciphertext.Data(), ciphertext.Length(),
                                 tag.Data(), plain.Data())) {
      throwAuthFailed();
    }
    return Napi::Value(plain);
  });
}

Napi::Value aesXts(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&] {
    auto key = bufferArg(info[0]), tweak = bufferArg(info[1]), data = bufferArg(info[2]);
    bool encrypt = info[3].ToBoolean().Value();
    requireLength(key, kXtsKeySize, "key");
    requireLength(tweak, kXtsTweakSize, "tweak");
    auto out = Napi::Buffer<uint8_t>::New(env, data.Length());
    AesXts xts(key.Data());
    if (encrypt) {
      xts.encrypt(tweak.Data(), data.Data(), data.Length(), out.Data());
    } else {
      xts.decrypt(tweak.Data(), data.Data(), data.Length(), out.Data());
    }
    return Napi::Value(out);
  });
}

Napi::Value hkdf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&] {
    auto ikm = bufferArg(info[0]), salt = bufferArg(info[1]), infoBytes = bufferArg(info[2]);
    double length = info[3].As<Napi::Number>().DoubleValue();
    if (!(length >= 1 && length <= 255 * 32)) throw VeilException("VEIL_INVALID_ARGUMENT", "HKDF length out of range");
    auto out = Napi::Buffer<uint8_t>::New(env, static_cast<size_t>(length));
    hkdfSha256(ikm.Data(), ikm.Length(), salt.Data(), salt.Length(), infoBytes.Data(), infoBytes.Length(), out.Data(),
               out.Length());
    return Napi::Value(out);
  });
}

// RFC 7748 X25519 of a caller-supplied scalar and u-coordinate (the private half and the peer's public half).
Napi::Value x25519Shared(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&] {
    auto scalar = bufferArg(info[0]), point = bufferArg(info[1]);
    requireLength(scalar, kX25519KeySize, "private key");
    requireLength(point, kX25519KeySize, "public key");
    auto out = Napi::Buffer<uint8_t>::New(env, kX25519KeySize);
    if (!x25519(scalar.Data(), point.Data(), out.Data())) {
      throw VeilException("VEIL_INVALID_ARGUMENT", "the public key is refused: the shared secret would be all zero");
    }
    return Napi::Value(out);
  });
}

Napi::Value x25519Public(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&] {
    auto scalar = bufferArg(info[0]);
    requireLength(scalar, kX25519KeySize, "private key");
    auto out = Napi::Buffer<uint8_t>::New(env, kX25519KeySize);
    x25519PublicKey(scalar.Data(), out.Data());
    return Napi::Value(out);
  });
}

// (password, salt, N, r, p, length): native/core.ts has checked N, r, p and the memory they need.
Napi::Value scryptKdf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&] {
    auto password = bufferArg(info[0]), salt = bufferArg(info[1]);
    const uint32_t N = info[2].As<Napi::Number>().Uint32Value(), r = info[3].As<Napi::Number>().Uint32Value(),
                   p = info[4].As<Napi::Number>().Uint32Value(), length = info[5].As<Napi::Number>().Uint32Value();
    if (length < 1 || length > 1024) throw VeilException("VEIL_INVALID_ARGUMENT", "scrypt length out of range");
    auto out = Napi::Buffer<uint8_t>::New(env, length);
    scrypt(password.Data(), password.Length(), salt.Data(), salt.Length(), N, r, p, out.Data(), out.Length());
    return Napi::Value(out);
  });
}

Napi::Value random(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&] {
    double length = info[0].As<Napi::Number>().DoubleValue();
    if (!(length >= 0 && length <= 1 << 20)) throw VeilException("VEIL_INVALID_ARGUMENT", "length out of range");
    auto out = Napi::Buffer<uint8_t>::New(env, static_cast<size_t>(length));
    randomBytes(out.Data(), out.Length());
    return Napi::Value(out);
  });
}

// A throwaway key that lives only for one benchmark run.
class SingleKey final : public KeyLookup {
 public:
  SingleKey() {
    id_.fill(0xbe);
    uint8_t material[32];
    randomBytes(material, sizeof material);
    key_ = std::make_shared<WrappingKey>(id_, 1, KeyAlgorithm::Aes256, KeyState::Active, material, sizeof material);
    OPENSSL_cleanse(material, sizeof material);
  }
  std::shared_ptr<const WrappingKey> find(const Uuid& id, uint32_t version) const override {
    return id == id_ && version == 1 ? key_ : nullptr;
  }
  const Uuid& id() const { return id_; }

 private:
  Uuid id_;
  std::shared_ptr<WrappingKey> key_;
};

Napi::Value benchmarkBlocks(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&] {
    Cipher cipher = cipherArg(info[0]);
    size_t count = static_cast<size_t>(info[1].As<Napi::Number>().DoubleValue()) / kPlainBlockSize;
    double seconds = info[2].As<Napi::Number>().DoubleValue();
    bool decrypt = info[3].ToBoolean().Value();
    SingleKey keys;
    auto container = Container::create(keys, keys.id(), 1, cipher);
    std::vector<uint8_t> plain(count * kPlainBlockSize, 0x5a), data(count * kPlainBlockSize),
        tags(count * kTagEntrySize);
    container->encryptBlocks(0, plain.data(), count, data.data(), tags.data());
    using Clock = std::chrono::steady_clock;
    const auto start = Clock::now();
    const auto until = start + std::chrono::duration<double>(seconds);
    double bytes = 0;
    auto now = start;
    do {
      if (decrypt) {
        container->decryptBlocks(0, data.data(), tags.data(), count, plain.data());
      } else {
        container->encryptBlocks(0, plain.data(), count, data.data(), tags.data());
      }
      bytes += static_cast<double>(count * kPlainBlockSize);
      now = Clock::now();
    } while (now < until);
    container->close();
    Napi::Object out = Napi::Object::New(env);
    out.Set("bytes", Napi::Number::New(env, bytes));
    out.Set("seconds", Napi::Number::New(env, std::chrono::duration<double>(now - start).count()));
    return Napi::Value(out);
  });
}

// The guard points' path matcher, so tests can hold it to the TypeScript reference's table.
Napi::Value glob(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&] {
    const std::string pattern = info[0].As<Napi::String>().Utf8Value();
    const std::string path = info[1].As<Napi::String>().Utf8Value();
    return Napi::Value(Napi::Boolean::New(info.Env(), globMatch(pattern, path)));
  });
}

// A caller given in full: { uid, gid, groups, exe, sha256 (hex or null), action (bit
// number), path }.
struct Probe {
  Requester who;
  uint32_t action;
  std::string path;
};

Probe probeArg(const Napi::Value& value) {
  Napi::Object r = value.As<Napi::Object>();
  std::vector<gid_t> groups;
  Napi::Array list = r.Get("groups").As<Napi::Array>();
  for (uint32_t i = 0; i < list.Length(); ++i) groups.push_back(list.Get(i).As<Napi::Number>().Uint32Value());
  std::optional<Sha256> hash;
  if (r.Get("sha256").IsString()) {
    const std::string hex = r.Get("sha256").As<Napi::String>().Utf8Value();
    if (hex.size() != 64) throw VeilException("VEIL_INVALID_ARGUMENT", "sha256 must be 64 hex digits");
    Sha256 bytes{};
    for (size_t i = 0; i < 32; ++i) bytes[i] = static_cast<uint8_t>(std::stoul(hex.substr(2 * i, 2), nullptr, 16));
    hash = bytes;
  }
  const uint32_t bit = r.Get("action").As<Napi::Number>().Uint32Value();
  if (bit > 17) throw VeilException("VEIL_INVALID_ARGUMENT", "unknown action bit");
  return Probe{Requester::known(r.Get("uid").As<Napi::Number>().Uint32Value(),
                                r.Get("gid").As<Napi::Number>().Uint32Value(), std::move(groups),
                                r.Get("exe").IsString() ? r.Get("exe").As<Napi::String>().Utf8Value() : "", hash),
               1u << bit, r.Get("path").As<Napi::String>().Utf8Value()};
}

std::shared_ptr<const DecisionTable> tableArg(const Napi::Value& value) {
  auto table = decisionTableArg(value);
  if (!table) throw VeilException("VEIL_INVALID_ARGUMENT", "a decision table is needed");
  return table;
}

// One decision of the guard points' evaluator.
Napi::Value evaluatePolicy(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&] {
    auto table = tableArg(info[0]);
    Probe probe = probeArg(info[1]);
    Verdict v = evaluate(*table, probe.who, probe.action, probe.path);
    Napi::Object out = Napi::Object::New(info.Env());
    out.Set("permit", Napi::Boolean::New(info.Env(), v.permit));
    out.Set("applyKey", Napi::Boolean::New(info.Env(), v.applyKey));
    out.Set("audit", Napi::Boolean::New(info.Env(), v.audit));
    out.Set("learned", Napi::Boolean::New(info.Env(), v.learned));
    out.Set("rule", v.rule < 0 ? info.Env().Null() : Napi::Number::New(info.Env(), v.rule));
    return Napi::Value(out);
  });
}

// The same decision `repeat` times in native code: nanoseconds per decision (the bench's
// measure of what a policy costs an operation, free of the disk's noise).
Napi::Value timePolicy(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&] {
    auto table = tableArg(info[0]);
    Probe probe = probeArg(info[1]);
    const uint32_t repeat = info[2].As<Napi::Number>().Uint32Value();
    if (repeat == 0) throw VeilException("VEIL_INVALID_ARGUMENT", "repeat must be at least 1");
    uint32_t permits = 0;
    const auto start = std::chrono::steady_clock::now();
    for (uint32_t i = 0; i < repeat; ++i) permits += evaluate(*table, probe.who, probe.action, probe.path).permit;
    const auto elapsed = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start);
    // Uses the verdicts, so the loop is not optimized away.
    if (permits > repeat) throw VeilException("VEIL_INVALID_ARGUMENT", "impossible");
    return Napi::Value(Napi::Number::New(info.Env(), elapsed.count() / repeat));
  });
}

}  // namespace

void registerSelfTest(Napi::Env env, Napi::Object exports) {
  Napi::Object selfTest = Napi::Object::New(env);
  selfTest.Set("aesGcmEncrypt", Napi::Function::New(env, aesGcmEncrypt, "aesGcmEncrypt"));
  selfTest.Set("aesGcmDecrypt", Napi::Function::New(env, aesGcmDecrypt, "aesGcmDecrypt"));
  selfTest.Set("aesXts", Napi::Function::New(env, aesXts, "aesXts"));
  selfTest.Set("hkdfSha256", Napi::Function::New(env, hkdf, "hkdfSha256"));
  selfTest.Set("x25519", Napi::Function::New(env, x25519Shared, "x25519"));
  selfTest.Set("x25519PublicKey", Napi::Function::New(env, x25519Public, "x25519PublicKey"));
  selfTest.Set("scrypt", Napi::Function::New(env, scryptKdf, "scrypt"));
  selfTest.Set("randomBytes", Napi::Function::New(env, random, "randomBytes"));
  selfTest.Set("globMatch", Napi::Function::New(env, glob, "globMatch"));
  selfTest.Set("evaluatePolicy", Napi::Function::New(env, evaluatePolicy, "evaluatePolicy"));
  selfTest.Set("timePolicy", Napi::Function::New(env, timePolicy, "timePolicy"));
  exports.Set("selfTest", selfTest);
  exports.Set("benchmarkBlocks", Napi::Function::New(env, benchmarkBlocks, "benchmarkBlocks"));
}

}  // namespace veil
