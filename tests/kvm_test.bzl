# SPDX-License-Identifier: Apache-2.0
"""kvm_test: a test that needs /dev/kvm.

kvm_test(name, srcs, deps, ...) builds `<name>_bin`, a fully static
cc_binary (it must run on a bare busybox system; dynamic under --config=asan
or ubsan, with its libraries shipped along), and an sh_test `<name>`
that runs it through tests/nested/run_kvm_test.sh: on the host's /dev/kvm when
that works (kvm_probe passes) and MICROVM_TEST_NESTED is unset or 0, else in
the nested machine (QEMU + Debian cloud kernel with kvm-amd, see
tests/nested/nested_run.sh). The whole runfiles tree goes into the machine, so
`data` files are found at the same relative paths as on the host.

With `valgrind = True` it also builds `<name>_valgrind_bin` (the same test,
linked dynamically: memcheck replaces malloc through a preloaded library,
which a static program cannot load) and an sh_test `<name>_valgrind` that runs
it under valgrind's memcheck, on the host or nested as above (the runner
ships valgrind into the nested machine). Any memcheck error or definitely or
indirectly lost block fails it; tests/nested/valgrind.supp is where a report
that is not microvm's goes, with its reason (none so far). The valgrind
variant is tagged "valgrind" and skipped under --config=asan/ubsan (a
sanitizer runtime and memcheck cannot share a process).
"""

load("//tools/build:static.bzl", "static_features", "static_linkopts")

_RUNNER = "//tests/nested:run_kvm_test.sh"
_NESTED_RUN = "//tests/nested:nested_run.sh"
_PROBE = "//tests/nested:kvm_probe"
_RUNNER_FILES = "//tests/nested:runner_files"
_VALGRIND_SUPP = "//tests/nested:valgrind.supp"

# Valgrind and a sanitizer runtime cannot share a process: under
# --config=asan/ubsan the valgrind variants are skipped (incompatible).
_NOT_UNDER_SANITIZER = select({
    "//tools/build:asan_build": ["//tests/nested:incompatible"],
    "//tools/build:ubsan_build": ["//tests/nested:incompatible"],
    "//conditions:default": [],
})

def kvm_test(
        name,
        srcs,
        deps = [],
        data = [],
        args = [],
        cpus = 1,
        mem_mib = 2048,
        size = "medium",
        tags = [],
        copts = [],
        valgrind = False,
        valgrind_size = "large",
        **kwargs):
    """A gtest (or any) binary that needs KVM, run on the host or nested.

    Args:
      name: the sh_test's name; the binary is `<name>_bin`.
      srcs: C++ sources of the binary.
      deps: its deps (e.g. "@system//:gtest_main").
      data: files the test reads at run time (runfiles-relative paths).
      args: arguments for the binary (e.g. "--gtest_filter=...").
      cpus: vCPUs of the nested machine; also reserved from Bazel's scheduler.
        More than 1 risks the stall described in tests/nested/nested_run.sh.
      mem_mib: memory of the nested machine.
      size: Bazel test size (timeout); "medium" leaves room for the boot.
      tags: extra tags.
      copts: extra compiler options.
      valgrind: also add `<name>_valgrind`, the test under valgrind memcheck.
      valgrind_size: Bazel test size of `<name>_valgrind` (memcheck makes the
        test's own code 20-50 times slower; nested, that adds up).
      **kwargs: passed to the sh_test (e.g. timeout, flaky, shard_count).
    """
    bin_name = name + "_bin"
    native.cc_binary(
        name = bin_name,
        srcs = srcs,
        deps = deps,
        copts = copts,
        # Static so it runs on the nested machine's bare busybox system.
        # Sanitizer runtimes cannot link statically: those builds link
        # dynamically and the runner ships the shared libraries along.
        linkopts = static_linkopts(),
        features = static_features(),
        testonly = True,
        visibility = ["//visibility:private"],
    )
    runner_args = [
        "--probe=$(rootpath %s)" % _PROBE,
        "--nested-run=$(rootpath %s)" % _NESTED_RUN,
        "--cpus=%d" % cpus,
        "--mem=%d" % mem_mib,
    ]
    native.sh_test(
        name = name,
        srcs = [_RUNNER],
        args = runner_args + ["--", "$(rootpath :%s)" % bin_name] + args,
        data = [":" + bin_name, _PROBE, _NESTED_RUN, _RUNNER_FILES] + data,
        size = size,
        tags = tags + ["kvm", "cpu:%d" % cpus],
        **kwargs
    )
    if not valgrind:
        return

    vg_bin_name = name + "_valgrind_bin"
    native.cc_binary(
        name = vg_bin_name,
        srcs = srcs,
        deps = deps,
        copts = copts,
        # Dynamic on purpose: memcheck's malloc replacement is a preloaded
        # shared library. The runner ships the libraries into the machine.
        testonly = True,
        target_compatible_with = _NOT_UNDER_SANITIZER,
        visibility = ["//visibility:private"],
    )
    native.sh_test(
        name = name + "_valgrind",
        srcs = [_RUNNER],
        args = runner_args + [
            "--valgrind-supp=$(rootpath %s)" % _VALGRIND_SUPP,
            "--",
            "$(rootpath :%s)" % vg_bin_name,
        ] + args,
        data = [":" + vg_bin_name, _PROBE, _NESTED_RUN, _RUNNER_FILES, _VALGRIND_SUPP] + data,
        size = valgrind_size,
        target_compatible_with = _NOT_UNDER_SANITIZER,
        tags = tags + ["kvm", "valgrind", "cpu:%d" % cpus],
        **kwargs
    )
