// SPDX-License-Identifier: Apache-2.0
#include "tests/json.h"

#include <cctype>
#include <cstdlib>

namespace microvm::testing {
namespace {

class Reader {
 public:
  explicit Reader(std::string_view text) : text_(text) {}

  std::optional<Json> Document() {
    std::optional<Json> value = Value(0);
    SkipSpace();
    if (value.has_value() && pos_ != text_.size()) {
      return Fail("text after the value");
    }
    return value;
  }

  const std::string& error() const { return error_; }

 private:
  static constexpr int kMaxDepth = 64;

  std::nullopt_t Fail(const std::string& what) {
    if (error_.empty()) error_ = what + " at offset " + std::to_string(pos_);
    return std::nullopt;
  }

  void SkipSpace() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) {
      ++pos_;
    }
  }

  bool Take(char c) {
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }

  bool TakeWord(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  std::optional<Json> Value(int depth) {
    if (depth > kMaxDepth) return Fail("nesting too deep");
    SkipSpace();
    if (pos_ == text_.size()) return Fail("missing value");
    Json v;
    const char c = text_[pos_];
    if (c == '{') return Object(depth);
    if (c == '[') return Array(depth);
    if (c == '"') {
      std::optional<std::string> s = String();
      if (!s.has_value()) return std::nullopt;
      v.kind = Json::Kind::kString;
      v.string = *std::move(s);
      return v;
    }
    if (TakeWord("null")) return v;
    if (TakeWord("true") || TakeWord("false")) {
      v.kind = Json::Kind::kBool;
      v.boolean = text_[pos_ - 4] == 't';
      return v;
    }
    return Number();
  }

  std::optional<Json> Object(int depth) {
    ++pos_;  // '{'
    Json v;
    v.kind = Json::Kind::kObject;
    if (Take('}')) return v;
    do {
      SkipSpace();
      std::optional<std::string> key = String();
      if (!key.has_value()) return std::nullopt;
      if (!Take(':')) return Fail("missing ':'");
      std::optional<Json> member = Value(depth + 1);
      if (!member.has_value()) return std::nullopt;
      v.object[*key] = *std::move(member);
    } while (Take(','));
    if (!Take('}')) return Fail("missing '}'");
    return v;
  }

  std::optional<Json> Array(int depth) {
    ++pos_;  // '['
    Json v;
    v.kind = Json::Kind::kArray;
    if (Take(']')) return v;
    do {
      std::optional<Json> element = Value(depth + 1);
      if (!element.has_value()) return std::nullopt;
      v.array.push_back(*std::move(element));
    } while (Take(','));
    if (!Take(']')) return Fail("missing ']'");
    return v;
  }

  std::optional<std::string> String() {
    if (pos_ >= text_.size() || text_[pos_] != '"') return Fail("missing string");
    ++pos_;
    std::string out;
    while (pos_ < text_.size() && text_[pos_] != '"') {
      char c = text_[pos_++];
      if (c == '\\') {
        if (pos_ >= text_.size()) break;
        c = text_[pos_++];
        switch (c) {
          case 'n': c = '\n'; break;
          case 't': c = '\t'; break;
          case 'r': c = '\r'; break;
          case 'u': {
            // microvm escapes only control characters: \u00XX.
            const std::string hex(text_.substr(pos_, 4));
            if (hex.size() != 4) return Fail("short \\u escape");
            c = static_cast<char>(std::strtoul(hex.c_str(), nullptr, 16));
            pos_ += 4;
            break;
          }
          default: break;  // \" \\ \/ stand for themselves
        }
      }
      out.push_back(c);
    }
    if (pos_ >= text_.size()) return Fail("unterminated string");
    ++pos_;  // closing '"'
    return out;
  }

  std::optional<Json> Number() {
    const size_t start = pos_;
    while (pos_ < text_.size() &&
           (std::isdigit(static_cast<unsigned char>(text_[pos_])) ||
            std::string_view("+-.eE").find(text_[pos_]) != std::string_view::npos)) {
      ++pos_;
    }
    if (pos_ == start) return Fail("not a value");
    const std::string digits(text_.substr(start, pos_ - start));
    char* end = nullptr;
    Json v;
    v.kind = Json::Kind::kNumber;
    v.number = std::strtod(digits.c_str(), &end);
    if (end != digits.c_str() + digits.size()) return Fail("bad number");
    if (digits.find_first_not_of("0123456789") == std::string::npos) {
      v.integer = std::strtoull(digits.c_str(), nullptr, 10);
    }
    return v;
  }

  std::string_view text_;
  size_t pos_ = 0;
  std::string error_;
};

}  // namespace

const Json& Json::operator[](const std::string& key) const {
  static const Json kMissing;
  auto it = object.find(key);
  return it == object.end() ? kMissing : it->second;
}

std::map<std::string, uint64_t> Json::Counts() const {
  std::map<std::string, uint64_t> counts;
  for (const auto& [name, value] : object) {
    if (value.kind == Kind::kNumber) counts[name] = value.integer;
  }
  return counts;
}

std::optional<Json> ParseJson(std::string_view text, std::string* error) {
  Reader reader(text);
  std::optional<Json> value = reader.Document();
  if (!value.has_value() && error != nullptr) *error = reader.error();
  return value;
}

}  // namespace microvm::testing
