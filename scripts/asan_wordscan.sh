#!/usr/bin/env bash
# Build the decontamination scan (acereason/curate/_wordscan.c) with AddressSanitizer and UBSan into a
# throw-away copy of the checkout and run its equivalence tests there: the extension reads untrusted text,
# so an out-of-bounds read or write must show up as an error, not as a wrong hash. Needs gcc and .venv.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
py="$root/.venv/bin/python"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
work="$tmp/repo"  # beside it a link to ../shared, where the tests that read real data look
mkdir "$work"
[ -d "$root/../shared" ] && ln -s "$(cd "$root/../shared" && pwd)" "$tmp/shared"
git -C "$root" ls-files -z | (cd "$root" && xargs -0 cp --parents -t "$work")
inc="$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
so="$("$py" -c 'import sysconfig; print("_wordscan" + sysconfig.get_config_var("EXT_SUFFIX"))')"
gcc -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -shared -fPIC \
    -I"$inc" -I"$work/acereason/curate" "$work/acereason/curate/_wordscan.c" -o "$work/acereason/curate/$so"
cd "$work"
ASAN_OPTIONS=detect_leaks=0 LD_PRELOAD="$(gcc -print-file-name=libasan.so)" PYTHONPATH="$work" \
    "$py" -m pytest -q -p no:cacheprovider tests/test_curate_wordscan.py tests/test_curate_decontam_equiv.py \
    tests/test_curate_decontam_speedpaths.py
