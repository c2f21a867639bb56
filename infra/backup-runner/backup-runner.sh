#!/usr/bin/env bash
# edge-ops backup runner: runs once on the short-lived Hetzner backup server (cloud-init starts it).
# It fetches this run's configuration from the Worker, gathers MongoDB and SeaweedFS into a staging
# directory, backs the staging directory and the configured paths up with restic, applies retention,
# optionally runs a restore test, and reports restic's summary back to the Worker. See README.md.
#
# Secrets (the run token, the repository password, the storage keys) live in shell variables only:
# never on a command line, never in a file, never in a log line. The password and the storage keys
# are exported to restic alone, in a subshell that then execs restic. Do not add `set -x`.
set -uo pipefail
umask 077

ENV_FILE=${BACKUP_ENV_FILE:-/etc/edge-ops-backup.env}
STAGING_DEFAULT=/var/backups/edge-ops/staging
# Seconds kept free before DEADLINE for reporting: no gather/restic step may run into them.
REPORT_RESERVE=${REPORT_RESERVE_SECONDS:-300}
CONFIG_ATTEMPTS=${CONFIG_ATTEMPTS:-5}
DEFAULT_RUN_SECONDS=$((4 * 3600))

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

# run_bounded NAME COMMAND...: runs COMMAND under timeout(1); 124 without running it when no time
# is left. NAME is what gets logged (a command's arguments may hold credentials).
run_bounded() {
  local name=$1 budget
  shift
  budget=$(step_budget)
  if ((budget <= 0)); then
    log "$name: skipped, no time left before the deadline"
    return 124
  fi
  timeout --signal=INT --kill-after=30 "$budget" "$@"
}

# run_restic ARGS...: restic with the repository, password and storage keys in its environment only.
run_restic() {
  local budget
  budget=$(step_budget)
  if ((budget <= 0)); then
    log "restic $1: skipped, no time left before the deadline"
    return 124
  fi
  (
    unset RESTIC_PASSWORD_FILE RESTIC_PASSWORD_COMMAND RESTIC_REPOSITORY_FILE
    for i in "${!RESTIC_ENV_NAMES[@]}"; do
      export "${RESTIC_ENV_NAMES[i]}=${RESTIC_ENV_VALUES[i]}"
    done
    export RESTIC_REPOSITORY="$REPOSITORY"
    export RESTIC_PASSWORD="$RESTIC_PW"
    exec timeout --signal=INT --kill-after=30 "$budget" restic "$@"
  )
}

config_get() {
  printf '%s' "$CONFIG" | jq -r "$1"
}

# --- Steps -----------------------------------------------------------------------------------

CONFIG_FILTER='
  def nonempty: type == "string" and length > 0;
  def count: . == null or (type == "number" and . >= 0 and . == floor);
  (.runId | type == "string" and test("^[A-Za-z0-9._-]{1,128}$"))
  and (.kind == "backup" or .kind == "restore-test")
  and (.host | nonempty)
  and (.repository | nonempty)
  and (.password | nonempty)
  and ((.env // {}) | type == "object" and all(.[]; type == "string"))
  and (.targets | type == "object")
  and ((.targets.paths // []) | type == "array"
       and all(.[]; type == "string" and startswith("/") and (test("\n") | not)))
  and (.targets.mongodb == null or (.targets.mongodb.uri | nonempty))
  and (.targets.seaweedfs == null
       or ((.targets.seaweedfs.endpoint | nonempty) and (.targets.seaweedfs.bucket | nonempty)))
  and (.retention == null
       or (.retention | type == "object" and (.daily | count) and (.weekly | count) and (.monthly | count)))
  and (.deadline | count)
'

# Variables the config may hand to restic: its storage backends' credentials and options.
ENV_NAME_PATTERN='^(AWS|RESTIC|B2|AZURE|GOOGLE|OS|ST|RCLONE)_[A-Z0-9_]+$'

RESTIC_ENV_NAMES=()
RESTIC_ENV_VALUES=()
load_config() {
  local name value config_deadline
  RUN_ID=$(config_get .runId)
  KIND=$(config_get .kind)
  HOST=$(config_get .host)
  REPOSITORY=$(config_get .repository)
  RESTIC_PW=$(config_get .password)
  while IFS= read -r name; do
    [[ -n $name ]] || continue
    if [[ ! $name =~ $ENV_NAME_PATTERN || $name == RESTIC_PASSWORD* || $name == RESTIC_REPOSITORY* ]]; then
      log "config: ignoring env variable $name"
      continue
    fi
    value=$(printf '%s' "$CONFIG" | jq -r --arg name "$name" '.env[$name]')
    RESTIC_ENV_NAMES+=("$name")
    RESTIC_ENV_VALUES+=("$value")
  done < <(config_get '(.env // {}) | keys[]')
  mapfile -t PATHS < <(config_get '(.targets.paths // [])[]')
  MONGODB_URI=$(config_get '.targets.mongodb.uri // empty')
  SEAWEED_ENDPOINT=$(config_get '.targets.seaweedfs.endpoint // empty')
  SEAWEED_BUCKET=$(config_get '.targets.seaweedfs.bucket // empty')
  KEEP_DAILY=$(config_get '.retention.daily // 0')
  KEEP_WEEKLY=$(config_get '.retention.weekly // 0')
  KEEP_MONTHLY=$(config_get '.retention.monthly // 0')
  config_deadline=$(config_get '.deadline // empty')
  if is_uint "$config_deadline" && ((config_deadline < DEADLINE)); then
    DEADLINE=$config_deadline
  fi
}

GATHER_ERRORS=()
gather() {
  local rc missing=0
  if ! mkdir -p "$STAGING"; then
    log "gather: cannot create the staging directory $STAGING"
    GATHER_ERRORS+=(staging)
    return
  fi
  # Only what this script writes is removed: BACKUP_STAGING_DIR may point anywhere.
  rm -rf -- "$STAGING/mongodb.archive" "$STAGING/seaweedfs" "$STAGING/canary.txt"

  if [[ -n $MONGODB_URI ]]; then
    log "gather: mongodb (mongodump)"
    run_bounded mongodump mongodump --uri "$MONGODB_URI" --archive="$STAGING/mongodb.archive" --gzip >&2
    rc=$?
    if ((rc != 0)); then
      log "gather: mongodb failed (exit $rc)"
      GATHER_ERRORS+=(mongodb)
      # A truncated archive must not pass for a dump.
      rm -f -- "$STAGING/mongodb.archive"
    fi
  fi

  if [[ -n $SEAWEED_ENDPOINT ]]; then
    log "gather: seaweedfs bucket $SEAWEED_BUCKET (aws s3 sync)"
    (
      # The S3 gateway's own keys when the config has them (never restic's); unsigned otherwise.
      unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN
      sign=(--no-sign-request)
      access_key=$(config_get '.targets.seaweedfs.accessKeyId // empty')
      if [[ -n $access_key ]]; then
        export AWS_ACCESS_KEY_ID="$access_key"
        AWS_SECRET_ACCESS_KEY=$(config_get '.targets.seaweedfs.secretAccessKey // empty')
        export AWS_SECRET_ACCESS_KEY
        sign=()
      fi
      export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}" AWS_EC2_METADATA_DISABLED=true
      run_bounded "aws s3 sync" aws s3 sync "s3://$SEAWEED_BUCKET" "$STAGING/seaweedfs" \
        --endpoint-url "$SEAWEED_ENDPOINT" --only-show-errors "${sign[@]}"
    ) >&2
    rc=$?
    if ((rc != 0)); then
      log "gather: seaweedfs failed (exit $rc)"
      GATHER_ERRORS+=(seaweedfs)
    fi
  fi

  CANARY_FILE=$STAGING/canary.txt
  CANARY_SHA=
  if printf 'edge-ops backup canary\nrun: %s\nvalue: %s\n' "$RUN_ID" \
    "$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')" >"$CANARY_FILE"; then
    CANARY_SHA=$(sha256sum <"$CANARY_FILE" | cut -d ' ' -f 1)
  else
    log "gather: cannot write the canary file"
    GATHER_ERRORS+=(canary)
  fi

  local path
  for path in "${PATHS[@]}"; do
    if [[ ! -e $path ]]; then
      log "gather: configured path $path does not exist"
      GATHER_ERRORS+=("path:$path")
      missing=$((missing + 1))
    fi
  done
  ((missing == 0)) || log "gather: $missing configured path(s) missing"
}

ensure_repository() {
  local errors
  if errors=$(run_restic cat config 2>&1 >/dev/null); then
    return 0
  fi
  log "repository: restic cat config failed; running restic init"
  if ! run_restic init >&2; then
    log "repository: restic init failed; restic cat config said: ${errors//$'\n'/ }"
  fi
}

BACKUP_RC=1
SUMMARY=
SNAPSHOT_ID=
backup() {
  local output=$WORK_DIR/backup.jsonl
  log "backup: restic backup --host $HOST ($((${#PATHS[@]} + 1)) sources)"
  run_restic backup --json --host "$HOST" "$STAGING" "${PATHS[@]}" >"$output"
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
  ((KEEP_DAILY > 0)) && keep+=(--keep-daily "$KEEP_DAILY")
  ((KEEP_WEEKLY > 0)) && keep+=(--keep-weekly "$KEEP_WEEKLY")
  ((KEEP_MONTHLY > 0)) && keep+=(--keep-monthly "$KEEP_MONTHLY")
  if ((${#keep[@]} == 0)); then
    log "forget: skipped, no retention policy"
    return
  fi
  log "forget: ${keep[*]} --prune"
  # Grouped by host only: a change of the configured paths must not leave old snapshots forever.
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

REPORT_FILE=
write_report() {
  local error=${1:-} partial=false
  if ((BACKUP_RC == 3 || ${#GATHER_ERRORS[@]} > 0)); then
    partial=true
  fi
  REPORT_FILE=$WORK_DIR/report.json
  jq -cn \
    --argjson summary "${SUMMARY:-null}" \
    --argjson exit_code "$BACKUP_RC" \
    --argjson partial "$partial" \
    --argjson forget "$FORGET_RC" \
    --argjson restore "$RESTORE_TEST" \
    --arg error "$error" \
    '($summary // {message_type: "summary", snapshot_id: null})
     + {exit_code: $exit_code, partial: $partial, gather_errors: $ARGS.positional,
        forget_exit_code: $forget}
     + (if $restore == null then {} else {restore_test: $restore} end)
     + (if $error == "" then {} else {error: $error} end)' \
    --args "${GATHER_ERRORS[@]}" >"$REPORT_FILE"
}

# Delivers the report; powers off and fails when it cannot.
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
  trap 'rm -rf -- "$WORK_DIR"' EXIT

  log "run $RUN_URL: fetching the configuration ($(seconds_left)s before the deadline)"
  if ! fetch_config; then
    power_off
    exit 1
  fi

  if ! printf '%s' "$CONFIG" | jq -e "$CONFIG_FILTER" >/dev/null 2>&1; then
    log "config: invalid or incomplete; reporting the failure"
    write_report "invalid config"
    deliver_report
  fi
  load_config
  STAGING=${BACKUP_STAGING_DIR:-$STAGING_DEFAULT}
  [[ $STAGING == /* ]] || STAGING=$PWD/$STAGING
  STAGING=${STAGING%/}
  log "run $RUN_ID: kind $KIND, host $HOST, staging $STAGING, $(seconds_left)s before the deadline"

  gather
  ensure_repository
  backup
  forget
  if [[ $KIND == restore-test ]]; then
    restore_test
  fi
  write_report
  deliver_report
}

main "$@"
