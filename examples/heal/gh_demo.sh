#!/bin/sh
# A stand-in for gh in the heal demo (GitHub is not reachable from it): `pr list` finds no PR,
# `pr create` prints the URL a real gh would and keeps the body it was given.
case "$1 $2" in
  "pr list") echo '[]' ;;
  "pr create")
    while [ $# -gt 0 ]; do [ "$1" = "--body-file" ] && cp "$2" "${GH_DEMO_BODY:-/dev/null}"; shift; done
    echo "https://github.example/demo/shop/pull/1" ;;
  *) echo "gh_demo.sh: $*" >&2; exit 1 ;;
esac
