#!/usr/bin/env bash
# Rebuilds the office and PDF test files in tests/data/docs from the sources in this folder.
# Needs (Debian 12): libreoffice-writer-nogui libreoffice-calc-nogui libreoffice-impress-nogui
# texlive-latex-base texlive-latex-recommended texlive-fonts-recommended texlive-latex-extra
# lmodern cm-super-minimal texlive-xetex texlive-luatex chromium. Not run by the tests: the
# produced files are committed, and their producers' versions are listed in ../README.md.
set -euo pipefail
src=$(cd "$(dirname "$0")" && pwd)
out=$(dirname "$src")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$src"/*.html "$src"/*.tex "$src"/*.fodp "$src"/*.fods "$work"/
cd "$work"

# office documents, written by LibreOffice
soffice --headless --convert-to "docx:MS Word 2007 XML" bathroom.html ventilation-manual.html >/dev/null
soffice --headless --convert-to odt kitchen.html >/dev/null
soffice --headless --convert-to pptx heat-pump-slides.fodp >/dev/null
soffice --headless --convert-to xlsx faq-workbook.fods >/dev/null
cp bathroom.docx "$out/bathroom-libreoffice.docx"
cp kitchen.odt "$out/kitchen-libreoffice.odt"
cp heat-pump-slides.pptx "$out/heat-pump-slides-libreoffice.pptx"
cp faq-workbook.xlsx "$out/faq-workbook-libreoffice.xlsx"

# one manual, seven PDF producers
latex() {  # latex ENGINE JOBNAME PREAMBLE: two runs, so the outline (hyperref bookmarks) is complete
  for _ in 1 2; do "$1" -interaction=nonstopmode -jobname="$2" "$3\\input{ventilation-manual}" >/dev/null; done
  cp "$2.pdf" "$out/ventilation-manual-$2.pdf"
}
latex pdflatex pdftex-twocolumn ''
latex pdflatex pdftex-onecolumn '\def\layout{onecolumn}\def\fonts{ot1}'
latex pdflatex pdftex-cmsuper '\def\fonts{cm-super}\AddToHook{package/hyperref/before}{\usepackage[T1]{fontenc}}'
latex xelatex xelatex '\def\fonts{opentype}'
latex lualatex lualatex '\def\fonts{opentype}'
soffice --headless --convert-to pdf ventilation-manual.docx >/dev/null
cp ventilation-manual.pdf "$out/ventilation-manual-libreoffice.pdf"
chromium --headless --no-sandbox --disable-gpu --no-pdf-header-footer --generate-pdf-document-outline \
  --print-to-pdf="$out/ventilation-manual-chromium.pdf" ventilation-manual.html 2>/dev/null
