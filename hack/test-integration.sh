#!/usr/bin/env bash
# make test-integration: two mocha runs, each with its own control plane (test/integration/setup.ts).
# test/integration/cluster and deploy (.mocharc.integration-cluster.json: the real kubelet, the
# images, Flux) spend most of their time waiting on kubelet's probes, pod starts and Flux, so by
# default they run beside the rest (.mocharc.integration.json), their output written to a log
# and printed after the rest's. INTEGRATION_SERIAL=1 runs them one after the other, live.
# Usage: hack/test-integration.sh RESULTS_DIR
set -u
results=${1:?results directory}
mkdir -p "$results"

rest() { MAASLAB_RESULTS="$results/integration.json" mocha --config .mocharc.integration.json; }
cluster() {
  MAASLAB_RESULTS="$results/integration-cluster.json" mocha --config .mocharc.integration-cluster.json
}

if [ -n "${INTEGRATION_SERIAL:-}" ]; then
  rest; status=$?
  cluster; cstatus=$?
else
  log="$results/integration-cluster.log"
  echo "integration: test/integration/{cluster,deploy} run beside the rest; their output follows it"
  cluster > "$log" 2>&1 &
  cpid=$!
  # Ctrl-C or a kill of make stops the side run too (its mocha tears its own processes down).
  trap 'kill -INT "$cpid" 2>/dev/null' INT TERM
  rest; status=$?
  wait "$cpid"; cstatus=$?
  echo
  echo "integration: test/integration/{cluster,deploy} (from $log):"
  cat "$log"
fi
[ "$status" -eq 0 ] && [ "$cstatus" -eq 0 ]
