// The controller VM's bootstrap script, shipped in the seed's user-data (write_files) and
// run once by cloud-init's runcmd. It is a constant: nothing from the MaasLab is spliced
// into it. The values it needs come from /etc/maaslab/bootstrap.env (shell-quoted
// assignments, seed.ts) and /etc/maaslab/admin-password (raw), both root-only.
//
// Each step runs once (a stamp under /var/lib/maaslab/steps marks it done, so a re-run
// after a failure resumes), waits for what it needs instead of sleeping a fixed time, and
// ends with one line on the serial console: `MAASLAB-STEP <name> ok|failed`.

/** Where the seed writes the bootstrap script. */
export const BOOTSTRAP_SCRIPT_PATH = '/usr/local/sbin/maaslab-bootstrap';
/** Where the seed writes the script's shell-quoted settings. */
export const BOOTSTRAP_ENV_PATH = '/etc/maaslab/bootstrap.env';
/** Where the seed writes the admin password; the script deletes it once the admin exists. */
export const ADMIN_PASSWORD_PATH = '/etc/maaslab/admin-password';
/** Where the seed writes the SSH keys imported into the admin's MAAS account, one a line. */
export const ADMIN_SSH_KEYS_PATH = '/etc/maaslab/admin-ssh-keys';
/** The serial console the markers and the API key are written to. */
export const SERIAL_CONSOLE = '/dev/ttyS0';
/** The step names, in the order they run; each prints `MAASLAB-STEP <name> ok|failed`. */
export const BOOTSTRAP_STEPS = [
  'seed-loaded',
  'install-maas-test-db',
  'install-maas',
  'maas-init',
  'api-ready',
  'create-admin',
  'api-key',
  'login',
  'kernel-opts',
  'upstream-dns',
  'ssh-keys',
  'announce-api-key',
  'done',
] as const;

/** The script's text (bash). `run` bootstraps; `announce` re-prints the API key if there is one. */
export const BOOTSTRAP_SCRIPT = `#!/bin/bash
# maaslab-bootstrap: turns this VM into a MAAS region+rack controller. Written by the
# maaslab operator's cloud-init seed; see docs/maas-controller-seed.md in maaslab.
#   maaslab-bootstrap run       every step below, once each (runcmd runs this)
#   maaslab-bootstrap announce  print the admin API key to the serial console again
# Never run with -x: the password and the API key must not reach a log.
set -euo pipefail
umask 077

CONSOLE=${SERIAL_CONSOLE}
STATE=/var/lib/maaslab/steps
PROFILE=maaslab
# shellcheck source=/dev/null
. ${BOOTSTRAP_ENV_PATH}

# A line for the serial console (where the operator reads it) and for cloud-init's log.
say() {
  printf '%s\\n' "$*"
  printf '%s\\r\\n' "$*" >>"$CONSOLE" 2>/dev/null || true
}

announce() {
  local key
  key=$(head -n 1 "$MAASLAB_APIKEY_FILE")
  # To the console only: cloud-init-output.log is not where a credential belongs.
  printf 'MAASLAB-APIKEY-BEGIN %s MAASLAB-APIKEY-END\\r\\n' "$key" >>"$CONSOLE"
}

if [ "\${1:-}" = announce ]; then
  [ -s "$MAASLAB_APIKEY_FILE" ] || exit 0
  announce
  exit 0
fi
[ "\${1:-}" = run ] || { echo "usage: $0 run|announce" >&2; exit 2; }

CURRENT=start
finish() {
  local rc=$?
  [ "$rc" -eq 0 ] || say "MAASLAB-STEP $CURRENT failed (exit $rc)"
}
trap finish EXIT

# step NAME COMMAND...: runs COMMAND unless NAME is stamped done; any failure inside ends
# the script (set -e applies: COMMAND is not in a condition) and finish() names the step.
step() {
  local name=$1
  shift
  CURRENT=$name
  if [ ! -e "$STATE/$name" ]; then
    "$@"
    : >"$STATE/$name"
  fi
  say "MAASLAB-STEP $name ok"
}

# until_ready SECONDS WHAT COMMAND...: polls COMMAND every 2 s until it succeeds, or fails
# with a clear message once SECONDS have passed.
until_ready() {
  local limit=$1 what=$2
  shift 2
  local deadline=$((SECONDS + limit))
  until "$@"; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "maaslab-bootstrap: $what not ready after \${limit}s" >&2
      return 1
    fi
    sleep 2
  done
}

seed_loaded() { timeout "$MAASLAB_SNAP_SEED_TIMEOUT" snap wait system seed.loaded; }
install_snap() { snap install "$1" --channel="$2"; }
maas_init() {
  maas init region+rack --database-uri maas-test-db:/// --maas-url "$MAASLAB_MAAS_URL" </dev/null
}
api_answers() { curl -sf -o /dev/null --max-time 10 http://localhost:5240/MAAS/api/2.0/version/; }
api_ready() { until_ready "$MAASLAB_API_TIMEOUT" "the MAAS API (http://localhost:5240/MAAS/api/2.0/version/)" api_answers; }
create_admin() {
  local password
  password=$(cat ${ADMIN_PASSWORD_PATH})
  maas createadmin --username "$MAASLAB_ADMIN_USERNAME" --password "$password" \\
    --email "$MAASLAB_ADMIN_EMAIL" </dev/null >/dev/null
  rm -f ${ADMIN_PASSWORD_PATH}
}
api_key() {
  local key
  install -d -m 0700 "$(dirname "$MAASLAB_APIKEY_FILE")"
  key=$(maas apikey --username "$MAASLAB_ADMIN_USERNAME" | sed -n 1p)
  if ! [[ "$key" =~ ^[A-Za-z0-9]+:[A-Za-z0-9]+:[A-Za-z0-9]+$ ]]; then
    echo "maaslab-bootstrap: maas apikey printed no key" >&2
    return 1
  fi
  printf '%s\\n' "$key" >"$MAASLAB_APIKEY_FILE.tmp"
  mv "$MAASLAB_APIKEY_FILE.tmp" "$MAASLAB_APIKEY_FILE"
}
login() {
  maas login "$PROFILE" http://localhost:5240/MAAS/ "$(head -n 1 "$MAASLAB_APIKEY_FILE")" >/dev/null
}
kernel_opts() { maas "$PROFILE" maas set-config name=kernel_opts "value=$MAASLAB_KERNEL_OPTS" >/dev/null; }
upstream_dns() {
  if [ -n "$MAASLAB_UPSTREAM_DNS" ]; then
    maas "$PROFILE" maas set-config name=upstream_dns "value=$MAASLAB_UPSTREAM_DNS" >/dev/null
  fi
}
ssh_keys() {
  local key
  while IFS= read -r key; do
    if [ -n "$key" ]; then
      maas "$PROFILE" sshkeys create "key=$key" >/dev/null
    fi
  done <${ADMIN_SSH_KEYS_PATH}
}

mkdir -p "$STATE"
step seed-loaded seed_loaded
step install-maas-test-db install_snap maas-test-db "$MAASLAB_TEST_DB_CHANNEL"
step install-maas install_snap maas "$MAASLAB_CHANNEL"
step maas-init maas_init
step api-ready api_ready
step create-admin create_admin
step api-key api_key
step login login
step kernel-opts kernel_opts
step upstream-dns upstream_dns
step ssh-keys ssh_keys
CURRENT=announce-api-key
announce
say "MAASLAB-STEP announce-api-key ok"
CURRENT=done
say "MAASLAB-STEP done ok"
`;
