#!/usr/bin/env bash
# The unit tests check the alert rules with promtool (`promtool check rules` and the rules' own
# unit tests, tests/unit/deploy). Install Debian's prometheus package, which carries promtool,
# where it is missing: CI runs as root, without stdin. The Prometheus server it also installs is
# not started by this script.
set -euo pipefail

if command -v promtool >/dev/null 2>&1; then
  exit 0
fi
sudo=""
if [[ $(id -u) -ne 0 ]]; then
  sudo="sudo -n"  # never prompt: fail with apt's message instead
fi
echo "unit: promtool is missing; installing Debian's prometheus (for promtool)…"
$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
promtool --version | head -1
