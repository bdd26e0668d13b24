# Shell helpers shared by the repository's scripts (sourced, not run): progress lines, fatal
# errors, and installing missing Debian packages.

step() {
    printf '==> %s\n' "$*"
}

die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# ensure_apt_packages PKG...: installs the packages dpkg does not report as installed, running
# `apt-get update` once and only when something is missing, through sudo unless already root.
ensure_apt_packages() {
    local missing=() pkg
    for pkg in "$@"; do
        if ! dpkg -s "$pkg" 2>/dev/null | grep -q '^Status: install ok installed'; then
            missing+=("$pkg")
        fi
    done
    if [[ ${#missing[@]} -eq 0 ]]; then
        step "system packages: all present${*:+ ($*)}"
        return 0
    fi
    command -v apt-get >/dev/null 2>&1 \
        || die "missing system packages: ${missing[*]}; this script installs them with apt-get (Debian/Ubuntu); install them with your package manager and run it again"
    local sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null 2>&1 \
            || die "missing system packages: ${missing[*]}; installing them needs root: run as root or install sudo"
        sudo=(sudo)
    fi
    step "system packages: installing ${missing[*]}"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}
