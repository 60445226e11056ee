# SPDX-License-Identifier: Apache-2.0
"""tiny_guest: a freestanding x86-64 ELF test guest for microvm.

The guest is compiled by a genrule that calls gcc directly rather than by
cc_binary, so the build's C++ toolchain options (--config=asan/ubsan copts,
-std=c++20, ...) never reach code that runs without an OS. The result is an
ELF64 executable linked at 2 MiB with the runtime in runtime/ (start code,
console, IDT, LAPIC/IOAPIC/PIT, MP tables, AP trampoline); see
runtime/guest.h for the contract with guests and runtime/guest.ld for the
layout the VMM's loader sees.
"""

GUEST_CFLAGS = [
    "-std=gnu11",
    "-ffreestanding",
    "-fno-pic",
    "-fno-pie",
    "-no-pie",
    "-nostdlib",
    "-static",
    "-mno-red-zone",
    "-mgeneral-regs-only",
    "-mcmodel=small",
    "-O2",
    "-fno-stack-protector",
    "-fno-asynchronous-unwind-tables",
    "-fcf-protection=none",
    # Guests touch low physical addresses (0x40e, 0x8000) on purpose.
    "--param=min-pagesize=0",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wl,--build-id=none",
    "-Wl,-z,noexecstack",
    "-Wl,-z,max-page-size=4096",
    "-Wl,--no-warn-rwx-segments",
]

_RUNTIME_SRCS = [
    "//tests/guests:runtime/start.S",
    "//tests/guests:runtime/vectors.S",
    "//tests/guests:runtime/trampoline.S",
    "//tests/guests:runtime/runtime.c",
    "//tests/guests:runtime/console.c",
    "//tests/guests:runtime/check.c",
    "//tests/guests:runtime/apic.c",
    "//tests/guests:runtime/mptable.c",
    "//tests/guests:runtime/smp.c",
]

_RUNTIME_HDRS = ["//tests/guests:runtime/guest.h"]

_LINKER_SCRIPT = "//tests/guests:runtime/guest.ld"

def tiny_guest(name, srcs, visibility = None, **kwargs):
    """Builds `<name>.elf` from `srcs` (C or .S files) plus the runtime.

    Args:
      name: target name; the output is `<name>.elf`.
      srcs: the guest's own sources; one of them defines guest_main().
      visibility: visibility of the target.
      **kwargs: passed to the genrule (tags, testonly, ...).
    """
    native.genrule(
        name = name,
        srcs = srcs + _RUNTIME_SRCS + _RUNTIME_HDRS + [_LINKER_SCRIPT],
        outs = [name + ".elf"],
        cmd = " ".join([
            "gcc",
            " ".join(GUEST_CFLAGS),
            "-I$$(dirname $(location //tests/guests:runtime/guest.h))",
            "-T $(location %s)" % _LINKER_SCRIPT,
            "-o $@",
            " ".join(["$(locations %s)" % s for s in srcs]),
            " ".join(["$(location %s)" % s for s in _RUNTIME_SRCS]),
        ]),
        message = "Building test guest " + name,
        visibility = visibility,
        **kwargs
    )
