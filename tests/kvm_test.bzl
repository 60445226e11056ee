"""kvm_test: a test that needs /dev/kvm.

kvm_test(name, srcs, deps, ...) builds `<name>_bin`, a fully static
cc_binary (it must run on a bare busybox system; dynamic under --config=asan
or ubsan, with its libraries shipped along), and an sh_test `<name>`
that runs it through tests/nested/run_kvm_test.sh: on the host's /dev/kvm when
that works (kvm_probe passes) and MICROVM_TEST_NESTED is unset or 0, else in
the nested machine (QEMU + Debian cloud kernel with kvm-amd, see
tests/nested/nested_run.sh). The whole runfiles tree goes into the machine, so
`data` files are found at the same relative paths as on the host.
"""

load("//tools/build:static.bzl", "static_features", "static_linkopts")

_RUNNER = "//tests/nested:run_kvm_test.sh"
_NESTED_RUN = "//tests/nested:nested_run.sh"
_PROBE = "//tests/nested:kvm_probe"
_RUNNER_FILES = "//tests/nested:runner_files"
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
    native.sh_test(
        name = name,
        srcs = [_RUNNER],
        args = [
            "--probe=$(rootpath %s)" % _PROBE,
            "--nested-run=$(rootpath %s)" % _NESTED_RUN,
            "--cpus=%d" % cpus,
            "--mem=%d" % mem_mib,
            "--",
            "$(rootpath :%s)" % bin_name,
        ] + args,
        data = [":" + bin_name, _PROBE, _NESTED_RUN, _RUNNER_FILES] + data,
        size = size,
        tags = tags + ["kvm", "cpu:%d" % cpus],
        **kwargs
    )
