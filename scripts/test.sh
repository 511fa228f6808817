#!/usr/bin/env bash
# Installs what the tests need (when missing) and runs them. This is the README's test command and what
# .ci/run calls. Real peers: dcmtk, Orthanc and tshark from Debian; pynetdicom from PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
[ -x /usr/bin/storescp ] || need_apt+=(dcmtk)
command -v Orthanc >/dev/null 2>&1 || [ -x /usr/sbin/Orthanc ] || need_apt+=(orthanc)
command -v tshark >/dev/null 2>&1 || need_apt+=(tshark)
command -v pdftotext >/dev/null 2>&1 || need_apt+=(poppler-utils)   # PDF report tests read the text back
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need_apt+=(fonts-dejavu-core)
fc-list 2>/dev/null | grep -qi "wqy\|noto.*cjk" || need_apt+=(fonts-wqy-microhei)  # --lang zh in PDFs
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  # tshark asks whether non-root users may capture; answer "no" without a prompt.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections 2>/dev/null || true
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

python3 -m pip install -q -e '.[test]'

# Exit 5 (no tests collected) is a failure here: a run that tests nothing must not pass.
python3 -m pytest -q -p no:cacheprovider "$@"
