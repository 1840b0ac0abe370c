#!/usr/bin/env bash
# Install llama-cpp-python built for a portable x86-64 level, never with -march=native.
#
# A native build picks up AVX-512/AMX where the build machine has them: llama.cpp's AMX
# weight buffers segfault on some AMX CPUs (upstream llama.cpp #20824), and a wheel or venv
# copied to an older CPU dies with SIGILL. So: GGML_NATIVE=OFF, AVX2/FMA/F16C/BMI2 where the
# CPU has them (every x86-64 machine of this kind), else SSE4.2 only; AVX-512 and AMX off.
# The wheel is cached per version and level outside the checkout, so a fresh clone (CI) reuses
# it, and pip's own wheel cache (keyed on the sdist, not on the flags) is never consulted.
#
# Building needs a C and a C++ compiler and CMake >= 3.21 (a wheel already cached needs
# neither): checked first, with what to install. Without a compiler pip's build ends in
# "CMake Error: CMAKE_C_COMPILER not set" / "No CMAKE_CXX_COMPILER could be found"; without
# CMake, scikit-build-core fetches the cmake wheel from PyPI (so offline it fails).
#
# Usage: scripts/install_llama_cpp.sh PYTHON [CONSTRAINTS]
set -euo pipefail
PYTHON=$1
CONSTRAINTS=${2:-}
VERSION=0.3.36
COMMON="-DGGML_NATIVE=OFF -DGGML_AVX512=OFF -DGGML_AVX512_VBMI=OFF -DGGML_AVX512_VNNI=OFF \
-DGGML_AVX512_BF16=OFF -DGGML_AVX_VNNI=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF \
-DGGML_AMX_BF16=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF"
flags=$(grep -m1 '^flags' /proc/cpuinfo || true)
has() { [[ " $flags " == *" $1 "* ]]; }
if has avx2 && has fma && has f16c && has bmi2; then
    LEVEL=x86-64-v3
    SIMD="-DGGML_SSE42=ON -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
else
    LEVEL=x86-64-v2
    SIMD="-DGGML_SSE42=ON -DGGML_AVX=OFF -DGGML_AVX2=OFF -DGGML_FMA=OFF -DGGML_F16C=OFF -DGGML_BMI2=OFF"
fi
CACHE=${LLAMA_CPP_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/langgraph-collab/wheels}
DEST="$CACHE/llama-cpp-python-$VERSION-$LEVEL"
need_build_tools() {
    local cc="${CC:-}" cxx="${CXX:-}" tool
    for tool in cc gcc clang; do [[ -n "$cc" ]] || ! command -v "$tool" >/dev/null || cc=$tool; done
    for tool in c++ g++ clang++; do [[ -n "$cxx" ]] || ! command -v "$tool" >/dev/null || cxx=$tool; done
    if [[ -z "$cc" || -z "$cxx" ]]; then
        echo "error: building llama-cpp-python $VERSION needs a C and a C++ compiler" \
            "(found C: ${cc:-none}, C++: ${cxx:-none}) and CMake >= 3.21." >&2
        echo "  Debian/Ubuntu: sudo apt-get install build-essential cmake" >&2
        echo "  Fedora/RHEL:   sudo dnf install gcc gcc-c++ make cmake" >&2
        echo "  macOS:         xcode-select --install && brew install cmake" >&2
        echo "  or set CC and CXX to your compilers, then run make again" >&2
        exit 1
    fi
    if ! command -v cmake >/dev/null; then
        echo "note: no cmake on PATH: the build fetches the cmake wheel from PyPI" \
            "(offline, install CMake >= 3.21 first)" >&2
    fi
}
if ! compgen -G "$DEST/*.whl" >/dev/null; then
    need_build_tools
    echo "building llama-cpp-python $VERSION for $LEVEL (no native flags, no AMX); takes minutes"
    rm -rf "$DEST.tmp"
    CMAKE_ARGS="$COMMON $SIMD" "$PYTHON" -m pip wheel -q --no-deps --no-cache-dir \
        --no-binary llama-cpp-python -w "$DEST.tmp" "llama-cpp-python==$VERSION"
    mv "$DEST.tmp" "$DEST"
fi
WHEEL=$(compgen -G "$DEST/*.whl" | head -n1)
# Dependencies first (pinned), then the wheel itself over any other build already installed.
"$PYTHON" -m pip install -q ${CONSTRAINTS:+-c "$CONSTRAINTS"} "$WHEEL"
"$PYTHON" -m pip install -q --no-deps --force-reinstall "$WHEEL"
