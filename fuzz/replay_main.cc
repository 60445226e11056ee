// SPDX-License-Identifier: Apache-2.0
// Runs a fuzz target over checked-in inputs without libFuzzer, so the normal
// gcc build regression-tests every target on its seed corpus and crash
// reproducers. Usage: replay [--expect=N] DIR_OR_FILE...; every regular file
// (directories recursively) is one input. Fails if no input ran, or if
// --expect is given and a different number ran (a lost corpus file).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

std::vector<std::filesystem::path> Inputs(const std::filesystem::path& arg) {
  std::vector<std::filesystem::path> out;
  if (std::filesystem::is_directory(arg)) {
    for (const auto& entry :
         std::filesystem::recursive_directory_iterator(arg)) {
      if (entry.is_regular_file()) out.push_back(entry.path());
    }
  } else {
    out.push_back(arg);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  long expect = -1;
  std::vector<std::filesystem::path> inputs;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--expect=", 0) == 0) {
      expect = std::strtol(arg.c_str() + 9, nullptr, 10);
      continue;
    }
    if (!std::filesystem::exists(arg)) {
      std::fprintf(stderr, "replay: %s does not exist\n", arg.c_str());
      return 1;
    }
    for (auto& p : Inputs(arg)) inputs.push_back(std::move(p));
  }
  long ran = 0;
  for (const auto& path : inputs) {
    std::ifstream in(path, std::ios::binary);
    std::vector<uint8_t> data((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
    if (!in.eof() && in.fail()) {
      std::fprintf(stderr, "replay: cannot read %s\n", path.c_str());
      return 1;
    }
    std::printf("replay: %s (%zu bytes)\n", path.c_str(), data.size());
    std::fflush(stdout);
    LLVMFuzzerTestOneInput(data.data(), data.size());
    ++ran;
  }
  std::printf("replay: ran %ld inputs\n", ran);
  if (ran == 0) {
    std::fprintf(stderr, "replay: no inputs: the corpus is missing\n");
    return 1;
  }
  if (expect >= 0 && ran != expect) {
    std::fprintf(stderr, "replay: ran %ld inputs, expected %ld\n", ran, expect);
    return 1;
  }
  return 0;
}
