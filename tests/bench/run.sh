#!/usr/bin/env bash
# run.sh: the benchmark driver behind `make bench` (never part of the test suite).
#
#   tests/bench/run.sh [BUILD_DIR]        (default ./build)
#
# 1. starts BUILD/tlsrptd serve on 127.0.0.1 port 0 with a fresh database in a temp dir and
#    reads the real port from its "event=listening ... port=N" log line;
# 2. POSTs BENCH_REPORTS distinct gzipped reports over BENCH_CONNECTIONS keep-alive
#    connections with BUILD/loadgen, whose BENCH_THREADS event-loop threads share them;
# 3. records the daemon's peak RSS (VmHWM), stops it with SIGTERM and waits for it;
# 4. checks with python3's sqlite3 module that the reports table holds exactly one row per
#    report sent;
# 5. runs BUILD/parsebench over tests/data/reports/*.json[.gz] (when there are any) and over its
#    built-in set.
# 6. runs BUILD/apibench (the read API's queries over its own large database; see apibench.c).
# 7. runs BUILD/dkimbench over the signed fixtures in tests/data/dkim (see dkimbench.c).
# The temp dir (database, daemon log) is removed on exit; set BENCH_KEEP=1 to keep it.
#
# Environment: BENCH_CONNECTIONS (256), BENCH_THREADS (1), BENCH_REPORTS (20000),
# BENCH_PARSE_ITERATIONS (20000), BENCH_API_DAYS (365), BENCH_API_ITERATIONS (30),
# BENCH_DKIM_ITERATIONS (5000),
# BENCH_KEEP (0). Exit status: 0 when every step passed, 1 otherwise.
set -euo pipefail

readonly START_TIMEOUT_S=10
readonly STOP_TIMEOUT_S=45   # the daemon's shutdown_timeout (30 s by default) plus slack

build=${1:-./build}
if [[ ! -d $build ]]; then
	echo "bench: build dir '$build' not found (usage: $0 [BUILD_DIR])" >&2
	exit 1
fi
build=$(cd "$build" && pwd)
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

connections=${BENCH_CONNECTIONS:-256}
threads=${BENCH_THREADS:-1}
reports=${BENCH_REPORTS:-20000}
parse_iterations=${BENCH_PARSE_ITERATIONS:-20000}
for v in connections threads reports parse_iterations; do
	if [[ ! ${!v} =~ ^[1-9][0-9]{0,8}$ ]]; then
		echo "bench: $v must be a positive integer, not '${!v}'" >&2
		exit 1
	fi
done
# tlsrptd sits at the top of the build dir, the benchmarks under tests/bench/.
find_exe() {
	local d
	for d in "$build" "$build/tests/bench"; do
		if [[ -x $d/$1 && -f $d/$1 ]]; then
			printf '%s' "$d/$1"
			return 0
		fi
	done
	echo "bench: $1 not found in $build: build it first" \
		"(cmake --build $build --target tlsrptd loadgen parsebench)" >&2
	return 1
}
tlsrptd=$(find_exe tlsrptd)
loadgen=$(find_exe loadgen)
parsebench=$(find_exe parsebench)
command -v python3 >/dev/null || { echo "bench: python3 is needed to check the database" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tlsrptd-bench.XXXXXX")
tmp=$(cd "$tmp" && pwd)
daemon_pid=

# True while the process is running (a zombie awaiting wait does not count).
alive() {
	kill -0 "$1" 2>/dev/null || return 1
	! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

cleanup() {
	local rc=$?
	if [[ -n $daemon_pid ]] && alive "$daemon_pid"; then
		kill -TERM "$daemon_pid" 2>/dev/null || true
		for _ in $(seq 1 50); do
			alive "$daemon_pid" || break
			sleep 0.1
		done
		alive "$daemon_pid" && kill -KILL "$daemon_pid" 2>/dev/null || true
		wait "$daemon_pid" 2>/dev/null || true
	fi
	if [[ ${BENCH_KEEP:-0} == 1 ]]; then
		echo "bench: kept $tmp"
	else
		rm -rf "$tmp"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

failed=0
fail() {
	echo "bench: FAIL: $*" >&2
	failed=1
}

# Value of key in a one-line key=value summary ("" when absent).
kv() {
	local line=$1 key=$2
	if [[ " $line " =~ \ $key=([^ ]*)\  ]]; then
		printf '%s' "${BASH_REMATCH[1]}"
	fi
}

# ------------------------------------------------------------------ daemon start
echo "== tlsrptd: starting ($tlsrptd, db in $tmp)"
"$tlsrptd" serve --db "$tmp/bench.db" --http 127.0.0.1:0 --smtp off \
	--http-max-connections $((connections * 2 > 512 ? connections * 2 : 512)) \
	>"$tmp/daemon.out" 2>"$tmp/daemon.err" &
daemon_pid=$!

port=
for _ in $(seq 1 $((START_TIMEOUT_S * 10))); do
	line=$(grep -m1 'event=listening' "$tmp/daemon.err" 2>/dev/null || true)
	if [[ $line =~ (^|\ )port=([0-9]+)(\ |$) ]]; then
		port=${BASH_REMATCH[2]}
		break
	fi
	if ! alive "$daemon_pid"; then
		break
	fi
	sleep 0.1
done
if [[ -z $port || $port == 0 ]]; then
	echo "bench: tlsrptd did not report a listening port within ${START_TIMEOUT_S}s; its stderr:" >&2
	tail -n 20 "$tmp/daemon.err" >&2 || true
	exit 1
fi
echo "   listening on 127.0.0.1:$port (pid $daemon_pid)"

# ------------------------------------------------------------------ load
echo "== loadgen: $reports reports over $connections connections, $threads thread(s)"
lg_rc=0
"$loadgen" -c "$connections" -T "$threads" -n "$reports" "127.0.0.1:$port" \
	>"$tmp/loadgen.out" || lg_rc=$?
cat "$tmp/loadgen.out"
lg_line=$(grep -m1 '^loadgen reports=' "$tmp/loadgen.out" || true)
if ((lg_rc != 0)); then
	fail "loadgen exited with status $lg_rc"
fi

# ------------------------------------------------------------------ daemon stop
peak_rss_kb=
if alive "$daemon_pid"; then
	peak_rss_kb=$(awk '/^VmHWM:/ { print $2 }' "/proc/$daemon_pid/status" 2>/dev/null || true)
	kill -TERM "$daemon_pid"
	for _ in $(seq 1 $((STOP_TIMEOUT_S * 10))); do
		alive "$daemon_pid" || break
		sleep 0.1
	done
	if alive "$daemon_pid"; then
		fail "tlsrptd still running ${STOP_TIMEOUT_S}s after SIGTERM: killed"
		kill -KILL "$daemon_pid" 2>/dev/null || true
	fi
else
	fail "tlsrptd died during the load"
fi
daemon_rc=0
wait "$daemon_pid" || daemon_rc=$?
daemon_pid=
if ((daemon_rc != 0)); then
	fail "tlsrptd exited with status $daemon_rc"
fi
n_err=$(grep -c 'level=error' "$tmp/daemon.err" || true)
n_warn=$(grep -c 'level=warn' "$tmp/daemon.err" || true)
echo "== tlsrptd: stopped (status $daemon_rc), peak RSS ${peak_rss_kb:-?} kB," \
	"${n_err:-0} error and ${n_warn:-0} warning log lines"
if [[ ${n_err:-0} != 0 ]]; then
	grep -m5 'level=error' "$tmp/daemon.err" >&2 || true
fi

# ------------------------------------------------------------------ database check
rows=
if [[ -f $tmp/bench.db ]]; then
	rows=$(python3 - "$tmp/bench.db" <<'EOF'
import pathlib, sqlite3, sys
uri = pathlib.Path(sys.argv[1]).resolve().as_uri() + "?mode=ro"
con = sqlite3.connect(uri, uri=True)
try:
    print(con.execute("SELECT count(*) FROM reports").fetchone()[0])
finally:
    con.close()
EOF
	) || rows=
fi
if [[ -z $rows ]]; then
	fail "could not count the rows of the reports table in $tmp/bench.db"
elif [[ $rows != "$reports" ]]; then
	fail "reports table holds $rows rows, expected $reports"
else
	echo "== database: reports table holds $rows rows, as expected"
fi

# ------------------------------------------------------------------ parser
pb_files_line=
shopt -s nullglob
files=("$src"/tests/data/reports/*.json "$src"/tests/data/reports/*.json.gz)
shopt -u nullglob
if ((${#files[@]} > 0)); then
	echo "== parsebench: ${#files[@]} files from tests/data/reports (rejected ones left out)"
	pb_rc=0
	"$parsebench" -q -n "$parse_iterations" "${files[@]}" >"$tmp/parse-files.out" || pb_rc=$?
	cat "$tmp/parse-files.out"
	pb_files_line=$(grep -m1 '^parsebench mode=json' "$tmp/parse-files.out" || true)
	((pb_rc == 0)) || fail "parsebench over tests/data/reports exited with status $pb_rc"
fi
echo "== parsebench: built-in reports"
pb_rc=0
"$parsebench" -n "$parse_iterations" >"$tmp/parse-builtin.out" || pb_rc=$?
cat "$tmp/parse-builtin.out"
pb_line=$(grep -m1 '^parsebench mode=json' "$tmp/parse-builtin.out" || true)
pb_gz_line=$(grep -m1 '^parsebench mode=gzip' "$tmp/parse-builtin.out" || true)
((pb_rc == 0)) || fail "parsebench (built-in set) exited with status $pb_rc"

# ------------------------------------------------------------------ read API
# apibench seeds its own database through the storage layer (one domain, BENCH_API_DAYS days,
# about 1M failure rows at 365) and times the API's queries (p50/p99 in ms).
api_days=${BENCH_API_DAYS:-365}
if apibench=$(find_exe apibench 2>/dev/null); then
	echo "== apibench: $api_days days of reports, then each query ${BENCH_API_ITERATIONS:-30} times"
	"$apibench" -n "$api_days" -i "${BENCH_API_ITERATIONS:-30}" 2>/dev/null | tee "$tmp/apibench.out" ||
		fail "apibench exited with an error"
fi

# dkimbench verifies the signed fixtures of tests/data/dkim (keys from its key file, no DNS).
if dkimbench=$(find_exe dkimbench 2>/dev/null); then
	echo "== dkimbench: DKIM verification of signed report emails (one core)"
	"$dkimbench" -n "${BENCH_DKIM_ITERATIONS:-5000}" "$src/tests/data/dkim/keys.txt" \
		"$src/tests/data/dkim/rsa_relaxed.eml" "$src/tests/data/dkim/rsa_simple.eml" \
		"$src/tests/data/dkim/ed25519.eml" | tee "$tmp/dkimbench.out" ||
		fail "dkimbench exited with an error"
fi

# ------------------------------------------------------------------ summary
echo
echo "== summary"
printf '  ingest      %s reports/s over HTTP (%s connections, %s client thread(s)),' \
	"$(kv "$lg_line" reports_per_s)" "$connections" "$(kv "$lg_line" threads)"
printf ' p50 %s ms, p99 %s ms, max %s ms\n' \
	"$(kv "$lg_line" p50_ms)" "$(kv "$lg_line" p99_ms)" "$(kv "$lg_line" max_ms)"
printf '  answers     %s (transport errors %s)\n' "$(kv "$lg_line" status)" \
	"$(kv "$lg_line" transport_errors)"
printf '  daemon      peak RSS %s kB\n' "${peak_rss_kb:-?}"
printf '  database    %s rows (expected %s)\n' "${rows:-?}" "$reports"
if [[ -n $pb_files_line ]]; then
	printf '  parse       %s reports/s (%s us/report) over tests/data/reports\n' \
		"$(kv "$pb_files_line" reports_per_s)" "$(kv "$pb_files_line" us_per_report)"
fi
printf '  parse       %s reports/s (%s us/report) built-in; with gunzip %s reports/s\n' \
	"$(kv "$pb_line" reports_per_s)" "$(kv "$pb_line" us_per_report)" \
	"$(kv "$pb_gz_line" reports_per_s)"
echo "bench reports_per_s=$(kv "$lg_line" reports_per_s) p50_ms=$(kv "$lg_line" p50_ms)" \
	"p99_ms=$(kv "$lg_line" p99_ms) peak_rss_kb=${peak_rss_kb:-} rows=${rows:-}" \
	"parse_reports_per_s=$(kv "$pb_line" reports_per_s)" \
	"parse_gzip_reports_per_s=$(kv "$pb_gz_line" reports_per_s) ok=$((failed == 0))"
if ((failed != 0)); then
	echo "bench: some steps failed (see above)" >&2
	exit 1
fi
