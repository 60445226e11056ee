# SPDX-License-Identifier: Apache-2.0
"""Wraps Debian's Abseil, GoogleTest, GoogleMock, Google Benchmark and libseccomp.

The libraries live in /usr; this repository rule writes cc_library targets
that carry only link options. Abseil's static link line is asked of
pkg-config at fetch time so it follows whatever the installed version needs.
"""

_ABSL_MODULES = [
    "absl_flags_parse",
    "absl_flags",
    "absl_status",
    "absl_statusor",
    "absl_str_format",
    "absl_strings",
    "absl_synchronization",
    "absl_time",
    "absl_cleanup",
    "absl_span",
    "absl_flat_hash_map",
    "absl_inlined_vector",
    "absl_failure_signal_handler",
    "absl_symbolize",
]

def _linkopts(flags):
    out = []
    for f in flags.split(" "):
        f = f.strip()

        # --push-state/--as-needed wrappers around -latomic break Bazel's
        # static link ordering; -latomic alone is harmless.
        if not f or f.startswith("-Wl,--push-state") or f.startswith("-Wl,--pop-state"):
            continue
        out.append(f)
    return out

def _system_libraries_impl(ctx):
    res = ctx.execute(["pkg-config", "--libs", "--static"] + _ABSL_MODULES)
    if res.return_code != 0:
        fail("pkg-config could not find Abseil (install libabsl-dev): " + res.stderr)
    absl = _linkopts(res.stdout)
    if not ctx.path("/usr/include/seccomp.h").exists:
        fail("no /usr/include/seccomp.h: install libseccomp-dev (bash tools/setup.sh does)")
    ctx.file("WORKSPACE", "workspace(name = \"%s\")\n" % ctx.name)
    ctx.file("BUILD.bazel", """
package(default_visibility = ["//visibility:public"])

cc_library(
    name = "absl",
    linkopts = {absl},
)

cc_library(
    name = "gtest",
    linkopts = ["-lgtest", "-lpthread"],
)

cc_library(
    name = "gtest_main",
    linkopts = ["-lgtest_main", "-lgtest", "-lpthread"],
)

cc_library(
    name = "gmock",
    linkopts = ["-lgmock", "-lgtest", "-lpthread"],
)

cc_library(
    name = "gmock_main",
    linkopts = ["-lgmock_main", "-lgmock", "-lgtest", "-lpthread"],
)

# Linked statically into every program, the static and the sanitizer builds
# alike: the nested machine has no libseccomp.so.
cc_library(
    name = "seccomp",
    linkopts = ["-l:libseccomp.a"],
)

cc_library(
    name = "benchmark",
    linkopts = ["-lbenchmark", "-lpthread"],
)

cc_library(
    name = "benchmark_main",
    linkopts = ["-lbenchmark_main", "-lbenchmark", "-lpthread"],
)
""".format(absl = repr(absl)))

system_libraries = repository_rule(
    implementation = _system_libraries_impl,
    local = True,
)
