#include "napi/policy_convert.h"

#include <algorithm>
#include <string>

#include "common/error.h"

namespace veil {

namespace {

constexpr uint32_t kTableFormat = 1;  // policies/compile.ts DECISION_TABLE_FORMAT
constexpr uint32_t kAllActions = (1u << 18) - 1;

[[noreturn]] void bad(const std::string& where, const std::string& what) {
  throw VeilException("VEIL_INVALID_ARGUMENT", "decision table: " + where + ": " + what);
}

Napi::Object objectAt(const Napi::Value& value, const std::string& where) {
  if (!value.IsObject() || value.IsArray()) bad(where, "expected an object");
  return value.As<Napi::Object>();
}

Napi::Array arrayAt(const Napi::Object& o, const char* key, const std::string& where) {
  Napi::Value v = o.Get(key);
  if (!v.IsArray()) bad(where + "/" + key, "expected an array");
  return v.As<Napi::Array>();
}

std::string stringAt(const Napi::Value& v, const std::string& where) {
  if (!v.IsString()) bad(where, "expected a string");
  return v.As<Napi::String>().Utf8Value();
}

bool boolAt(const Napi::Object& o, const char* key, const std::string& where) {
  Napi::Value v = o.Get(key);
  if (!v.IsBoolean()) bad(where + "/" + key, "expected a boolean");
  return v.As<Napi::Boolean>().Value();
}

double integerAt(const Napi::Value& v, const std::string& where, double min, double max) {
  if (!v.IsNumber()) bad(where, "expected a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= min && d <= max) || d != static_cast<double>(static_cast<int64_t>(d))) {
    bad(where, "expected an integer from " + std::to_string(static_cast<int64_t>(min)) + " to " +
                   std::to_string(static_cast<int64_t>(max)));
  }
  return d;
}

std::vector<std::string> strings(const Napi::Object& o, const char* key, const std::string& where) {
  Napi::Array a = arrayAt(o, key, where);
  std::vector<std::string> out;
  for (uint32_t i = 0; i < a.Length(); ++i) out.push_back(stringAt(a.Get(i), where + "/" + key + "/" + std::to_string(i)));
  return out;
}

std::vector<uint32_t> sortedIds(const Napi::Object& o, const char* key, const std::string& where) {
  Napi::Array a = arrayAt(o, key, where);
  std::vector<uint32_t> out;
  for (uint32_t i = 0; i < a.Length(); ++i) {
    out.push_back(static_cast<uint32_t>(integerAt(a.Get(i), where + "/" + key + "/" + std::to_string(i), 0, 4294967294.0)));
  }
  std::sort(out.begin(), out.end());  // the evaluator searches them
  return out;
}

Sha256 hashAt(const Napi::Value& v, const std::string& where) {
  std::string hex = stringAt(v, where);
  if (hex.size() != 64) bad(where, "expected 64 hex digits");
  Sha256 out{};
  for (size_t i = 0; i < 32; ++i) {
    auto nibble = [&](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      bad(where, "expected lower-case hex digits");
    };
    out[i] = static_cast<uint8_t>(nibble(hex[2 * i]) << 4 | nibble(hex[2 * i + 1]));
  }
  return out;
}

int indexAt(const Napi::Object& o, const char* key, size_t count, const std::string& where) {
  return static_cast<int>(integerAt(o.Get(key), where + "/" + key, -1, static_cast<double>(count) - 1));
}

}  // namespace

std::shared_ptr<const DecisionTable> decisionTableArg(const Napi::Value& value) {
  if (value.IsNull() || value.IsUndefined()) return nullptr;
  Napi::Object o = objectAt(value, "");
  if (integerAt(o.Get("format"), "/format", 0, 1e6) != kTableFormat) {
    bad("/format", "this native core reads format " + std::to_string(kTableFormat));
  }
  auto table = std::make_shared<DecisionTable>();
  table->name = stringAt(o.Get("name"), "/name");
  table->digest = stringAt(o.Get("digest"), "/digest");
  table->learnMode = boolAt(o, "learnMode", "");
  Napi::Array resources = arrayAt(o, "resources", "");
  for (uint32_t i = 0; i < resources.Length(); ++i) {
    const std::string at = "/resources/" + std::to_string(i);
    Napi::Object r = objectAt(resources.Get(i), at);
    ResourceSet set;
    for (auto& pattern : strings(r, "include", at)) set.include.emplace_back(std::move(pattern));
    for (auto& pattern : strings(r, "exclude", at)) set.exclude.emplace_back(std::move(pattern));
    table->resources.push_back(std::move(set));
  }
  Napi::Array users = arrayAt(o, "users", "");
  for (uint32_t i = 0; i < users.Length(); ++i) {
    const std::string at = "/users/" + std::to_string(i);
    Napi::Object u = objectAt(users.Get(i), at);
    table->users.push_back(UserSet{sortedIds(u, "uids", at), sortedIds(u, "gids", at)});
    table->needsGroups = table->needsGroups || !table->users.back().gids.empty();
  }
  Napi::Array processes = arrayAt(o, "processes", "");
  for (uint32_t i = 0; i < processes.Length(); ++i) {
    const std::string at = "/processes/" + std::to_string(i);
    Napi::Object p = objectAt(processes.Get(i), at);
    ProcessSet set;
    set.executables = strings(p, "executables", at);
    Napi::Value hashes = p.Get("sha256");
    if (!hashes.IsNull()) {
      if (!hashes.IsArray()) bad(at + "/sha256", "expected an array or null");
      Napi::Array a = hashes.As<Napi::Array>();
      set.signed_ = true;
      for (uint32_t j = 0; j < a.Length(); ++j) set.hashes.push_back(hashAt(a.Get(j), at + "/sha256/" + std::to_string(j)));
    }
    table->processes.push_back(std::move(set));
    table->needsExecutable = true;
  }
  Napi::Array rules = arrayAt(o, "rules", "");
  for (uint32_t i = 0; i < rules.Length(); ++i) {
    const std::string at = "/rules/" + std::to_string(i);
    Napi::Object r = objectAt(rules.Get(i), at);
    Rule rule;
    rule.resource = indexAt(r, "resource", table->resources.size(), at);
    rule.user = indexAt(r, "user", table->users.size(), at);
    rule.process = indexAt(r, "process", table->processes.size(), at);
    rule.negate = static_cast<uint8_t>(integerAt(r.Get("negate"), at + "/negate", 0, 7));
    rule.actions = static_cast<uint32_t>(integerAt(r.Get("actions"), at + "/actions", 0, kAllActions));
    rule.permit = boolAt(r, "permit", at);
    rule.applyKey = boolAt(r, "applyKey", at);
    rule.audit = boolAt(r, "audit", at);
    rule.ruleIndex = static_cast<int>(integerAt(r.Get("ruleIndex"), at + "/ruleIndex", 0, 1e6));
    table->rules.push_back(rule);
  }
  Napi::Array keys = arrayAt(o, "keys", "");
  for (uint32_t i = 0; i < keys.Length(); ++i) {
    const std::string at = "/keys/" + std::to_string(i);
    Napi::Object k = objectAt(keys.Get(i), at);
    KeyVersion key;
    if (!parseUuid(stringAt(k.Get("keyId"), at + "/keyId"), key.keyId)) bad(at + "/keyId", "expected a UUID");
    key.version = static_cast<uint32_t>(integerAt(k.Get("version"), at + "/version", 1, 0xffffffffu));
    table->keys.push_back(key);
  }
  Napi::Array keyRules = arrayAt(o, "keyRules", "");
  for (uint32_t i = 0; i < keyRules.Length(); ++i) {
    const std::string at = "/keyRules/" + std::to_string(i);
    Napi::Object r = objectAt(keyRules.Get(i), at);
    KeyRule rule;
    rule.resource = indexAt(r, "resource", table->resources.size(), at);
    rule.key = static_cast<int>(integerAt(r.Get("key"), at + "/key", kClearKey, static_cast<double>(table->keys.size()) - 1));
    table->keyRules.push_back(rule);
  }
  return table;
}

}  // namespace veil
