#!/bin/sh
# Builds the test-only ALSA capture plugin ecgpace (see ecgpace.c) into directory $1:
#   $1/libasound_module_pcm_ecgpace.so
# Used by Tests/VentriqStreamTests/AlsaTestSupport.swift; needs a C compiler (cc) and libasound2-dev.
set -eu
out="${1:?usage: build.sh OUTPUT_DIRECTORY}"
here="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$out"
exec "${CC:-cc}" -shared -fPIC -DPIC -O2 -Wall -Wextra -Werror \
    -o "$out/libasound_module_pcm_ecgpace.so" "$here/ecgpace.c" -lasound
