#!/usr/bin/env bash
# Installs what the test suites need beyond npm packages: Debian's outside SMTP peers and clients,
# a browser for the delivery page, and the local control plane binaries. Idempotent and quiet when
# everything is already there; needs root (or sudo) only when something is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v swaks >/dev/null || need+=(swaks)
# swaks speaks TLS and AUTH only with these (Recommends, which --no-install-recommends skips).
perl -MNet::SSLeay -MIO::Socket::SSL -MAuthen::SASL -e1 2>/dev/null || need+=(libnet-ssleay-perl libio-socket-ssl-perl libauthen-sasl-perl)
[ -x /usr/sbin/smtp-sink ] || need+=(postfix)
/usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null || need+=(python3-aiosmtpd)
command -v chromium >/dev/null || need+=(chromium)
command -v openssl >/dev/null || need+=(openssl)
command -v lua5.4 >/dev/null || need+=(lua5.4)
command -v promtool >/dev/null && [ -x /usr/bin/prometheus ] || need+=(prometheus)
[ -x /usr/sbin/dnsmasq ] || need+=(dnsmasq-base)
# The image test: buildah builds and runs the Dockerfile, debootstrap makes its base's stand-in.
command -v buildah >/dev/null || need+=(buildah)
command -v debootstrap >/dev/null || need+=(debootstrap)

if [ ${#need[@]} -gt 0 ]; then
  echo "test setup: installing Debian packages: ${need[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  # Postfix asks how to configure itself; the tests only use smtp-sink and smtp-source.
  echo "postfix postfix/main_mailer_type select No configuration" | $sudo debconf-set-selections
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -qq >/dev/null
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if [ -f test/controlplane/assets.sh ]; then
  bash test/controlplane/assets.sh >/dev/null
fi
# helm and the gopher-lua runner (Argo CD's Lua), built from Go modules once and cached.
bash test/tools/build.sh gopher-lua >/dev/null
bash test/tools/build.sh helm >/dev/null
# The image, built here rather than inside a test's time limit (the first build takes many minutes;
# later ones reuse the cached base and layers).
bash test/image/build.sh >/dev/null 2>&1 || { echo "test setup: bash test/image/build.sh failed" >&2; exit 1; }
