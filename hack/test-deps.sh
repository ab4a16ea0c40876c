#!/usr/bin/env bash
# make test's prerequisites beyond Go: Debian's prometheus (it scrapes dev services and the
# operator in test/e2e; configs are checked by the pinned promtool, tools/promtool), procps (pgrep: the cluster tests look for processes left behind), git (version
# stamps, verify scripts) and make (test/image runs `make image`, test/e2e `make build`; CI runs
# this script before make exists). Installs what is missing with apt-get when it can (root, Debian), and
# otherwise says what to install. Nothing is done when everything is there.
set -euo pipefail
need=()
command -v git >/dev/null || need+=(git)
command -v make >/dev/null || need+=(make)
command -v pgrep >/dev/null || need+=(procps)
command -v prometheus >/dev/null || need+=(prometheus)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "test-deps: install ${need[*]} (Debian: apt-get install -y ${need[*]}), then run make test again" >&2
  exit 1
fi
echo "test-deps: installing ${need[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" </dev/null
