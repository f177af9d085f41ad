#!/usr/bin/env bash
# Local development/test stack for Sievert: PostgreSQL (Debian's packages) and a
# single-node Apache Kafka in KRaft mode (jars from Maven Central), both owned by
# this checkout and listening on 127.0.0.1 only.
#
#   scripts/stack.sh up       start both (installing/initialising on first use) and
#                             wait until they answer; a no-op (~1 s) when already up
#   scripts/stack.sh down     stop both cleanly (data is kept)
#   scripts/stack.sh status   one line per component; exit 0 if both ready, 3 if not
#   scripts/stack.sh env      `export` lines for the services and tests:
#                             eval "$(scripts/stack.sh env)"
#   scripts/stack.sh restart postgres|kafka
#                             stop and start one server (the fault runs' dependency
#                             restarts: never while others use the stack)
#   scripts/stack.sh cluster up|down|status|env|restart N
#                             a separate 3-broker KRaft cluster (replication factor 3,
#                             min.insync.replicas 2) on ports 59192/59292/59392, data in
#                             .stack/cluster: for fault runs that stop a broker
#   scripts/stack.sh solo up|down|status|env|restart
#                             a separate single KRaft broker on port 59492 (controller
#                             59493), data in .stack/solo: for fault runs that restart
#                             the only broker without touching the stack's own Kafka
#   `cluster restart N [S]` and `solo restart [1 S]` keep the node down S seconds more
#   before starting it again, and print when it stopped, when it answered again and
#   when it served consumer groups again (it loads __consumer_offsets first); they
#   return once it does.
#
# Ports: PostgreSQL 127.0.0.1:55432 (plaintext or TLS, the client chooses),
#        Kafka 127.0.0.1:59092 (plaintext), 59094 (SASL_SSL, PLAIN), controller 59093.
# TLS:   a CA and a server certificate for 127.0.0.1 made on first use in .stack/tls
#        (ca.crt is what clients trust); development only, like the passwords.
# Data:  .stack/ in the checkout (git-ignored): .stack/kafka/{libs,data,logs} and
#        .stack/postgres/{data,run,postgres.log}. PostgreSQL refuses to run as root,
#        so when we are root it runs as the `postgres` OS user; if that user cannot
#        traverse the checkout, the PostgreSQL folder is placed in
#        /var/tmp/sievert-stack/<hash of the checkout path>/postgres instead
#        (`status` prints where). Reset: scripts/stack.sh down && rm -rf .stack
#        (and that /var/tmp folder, if used).
#
# Environment knobs: STACK_READY_TIMEOUT (seconds per component, default 90),
# KAFKA_HEAP_OPTS (default "-Xms512m -Xmx1g").
#
# See deploy/README.md for the other ways to point the services at servers.

set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
STACK_DIR="$REPO_ROOT/.stack"
LOCAL_DEPLOY="$REPO_ROOT/deploy/local"
HELPERS="$REPO_ROOT/scripts/stack"

HOST=127.0.0.1
PG_PORT=55432
KAFKA_PORT=59092
KAFKA_CONTROLLER_PORT=59093
KAFKA_SASL_SSL_PORT=59094
KAFKA_SASL_USER=sievert
KAFKA_SASL_PASSWORD=sievert-dev # development only, also in deploy/local/kafka/server.properties
TLS_DIR="$STACK_DIR/tls"
DB_ROLE=sievert
DB_PASSWORD=sievert # development only: never used outside this local stack
SERVICES=(intake classifier deadlines reporting)
READY_TIMEOUT="${STACK_READY_TIMEOUT:-90}"
KAFKA_HEAP="${KAFKA_HEAP_OPTS:--Xms512m -Xmx1g}"

KAFKA_HOME="$STACK_DIR/kafka"
KAFKA_LIBS="$KAFKA_HOME/libs"
KAFKA_DATA="$KAFKA_HOME/data"
KAFKA_LOGS="$KAFKA_HOME/logs"
KAFKA_PIDFILE="$KAFKA_HOME/kafka.pid"
KAFKA_CONFIG="$LOCAL_DEPLOY/kafka/server.properties"
KAFKA_POM="$LOCAL_DEPLOY/kafka/pom.xml"

VENV_PY="$REPO_ROOT/.venv/bin/python"

# Set by pg_locate.
PG_BIN="" PG_WANT="" PG_BASE="" PG_DATA="" PG_SOCK="" PG_LOG=""

# ---------------------------------------------------------------------------
# small helpers

say() { printf '%s\n' "$*"; }
warn() { printf '%s\n' "$*" >&2; }
die() {
	printf 'stack: error: %s\n' "$*" >&2
	exit 1
}

# Microseconds since the epoch (locale-proof: EPOCHREALTIME may use a comma).
now_us() { printf '%s' "${EPOCHREALTIME//[!0-9]/}"; }
# Seconds since $1 (from now_us), one decimal.
since() {
	local us=$(($(now_us) - $1))
	printf '%d.%d' $((us / 1000000)) $((us % 1000000 / 100000))
}

is_root() { ((EUID == 0)); }

# Alive and not a zombie.
pid_alive() {
	local pid=$1 stat
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[[ ${stat%% *} != [ZX] ]]
}

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

sha_of() { sha256sum | cut -c1-"$1"; }

# Sockets on local port $1, from /proc/net/tcp{,6}, one a line: "LISTEN" for a
# listener, "BLOCKING" for a socket that would keep a server from binding the port
# (a live client socket using it as its source port, or a client connected to
# itself, even in TIME_WAIT). The TIME_WAIT/FIN_WAIT leftovers of a stopped
# server's own connections are not listed: they do not prevent a new bind.
port_sockets() {
	local hex
	hex=$(printf '%04X' "$1")
	awk -v hex="$hex" 'FNR > 1 {
		split($2, l, ":"); split($3, r, ":")
		if (l[2] != hex) next
		if ($4 == "0A") print "LISTEN"
		else if ($4 == "01" || $4 == "02" || $4 == "03" || $4 == "08") print "BLOCKING"
		else if (r[2] == hex) print "BLOCKING"
	}' /proc/net/tcp /proc/net/tcp6 2>/dev/null || true
}

# Our ports (55432, 59092, 59093) lie inside Linux's ephemeral range (32768-60999).
# While a server is down, a client retrying 127.0.0.1:<port> can be given that
# same port as its source and connect to itself (TCP simultaneous open); the
# socket then holds the port, and for 60 s more in TIME_WAIT, and the server
# cannot bind. Reserving the ports keeps the kernel from handing them out.
# Root only; skipped quietly where /proc/sys is read-only.
reserve_ports() {
	local f=/proc/sys/net/ipv4/ip_local_reserved_ports cur item lo hi p missing=() ports=("$@")
	((${#ports[@]})) || ports=("$PG_PORT" "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" "$KAFKA_SASL_SSL_PORT")
	[[ -w $f ]] || return 0
	cur=$(<"$f") || return 0
	for p in "${ports[@]}"; do
		local found=""
		IFS=, read -ra items <<<"$cur"
		for item in "${items[@]}"; do
			lo=${item%-*} hi=${item#*-}
			if ((p >= lo && p <= hi)); then found=1 && break; fi
		done
		[[ -n $found ]] || missing+=("$p")
	done
	((${#missing[@]})) || return 0
	local add
	add=$(
		IFS=,
		printf '%s' "${missing[*]}"
	)
	if printf '%s\n' "${cur:+$cur,}$add" 2>/dev/null >"$f"; then
		say "stack: reserved ports $add (net.ipv4.ip_local_reserved_ports) so that no client is given them as its own"
	fi
}

# Wait while non-listening sockets (a self-connected client, TIME_WAIT) hold a
# port we are about to listen on. Fails at once if something else listens there.
wait_port_free() {
	local port=$1 what=$2 states deadline told=""
	deadline=$(($(now_us) + 75000000))
	while states=$(port_sockets "$port") && [[ -n $states ]]; do
		if grep -qx LISTEN <<<"$states"; then
			die "port $HOST:$port is taken by another process (not this checkout's $what)"
		fi
		(($(now_us) < deadline)) || die "port $port still held by stray sockets after 75 s (see: ss -tanp | grep :$port)"
		if [[ -z $told ]]; then
			say "$what: waiting for port $port to be released (a client connected to itself while $what was down; at most 60 s)…"
			told=1
		fi
		sleep 0.5
	done
}

apt_install() {
	is_root || die "$* not installed, and only root can apt-get install it: sudo apt-get install -y $*"
	command -v apt-get >/dev/null || die "$* not installed and there is no apt-get: install it by hand"
	say "stack: installing $* with apt-get (first run on this machine only)…"
	export DEBIAN_FRONTEND=noninteractive
	local log="$STACK_DIR/apt.log"
	if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "$@"; } </dev/null >"$log" 2>&1 9>&-; then
		tail -n 20 "$log" >&2
		die "apt-get install $* failed (full log: $log)"
	fi
}

tail_log() {
	local f
	for f in "$@"; do
		[[ -s $f ]] || continue
		warn "---- last lines of $f"
		tail -n 25 "$f" >&2
	done
}

# ---------------------------------------------------------------------------
# TLS material for the local stack

# A throwaway CA and one server certificate (SAN 127.0.0.1 and localhost), so that
# tests can prove the services' TLS settings against real servers
# (tests/integration/test_transport_security.py). Made once; kept with the data.
# server.p12 is the same key and chain for Kafka (PKCS12, password sievert-dev).
tls_ensure() {
	if [[ -s $TLS_DIR/ca.crt && -s $TLS_DIR/server.crt && -s $TLS_DIR/server.key && -s $TLS_DIR/server.p12 ]]; then
		return
	fi
	command -v openssl >/dev/null || apt_install openssl
	local tmp="$TLS_DIR.partial"
	rm -rf "$tmp"
	mkdir -p "$tmp"
	if ! (
		cd "$tmp" &&
			openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
				-subj "/CN=Sievert local stack CA" -keyout ca.key -out ca.crt \
				-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" &&
			openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
				-subj "/CN=localhost" -keyout server.key -out server.csr &&
			printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' >server.ext &&
			openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
				-extfile server.ext -out server.crt &&
			openssl pkcs12 -export -in server.crt -inkey server.key -certfile ca.crt -name kafka \
				-passout pass:sievert-dev -out server.p12
	) >"$STACK_DIR/tls.log" 2>&1; then
		tail_log "$STACK_DIR/tls.log"
		die "could not make the local stack's TLS certificates"
	fi
	rm -f "$tmp/server.csr" "$tmp/server.ext" "$tmp/ca.srl"
	chmod 600 "$tmp/ca.key" "$tmp/server.key" "$tmp/server.p12"
	rm -rf "$TLS_DIR"
	mv "$tmp" "$TLS_DIR"
	say "stack: made a local CA and server certificate in $TLS_DIR"
}

# ---------------------------------------------------------------------------
# PostgreSQL

# Run a command as the OS user owning the cluster: postgres when we are root
# (postgres refuses to run as root), ourselves otherwise. From / so that the
# postgres user never trips over a working directory it cannot enter.
as_pg() {
	if is_root; then
		(cd / && runuser -u postgres -- "$@")
	else
		(cd / && "$@")
	fi
}

# The server binaries: those of the existing cluster's major version, else the
# newest installed. Only looks; pg_ensure_installed installs.
pg_find_bin() {
	local d
	PG_WANT=""
	[[ -r $PG_DATA/PG_VERSION ]] && PG_WANT=$(<"$PG_DATA/PG_VERSION")
	if [[ -n $PG_WANT ]]; then
		[[ -x /usr/lib/postgresql/$PG_WANT/bin/initdb ]] || return 1
		PG_BIN=/usr/lib/postgresql/$PG_WANT/bin
		return 0
	fi
	d=$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/initdb' 2>/dev/null | sort -V | tail -n 1 || true)
	if [[ -z $d ]] && command -v initdb >/dev/null; then d=$(command -v initdb); fi
	[[ -n $d ]] || return 1
	PG_BIN=$(dirname "$d")
}

# Decide where the cluster lives. Needs the postgres OS user when root.
pg_locate() {
	local base="$STACK_DIR/postgres" hash
	hash=$(printf '%s' "$REPO_ROOT" | sha_of 12)
	if is_root && id postgres >/dev/null 2>&1; then
		mkdir -p "$STACK_DIR"
		if ! runuser -u postgres -- test -x "$STACK_DIR" 2>/dev/null; then
			base="/var/tmp/sievert-stack/$hash/postgres"
		fi
	fi
	PG_BASE=$base
	PG_DATA="$base/data"
	PG_LOG="$base/postgres.log"
	PG_SOCK="$base/run"
	# A unix socket path must fit in 107 bytes.
	if ((${#PG_SOCK} + 20 > 107)); then PG_SOCK="/tmp/sievert-stack-$hash"; fi
	if [[ -z $PG_BIN ]]; then pg_find_bin || true; fi
}

pg_ensure_installed() {
	if [[ -z $PG_BIN ]]; then
		if [[ -n $PG_WANT ]]; then apt_install "postgresql-$PG_WANT"; else apt_install postgresql; fi
		pg_locate # the postgres OS user exists now: it may decide where the cluster goes
	fi
	[[ -n $PG_BIN && -x $PG_BIN/initdb ]] || die "PostgreSQL server binaries not found after installing postgresql"
	if is_root; then id postgres >/dev/null 2>&1 || die "the postgres OS user is missing (it comes with Debian's postgresql package)"; fi
}

# PID of the postmaster running on our data folder, if any.
pg_pid() {
	local pid
	[[ -r $PG_DATA/postmaster.pid ]] || return 1
	pid=$(head -n 1 "$PG_DATA/postmaster.pid" 2>/dev/null) || return 1
	pid_alive "$pid" || return 1
	[[ $(cat "/proc/$pid/comm" 2>/dev/null) == postgres ]] || return 1
	printf '%s' "$pid"
}

# After a crash or a killed session: wait for any old server process still
# exiting in our data folder, then drop lock files whose PID is not a running
# postgres (a PID reused by some other process would make postgres refuse to start).
pg_clear_stale() {
	local deadline=$(($(now_us) + 15000000)) p busy
	while :; do
		busy=""
		for p in /proc/[0-9]*; do
			if [[ $(readlink "$p/cwd" 2>/dev/null) == "$PG_DATA" ]]; then
				busy=${p#/proc/}
				break
			fi
		done
		[[ -z $busy ]] && break
		(($(now_us) < deadline)) || die "postgres: old server process $busy is still running in $PG_DATA; stop it first"
		sleep 0.1
	done
	local f pid
	for f in "$PG_DATA/postmaster.pid" "$PG_SOCK/.s.PGSQL.$PG_PORT.lock"; do
		[[ -e $f ]] || continue
		pid=$(head -n 1 "$f" 2>/dev/null || true)
		if pid_alive "$pid" && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == postgres ]]; then continue; fi
		rm -f "$f"
		if [[ $f == *.lock ]]; then rm -f "${f%.lock}"; fi
	done
}

pg_ready() { "$PG_BIN/pg_isready" -q -h "$HOST" -p "$PG_PORT" -t 2 >/dev/null 2>&1; }

pg_init() {
	mkdir -p "$PG_BASE" "$PG_SOCK"
	if is_root; then chown postgres:postgres "$PG_BASE" "$PG_SOCK"; fi
	chmod 700 "$PG_BASE" "$PG_SOCK"
	if [[ ! -s $PG_DATA/PG_VERSION ]]; then
		say "postgres: initialising cluster in $PG_DATA…"
		if ! as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --encoding=UTF8 --locale=C.UTF-8 \
			--auth-local=trust --auth-host=scram-sha-256 >"$PG_BASE/initdb.log" 2>&1; then
			tail_log "$PG_BASE/initdb.log"
			die "initdb failed"
		fi
		# The local socket (trust) lives in $PG_SOCK, mode 0700: only the cluster's
		# owner (and root) can use it. TCP needs the password (scram-sha-256).
		printf "\n# scripts/stack.sh\ninclude_if_exists = 'sievert.conf'\n" | as_pg tee -a "$PG_DATA/postgresql.conf" >/dev/null
	fi
	# postgres insists that its key belongs to it (or root) with no group/other access.
	mkdir -p "$PG_BASE/tls"
	cp "$TLS_DIR/server.crt" "$TLS_DIR/server.key" "$PG_BASE/tls/"
	chmod 600 "$PG_BASE/tls/server.key"
	if is_root; then chown -R postgres:postgres "$PG_BASE/tls"; fi
	# Re-rendered on every start; read by postgres at start.
	pg_render_conf | as_pg tee "$PG_DATA/sievert.conf" >/dev/null
}

pg_render_conf() {
	cat "$LOCAL_DEPLOY/postgres/postgresql.conf"
	printf "\n# added by scripts/stack.sh\nunix_socket_directories = '%s'\n" "$PG_SOCK"
	printf "ssl = on\nssl_cert_file = '%s'\nssl_key_file = '%s'\n" "$PG_BASE/tls/server.crt" "$PG_BASE/tls/server.key"
}

pg_provision() {
	local dbs=() s
	for s in "${SERVICES[@]}"; do dbs+=("'sievert_$s'"); done
	local list
	list=$(
		IFS=,
		printf '%s' "${dbs[*]}"
	)
	as_pg "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCK" -p "$PG_PORT" -U postgres -d postgres >/dev/null <<SQL
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$DB_ROLE') THEN
    CREATE ROLE $DB_ROLE LOGIN CREATEDB PASSWORD '$DB_PASSWORD';
  ELSIF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$DB_ROLE' AND rolcanlogin AND rolcreatedb) THEN
    ALTER ROLE $DB_ROLE LOGIN CREATEDB;
  END IF;
END
\$\$;
-- DROP DATABASE ... WITH (FORCE) on the tests' throwaway databases ends their sessions.
SET client_min_messages = warning;
GRANT pg_signal_backend TO $DB_ROLE;
SELECT format('CREATE DATABASE %I OWNER $DB_ROLE', d)
  FROM unnest(ARRAY[$list]) AS d
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = d)
\gexec
SQL
}

# Poll until the server answers on TCP. 0 ready, 1 the server is gone. Dies at the deadline.
pg_wait_ready() {
	local deadline=$(($(now_us) + READY_TIMEOUT * 1000000)) grace=$(($(now_us) + 3000000))
	until pg_ready; do
		if (($(now_us) > deadline)); then
			tail_log "$PG_LOG"
			die "postgres: not ready after ${READY_TIMEOUT}s"
		fi
		if (($(now_us) > grace)) && ! pg_pid >/dev/null; then return 1; fi
		sleep 0.1
	done
}

pg_up() {
	local t0 pid
	t0=$(now_us)
	pg_locate
	pg_ensure_installed
	if pid=$(pg_pid) && pg_ready && ! cmp -s <(pg_render_conf) "$PG_DATA/sievert.conf"; then
		say "postgres: its settings changed since it started; restarting…"
		pg_down
	fi
	if pid=$(pg_pid) && pg_ready; then
		pg_provision || die "postgres: could not create the $DB_ROLE role and databases"
		say "postgres: already running (pid $pid) on $HOST:$PG_PORT"
		return
	fi
	tls_ensure
	pg_init
	local attempt logsize
	for attempt in 1 2 3; do
		if ! pg_pid >/dev/null; then
			pg_clear_stale
			wait_port_free "$PG_PORT" postgres # also fails if another server listens there
			say "postgres: starting on $HOST:$PG_PORT…"
			logsize=$(stat -c %s "$PG_LOG" 2>/dev/null || echo 0)
			# 9>&-: the server must not inherit (and so hold forever) the stack lock.
			as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -W -s start >/dev/null 9>&- ||
				{
					tail_log "$PG_LOG"
					die "pg_ctl start failed"
				}
		fi
		if pg_wait_ready; then break; fi
		# The port taken between our check and the bind (see reserve_ports): retry.
		if ((attempt < 3)) && tail -c +"$((${logsize:-0} + 1))" "$PG_LOG" 2>/dev/null | grep -q 'could not bind'; then
			say "postgres: the port was taken at start-up (attempt $attempt); retrying…"
			sleep 1
			continue
		fi
		tail_log "$PG_LOG"
		die "postgres: the server exited during start-up"
	done
	pg_provision || die "postgres: could not create the $DB_ROLE role and databases"
	say "postgres: ready on $HOST:$PG_PORT in $(since "$t0")s"
}

pg_down() {
	pg_locate
	local pid
	if [[ -z $PG_BIN ]] || ! pid=$(pg_pid); then
		say "postgres: not running"
		return
	fi
	say "postgres: stopping (pid $pid)…"
	as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 -s stop >/dev/null ||
		die "postgres: pg_ctl stop failed (log: $PG_LOG)"
	say "postgres: stopped"
}

pg_status() {
	pg_locate
	local pid
	if [[ -z $PG_BIN ]]; then
		say "postgres: not installed (scripts/stack.sh up installs it)"
		return 1
	elif [[ ! -s $PG_DATA/PG_VERSION ]]; then
		say "postgres: stopped, not initialised (port $PG_PORT, data $PG_DATA)"
		return 1
	elif pid=$(pg_pid); then
		if pg_ready; then
			say "postgres: running, ready (pid $pid, $HOST:$PG_PORT, data $PG_DATA)"
			return 0
		fi
		say "postgres: running, NOT ready (pid $pid, $HOST:$PG_PORT, log $PG_LOG)"
		return 1
	fi
	say "postgres: stopped (port $PG_PORT, data $PG_DATA)"
	return 1
}

# ---------------------------------------------------------------------------
# Kafka

kafka_pid() {
	local pid
	[[ -r $KAFKA_PIDFILE ]] || return 1
	pid=$(<"$KAFKA_PIDFILE")
	pid_alive "$pid" || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'kafka\.Kafka' || return 1
	printf '%s' "$pid"
}

# The aiokafka probe (scripts/stack/kafka_ready.py) when .venv/bin/python exists;
# exit 2 means no aiokafka there (nor a .venv): use the JVM probe instead.
kafka_probe_py() {
	[[ -x $VENV_PY ]] || return 2
	"$VENV_PY" "$HELPERS/kafka_ready.py" --bootstrap "$HOST:$KAFKA_PORT" "$@"
}

# One metadata round trip (fast path for `up` and `status`).
kafka_ready_once() {
	local rc=0
	kafka_probe_py --once --timeout 3 || rc=$?
	if ((rc == 2)); then
		port_open "$HOST" "$KAFKA_PORT" && kafka_api_versions
		return
	fi
	return "$rc"
}

kafka_api_versions() {
	timeout 30 java -Xmx128m -XX:TieredStopAtLevel=1 -cp "$KAFKA_LIBS/*" \
		-Dlog4j.configuration="file:$LOCAL_DEPLOY/kafka/tools-log4j.properties" \
		kafka.admin.BrokerApiVersionsCommand --bootstrap-server "$HOST:$KAFKA_PORT" >/dev/null 2>&1
}

kafka_ensure_tools() {
	if ! command -v java >/dev/null || ! command -v mvn >/dev/null; then
		apt_install default-jre-headless maven
	fi
}

kafka_libs() {
	local stamp tmp
	stamp="$(sha_of 64 <"$KAFKA_POM")"
	if [[ -f $KAFKA_LIBS/.complete && $(<"$KAFKA_LIBS/.complete") == "$stamp" ]]; then return; fi
	say "kafka: resolving jars with maven (first run only)…"
	kafka_ensure_tools
	local t0
	t0=$(now_us)
	mkdir -p "$KAFKA_HOME"
	tmp="$KAFKA_HOME/libs.partial"
	rm -rf "$tmp"
	if ! mvn -q -B -Dstyle.color=never -f "$KAFKA_POM" dependency:copy-dependencies \
		-DincludeScope=runtime -DoutputDirectory="$tmp" </dev/null >"$KAFKA_HOME/maven.log" 2>&1; then
		tail_log "$KAFKA_HOME/maven.log"
		die "kafka: maven could not resolve the jars of $KAFKA_POM"
	fi
	printf '%s' "$stamp" >"$tmp/.complete"
	rm -rf "$KAFKA_LIBS"
	mv "$tmp" "$KAFKA_LIBS"
	say "kafka: $(find "$KAFKA_LIBS" -name '*.jar' | wc -l) jars in $KAFKA_LIBS ($(since "$t0")s)"
}

kafka_version() {
	local jar
	jar=$(find "$KAFKA_LIBS" -maxdepth 1 -name 'kafka_2.13-*.jar' 2>/dev/null | head -n 1)
	jar=${jar##*/kafka_2.13-}
	printf '%s' "${jar%.jar}"
}

kafka_format() {
	[[ -f $KAFKA_DATA/meta.properties ]] && return
	local id="" idfile="$KAFKA_HOME/cluster.id"
	[[ -s $idfile ]] && id=$(<"$idfile")
	# A random Kafka Uuid: 16 bytes, base64url without padding (22 chars), not
	# starting with '-' (it would read as an option), as Uuid.randomUuid() does.
	while [[ -z $id || $id == -* ]]; do
		id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
	done
	printf '%s\n' "$id" >"$idfile"
	say "kafka: formatting storage in $KAFKA_DATA (cluster id $id)…"
	mkdir -p "$KAFKA_DATA" "$KAFKA_LOGS"
	if ! (cd "$REPO_ROOT" && java -Xmx256m -cp "$KAFKA_LIBS/*" \
		-Dlog4j.configuration="file:$LOCAL_DEPLOY/kafka/tools-log4j.properties" \
		kafka.tools.StorageTool format --cluster-id "$id" --config "$KAFKA_CONFIG" --ignore-formatted \
		>"$KAFKA_LOGS/format.log" 2>&1); then
		tail_log "$KAFKA_LOGS/format.log"
		die "kafka: formatting the storage failed"
	fi
}

kafka_start() {
	mkdir -p "$KAFKA_LOGS"
	rm -f "$KAFKA_PIDFILE"
	sha_of 64 <"$KAFKA_CONFIG" >"$KAFKA_HOME/config.sha"
	local heap=()
	read -ra heap <<<"$KAFKA_HEAP"
	local jvm=(
		"${heap[@]}"
		-server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
		-XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true
		-Dkafka.logs.dir="$KAFKA_LOGS"
		-Dlog4j.configuration="file:$LOCAL_DEPLOY/kafka/log4j.properties"
		-cp "$KAFKA_LIBS/*"
		kafka.Kafka "$KAFKA_CONFIG"
	)
	say "kafka: starting on $HOST:$KAFKA_PORT (controller $HOST:$KAFKA_CONTROLLER_PORT)…"
	{
		printf '\n==== %s scripts/stack.sh up: java' "$(date -u +%FT%TZ)"
		printf ' %q' "${jvm[@]}"
		printf '\n'
	} >>"$KAFKA_LOGS/kafka.out"
	# In a session of its own (setsid) so that a Ctrl-C in the terminal that ran
	# `make test` does not take the broker down; the inner shell writes its own PID
	# and then becomes java, so the PID file names the JVM.
	# shellcheck disable=SC2016 # $$, $1 and $@ are the inner shell's
	(cd "$REPO_ROOT" && setsid -f bash -c 'echo $$ >"$1"; shift; exec java "$@"' bash \
		"$KAFKA_PIDFILE" "${jvm[@]}" </dev/null >>"$KAFKA_LOGS/kafka.out" 2>&1 9>&-)
	local deadline=$(($(now_us) + 5000000))
	until [[ -s $KAFKA_PIDFILE ]]; do
		(($(now_us) < deadline)) || die "kafka: the JVM did not start (see $KAFKA_LOGS/kafka.out)"
		sleep 0.05
	done
}

kafka_wait_ready() {
	local pid=$1 rc=0
	kafka_probe_py --timeout "$READY_TIMEOUT" --pid "$pid" || rc=$?
	if ((rc == 2)); then
		local deadline=$(($(now_us) + READY_TIMEOUT * 1000000))
		rc=1
		while (($(now_us) < deadline)); do
			if ! pid_alive "$pid"; then
				rc=3
				break
			fi
			if port_open "$HOST" "$KAFKA_PORT" && kafka_api_versions; then
				rc=0
				break
			fi
			sleep 0.2
		done
	fi
	return "$rc"
}

kafka_fail() {
	local rc=$1 pid=$2
	tail_log "$KAFKA_LOGS/kafka.out" "$KAFKA_LOGS/server.log"
	if ((rc == 3)); then die "kafka: the broker exited during start-up"; fi
	die "kafka: not ready on $HOST:$KAFKA_PORT after ${READY_TIMEOUT}s (pid $pid still running; scripts/stack.sh down stops it)"
}

kafka_up() {
	local t0 pid
	t0=$(now_us)
	if pid=$(kafka_pid) && [[ $(sha_of 64 <"$KAFKA_CONFIG") != $(cat "$KAFKA_HOME/config.sha" 2>/dev/null) ]]; then
		say "kafka: $KAFKA_CONFIG changed since the broker started; restarting…"
		kafka_down
	fi
	if pid=$(kafka_pid); then
		if kafka_ready_once; then
			say "kafka: already running (pid $pid) on $HOST:$KAFKA_PORT"
			return
		fi
		say "kafka: running (pid $pid) but not answering yet; waiting…"
		kafka_wait_ready "$pid" || kafka_fail $? "$pid"
		say "kafka: ready on $HOST:$KAFKA_PORT in $(since "$t0")s"
		return
	fi
	local p
	for p in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" "$KAFKA_SASL_SSL_PORT"; do
		if grep -qx LISTEN <<<"$(port_sockets "$p")"; then
			die "port $HOST:$p is taken by another process (not this checkout's Kafka, pid file $KAFKA_PIDFILE)"
		fi
	done
	kafka_libs
	kafka_ensure_tools
	tls_ensure
	kafka_format
	local attempt rc logsize
	for attempt in 1 2 3; do
		for p in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" "$KAFKA_SASL_SSL_PORT"; do wait_port_free "$p" kafka; done
		t0=$(now_us)
		logsize=$(stat -c %s "$KAFKA_LOGS/server.log" 2>/dev/null || echo 0)
		kafka_start
		pid=$(<"$KAFKA_PIDFILE")
		rc=0
		kafka_wait_ready "$pid" || rc=$?
		((rc == 0)) && break
		# A socket that grabbed the port between our check and the bind (see
		# reserve_ports): wait for it to go, then try again.
		if ((rc == 3 && attempt < 3)) &&
			tail -c +"$((logsize + 1))" "$KAFKA_LOGS/server.log" 2>/dev/null | grep -q 'Address already in use'; then
			say "kafka: a port was taken at start-up (attempt $attempt); retrying…"
			sleep 1
			continue
		fi
		kafka_fail "$rc" "$pid"
	done
	say "kafka: ready on $HOST:$KAFKA_PORT in $(since "$t0")s (Kafka $(kafka_version), pid $pid)"
}

kafka_down() {
	local pid
	if ! pid=$(kafka_pid); then
		rm -f "$KAFKA_PIDFILE"
		say "kafka: not running"
		return
	fi
	say "kafka: stopping (pid $pid)…"
	local t0 deadline
	t0=$(now_us)
	deadline=$(($(now_us) + 60000000))
	kill -TERM "$pid" 2>/dev/null || true
	while pid_alive "$pid"; do
		if (($(now_us) > deadline)); then
			warn "kafka: still running 60s after SIGTERM; sending SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
			break
		fi
		sleep 0.1
	done
	rm -f "$KAFKA_PIDFILE"
	say "kafka: stopped in $(since "$t0")s"
}

kafka_status() {
	local pid
	if pid=$(kafka_pid) && [[ $(sha_of 64 <"$KAFKA_CONFIG") != $(cat "$KAFKA_HOME/config.sha" 2>/dev/null) ]]; then
		say "kafka: $KAFKA_CONFIG changed since the broker started; restarting…"
		kafka_down
	fi
	if pid=$(kafka_pid); then
		if kafka_ready_once; then
			say "kafka: running, ready (pid $pid, $HOST:$KAFKA_PORT, data $KAFKA_DATA)"
			return 0
		fi
		say "kafka: running, NOT ready (pid $pid, $HOST:$KAFKA_PORT, log $KAFKA_LOGS/server.log)"
		return 1
	fi
	if [[ -f $KAFKA_DATA/meta.properties ]]; then
		say "kafka: stopped (port $KAFKA_PORT, data $KAFKA_DATA)"
	else
		say "kafka: stopped, not formatted (port $KAFKA_PORT, data $KAFKA_DATA)"
	fi
	return 1
}

# ---------------------------------------------------------------------------
# A 3-broker cluster (KRaft, each node broker and controller), and a single broker
# (`solo`), apart from the single-node stack: ports and data of their own, so a
# fault run can stop a broker while the rest of the stack's users carry on. The
# cluster_* functions serve both: cluster_select picks which.

CLUSTER_NAME=cluster
CLUSTER_DIR="$STACK_DIR/cluster"
CLUSTER_NODES=(1 2 3)
CLUSTER_PORT0=59092 # node n listens on CLUSTER_PORT0 + 100 n, its controller one above
cluster_select() {
	case "$1" in
	cluster) CLUSTER_NAME=cluster CLUSTER_DIR="$STACK_DIR/cluster" CLUSTER_NODES=(1 2 3) CLUSTER_PORT0=59092 ;;
	solo) CLUSTER_NAME=solo CLUSTER_DIR="$STACK_DIR/solo" CLUSTER_NODES=(1) CLUSTER_PORT0=59392 ;;
	esac
}
cluster_port() { printf '%d' $((CLUSTER_PORT0 + 100 * $1)); }                # 59192, 59292, 59392; solo 59492
cluster_controller_port() { printf '%d' $((CLUSTER_PORT0 + 1 + 100 * $1)); } # 59193, 59293, 59393; solo 59493
cluster_replicas() { printf '%d' "${#CLUSTER_NODES[@]}"; }
cluster_min_isr() { if ((${#CLUSTER_NODES[@]} > 1)); then printf 2; else printf 1; fi; }
cluster_bootstrap() {
	local n list=()
	for n in "${CLUSTER_NODES[@]}"; do list+=("$HOST:$(cluster_port "$n")"); done
	(
		IFS=,
		printf '%s' "${list[*]}"
	)
}

cluster_render_conf() {
	local node=$1 n voters=()
	for n in "${CLUSTER_NODES[@]}"; do voters+=("$n@$HOST:$(cluster_controller_port "$n")"); done
	cat <<CONF
# written by scripts/stack.sh $CLUSTER_NAME up
process.roles=broker,controller
node.id=$node
controller.quorum.voters=$(
		IFS=,
		printf '%s' "${voters[*]}"
	)
listeners=PLAINTEXT://$HOST:$(cluster_port "$node"),CONTROLLER://$HOST:$(cluster_controller_port "$node")
advertised.listeners=PLAINTEXT://$HOST:$(cluster_port "$node")
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
log.dirs=$CLUSTER_DIR/node-$node/data
default.replication.factor=$(cluster_replicas)
min.insync.replicas=$(cluster_min_isr)
offsets.topic.replication.factor=$(cluster_replicas)
transaction.state.log.replication.factor=$(cluster_replicas)
transaction.state.log.min.isr=$(cluster_min_isr)
auto.create.topics.enable=true
num.partitions=3
delete.topic.enable=true
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
log.retention.hours=24
log.segment.bytes=67108864
CONF
}

cluster_pid() {
	local pidfile="$CLUSTER_DIR/node-$1/kafka.pid" pid
	[[ -r $pidfile ]] || return 1
	pid=$(<"$pidfile")
	pid_alive "$pid" || return 1
	printf '%s' "$pid"
}

cluster_start_node() {
	local node=$1 dir="$CLUSTER_DIR/node-$1" heap=()
	read -ra heap <<<"${KAFKA_CLUSTER_HEAP_OPTS:--Xms256m -Xmx512m}"
	mkdir -p "$dir/logs"
	rm -f "$dir/kafka.pid"
	wait_port_free "$(cluster_port "$node")" "kafka node $node"
	wait_port_free "$(cluster_controller_port "$node")" "kafka node $node"
	# shellcheck disable=SC2016 # $$, $1 and $@ are the inner shell's
	(cd "$REPO_ROOT" && setsid -f bash -c 'echo $$ >"$1"; shift; exec java "$@"' bash "$dir/kafka.pid" \
		"${heap[@]}" -server -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
		-Dkafka.logs.dir="$dir/logs" -Dlog4j.configuration="file:$LOCAL_DEPLOY/kafka/log4j.properties" \
		-cp "$KAFKA_LIBS/*" kafka.Kafka "$dir/server.properties" </dev/null >>"$dir/logs/kafka.out" 2>&1 9>&-)
	local deadline=$(($(now_us) + 5000000))
	until [[ -s $dir/kafka.pid ]]; do
		(($(now_us) < deadline)) || die "kafka node $node: the JVM did not start (see $dir/logs/kafka.out)"
		sleep 0.05
	done
}

# Ready: answers metadata; with --groups also serves consumer groups (it has loaded
# __consumer_offsets, seconds later: see scripts/stack/kafka_ready.py).
cluster_wait_ready() {
	local node=$1 rc=0
	shift
	"$VENV_PY" "$HELPERS/kafka_ready.py" --bootstrap "$HOST:$(cluster_port "$node")" \
		--timeout "$READY_TIMEOUT" --pid "$(<"$CLUSTER_DIR/node-$node/kafka.pid")" "$@" || rc=$?
	((rc == 0)) || {
		tail_log "$CLUSTER_DIR/node-$node/logs/server.log"
		die "kafka node $node: not ready (probe exit $rc)"
	}
}

# Start a node and wait until it answers, starting it again (three tries) if a port
# was taken between the check and the JVM's bind: while a broker is down, a client
# retrying it can be given its port as its own source port and connect to itself (a
# solo restart under load lost its port so, and stayed down).
cluster_start_and_wait() {
	local node=$1 attempt rc logsize log="$CLUSTER_DIR/node-$1/logs/server.log"
	if is_root; then reserve_ports "$(cluster_port "$node")" "$(cluster_controller_port "$node")"; fi
	for attempt in 1 2 3; do
		logsize=$(stat -c %s "$log" 2>/dev/null || echo 0)
		cluster_start_node "$node"
		rc=0
		"$VENV_PY" "$HELPERS/kafka_ready.py" --bootstrap "$HOST:$(cluster_port "$node")" \
			--timeout "$READY_TIMEOUT" --pid "$(<"$CLUSTER_DIR/node-$node/kafka.pid")" || rc=$?
		((rc == 0)) && return 0
		if ((attempt < 3)) && tail -c +"$((logsize + 1))" "$log" 2>/dev/null | grep -q 'Address already in use'; then
			say "kafka node $node: a port was taken at start-up (attempt $attempt); retrying…"
			cluster_stop_node "$node"
			sleep 1
			continue
		fi
		break
	done
	tail_log "$log"
	die "kafka node $node: not ready (probe exit $rc)"
}

cluster_stop_node() {
	local node=$1 pid deadline
	pid=$(cluster_pid "$node") || return 0
	kill -TERM "$pid" 2>/dev/null || true
	deadline=$(($(now_us) + 60000000))
	while pid_alive "$pid"; do
		if (($(now_us) > deadline)); then kill -KILL "$pid" 2>/dev/null || true; fi
		sleep 0.1
	done
	rm -f "$CLUSTER_DIR/node-$node/kafka.pid"
}

cluster_up() {
	local t0 node id idfile="$CLUSTER_DIR/cluster.id"
	t0=$(now_us)
	kafka_libs
	kafka_ensure_tools
	mkdir -p "$CLUSTER_DIR"
	[[ -s $idfile ]] && id=$(<"$idfile") || id=""
	while [[ -z $id || $id == -* ]]; do
		id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
	done
	printf '%s\n' "$id" >"$idfile"
	for node in "${CLUSTER_NODES[@]}"; do
		mkdir -p "$CLUSTER_DIR/node-$node/data" "$CLUSTER_DIR/node-$node/logs"
		cluster_render_conf "$node" >"$CLUSTER_DIR/node-$node/server.properties"
		if [[ ! -f $CLUSTER_DIR/node-$node/data/meta.properties ]]; then
			java -Xmx256m -cp "$KAFKA_LIBS/*" -Dlog4j.configuration="file:$LOCAL_DEPLOY/kafka/tools-log4j.properties" \
				kafka.tools.StorageTool format --cluster-id "$id" --config "$CLUSTER_DIR/node-$node/server.properties" \
				--ignore-formatted >"$CLUSTER_DIR/node-$node/logs/format.log" 2>&1 ||
				die "kafka node $node: formatting failed (see $CLUSTER_DIR/node-$node/logs/format.log)"
		fi
	done
	if is_root; then
		for node in "${CLUSTER_NODES[@]}"; do reserve_ports "$(cluster_port "$node")" "$(cluster_controller_port "$node")"; done
	fi
	for node in "${CLUSTER_NODES[@]}"; do
		cluster_pid "$node" >/dev/null || cluster_start_node "$node"
	done
	for node in "${CLUSTER_NODES[@]}"; do cluster_wait_ready "$node"; done
	say "$CLUSTER_NAME: ${#CLUSTER_NODES[@]} broker(s) ready on $(cluster_bootstrap) in $(since "$t0")s"
}

cluster_cmd() {
	local node
	case "${1:-}" in
	up) cluster_up ;;
	down) for node in "${CLUSTER_NODES[@]}"; do cluster_stop_node "$node"; done && say "$CLUSTER_NAME: stopped" ;;
	status)
		local rc=0
		for node in "${CLUSTER_NODES[@]}"; do
			if cluster_pid "$node" >/dev/null; then say "kafka node $node: running ($HOST:$(cluster_port "$node"))"; else
				say "kafka node $node: stopped" && rc=3
			fi
		done
		return "$rc"
		;;
	env)
		printf 'export KAFKA_BOOTSTRAP_SERVERS=%s\n' "$(cluster_bootstrap)"
		printf 'export KAFKA_TOPIC_REPLICATION_FACTOR=%s\n' "$(cluster_replicas)"
		;;
	restart)
		node=${2:-}
		[[ -z $node && ${#CLUSTER_NODES[@]} == 1 ]] && node=1
		[[ " ${CLUSTER_NODES[*]} " == *" $node "* ]] || die "$CLUSTER_NAME restart takes a node number: ${CLUSTER_NODES[*]}"
		# Timed in steps, so a fault run can tell the broker's own down time from the
		# clients' recovery after it (UTC instants to the millisecond).
		local t0
		t0=$(now_us)
		say "kafka node $node: stopping at $(date -u +%T.%3N)"
		cluster_stop_node "$node"
		say "kafka node $node: stopped at $(date -u +%T.%3N) ($(since "$t0")s)"
		# Kept down a while longer if asked: a broker with many partitions to load, or
		# a node being replaced, is down for longer than this one's few seconds.
		[[ ${3:-0} =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "$CLUSTER_NAME restart: seconds down must be a number"
		sleep "${3:-0}"
		cluster_start_and_wait "$node"
		say "kafka node $node: answering at $(date -u +%T.%3N) ($(since "$t0")s after the stop began)"
		cluster_wait_ready "$node" --groups
		say "kafka node $node: serving consumer groups at $(date -u +%T.%3N) ($(since "$t0")s after the stop began)"
		;;
	*) die "$CLUSTER_NAME: up, down, status, env or restart N" ;;
	esac
}

# ---------------------------------------------------------------------------
# commands

cmd_restart() {
	lock_stack
	case "${1:-}" in
	postgres) pg_down && pg_up ;;
	kafka) kafka_down && kafka_up ;;
	*) die "restart postgres or restart kafka" ;;
	esac
}

lock_stack() {
	mkdir -p "$STACK_DIR"
	exec 9>"$STACK_DIR/.lock"
	flock -w 300 9 || die "another scripts/stack.sh is still running (lock $STACK_DIR/.lock)"
}

cmd_up() {
	local t0
	t0=$(now_us)
	lock_stack
	if is_root; then reserve_ports; fi
	pg_up
	kafka_up
	say "stack: up in $(since "$t0")s — use it with: eval \"\$(scripts/stack.sh env)\""
}

cmd_down() {
	lock_stack
	kafka_down
	pg_down
}

cmd_status() {
	local rc=0
	pg_status || rc=3
	kafka_status || rc=3
	return "$rc"
}

cmd_env() {
	local s upper
	printf 'export KAFKA_BOOTSTRAP_SERVERS=%s\n' "$HOST:$KAFKA_PORT"
	# A development stack's events are throwaway (tests, demos, benches that leave their topics):
	# its topics keep them for the broker's 24 h here, where a site's keep them for ever.
	printf 'export KAFKA_TOPIC_RETENTION_MS=%s\n' 86400000
	# Not read by the services: where tests find the stack's TLS endpoints (plaintext stays the default).
	printf 'export SIEVERT_STACK_TLS_CA=%s\n' "$TLS_DIR/ca.crt"
	printf 'export SIEVERT_STACK_KAFKA_SASL_SSL=%s\n' "$HOST:$KAFKA_SASL_SSL_PORT"
	printf 'export SIEVERT_STACK_KAFKA_SASL_USER=%s\n' "$KAFKA_SASL_USER"
	printf 'export SIEVERT_STACK_KAFKA_SASL_PASSWORD=%s\n' "$KAFKA_SASL_PASSWORD"
	for s in "${SERVICES[@]}"; do
		upper=${s^^}
		printf 'export %s_DATABASE_URL=postgresql://%s:%s@%s:%s/sievert_%s\n' \
			"$upper" "$DB_ROLE" "$DB_PASSWORD" "$HOST" "$PG_PORT" "$s"
	done
}

usage() {
	sed -n '2,/^$/{s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
}

main() {
	case "${1:-}" in
	up) cmd_up ;;
	down) cmd_down ;;
	status) cmd_status ;;
	env) cmd_env ;;
	restart) cmd_restart "${2:-}" ;;
	cluster | solo) cluster_select "$1" && cluster_cmd "${2:-}" "${3:-}" "${4:-}" ;;
	-h | --help | help) usage ;;
	*)
		usage >&2
		exit 2
		;;
	esac
}

# Run unless sourced (sourcing gives the functions, e.g. for testing).
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then main "$@"; fi
