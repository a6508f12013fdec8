# require_python_modules MOD...: the e2e tests that read HDF5 in Python need Debian's
# python3-MOD packages (`make deps` installs them). Under CI=true a missing one is a failure;
# elsewhere the test reports a skip to ctest ("SKIP:" at the start of a line).
require_python_modules() {
  local module missing=()
  for module in "$@"; do python3 -c "import $module" 2>/dev/null || missing+=("python3-$module"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "${CI:-}" = true ]; then
    echo "FAILED: missing ${missing[*]}: install with apt-get install ${missing[*]} (make deps does)" >&2
    exit 1
  fi
  echo "SKIP: missing ${missing[*]} (apt-get install ${missing[*]}, or make deps)"
  exit 0
}
