# SPDX-License-Identifier: Apache-2.0
"""fuzz_target: one libFuzzer target and its corpus replay test.

For NAME it declares
  NAME         the fuzzer binary: linked with libFuzzer under
               --config=fuzz (tools/fuzz.sh), else with the replay driver;
  NAME_test    a cc_test that replays corpus/NAME/ (seeds and crash
               reproducers) through the target with the normal toolchain.
"""

def fuzz_target(name, srcs, deps = []):
    native.cc_library(
        name = name + "_lib",
        testonly = True,
        srcs = srcs,
        deps = deps + [":fuzz_input"],
        alwayslink = True,
    )
    native.cc_binary(
        name = name,
        testonly = True,
        deps = [":" + name + "_lib"] + select({
            ":libfuzzer": [],
            "//conditions:default": [":replay_main"],
        }),
        linkopts = select({
            ":libfuzzer": ["-fsanitize=fuzzer"],
            "//conditions:default": [],
        }),
    )
    corpus = native.glob(["corpus/%s/**" % name])
    if not corpus:
        fail("fuzz target %s has no seed corpus in fuzz/corpus/%s/" % (name, name))
    native.cc_test(
        name = name + "_test",
        size = "small",
        deps = [":" + name + "_lib", ":replay_main"],
        data = corpus,
        args = [
            "--expect=%d" % len(corpus),
            "fuzz/corpus/" + name,
        ],
    )
