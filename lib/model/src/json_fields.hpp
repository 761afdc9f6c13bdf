// Reading and writing the fields of the item JSON shapes, private to the model module: one place
// decides what "absent", "wrong type" and "empty" mean for every shape.
#pragma once

#include <boost/json.hpp>

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "exsync/core/result.hpp"
#include "exsync/model/contact_json.hpp"

namespace exsync::model {

namespace json = boost::json;

// Empty values are left out of the JSON.
inline void put(json::object& o, std::string_view key, const std::string& v) {
  if (!v.empty()) o[key] = v;
}

// Writes one JSON object straight into a string, byte for byte as json::serialize() writes the
// same members in the same order (the same escapes: \" \\ \b \t \n \f \r, other control
// characters as \u00xx, nothing else), without building a json::object first. For the item JSON
// every page of an initial sync stores.
class JsonWriter {
 public:
  explicit JsonWriter(std::string& out) : out_(out) {}
  void begin_object() { open('{'); }
  void end_object() { close('}'); }
  void begin_array() { open('['); }
  void end_array() { close(']'); }
  void key(std::string_view k) {
    comma();
    string(k);
    out_ += ':';
    first_ = true;  // the value that follows takes no comma
  }
  void value(std::string_view v) {
    comma();
    string(v);
  }
  // A member with a string value, left out when empty (as put() does).
  void put(std::string_view k, std::string_view v) {
    if (v.empty()) return;
    key(k);
    value(v);
  }

 private:
  void open(char c) {
    comma();
    out_ += c;
    first_ = true;
  }
  void close(char c) {
    out_ += c;
    first_ = false;
  }
  void comma() {
    if (!first_) out_ += ',';
    first_ = false;
  }
  void string(std::string_view v) {
    static constexpr char kHex[] = "0123456789abcdef";
    out_ += '"';
    std::size_t run = 0;
    for (std::size_t i = 0; i < v.size(); ++i) {
      const auto c = static_cast<unsigned char>(v[i]);
      if (c >= 0x20 && c != '"' && c != '\\') continue;
      out_.append(v.data() + run, i - run);
      run = i + 1;
      out_ += '\\';
      switch (c) {
        case '"': out_ += '"'; break;
        case '\\': out_ += '\\'; break;
        case '\b': out_ += 'b'; break;
        case '\t': out_ += 't'; break;
        case '\n': out_ += 'n'; break;
        case '\f': out_ += 'f'; break;
        case '\r': out_ += 'r'; break;
        default:
          out_ += "u00";
          out_ += kHex[c >> 4];
          out_ += kHex[c & 15];
      }
    }
    out_.append(v.data() + run, v.size() - run);
    out_ += '"';
  }

  std::string& out_;
  bool first_ = true;
};

inline void put_identity(JsonWriter& w, const std::optional<ItemIdentity>& identity) {
  if (!identity) return;
  w.put("id", identity->local_id);
  w.put("remote_id", identity->remote.id);
  w.put("ews_id", identity->remote.id);
  w.put("change_key", identity->remote.change_key);
  w.put("etag", identity->etag);
}

// The identities every item's JSON starts with: exsync's id, then Exchange's.
inline void put_identity(json::object& o, const std::optional<ItemIdentity>& identity) {
  if (!identity) return;
  put(o, "id", identity->local_id);
  // remote_id: the item's id in the mailbox, whatever the protocol; ews_id is its older name,
  // kept for one release (README, "Item JSON").
  put(o, "remote_id", identity->remote.id);
  put(o, "ews_id", identity->remote.id);
  put(o, "change_key", identity->remote.change_key);
  put(o, "etag", identity->etag);
}

inline json::array strings(const std::vector<std::string>& v) {
  json::array a;
  for (const auto& s : v) a.emplace_back(s);
  return a;
}

// Parses text that must hold one JSON object.
inline Result<json::value, std::string> parse_object(std::string_view text) {
  json::error_code ec;
  auto v = json::parse(text, ec);
  if (ec) return Fail{std::string("is not valid JSON: ") + ec.message()};
  if (!v.is_object()) return Fail{std::string("must be a JSON object")};
  return v;
}

// Reads optional members of an object; the first wrong type is recorded in `err` and the value
// read as empty. Absent and null members are empty.
struct Reader {
  const json::object& o;
  std::string& err;

  void fail(std::string message) const {
    if (err.empty()) err = std::move(message);
  }
  const json::value* member(std::string_view key) const {
    auto* v = o.if_contains(key);
    return v && !v->is_null() ? v : nullptr;
  }
  std::string str(std::string_view key) const {
    auto* v = member(key);
    if (!v) return {};
    if (!v->is_string()) {
      fail(std::string(key) + " must be a string");
      return {};
    }
    return std::string(v->as_string());
  }
  bool boolean(std::string_view key) const {
    auto* v = member(key);
    if (!v) return false;
    if (!v->is_bool()) {
      fail(std::string(key) + " must be true or false");
      return false;
    }
    return v->as_bool();
  }
  std::optional<int> integer(std::string_view key) const {
    auto* v = member(key);
    if (!v) return std::nullopt;
    if (!v->is_int64()) {
      fail(std::string(key) + " must be an integer");
      return std::nullopt;
    }
    return static_cast<int>(v->as_int64());
  }
  std::vector<std::string> list(std::string_view key) const {
    std::vector<std::string> out;
    auto* v = member(key);
    if (!v) return out;
    if (!v->is_array()) {
      fail(std::string(key) + " must be an array of strings");
      return out;
    }
    for (const auto& el : v->as_array()) {
      if (el.is_string()) out.emplace_back(el.as_string());
      else fail(std::string(key) + " must be an array of strings");
    }
    return out;
  }
  // Calls fn(Reader) for each object in the array `key`.
  template <typename F>
  void objects(std::string_view key, F&& fn) const {
    auto* v = member(key);
    if (!v) return;
    if (!v->is_array()) {
      fail(std::string(key) + " must be an array");
      return;
    }
    for (const auto& el : v->as_array()) {
      if (!el.is_object()) {
        fail(std::string(key) + " entries must be objects");
        return;
      }
      fn(Reader{el.as_object(), err});
    }
  }
  std::optional<Reader> object(std::string_view key) const {
    auto* v = member(key);
    if (!v) return std::nullopt;
    if (!v->is_object()) {
      fail(std::string(key) + " must be an object");
      return std::nullopt;
    }
    return Reader{v->as_object(), err};
  }
};

// The members a shape accepts: each name, with the members of its object (or of its array's
// objects) when it has any. For refusing what a writer misspelt or invented, which would
// otherwise be dropped without a word.
struct Member {
  std::string_view name;
  std::span<const Member> members = {};
};

// Every item's identity members, which a CRM may send back as it read them.
inline constexpr Member kIdentityMembers[] = {{"id"}, {"remote_id"}, {"ews_id"}, {"change_key"}, {"etag"}, {"last_modified"}};

// The first member of `o` that `known` (or, at the top, the identity members) does not list,
// by its path ("emails[1].adress").
inline std::optional<std::string> unknown_member(const json::object& o, std::span<const Member> known,
                                                 bool top = true, const std::string& path = "") {
  for (const auto& kv : o) {
    const Member* m = nullptr;
    for (const auto& k : known)
      if (k.name == kv.key()) m = &k;
    if (!m && top)
      for (const auto& k : kIdentityMembers)
        if (k.name == kv.key()) m = &k;
    const std::string here = path + std::string(kv.key());
    if (!m) return here;
    if (m->members.empty()) continue;
    if (kv.value().is_object()) {
      if (auto u = unknown_member(kv.value().as_object(), m->members, false, here + ".")) return u;
    } else if (kv.value().is_array()) {
      const auto& a = kv.value().as_array();
      for (std::size_t i = 0; i < a.size(); ++i)
        if (a[i].is_object())
          if (auto u = unknown_member(a[i].as_object(), m->members, false, here + "[" + std::to_string(i) + "].")) return u;
    }
  }
  return std::nullopt;
}

}  // namespace exsync::model
