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
