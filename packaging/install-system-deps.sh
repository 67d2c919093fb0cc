#!/usr/bin/env bash
# Debian packages that kneeviewer needs beyond Python: Xvfb for the GUI tests
# and the X, EGL and font libraries that Qt 6 and VTK load. Run as root.
set -euo pipefail
packages=(xvfb xauth libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1
          libxcb-shape0 libxcb-xinerama0 libxcb-randr0 libxcb-render-util0 libxcb-image0
          libegl1 libgl1 libglu1-mesa libxrender1 libxt6 libfontconfig1 libdbus-1-3)
missing=()
for package in "${packages[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
