#!/usr/bin/env bash
# aarch64 check: run rdk_classifier's test suite as a user on the robot's CPU would, on an x86 host.
#
#   tools/aarch64_check.sh                       # the whole suite (~21-27 min on 2 idle cores)
#   tools/aarch64_check.sh test/test_frames.py -k bgra   # a subset: arguments go to pytest as is
#   tools/aarch64_check.sh --quick               # the architecture-sensitive tests only (~4 min; CI runs this)
#   tools/aarch64_check.sh --setup-only          # build the sysroot and wheels, print the python wrapper
#   tools/aarch64_check.sh --refresh ...         # re-read the Debian index and re-resolve everything
#
# What it does (nothing is installed for arm64 on the host, nothing is written outside the cache):
#  1. a private apt configuration (APT::Architecture=arm64, Debian bookworm + bookworm-security,
#     signed by the host's Debian archive keyring) resolves python3.11 and libstdc++6 with their
#     dependencies against an EMPTY dpkg status; `apt-get download` fetches those .debs (hash-checked
#     against the signed index) and `dpkg -x` unpacks them into SYSROOT (merged /usr, like bookworm);
#  2. `pip download --platform manylinux_2_{17..36}_aarch64 --only-binary=:all:` fetches the PyPI aarch64
#     wheels of the pinned versions below (the x86 versions) and `pip install --target` puts them in
#     SITE; the package itself comes from this checkout (cwd on sys.path, like the editable x86 venv);
#  3. SYSROOT/proc/cpuinfo: a Cortex-A55 (the RDK X5's core) cpuinfo. Under qemu-user 7.2 the guest
#     otherwise reads the host's x86 /proc/cpuinfo and onnxruntime segfaults at import;
#  4. BIN/python3, a wrapper that runs SYSROOT's python3.11 under `qemu-aarch64 -cpu cortex-a76`
#     (the A55's features: dot product, fp16, no SVE/i8mm) with argv[0] set to the wrapper, so that
#     sys.executable is the wrapper and subprocesses started with it are emulated too;
#  5. runs `BIN/python3 -m pytest -p aarch64_emulation ARGS` from the repository root (default ARGS:
#     -q test). The plugin (tools/aarch64_emulation.py) only lifts hypothesis' per-example deadline.
#
# Environment: RDK_AARCH64_CACHE (default ~/.cache/rdk_classifier_aarch64; ~430 MB when built:
# SYSROOT 75 MB, SITE 315 MB, the downloaded debs and wheels ~105 MB, the Debian index ~50 MB),
# RDK_AARCH64_QEMU_CPU (default cortex-a76), RDK_AARCH64_CPUINFO_PART (the MIDR part number written
# to the fake cpuinfo, default 0xd05 = Cortex-A55; 0xd0b = Cortex-A76), RDK_AARCH64_DEBIAN_MIRROR.
# A re-run reuses everything in the cache; --refresh re-reads the Debian index (new security updates).
# Needs on the host: apt-get, dpkg, qemu-aarch64 (Debian package qemu-user), python3 with pip.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${RDK_AARCH64_CACHE:-$HOME/.cache/rdk_classifier_aarch64}"
QEMU_CPU="${RDK_AARCH64_QEMU_CPU:-cortex-a76}"
CPUINFO_PART="${RDK_AARCH64_CPUINFO_PART:-0xd05}"
DEBIAN_MIRROR="${RDK_AARCH64_DEBIAN_MIRROR:-http://deb.debian.org}"
DEB_PACKAGES=(python3.11 libstdc++6)
# the same versions as the x86 test environment; pip resolves their own dependencies
WHEELS=(numpy==2.4.6 onnxruntime==1.32.0 opencv-python-headless==4.14.0.94
        PyYAML==6.0.4 tqdm==4.70.1 rosbags==0.11.9 onnx==1.23.2
        pytest==9.2.0 hypothesis==6.170.17 setuptools==65.5.0)  # setuptools: a test builds the package
# every manylinux tag bookworm's glibc 2.36 runs (pip < 24 does not expand a newer tag to older ones)
PIP_PLATFORM=(--platform manylinux2014_aarch64 --implementation cp --python-version 3.11 --abi cp311
              --only-binary=:all:)
for minor in $(seq 17 36); do PIP_PLATFORM+=(--platform "manylinux_2_${minor}_aarch64"); done

APTDIR="$CACHE/apt"
DEBS="$CACHE/debs"
SYSROOT="$CACHE/sysroot"
WHEELDIR="$CACHE/wheels"
SITE="$CACHE/site"
BIN="$CACHE/bin"

# --quick: the tests whose results rest on the CPU's arithmetic or on what the machine is: frames
# (OpenCV's resize/colour kernels), classifier and CPU backend (ONNX Runtime's fp32 and int8
# kernels on real photos), postprocess, regions (crops), doctor (cpuinfo, kernel family)
QUICK_TESTS=(test/test_frames.py test/test_frames_jpeg.py test/test_frames_budget.py
             test/test_classifier.py test/test_cpu_backend.py test/test_postprocess.py
             test/test_regions.py test/test_doctor.py)

refresh=0
setup_only=0
quick=0
while [[ $# -gt 0 ]]; do
    case "$1" in
        --refresh) refresh=1; shift ;;
        --setup-only) setup_only=1; shift ;;
        --quick) quick=1; shift ;;
        --) shift; break ;;
        *) break ;;
    esac
done
log() { printf 'aarch64_check: %s\n' "$*" >&2; }
command -v qemu-aarch64 >/dev/null || { log "qemu-aarch64 not found (apt-get install qemu-user)"; exit 2; }

# --- 1. Debian arm64 sysroot ---------------------------------------------------------------------
apt_setup() {
    mkdir -p "$APTDIR"/{etc/apt.conf.d,etc/preferences.d,etc/sources.list.d,etc/trusted.gpg.d} \
             "$APTDIR"/state/lists/partial "$APTDIR"/cache/archives/partial "$APTDIR"/dpkg
    : > "$APTDIR/dpkg/status"   # empty: resolve the full closure, ignore the host's packages
    local key=/usr/share/keyrings/debian-archive-keyring.gpg
    cat > "$APTDIR/etc/sources.list" <<EOF
deb [arch=arm64 signed-by=$key] $DEBIAN_MIRROR/debian bookworm main
deb [arch=arm64 signed-by=$key] $DEBIAN_MIRROR/debian bookworm-updates main
deb [arch=arm64 signed-by=$key] $DEBIAN_MIRROR/debian-security bookworm-security main
EOF
    cat > "$APTDIR/apt.conf" <<EOF
APT::Architecture "arm64";
APT::Architectures { "arm64"; };
APT::Install-Recommends "false";
APT::Get::AllowUnauthenticated "false";
APT::Sandbox::User "root";
Dir::Etc "$APTDIR/etc";
Dir::Etc::sourcelist "$APTDIR/etc/sources.list";
Dir::Etc::sourceparts "$APTDIR/etc/sources.list.d";
Dir::Etc::parts "$APTDIR/etc/apt.conf.d";
Dir::Etc::preferencesparts "$APTDIR/etc/preferences.d";
Dir::State "$APTDIR/state";
Dir::State::status "$APTDIR/dpkg/status";
Dir::Cache "$APTDIR/cache";
Acquire::Languages "none";
EOF
}

build_sysroot() {
    export APT_CONFIG="$APTDIR/apt.conf"
    if [[ $refresh == 1 || ! -s "$APTDIR/packages.txt" ]]; then
        apt_setup
        log "reading the Debian bookworm arm64 index"
        apt-get -qq update
        # the closure of DEB_PACKAGES as apt would install it on an empty arm64 system
        apt-get -s install "${DEB_PACKAGES[@]}" | awk '/^Inst /{gsub(/[()]/, "", $3); print $2 "=" $3}' \
            | sort > "$APTDIR/packages.txt.new"
        [[ -s "$APTDIR/packages.txt.new" ]] || { log "apt resolved nothing"; exit 2; }
        mv "$APTDIR/packages.txt.new" "$APTDIR/packages.txt"
    fi
    if [[ -f "$SYSROOT/.packages.txt" ]] && cmp -s "$SYSROOT/.packages.txt" "$APTDIR/packages.txt"; then
        return
    fi
    mkdir -p "$DEBS"
    local want=() p
    mapfile -t want < "$APTDIR/packages.txt"
    log "downloading ${#want[@]} arm64 packages"
    (cd "$DEBS" && apt-get -qq download "${want[@]}")
    rm -f "$APTDIR"/cache/*.bin   # apt's binary caches (~70 MB), rebuilt from the lists when needed
    log "unpacking into $SYSROOT"
    rm -rf "$SYSROOT.tmp"
    mkdir -p "$SYSROOT.tmp/usr"/{bin,sbin,lib}
    # merged /usr as on a bookworm system: /bin, /sbin, /lib are links into /usr
    ln -s usr/bin "$SYSROOT.tmp/bin"; ln -s usr/sbin "$SYSROOT.tmp/sbin"; ln -s usr/lib "$SYSROOT.tmp/lib"
    for p in "${want[@]}"; do
        local name="${p%%=*}" version="${p#*=}"
        local deb
        deb="$(ls "$DEBS/${name}_${version//:/%3a}_"*.deb 2>/dev/null | head -n1)"
        [[ -n "$deb" ]] || { log "missing .deb for $p"; exit 2; }
        dpkg -x "$deb" "$SYSROOT.tmp"
    done
    # shadow the host's Python package folders, which the guest would otherwise see through -L
    mkdir -p "$SYSROOT.tmp/usr/lib/python3/dist-packages" "$SYSROOT.tmp/usr/local/lib/python3.11/dist-packages" \
             "$SYSROOT.tmp/usr/local/lib/python3/dist-packages" "$SYSROOT.tmp/proc" "$SYSROOT.tmp/etc"
    : > "$SYSROOT.tmp/etc/ld.so.cache"   # not the host's x86 cache; the loader searches its default paths
    cp "$APTDIR/packages.txt" "$SYSROOT.tmp/.packages.txt"
    rm -rf "$SYSROOT"
    mv "$SYSROOT.tmp" "$SYSROOT"
}

write_cpuinfo() {
    local n i
    n="$(nproc --all)"
    {
        for ((i = 0; i < n; i++)); do
            printf 'processor\t: %d\nBogoMIPS\t: 48.00\n' "$i"
            printf 'Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp\n'
            printf 'CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x2\nCPU part\t: %s\nCPU revision\t: 0\n\n' "$CPUINFO_PART"
        done
    } > "$SYSROOT/proc/cpuinfo"
}

# --- 2. PyPI aarch64 wheels ----------------------------------------------------------------------
pip_quiet() {  # the host's pip, without its notes on missing local index folders and on root
    python3 -m pip -q "$@" 2> >(grep -v -e "is ignored: it is neither a file nor a directory" \
                                        -e "Running pip as the 'root' user" >&2)
}

install_wheels() {
    local stamp
    stamp="$(printf '%s\n' "${WHEELS[@]}" "${PIP_PLATFORM[@]}")"
    if [[ $refresh == 0 && -f "$SITE/.wheels.txt" && "$(cat "$SITE/.wheels.txt")" == "$stamp" ]]; then
        return
    fi
    mkdir -p "$WHEELDIR"
    log "downloading the aarch64 wheels"
    pip_quiet download -d "$WHEELDIR" "${PIP_PLATFORM[@]}" "${WHEELS[@]}"
    log "installing them into $SITE"
    rm -rf "$SITE.tmp"
    pip_quiet install --no-index --find-links "$WHEELDIR" --target "$SITE.tmp" \
        "${PIP_PLATFORM[@]}" "${WHEELS[@]}"
    printf '%s\n' "$stamp" > "$SITE.tmp/.wheels.txt"
    rm -rf "$SITE"
    mv "$SITE.tmp" "$SITE"
}

# --- 3. the emulated interpreter -----------------------------------------------------------------
write_wrapper() {
    mkdir -p "$BIN"
    cat > "$BIN/python3" <<EOF
#!/bin/sh
# Debian bookworm arm64 python3.11 under qemu-aarch64 (written by tools/aarch64_check.sh).
# argv[0] is this file, so sys.executable is this wrapper and child interpreters are emulated too.
case ":\${PYTHONPATH:-}:" in
    *":$SITE:"*) ;;
    *) PYTHONPATH="$SITE\${PYTHONPATH:+:\$PYTHONPATH}" ;;
esac
export PYTHONPATH PYTHONHOME=/usr PYTHONNOUSERSITE=1
exec qemu-aarch64 -cpu "\${RDK_AARCH64_QEMU_CPU:-$QEMU_CPU}" -L "$SYSROOT" -0 "\$0" "$SYSROOT/usr/bin/python3.11" "\$@"
EOF
    chmod 755 "$BIN/python3"
    ln -sf python3 "$BIN/python"
}

build_sysroot
write_cpuinfo
install_wheels
write_wrapper
"$BIN/python3" -c 'import platform, sys; import numpy, cv2, onnxruntime
print("aarch64_check:", platform.machine(), "Python", platform.python_version(), "numpy", numpy.__version__,
      "OpenCV", cv2.__version__, "onnxruntime", onnxruntime.__version__, file=sys.stderr)'
if [[ $setup_only == 1 ]]; then
    echo "$BIN/python3"
    exit 0
fi
cd "$REPO"
if [[ $quick == 1 ]]; then
    set -- -q "$@" "${QUICK_TESTS[@]}"
fi
[[ $# -gt 0 ]] || set -- -q test
export PYTHONPATH="$REPO/tools${PYTHONPATH:+:$PYTHONPATH}"
exec "$BIN/python3" -m pytest -p aarch64_emulation "$@"
