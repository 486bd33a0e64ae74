# Shared by hack/controlplane.sh and hack/node.sh.

# k8s_version_ldflags VERSION prints the -X flags Kubernetes' own release
# build sets, so the binaries report VERSION (e.g. v1.37.2) instead of
# v0.0.0-master.
k8s_version_ldflags() {
  local v=$1 major minor
  major=$(echo "${v#v}" | cut -d. -f1)
  minor=$(echo "${v#v}" | cut -d. -f2)
  local pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    printf -- '-X %s.gitVersion=%s -X %s.gitMajor=%s -X %s.gitMinor=%s -X %s.gitTreeState=clean ' \
      "$pkg" "$v" "$pkg" "$major" "$pkg" "$minor" "$pkg"
  done
}

# in_ci succeeds when CI is set to anything but "", "0" or "false", as
# internal/kubecluster's InCI decides: there a required tier must run.
in_ci() {
  case "${CI:-}" in
    "" | 0 | [Ff][Aa][Ll][Ss][Ee]) return 1 ;;
  esac
  return 0
}

# tier_unavailable TIER WHY is a script's kubecluster.Require: under CI it says
# that TIER is required but cannot run and fails (returns 1, for the caller
# to exit); otherwise it appends "tier TIER skipped: WHY" to
# $SPARKCM_TIER_LOG (when set) for make test's summary and succeeds.
tier_unavailable() {
  local tier=$1 why=${2//$'\n'/ }
  if in_ci; then
    echo "tier $tier is required under CI=$CI but cannot run: $why" >&2
    return 1
  fi
  if [[ -n "${SPARKCM_TIER_LOG:-}" ]]; then
    printf 'tier %s skipped: %s\n' "$tier" "$why" >>"$SPARKCM_TIER_LOG"
  fi
}
