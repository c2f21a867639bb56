#!/usr/bin/env bash
# edge-ops backup runner: runs once on the short-lived Hetzner backup server (cloud-init starts it).
# It fetches this run's configuration (version 2) from the Worker, gathers every target (MongoDB
# with mongodump, Postgres with pg_dump, S3 buckets with the AWS CLI, host paths with rsync over
# SSH) into staging/<target name>/, backs the staging directory up with restic, applies retention,
# runs a restore test when asked, and reports every part back to the Worker. See README.md.
#
# Secrets (the run token, the repository password, the storage keys, the targets' credentials, the
# SSH key) live in shell variables: never on a command line, never in a log line, never in the
# report. Each one is handed to the one program that needs it: restic's in a subshell that execs
# restic, a database password in pg_dump's environment, the MongoDB URI in a 0600 file that
# mongodump reads (--config), an S3 target's keys in aws's environment, the SSH key in a 0600 file
# in the work directory (removed at exit). The programs' own error output goes to files in the
# work directory and is reduced to fixed phrases (it may quote a connection string). Do not add
# `set -x`.
set -uo pipefail
umask 077
# Fixed messages from the tools (the reasons are matched in English) and "." in $EPOCHREALTIME.
export LC_ALL=C

ENV_FILE=${BACKUP_ENV_FILE:-/etc/edge-ops-backup.env}
STAGING_DEFAULT=/var/backups/edge-ops/staging
# Seconds kept free before DEADLINE for reporting: no gather/restic step may run into them.
REPORT_RESERVE=${REPORT_RESERVE_SECONDS:-300}
CONFIG_ATTEMPTS=${CONFIG_ATTEMPTS:-5}
DEFAULT_RUN_SECONDS=$((4 * 3600))
# What one step (a dump, a bucket, a path) may use of the time left: one that hangs leaves the
# rest to the other targets and to restic.
TARGET_SHARE_PERCENT=50
REASON_MAX=200

log() {
  printf '%s backup-runner: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2
}

now() {
  date +%s
}

is_uint() {
  [[ ${1:-} =~ ^[0-9]+$ ]]
}

# --- Environment -----------------------------------------------------------------------------

# Reads RUN_URL, RUN_TOKEN and DEADLINE from KEY=VALUE lines (optionally `export`ed and quoted).
# The file is parsed, not sourced; variables already set in the environment win.
load_env_file() {
  local file=$1 line key value
  if [[ ! -e $file ]]; then
    log "no env file at $file; using the environment"
    return 0
  fi
  if [[ ! -r $file ]]; then
    log "env file $file is not readable; using the environment"
    return 0
  fi
  while IFS= read -r line || [[ -n $line ]]; do
    line=${line%$'\r'}
    [[ $line =~ ^[[:space:]]*(export[[:space:]]+)?(RUN_URL|RUN_TOKEN|DEADLINE)=(.*)$ ]] || continue
    key=${BASH_REMATCH[2]}
    value=${BASH_REMATCH[3]}
    value=${value%"${value##*[![:space:]]}"}
    if [[ $value =~ ^\"(.*)\"$ || $value =~ ^\'(.*)\'$ ]]; then
      value=${BASH_REMATCH[1]}
    fi
    if [[ -z ${!key:-} ]]; then
      printf -v "$key" '%s' "$value"
    fi
  done <"$file"
}

# --- HTTP to the Worker ----------------------------------------------------------------------

# http_call METHOD URL BODY_FILE MAX_SECONDS: one request with the run token. Sets HTTP_STATUS
# ("000" when no HTTP answer arrived) and HTTP_BODY. The Authorization header reaches curl through
# a pipe (-H @/dev/fd/N), so the token is on no command line.
HTTP_STATUS=000
HTTP_BODY=
http_call() {
  local method=$1 url=$2 body_file=$3 max_time=$4 response
  local -a data=()
  if [[ -n $body_file ]]; then
    data=(--header 'Content-Type: application/json' --data-binary "@$body_file")
  fi
  response=$(curl --silent --show-error --request "$method" \
    --connect-timeout 10 --max-time "$max_time" \
    --header @<(printf 'Authorization: Bearer %s\n' "$RUN_TOKEN") \
    "${data[@]}" --write-out '\n%{http_code}' -- "$url")
  HTTP_STATUS=${response##*$'\n'}
  if [[ $response == *$'\n'* ]]; then
    HTTP_BODY=${response%$'\n'*}
  else
    HTTP_BODY=
  fi
  [[ $HTTP_STATUS =~ ^[0-9]{3}$ ]] || HTTP_STATUS=000
}

seconds_left() {
  echo $((DEADLINE - $(now)))
}

# Request timeout for a call to the Worker: at most 30 s, at least 5 s, not far past the deadline.
request_budget() {
  local left
  left=$(seconds_left)
  ((left > 30)) && left=30
  ((left < 5)) && left=5
  echo "$left"
}

# GET config until a 2xx; 5xx/408/429/no answer are retried with backoff (the Worker answers at
# most a few requests per run, so only failed ones are repeated); any other status is final.
CONFIG=
fetch_config() {
  local attempt=1 delay=2 left
  while :; do
    http_call GET "$RUN_URL/config" "" "$(request_budget)"
    case $HTTP_STATUS in
      2??)
        CONFIG=$HTTP_BODY
        return 0
        ;;
      000 | 408 | 429 | 5??)
        log "config: attempt $attempt failed (HTTP $HTTP_STATUS)"
        ;;
      *)
        log "config: HTTP $HTTP_STATUS, not retrying"
        return 1
        ;;
    esac
    if ((attempt >= CONFIG_ATTEMPTS)); then
      log "config: giving up after $attempt attempts"
      return 1
    fi
    left=$(seconds_left)
    if ((left <= 0)); then
      log "config: deadline passed"
      return 1
    fi
    sleep $((delay < left ? delay : left))
    delay=$((delay * 2))
    attempt=$((attempt + 1))
  done
}

# Posts REPORT_FILE until a 2xx or the deadline; a 4xx other than 408/429 stops at once.
post_report() {
  local attempt=1 delay=1 left
  while :; do
    http_call POST "$RUN_URL/report" "$REPORT_FILE" "$(request_budget)"
    case $HTTP_STATUS in
      2??)
        log "report delivered (HTTP $HTTP_STATUS, attempt $attempt)"
        return 0
        ;;
      4??)
        if [[ $HTTP_STATUS != 408 && $HTTP_STATUS != 429 ]]; then
          log "report rejected (HTTP $HTTP_STATUS), not retrying"
          return 1
        fi
        ;;
    esac
    log "report: attempt $attempt failed (HTTP $HTTP_STATUS)"
    left=$(seconds_left)
    if ((left <= 0)); then
      log "report: deadline passed after $attempt attempts"
      return 1
    fi
    sleep $((delay < left ? delay : left))
    delay=$((delay * 2 > 60 ? 60 : delay * 2))
    attempt=$((attempt + 1))
  done
}

power_off() {
  local -a command
  read -r -a command <<<"${POWEROFF_COMMAND:-poweroff}"
  log "powering off: ${command[*]}"
  "${command[@]}" || log "power-off command failed (exit $?)"
}

# --- Bounded steps ---------------------------------------------------------------------------

# Seconds a gather or restic step may still take, keeping REPORT_RESERVE before the deadline.
step_budget() {
  echo $((DEADLINE - REPORT_RESERVE - $(now)))
}

# run_bounded BUDGET COMMAND...: COMMAND under timeout(1); 124 without running it when BUDGET is
# not positive. A killed or skipped step reports 124 (or 137 when it ignored the INT).
run_bounded() {
  local budget=$1
  shift
  ((budget > 0)) || return 124
  timeout --signal=INT --kill-after=30 "$budget" "$@"
}

# run_restic ARGS...: restic with the repository, password and storage keys in its environment only.
# RESTIC_CACERT (the runner's own environment) is passed as --cacert: restic 0.14 reads no variable
# for it, later versions read this one.
run_restic() {
  local budget
  local -a cacert=()
  budget=$(step_budget)
  if ((budget <= 0)); then
    log "restic $1: skipped, no time left before the deadline"
    return 124
  fi
  [[ -n ${RESTIC_CACERT:-} ]] && cacert=(--cacert "$RESTIC_CACERT")
  (
    unset RESTIC_PASSWORD_FILE RESTIC_PASSWORD_COMMAND RESTIC_REPOSITORY_FILE
    for i in "${!RESTIC_ENV_NAMES[@]}"; do
      export "${RESTIC_ENV_NAMES[i]}=${RESTIC_ENV_VALUES[i]}"
    done
    export RESTIC_REPOSITORY="$REPOSITORY"
    export RESTIC_PASSWORD="$RESTIC_PW"
    exec timeout --signal=INT --kill-after=30 "$budget" restic "${cacert[@]}" "$@"
  )
}

# config_get FILTER [JQ ARGS...]: the configuration reaches jq on stdin, never in its arguments.
config_get() {
  local filter=$1
  shift
  printf '%s' "$CONFIG" | jq -r "$@" "$filter"
}

# --- Configuration ---------------------------------------------------------------------------

# Version 2 (infra/backup-runner/README.md). Checked as a whole: a config that fails any of it is
# reported as "invalid config" without running anything.
CONFIG_FILTER='
  def nonempty: type == "string" and length > 0;
  def line: nonempty and (test("[\u0000-\u001f]") | not);
  def count: type == "number" and . >= 0 and . == floor;
  def port: . == null or (type == "number" and . >= 1 and . <= 65535 and . == floor);
  def hostname: line and test("^[A-Za-z0-9][A-Za-z0-9.:_-]*$");
  def bucket: line and test("^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$");
  def target:
    type == "object"
    and (.name | type == "string" and test("^[a-z0-9][a-z0-9-]{0,39}$"))
    and (if .kind == "mongodb" then (.uri | line and test("^mongodb(\\+srv)?://"))
         elif .kind == "postgres" then
           (.host | hostname) and (.port | port) and (.database | line) and (.user | line)
           and (.password | nonempty)
         elif .kind == "s3" then
           (.endpoint | line and test("^https?://")) and (.accessKeyId | line)
           and (.secretAccessKey | line) and (.region == null or (.region | line))
           and (.buckets == null or (.buckets | type == "array" and all(.[]; bucket)))
         elif .kind == "path" then
           (.host | hostname) and (.port | port)
           and (.user == null or (.user | line and test("^[A-Za-z_][A-Za-z0-9._-]*$")))
           and (.paths | type == "array" and length > 0 and all(.[]; line and startswith("/")))
           and (.hostKey == null or (.hostKey | line and test("^[a-z0-9@.-]+ [A-Za-z0-9+/=]+( .*)?$")))
         else false end);
  (.version == 2)
  and (.runId | type == "string" and test("^[A-Za-z0-9._-]{1,128}$"))
  and (.kind == "backup" or .kind == "restore-test")
  and (.host | line)
  and (.repository | nonempty)
  and (.password | nonempty)
  and ((.env // {}) | type == "object" and all(.[]; type == "string"))
  and (.targets | type == "array" and length <= 20 and all(.[]; target)
       and (map(.name) | length == (unique | length)))
  and (.ssh == null or (.ssh | type == "object" and (.privateKey | nonempty)))
  and (.retention | type == "object" and (.daily | count) and (.weekly | count) and (.monthly | count))
  and (.deadline | count)
'

# Variables the config may hand to restic: its storage backends' credentials and options.
ENV_NAME_PATTERN='^(AWS|RESTIC|B2|AZURE|GOOGLE|OS|ST|RCLONE)_[A-Z0-9_]+$'

RESTIC_ENV_NAMES=()
RESTIC_ENV_VALUES=()
TARGET_COUNT=0
load_config() {
  local name value config_deadline
  # The one-line fields in one read (the filter has checked they are one line each).
  {
    IFS= read -r RUN_ID
    IFS= read -r KIND
    IFS= read -r HOST
    IFS= read -r TARGET_COUNT
    IFS= read -r KEEP_DAILY
    IFS= read -r KEEP_WEEKLY
    IFS= read -r KEEP_MONTHLY
    IFS= read -r config_deadline
  } < <(config_get '.runId, .kind, .host, (.targets | length), .retention.daily, .retention.weekly,
    .retention.monthly, .deadline')
  REPOSITORY=$(config_get .repository)
  RESTIC_PW=$(config_get .password)
  while IFS= read -r name; do
    [[ -n $name ]] || continue
    if [[ ! $name =~ $ENV_NAME_PATTERN || $name == RESTIC_PASSWORD* || $name == RESTIC_REPOSITORY* ]]; then
      log "config: ignoring env variable $name"
      continue
    fi
    value=$(config_get '.env[$name]' --arg name "$name")
    RESTIC_ENV_NAMES+=("$name")
    RESTIC_ENV_VALUES+=("$value")
  done < <(config_get '(.env // {}) | keys[]')
  if is_uint "$config_deadline" && ((config_deadline < DEADLINE)); then
    DEADLINE=$config_deadline
  fi
}

# target_get INDEX FILTER: FILTER applied to target INDEX. A credential read with it stays in the
# subshell of the step that hands it to its program (or goes straight into a 0600 file).
target_get() {
  config_get ".targets[\$index] | $2" --argjson index "$1"
}

# --- Parts -----------------------------------------------------------------------------------

PARTS_FILE=
PARTS_OK=0

# add_part NAME KIND OK REASON BYTES SECONDS
add_part() {
  local reason=${4//[$'\n\r\t']/ }
  reason=${reason:0:REASON_MAX}
  jq -cn --arg name "$1" --arg kind "$2" --argjson ok "$3" --arg reason "$reason" \
    --argjson bytes "$5" --argjson seconds "$6" \
    '{name: $name, kind: $kind, ok: $ok, reason: (if $ok then null else $reason end), bytes: $bytes, seconds: $seconds}' \
    >>"$PARTS_FILE"
  if [[ $3 == true ]]; then
    PARTS_OK=$((PARTS_OK + 1))
    log "part $1 ($2): ok, $5 bytes, $6 s"
  else
    log "part $1 ($2): failed, $reason ($6 s)"
  fi
}

# Bytes of the regular files under a directory.
staged_bytes() {
  if [[ -d $1 ]]; then
    find "$1" -type f -printf '%s\n' | awk '{ total += $1 } END { printf "%d\n", total }'
  else
    echo 0
  fi
}

elapsed_since() {
  awk -v start="$1" -v end="$EPOCHREALTIME" 'BEGIN { printf "%.1f\n", end - start }'
}

# A fixed phrase for what went wrong, from a tool's error output (never quoted: it may hold a
# connection string or a key id).
classify_errors() {
  local file=$1
  [[ -s $file ]] || return 0
  local -a rules=(
    'no space left on device|no space left on the backup server'
    'host key verification failed|remote host identification has changed|host key verification failed'
    'server version mismatch|pg_dump is older than the server'
    'invalidaccesskeyid|signaturedoesnotmatch|password authentication failed|authentication failed|auth error|permission denied \(publickey|authentication failed'
    'accessdenied|access denied|not authorized|unauthorized|permission denied|access denied'
    'nosuchbucket|bucket not found'
    'connection refused|connection refused'
    'no route to host|network is unreachable|host unreachable'
    'could not translate host name|name or service not known|no such host|could not resolve|temporary failure in name resolution|host not found'
    'timed out|timeout|server selection error|connection timed out|timed out'
    'pg_hba.conf|refused by the server (pg_hba.conf)'
    'does not exist|no such file or directory|not found'
  )
  local rule pattern phrase
  for rule in "${rules[@]}"; do
    pattern=${rule%|*}
    phrase=${rule##*|}
    if grep -qiE -- "$pattern" "$file"; then
      printf '%s' "$phrase"
      return 0
    fi
  done
}

# failure_reason TOOL EXIT ERROR_FILE
failure_reason() {
  local tool=$1 rc=$2 file=$3 phrase
  case $rc in
    124) echo "$tool stopped: it used its share of the time before the deadline"; return ;;
    137) echo "$tool killed: it did not stop before the deadline"; return ;;
    127) echo "$tool is not installed on the backup server"; return ;;
  esac
  phrase=$(classify_errors "$file")
  echo "$tool exited $rc${phrase:+: $phrase}"
}

# Budget for one step: its share of what is left before the report reserve.
target_budget() {
  local left
  left=$(step_budget)
  ((left <= 0)) && { echo 0; return; }
  echo $((left * TARGET_SHARE_PERCENT / 100 > 0 ? left * TARGET_SHARE_PERCENT / 100 : left))
}

# Each gather_* sets REASON (empty when the part succeeded) and writes under its directory.
REASON=

gather_mongodb() {
  local index=$1 dir=$2 budget=$3 rc config
  if ! command -v mongodump >/dev/null; then
    REASON="mongodump is not installed on the backup server"
    return
  fi
  config=$WORK_DIR/mongodump-$index.yaml
  # The URI (with its password) goes to mongodump in a 0600 file: --config, MongoDB Database
  # Tools 100.3.0+ (checked against mongo-tools' ToolOptions.ParseConfigFile: strict YAML with the
  # keys `uri`, `password`, `sslPEMKeyPassword`; 2026-12-06). A JSON string is a YAML
  # double-quoted scalar.
  if ! target_get "$index" '"uri: " + (.uri | tojson)' >"$config"; then
    REASON="could not write mongodump's configuration file"
    return
  fi
  run_bounded "$budget" mongodump --config="$config" --oplog --archive="$dir/mongodump.archive.gz" --gzip \
    >/dev/null 2>"$WORK_DIR/error.txt"
  rc=$?
  rm -f -- "$config"
  if ((rc != 0)); then
    REASON=$(failure_reason mongodump "$rc" "$WORK_DIR/error.txt")
    # A truncated archive must not pass for a dump.
    rm -f -- "$dir/mongodump.archive.gz"
  fi
}

gather_postgres() {
  local index=$1 dir=$2 budget=$3 rc
  if ! command -v pg_dump >/dev/null; then
    REASON="pg_dump is not installed on the backup server"
    return
  fi
  # Everything through libpq's environment: the password in no argument, and a database name is
  # never expanded as a connection string (as --dbname would).
  (
    {
      IFS= read -r PGHOST
      IFS= read -r PGPORT
      IFS= read -r PGUSER
      IFS= read -r PGDATABASE
    } < <(target_get "$index" '.host, (.port // 5432), .user, .database')
    PGPASSWORD=$(target_get "$index" .password)
    export PGHOST PGPORT PGUSER PGDATABASE PGPASSWORD PGCONNECT_TIMEOUT=20 PGAPPNAME=edge-ops-backup
    unset PGPASSFILE PGSERVICE PGSERVICEFILE
    run_bounded "$budget" pg_dump --format=custom --no-password --file="$dir/pg_dump.custom"
  ) >/dev/null 2>"$WORK_DIR/error.txt"
  rc=$?
  if ((rc != 0)); then
    REASON=$(failure_reason pg_dump "$rc" "$WORK_DIR/error.txt")
    rm -f -- "$dir/pg_dump.custom"
  fi
}

# aws_with_target_keys INDEX BUDGET ARGS...: the AWS CLI with this target's keys in its
# environment only (never restic's, never a profile or instance metadata).
aws_with_target_keys() {
  local index=$1 budget=$2
  shift 2
  (
    unset AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SHARED_CREDENTIALS_FILE AWS_CONFIG_FILE
    AWS_ACCESS_KEY_ID=$(target_get "$index" .accessKeyId)
    AWS_SECRET_ACCESS_KEY=$(target_get "$index" .secretAccessKey)
    AWS_DEFAULT_REGION=$(target_get "$index" '.region // "us-east-1"')
    export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_DEFAULT_REGION AWS_EC2_METADATA_DISABLED=true AWS_PAGER=
    run_bounded "$budget" aws "$@"
  )
}

gather_s3() {
  local index=$1 dir=$2 budget=$3 rc endpoint bucket listing
  local -a buckets
  if ! command -v aws >/dev/null; then
    REASON="aws is not installed on the backup server"
    return
  fi
  endpoint=$(target_get "$index" .endpoint)
  mapfile -t buckets < <(target_get "$index" '(.buckets // [])[]')
  if ((${#buckets[@]} == 0)); then
    # No list in the config: every bucket the key can list.
    listing=$(aws_with_target_keys "$index" "$budget" s3api list-buckets --endpoint-url "$endpoint" \
      --query 'Buckets[].Name' --output json 2>"$WORK_DIR/error.txt")
    rc=$?
    if ((rc != 0)); then
      REASON="$(failure_reason "aws s3api list-buckets" "$rc" "$WORK_DIR/error.txt")"
      return
    fi
    if ! mapfile -t buckets < <(printf '%s' "$listing" | jq -r '(. // [])[]
        | select(type == "string" and test("^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$"))'); then
      REASON="aws s3api list-buckets answered something that is not a bucket list"
      return
    fi
    if ((${#buckets[@]} == 0)); then
      REASON="the key lists no bucket: nothing to back up"
      return
    fi
  fi
  local failed=()
  for bucket in "${buckets[@]}"; do
    budget=$(target_budget)
    aws_with_target_keys "$index" "$budget" s3 sync "s3://$bucket" "$dir/$bucket" \
      --endpoint-url "$endpoint" --only-show-errors --no-progress >/dev/null 2>"$WORK_DIR/error.txt"
    rc=$?
    if ((rc != 0)); then
      failed+=("$bucket: $(failure_reason "aws s3 sync" "$rc" "$WORK_DIR/error.txt")")
    fi
  done
  if ((${#failed[@]} > 0)); then
    REASON="bucket ${failed[0]}"
    ((${#failed[@]} > 1)) && REASON+=" (and $((${#failed[@]} - 1)) more)"
  fi
}

gather_path() {
  local index=$1 dir=$2 budget=$3 rc host user port host_key known_hosts checking path remote
  local -a paths failed=()
  if [[ -z $SSH_KEY_FILE ]]; then
    REASON="no SSH private key in the run's configuration (BACKUP_SSH_PRIVATE_KEY is not set)"
    return
  fi
  if ! command -v rsync >/dev/null || ! command -v ssh >/dev/null; then
    REASON="rsync or ssh is not installed on the backup server"
    return
  fi
  {
    IFS= read -r host
    IFS= read -r user
    IFS= read -r port
    IFS= read -r host_key
  } < <(target_get "$index" '.host, (.user // "edge-ops-backup"), (.port // 22), (.hostKey // "")')
  mapfile -t paths < <(target_get "$index" '.paths[]')
  known_hosts=$WORK_DIR/known_hosts-$index
  if [[ -n $host_key ]]; then
    # The node's key from the config: anything else is refused.
    if ((port == 22)); then
      printf '%s %s\n' "$host" "$host_key" >"$known_hosts"
    else
      printf '[%s]:%s %s\n' "$host" "$port" "$host_key" >"$known_hosts"
    fi
    checking=yes
  else
    # No key to check against: this fresh server has never seen the node, so the first key is taken.
    : >"$known_hosts"
    checking=accept-new
  fi
  local ssh_command="ssh -F /dev/null -i $SSH_KEY_FILE -o IdentitiesOnly=yes -o BatchMode=yes"
  ssh_command+=" -o StrictHostKeyChecking=$checking -o UserKnownHostsFile=$known_hosts"
  ssh_command+=" -o ConnectTimeout=20 -o ServerAliveInterval=15 -o ServerAliveCountMax=4 -p $port"
  [[ $host == *:* ]] && host="[$host]"
  for path in "${paths[@]}"; do
    path=${path%/}
    [[ -n $path ]] || path=/
    remote=${path#/}
    mkdir -p -- "$dir/$(dirname -- "$remote")"
    budget=$(target_budget)
    # Into the parent: a directory or a file lands at <dir>/<its absolute path>. The node's
    # `rrsync -ro /` accepts exactly this (`--server --sender -logDtpre.iLsfxCIvu --numeric-ids .
    # <path>`; it strips the leading / and refuses -s; checked against rsync's support/rrsync,
    # 2026-12-06).
    run_bounded "$budget" rsync -a --numeric-ids -e "$ssh_command" "$user@$host:$path" "$dir/$(dirname -- "$remote")/" \
      >/dev/null 2>"$WORK_DIR/error.txt"
    rc=$?
    # 24: files vanished while they were copied, as they do on a live node; the rest was copied.
    if ((rc != 0 && rc != 24)); then
      failed+=("$path: $(failure_reason rsync "$rc" "$WORK_DIR/error.txt")")
    fi
  done
  if ((${#failed[@]} > 0)); then
    REASON="${failed[0]}"
    ((${#failed[@]} > 1)) && REASON+=" (and $((${#failed[@]} - 1)) more)"
  fi
}

SSH_KEY_FILE=
write_ssh_key() {
  local has_key
  has_key=$(config_get '(.ssh.privateKey // "") | length > 0')
  [[ $has_key == true ]] || return 0
  [[ $(config_get '[.targets[] | select(.kind == "path")] | length') != 0 ]] || return 0
  mkdir -p -- "$WORK_DIR/ssh" || return 0
  # OpenSSH wants the key's last line ended.
  if config_get '.ssh.privateKey | if endswith("\n") then . else . + "\n" end' -j >"$WORK_DIR/ssh/id_backup"; then
    chmod 0600 "$WORK_DIR/ssh/id_backup"
    SSH_KEY_FILE=$WORK_DIR/ssh/id_backup
  else
    log "ssh: could not write the private key"
  fi
}

gather() {
  local index name kind dir start
  PARTS_FILE=$WORK_DIR/parts.jsonl
  : >"$PARTS_FILE"
  if ((TARGET_COUNT == 0)); then
    add_part targets none false "no targets configured: nothing was backed up" 0 0
  fi
  local -a names kinds
  mapfile -t names < <(config_get '.targets[].name')
  mapfile -t kinds < <(config_get '.targets[].kind')
  for ((index = 0; index < TARGET_COUNT; index++)); do
    name=${names[index]}
    kind=${kinds[index]}
    dir=$STAGING/$name
    start=$EPOCHREALTIME
    REASON=
    log "part $name ($kind): gathering"
    # Only what this script writes is removed: BACKUP_STAGING_DIR may point anywhere.
    if ! rm -rf -- "$dir" || ! mkdir -p -- "$dir"; then
      REASON="cannot create its staging directory"
    else
      "gather_$kind" "$index" "$dir" "$(target_budget)"
    fi
    if [[ -z $REASON ]]; then
      add_part "$name" "$kind" true "" "$(staged_bytes "$dir")" "$(elapsed_since "$start")"
    else
      add_part "$name" "$kind" false "$REASON" "$(staged_bytes "$dir")" "$(elapsed_since "$start")"
    fi
  done
}

# The canary: a random file whose restore the restore test checks byte for byte.
CANARY_FILE=
CANARY_SHA=
write_canary() {
  CANARY_FILE=$STAGING/canary.txt
  if printf 'edge-ops backup canary\nrun: %s\nvalue: %s\n' "$RUN_ID" \
    "$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')" >"$CANARY_FILE"; then
    CANARY_SHA=$(sha256sum <"$CANARY_FILE" | cut -d ' ' -f 1)
  else
    log "canary: cannot write $CANARY_FILE"
  fi
}

# --- restic ----------------------------------------------------------------------------------

# 0 when the repository opens (or was just initialized); otherwise restic's exit code.
REPOSITORY_RC=0
ensure_repository() {
  if run_restic cat config >/dev/null 2>"$WORK_DIR/restic-error.txt"; then
    return 0
  fi
  log "repository: restic cat config failed; running restic init"
  run_restic init >/dev/null 2>>"$WORK_DIR/restic-error.txt"
  REPOSITORY_RC=$?
  if ((REPOSITORY_RC != 0)); then
    log "repository: restic init failed (exit $REPOSITORY_RC): $(classify_errors "$WORK_DIR/restic-error.txt")"
  fi
  return "$REPOSITORY_RC"
}

BACKUP_RC=1
SUMMARY=
SNAPSHOT_ID=
backup() {
  local output=$WORK_DIR/backup.jsonl
  log "backup: restic backup --host $HOST $STAGING"
  run_restic backup --json --host "$HOST" "$STAGING" >"$output"
  BACKUP_RC=$?
  # restic interleaves status lines; the summary is the last line with message_type "summary".
  SUMMARY=$(jq -cR 'fromjson? | select(type == "object" and .message_type == "summary")' "$output" | tail -n 1)
  if [[ -n $SUMMARY ]]; then
    SNAPSHOT_ID=$(printf '%s' "$SUMMARY" | jq -r '.snapshot_id // empty')
  fi
  log "backup: restic exit $BACKUP_RC, snapshot ${SNAPSHOT_ID:-none}"
}

FORGET_RC=null
forget() {
  local -a keep=()
  if ((BACKUP_RC != 0 && BACKUP_RC != 3)); then
    log "forget: skipped, the backup failed"
    return
  fi
  # A run that saved no part must not push the last good snapshots out of the retention window.
  if ((PARTS_OK == 0)); then
    log "forget: skipped, no part was saved"
    return
  fi
  ((KEEP_DAILY > 0)) && keep+=(--keep-daily "$KEEP_DAILY")
  ((KEEP_WEEKLY > 0)) && keep+=(--keep-weekly "$KEEP_WEEKLY")
  ((KEEP_MONTHLY > 0)) && keep+=(--keep-monthly "$KEEP_MONTHLY")
  if ((${#keep[@]} == 0)); then
    log "forget: skipped, no retention policy"
    return
  fi
  log "forget: ${keep[*]} --prune"
  # Grouped by host only: the host is fixed per environment, whatever the targets are.
  run_restic forget --host "$HOST" --group-by host "${keep[@]}" --prune >&2
  FORGET_RC=$?
  ((FORGET_RC == 0)) || log "forget: restic exit $FORGET_RC"
}

RESTORE_TEST=null
restore_test() {
  local check_rc canary_ok=false target restored sha
  log "restore test: restic check --read-data-subset=5%"
  run_restic check --read-data-subset=5% >&2
  check_rc=$?
  log "restore test: restic check exit $check_rc"
  if [[ -n $SNAPSHOT_ID && -n $CANARY_SHA ]]; then
    target=$WORK_DIR/restore
    if run_restic restore "$SNAPSHOT_ID" --target "$target" --include "$CANARY_FILE" >&2; then
      restored=$target$CANARY_FILE
      if [[ -f $restored ]]; then
        sha=$(sha256sum <"$restored" | cut -d ' ' -f 1)
        [[ $sha == "$CANARY_SHA" ]] && canary_ok=true
      fi
    fi
  fi
  log "restore test: canary_ok $canary_ok"
  RESTORE_TEST=$(jq -cn --argjson check "$check_rc" --argjson ok "$canary_ok" \
    '{check_exit_code: $check, canary_ok: $ok}')
}

# --- Report ----------------------------------------------------------------------------------

REPORT_FILE=
# write_report [ERROR]: version 2, every part in the configured order.
write_report() {
  local error=${1:-}
  REPORT_FILE=$WORK_DIR/report.json
  [[ -n $PARTS_FILE && -f $PARTS_FILE ]] || { PARTS_FILE=$WORK_DIR/parts.jsonl; : >"$PARTS_FILE"; }
  jq -cn \
    --slurpfile parts "$PARTS_FILE" \
    --argjson exit_code "$BACKUP_RC" \
    --arg snapshot_id "$SNAPSHOT_ID" \
    --argjson summary "${SUMMARY:-null}" \
    --argjson forget "$FORGET_RC" \
    --argjson restore "$RESTORE_TEST" \
    --arg error "$error" \
    '{version: 2,
      parts: $parts,
      restic: {exit_code: $exit_code,
               snapshot_id: (if $snapshot_id == "" then null else $snapshot_id end),
               summary: $summary},
      forget: (if $forget == null then null else {exit_code: $forget} end),
      restore_test: $restore,
      error: (if $error == "" then null else $error end)}' >"$REPORT_FILE"
}

# Delivers the report and exits; powers off first when it cannot be delivered before the deadline.
deliver_report() {
  if post_report; then
    exit 0
  fi
  power_off
  exit 1
}

# --- Main ------------------------------------------------------------------------------------

main() {
  load_env_file "$ENV_FILE"
  RUN_URL=${RUN_URL%/}
  # The token goes to curl through a pipe only: no child process inherits it.
  export -n RUN_TOKEN 2>/dev/null || true

  if [[ -z ${RUN_URL:-} || -z ${RUN_TOKEN:-} ]]; then
    log "RUN_URL or RUN_TOKEN is not set (env file $ENV_FILE); nothing to do"
    power_off
    exit 2
  fi
  if ! is_uint "${DEADLINE:-}"; then
    log "DEADLINE is not set or not unix seconds; assuming ${DEFAULT_RUN_SECONDS}s from now"
    DEADLINE=$(($(now) + DEFAULT_RUN_SECONDS))
  fi
  is_uint "$REPORT_RESERVE" || REPORT_RESERVE=300
  is_uint "$CONFIG_ATTEMPTS" || CONFIG_ATTEMPTS=5

  local tool
  for tool in curl jq; do
    if ! command -v "$tool" >/dev/null; then
      log "$tool is not installed"
      power_off
      exit 2
    fi
  done

  WORK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/edge-ops-backup.XXXXXX") || {
    log "cannot create a work directory"
    power_off
    exit 2
  }
  # The work directory holds the SSH key and mongodump's URI file: gone however the script ends.
  trap 'rm -rf -- "$WORK_DIR"' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM

  log "run $RUN_URL: fetching the configuration ($(seconds_left)s before the deadline)"
  if ! fetch_config; then
    # Said to the Worker, which can then end the run at once instead of at its deadline.
    write_report "config unavailable"
    deliver_report
  fi
  if ! printf '%s' "$CONFIG" | jq -e "$CONFIG_FILTER" >/dev/null 2>&1; then
    log "config: invalid or incomplete (not version 2, or a field of the wrong shape); reporting the failure"
    write_report "invalid config"
    deliver_report
  fi
  load_config
  STAGING=${BACKUP_STAGING_DIR:-$STAGING_DEFAULT}
  [[ $STAGING == /* ]] || STAGING=$PWD/$STAGING
  STAGING=${STAGING%/}
  log "run $RUN_ID: kind $KIND, host $HOST, $TARGET_COUNT target(s), staging $STAGING, $(seconds_left)s before the deadline"

  if ! command -v restic >/dev/null; then
    log "restic is not installed"
    write_report "restic is not installed"
    deliver_report
  fi
  # No repository, nothing can be saved: the targets are not dumped for nothing.
  if ! ensure_repository; then
    BACKUP_RC=$REPOSITORY_RC
    [[ $KIND == restore-test ]] && restore_test
    write_report "no repository"
    deliver_report
  fi
  if ! mkdir -p -- "$STAGING"; then
    log "cannot create the staging directory $STAGING"
    write_report "cannot create the staging directory"
    deliver_report
  fi
  rm -f -- "$STAGING/canary.txt"
  write_ssh_key
  gather
  write_canary
  backup
  forget
  [[ $KIND == restore-test ]] && restore_test
  write_report
  deliver_report
}

main "$@"
