# SPDX-License-Identifier: Apache-2.0
"""Link options for programs that must run on a bare busybox system.

Fully static normally; dynamic under the sanitizer configs (whose runtimes
cannot be linked statically), in which case the nested test machine ships
their shared libraries along.
"""

_ASAN_BUILD = "//tools/build:asan_build"
_UBSAN_BUILD = "//tools/build:ubsan_build"

def static_linkopts():
    """linkopts for a program that must run on the nested machine."""
    return select({
        _ASAN_BUILD: [],
        _UBSAN_BUILD: [],
        "//conditions:default": ["-static"],
    })

def static_features():
    """features for a program that must run on the nested machine."""
    return select({
        _ASAN_BUILD: [],
        _UBSAN_BUILD: [],
        "//conditions:default": ["fully_static_link"],
    })

def hot_text_linkopts(script):
    """linkopts that gather a static program's touched code (hot_text.sh).

    `script` is the linker script's label, also in additional_linker_inputs.
    GNU ld (bfd), not gold: gold's scripts cannot INSERT an output section
    and its --section-ordering-file cannot name a member of an archive
    (glibc's code is in archive members whose sections are all ".text").
    """
    return select({
        _ASAN_BUILD: [],
        _UBSAN_BUILD: [],
        "//conditions:default": ["-fuse-ld=bfd", "-Wl,-T,$(location %s)" % script],
    })

def hot_text_features():
    """features that go with hot_text_linkopts: bfd has no --start-lib."""
    return select({
        _ASAN_BUILD: [],
        _UBSAN_BUILD: [],
        "//conditions:default": ["-supports_start_end_lib"],
    })
