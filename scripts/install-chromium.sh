#!/bin/sh
# Headless Chromium + chromedriver for genlab's end-to-end browser test (and the README screenshots).
# Installs Debian/Ubuntu's packages when they are missing; nothing is downloaded by the tests themselves.
SUDO=""
[ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && SUDO="sudo -n"
# A colour-emoji font, so the screenshots show the buttons' symbols (best effort: tests do not need it).
if command -v apt-get >/dev/null 2>&1 && command -v fc-list >/dev/null 2>&1 && ! fc-list | grep -qi emoji; then
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq fonts-noto-color-emoji >/dev/null 2>&1 || true
fi
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    exit 0
fi
if command -v apt-get >/dev/null 2>&1; then
    echo "installing chromium and chromium-driver for the browser test (apt-get)..."
    export DEBIAN_FRONTEND=noninteractive
    ($SUDO apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1 ||
     ($SUDO apt-get update -qq >/dev/null 2>&1 && $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1)) && exit 0
fi
echo "could not install chromium and chromedriver here: install them with your package manager;" \
     "the browser test will fail until /usr/bin/chromium and /usr/bin/chromedriver exist." >&2
exit 0
