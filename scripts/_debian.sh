# Debian packages the tests drive for real (browser, S3 clients, sandbox).
# Sourced by scripts/test.sh. As root it installs what is missing with apt-get;
# otherwise it stops and prints the command to run. Nothing is skipped silently.
DEBIAN_TEST_PACKAGES=(chromium chromium-driver rclone s3cmd bubblewrap)

ensure_debian_packages() {
    local missing=()
    local pkg
    for pkg in "${DEBIAN_TEST_PACKAGES[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
            missing+=("$pkg")
        fi
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        return 0
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "error: the tests need these Debian packages (or your system's equivalent): ${missing[*]}" >&2
        exit 1
    fi
    if [ "$(id -u)" -ne 0 ]; then
        echo "error: the tests need Debian packages that are not installed: ${missing[*]}" >&2
        echo "run:   sudo apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
    echo "== apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null || true
    if ! apt-get install -y -qq "${missing[@]}" >/dev/null; then
        echo "error: apt-get could not install: ${missing[*]}" >&2
        exit 1
    fi
}
