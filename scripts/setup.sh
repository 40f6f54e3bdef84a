#!/bin/sh
# Sets up a Debian 12 machine to build and test vmrouter: the system tools the hooks and the tests
# run (as root; iptables and arptables only for the per-TAP comparison in bench/; curl and
# conntrack for the NAT-pair and twin tests; frr for the virtual-network BGP tests; qemu,
# busybox-static, cpio and Debian's kernel for the kernel lab of the twin tests; ifupdown2, unpacked
# beside ifupdown; Ganeti's packages, unpacked; libvirtd for the hook test, run privately per
# namespace), what building
# and checking the Debian package needs (test/package: dpkg-dev, debhelper, lintian, git; man-db
# checks the manual pages), the npm dependencies, and the build (dist/vmrouter).
set -eu
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends \
    iproute2 nftables ifupdown iputils-ping iputils-arping procps kmod \
    ndisc6 isc-dhcp-client tcpdump curl conntrack \
    frr \
    iptables arptables \
    python3 make g++ binutils \
    dpkg-dev debhelper lintian man-db git \
    qemu-system-x86 busybox-static cpio \
    libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients >/dev/null
  # the kernel lab (test/lib/kernel-lab.ts) boots the kernel of linux-image-amd64: fetch and unpack
  # it now, not during the tests (cached in /var/cache/vmrouter-test-kernel)
  pkg=$(apt-cache depends linux-image-amd64 | sed -n 's/.*Depends: \(linux-image-[^ ]*\).*/\1/p' | head -n1)
  rel=${pkg#linux-image-}
  cache=/var/cache/vmrouter-test-kernel
  if [ -n "$pkg" ] && [ ! -e "$cache/$rel/.unpacked" ]; then
    rm -rf "$cache/$rel" && mkdir -p "$cache/$rel"
    (cd "$cache" && apt-get download -qq "$pkg" 2>/dev/null)
    dpkg-deb -x "$cache/${pkg}_"*.deb "$cache/$rel" && rm -f "$cache/${pkg}_"*.deb
    depmod -b "$cache/$rel" "$rel" && echo "$pkg" > "$cache/$rel/.unpacked"
  fi
  # ifupdown2 for test/e2e/ifupdown2.test.ts: unpacked, not installed (it Conflicts with ifupdown,
  # which the other tests run); test/lib/ifupdown2.ts reads it from this cache
  cache=/var/cache/vmrouter-test-ifupdown2
  if [ ! -e "$cache/root/.unpacked" ]; then
    mkdir -p "$cache" && tmp=$(mktemp -d "$cache/download-XXXXXX")
    (cd "$tmp" && apt-get download -qq ifupdown2 2>/dev/null)
    dpkg-deb -x "$tmp"/ifupdown2_*.deb "$tmp/root"
    /usr/bin/python3 -m compileall -q "$tmp/root/usr/share/ifupdown2" >/dev/null || true
    echo "ifupdown2 $(dpkg-deb -f "$tmp"/ifupdown2_*.deb Version)" > "$tmp/root/.unpacked"
    rm -rf "$cache/root" && mv "$tmp/root" "$cache/root" && rm -rf "$tmp"
  fi
  # FRR for the [vnet] BGP tests, which start zebra and bgpd per namespace themselves: the
  # package's own service has nothing to do on this machine.
  if [ -d /run/systemd/system ]; then systemctl disable --now frr >/dev/null 2>&1 || true; fi
fi
node -e 'const [a]=process.versions.node.split("."); if (+a < 20) { console.error("vmrouter needs Node.js 20 or newer, this is " + process.version); process.exit(1) }'
npm ci --no-audit --no-fund --loglevel=error
npm run build --silent
# Debian's Ganeti packages for test/e2e/hypervisors.test.ts: downloaded and unpacked once (their
# md5sums checked), never installed; test/lib/ganeti.ts runs their kvm-ifup from that cache
if [ "$(id -u)" = 0 ]; then
  node --import=./node_modules/@tapjs/typescript/dist/esm/import.mjs --input-type=module \
    -e 'const m = await import("./test/lib/ganeti.ts"); await m.prepareGanetiScripts()'
fi
