#!/usr/bin/env bash
# Build the libdnn emulator from source: tools/libdnn_emu/build.sh OUT_DIR
#   OUT_DIR/libdnn.so             the emulated hbDNN/hbSys API (soname libdnn.so, symbols @CONFIG)
#   OUT_DIR/libdnn_emu_runner.py  the network runner the library imports from its own folder
#   OUT_DIR/include/dnn/*.h       the API headers (written from the public documentation)
# Needs a C compiler (CC, default gcc). Nothing prebuilt is used. LIBDNN_EMU_WERROR=1 turns
# warnings into errors (the tests set it).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="${1:?usage: build.sh OUT_DIR}"
CC="${CC:-gcc}"
mkdir -p "$OUT/include/dnn"
WERROR=()
if [ "${LIBDNN_EMU_WERROR:-0}" = 1 ]; then WERROR=(-Werror); fi
"$CC" -std=c11 -O2 -g -Wall -Wextra "${WERROR[@]}" -fPIC -shared -fvisibility=hidden \
  -I"$HERE/include" -Wl,-soname,libdnn.so -Wl,--version-script="$HERE/libdnn.map" \
  -Wl,--no-undefined -o "$OUT/libdnn.so.tmp" "$HERE/libdnn_emu.c" -ldl -lm
mv -f "$OUT/libdnn.so.tmp" "$OUT/libdnn.so"
cp -f "$HERE/libdnn_emu_runner.py" "$OUT/libdnn_emu_runner.py"
cp -f "$HERE"/include/dnn/*.h "$OUT/include/dnn/"
echo "$OUT/libdnn.so"
