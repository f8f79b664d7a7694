#!/usr/bin/env bash
# Proves scripts/validate-manifests tells valid manifests from broken ones: the real deploy/
# manifests pass, and each mutation of the DaemonSet below must fail.
set -uo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
validate="$root/scripts/validate-manifests"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0 failed=0

expect() {  # expect pass|fail NAME FILE
    local want=$1 name=$2 file=$3 rc=0
    # a mutation that changed nothing gives no file (its exit inside $(...) cannot stop us)
    [[ -n $file ]] || { failed=$((failed + 1)); echo "FAIL $name (the mutation did not apply)"; return; }
    "$validate" "$file" >"$work/out" 2>&1 || rc=$?
    if [[ $want == pass && $rc -eq 0 ]] || [[ $want == fail && $rc -ne 0 ]]; then
        passed=$((passed + 1)); echo "ok   $name"
    else
        failed=$((failed + 1)); echo "FAIL $name (exit $rc, wanted $want)"; sed 's/^/     /' "$work/out"
    fi
}

mutate() {  # mutate NAME SED-EXPRESSION: a copy of daemonset.yaml with one change
    local out="$work/$1.yaml"
    sed -E "$2" "$root/deploy/daemonset.yaml" >"$out"
    cmp -s "$out" "$root/deploy/daemonset.yaml" && { echo "mutation $1 changed nothing" >&2; exit 2; }
    echo "$out"
}

for manifest in "$root"/deploy/*.yaml; do
    expect pass "$(basename "$manifest") is valid" "$manifest"
done
expect fail "hostPID is a string" "$(mutate hostpid-string 's/hostPID: true/hostPID: "yes"/')"
expect fail "unknown field hostPid" "$(mutate hostpid-typo 's/hostPID: true/hostPid: true/')"
expect fail "unknown field in securityContext" "$(mutate readonly-typo 's/readOnlyRootFilesystem:/readOnlyRootFS:/')"
expect fail "periodSeconds is not an integer" "$(mutate period-string 's/periodSeconds: 15/periodSeconds: fifteen/')"
expect fail "container without a name" "$(mutate no-name 's/^        name: exfilwatch$/        nom: exfilwatch/')"
expect fail "DaemonSet without selector" "$(mutate no-selector 's/^  selector:/  selectorx:/')"
expect fail "unknown kind" "$(mutate unknown-kind 's/^kind: DaemonSet/kind: DaemonSett/')"
expect fail "YAML syntax error" "$(mutate bad-yaml 's/^      hostPID: true/      hostPID: [true/')"
expect fail "probe on a port that is not a name or number" "$(mutate probe-port 's/^            port: metrics$/            port: [metrics]/')"
expect fail "ServiceMonitor: unknown field" "$(mutate smon-field 's/^    scrapeTimeout: 10s$/    scrapeTimeoutt: 10s/')"
expect fail "ServiceMonitor: scheme not in the enum" "$(mutate smon-scheme 's/^    scheme: http$/    scheme: gopher/')"
expect fail "ServiceMonitor: endpoints not a list" "$(mutate smon-endpoints 's/^  endpoints:$/  endpoints: {}\n  x:/')"
printf '' >"$work/empty.yaml"
expect fail "a file with no object" "$work/empty.yaml"

echo "$passed passed, $failed failed"
((failed == 0))
