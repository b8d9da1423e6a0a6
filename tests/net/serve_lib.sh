# shellcheck shell=bash
# Helpers for the controller's tests (source after lib.sh). The controller
# runs in the rx namespace on the test's own state, in the background: the
# cleanup trap of lib.sh kills it with every other job.

# serve_start LOG ARGS...: start `burstctl serve ARGS`, wait until it applied its policy
serve_start() {
	local log=$1
	shift
	nsenter --net="/run/netns/$RX" "$BURSTCTL" -d "$PIN" serve "$@" 2>"$log" &
	SERVE_PID=$!
	wait_log "$log" "ready: tuner every" 15 || {
		echo "controller did not start: $(cat "$log")"
		return 1
	}
}

# wait_log FILE REGEX [SECONDS]: wait until FILE has a line matching REGEX
wait_log() {
	local file=$1 re=$2 secs=${3:-10} i
	for i in $(seq $((secs * 20))); do
		grep -qE -- "$re" "$file" 2>/dev/null && return 0
		[ -n "${SERVE_PID:-}" ] && ! kill -0 "$SERVE_PID" 2>/dev/null && [ "$i" -gt 1 ] &&
			! grep -qE -- "$re" "$file" && return 1
		sleep 0.05
	done
	return 1
}

# count_log FILE REGEX: lines matching
count_log() { grep -cE -- "$2" "$1" 2>/dev/null; }

serve_stop() {
	[ -n "${SERVE_PID:-}" ] || return 0
	kill "$SERVE_PID" 2>/dev/null
	wait "$SERVE_PID" 2>/dev/null
	SERVE_PID=
}

# write_policy FILE: the policy from stdin, replaced atomically (as editors do)
write_policy() {
	cat >"$1.tmp" && mv "$1.tmp" "$1"
}
