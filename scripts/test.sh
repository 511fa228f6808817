#!/usr/bin/env bash
# Installs what the tests need (when missing) and runs them. This is the README's test command and what
# .ci/run calls. Real peers: dcmtk, Orthanc and tshark from Debian; pynetdicom from PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
[ -x /usr/bin/storescp ] || need_apt+=(dcmtk)
command -v Orthanc >/dev/null 2>&1 || [ -x /usr/sbin/Orthanc ] || need_apt+=(orthanc)
command -v tshark >/dev/null 2>&1 || need_apt+=(tshark)
[ -e /usr/share/orthanc/plugins/libOrthancDicomWeb.so ] || need_apt+=(orthanc-dicomweb)  # DICOMweb peer (QIDO/WADO/STOW)
[ -x /usr/bin/simple_storage ] || need_apt+=(ctn)   # RSNA CTN: a legacy SCP that a bare TCP probe knocks over
command -v pdftotext >/dev/null 2>&1 || need_apt+=(poppler-utils)   # PDF report tests read the text back
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)   # report tests screenshot and measure the HTML
command -v prometheus >/dev/null 2>&1 || need_apt+=(prometheus)        # the exporter tests scrape with it
command -v stress-ng >/dev/null 2>&1 || need_apt+=(stress-ng)          # timing tests run under load
[ -e /usr/share/java/pixelmed.jar ] || need_apt+=(pixelmed-apps)     # PixelMed (Java): an independent peer
{ command -v node && command -v npm; } >/dev/null 2>&1 || need_apt+=(nodejs npm)  # dcmjs-dimse peer
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
# dcmjs-dimse (Node.js), the other independent peer, at the versions pinned in tests/peers_js/package-lock.json.
[ -d tests/peers_js/node_modules/dcmjs-dimse ] || (cd tests/peers_js && npm ci --no-audit --no-fund --loglevel=error)

# Exit 5 (no tests collected) is a failure here: a run that tests nothing must not pass.
python3 -m pytest -q -p no:cacheprovider "$@"
