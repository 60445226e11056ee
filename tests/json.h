// SPDX-License-Identifier: Apache-2.0
// A small JSON reader for tests that check what microvm writes (--stats_json):
// objects, arrays, strings (the escapes microvm writes), non-negative
// integers, fractions, true/false and null. Hand-written rather than
// std::regex: GCC 12's <regex> does not build warning-free at -O1.
#ifndef MICROVM_TESTS_JSON_H_
#define MICROVM_TESTS_JSON_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace microvm::testing {

struct Json {
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };
  Kind kind = Kind::kNull;
  bool boolean = false;
  double number = 0;
  uint64_t integer = 0;  // the number, when it is a non-negative integer
  std::string string;
  std::vector<Json> array;
  std::map<std::string, Json> object;

  bool is_null() const { return kind == Kind::kNull; }
  // The member `key` of an object; a null value for anything missing, so
  // lookups chain: json["a"]["b"].
  const Json& operator[](const std::string& key) const;
  // The "name": integer members of an object.
  std::map<std::string, uint64_t> Counts() const;
};

// The value `text` holds, or nullopt (and the reason in *error) when it is
// not one JSON value followed only by white space.
std::optional<Json> ParseJson(std::string_view text, std::string* error);

}  // namespace microvm::testing

#endif  // MICROVM_TESTS_JSON_H_
