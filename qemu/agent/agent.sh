#!/bin/sh
# irqlab guest agent (busybox sh). Answers the host's requests on its port: a
# virtio-serial port (/dev/vportNpM) or the second UART (/dev/ttyS1), whose other end
# is a UNIX socket that the host's Node process reads.
#
# Usage: agent.sh PORT    (init.sh runs it, and again if it ever ends)
#
# Protocol 1. One request at a time: the host waits for a reply before it sends more.
#   host -> guest  header line:  "<id> <op> <timeout> <arg1> <arg2> <len>\n"
#                  then exactly <len> bytes of base64 data (the host ends it with a
#                  newline, counted in <len>); <len> 0 sends no data.
#       id       decimal request id, echoed in the reply
#       op       run | read | write | insmod
#       timeout  whole seconds after which the agent kills the operation (0: never)
#       arg1/2   base64 text, "-" when empty
#   guest -> host  ".irqlab-reply <id> <status>\n"
#                  stdout as base64 lines, ".irqlab-stderr\n", stderr as base64 lines,
#                  ".irqlab-end <id>\n"
#   A marker starts with ".", which base64 never contains, so data cannot fake one.
#   When it is listening, the agent prints ".irqlab-ready <protocol> <kernel release>".
#   A malformed header is answered with ".irqlab-error <reason>".
#
# Operations (arg1, arg2, data):
#   run     -, -, the script            sh runs the script; stdin is /dev/null, cwd /
#   read    path, "[offset length]", -  the file's bytes (a range: one read(2) of
#                                       length bytes at offset, as dd does it)
#   write   path, "[offset length]", bytes
#                                       without a range: replace the contents;
#                                       with one: one write(2) at offset, no truncation
#                                       (so a 4-byte write to a PCI config space file
#                                       stays one dword access)
#   insmod  path, params, -             a relative path is taken under /irqlab/modules
#
# Every operation runs in its own process, so nothing it does can stop the agent.

work=${IRQLAB_AGENT_WORK:-/tmp/irqlab-agent}
export work

# The operations, run as `sh agent.sh op <name> <arg1> <arg2>` under `timeout`.
op_run() {
	cd / && exec sh "$work/data" </dev/null
}

op_read() {
	[ -n "$2" ] || exec cat -- "$1"
	set -- "$1" $2
	dd if="$1" bs="$3" count=1 skip="$2" iflag=skip_bytes,fullblock 2>"$work/dd"
	dd_result $?
}

op_write() {
	[ -n "$2" ] || { cat >"$1" <"$work/data"; exit; }
	set -- "$1" $2
	dd of="$1" bs="$3" count=1 seek="$2" oflag=seek_bytes conv=notrunc iflag=fullblock \
		<"$work/data" 2>"$work/dd"
	dd_result $?
}

op_insmod() {
	case "$1" in
	/*) ;;
	*) set -- "/irqlab/modules/$1" "$2" ;;
	esac
	# $2 unquoted on purpose: module parameters are separate words.
	exec insmod "$1" $2
}

# dd reports "N+M records in/out" on stderr even on success: pass on only errors.
dd_result() {
	[ "$1" = 0 ] || grep -v 'records in$\|records out$\|bytes.*copied' "$work/dd" >&2
	exit "$1"
}

if [ "$1" = op ]; then
	shift
	name=$1
	shift
	case "$name" in
	run | read | write | insmod) "op_$name" "$@" ;;
	*) echo "unknown operation $name" >&2; exit 2 ;;
	esac
	exit
fi

# b64text VALUE: decodes a header argument ("-" is empty).
b64text() {
	[ "$1" = - ] || printf '%s\n' "$1" | base64 -d
}

reply() { # id status
	echo ".irqlab-reply $1 $2"
	[ -s "$work/out" ] && base64 "$work/out"
	echo ".irqlab-stderr"
	[ -s "$work/err" ] && base64 "$work/err"
	echo ".irqlab-end $1"
}

port=${1:-/dev/ttyS1}
mkdir -p "$work" || exit 1
# One read-write open: a virtio port refuses a second open (EBUSY).
exec <>"$port" >&0 || exit 1
# A UART is a tty: raw stops echo, line editing, CR/LF and flow-control translation,
# so bytes pass as sent. 115200 baud only shortens QEMU's receive timeout; the
# emulated UART is not paced to it. A virtio port is no tty and needs none of this.
[ ! -t 0 ] || stty 115200 raw -echo -echoe -echok -echoctl -echoke -ixoff || exit 1
echo ".irqlab-ready 1 $(uname -r)"

while :; do
	if ! read -r id op timeout a b len; then
		sleep 1 # the port hung up or failed: do not spin
		continue
	fi
	case "$id" in '' | *[!0-9]*) echo ".irqlab-error bad id '$id'"; continue ;; esac
	case "$len" in '' | *[!0-9]*) echo ".irqlab-error bad length '$len' in request $id"; continue ;; esac
	case "$timeout" in '' | *[!0-9]*) timeout=0 ;; esac
	rm -f "$work/data" "$work/out" "$work/err" "$work/dd"
	: >"$work/data"
	# dd reads exactly len bytes (a read(2) never returns more than asked), so the
	# next request cannot be swallowed here.
	if [ "$len" -gt 0 ]; then
		dd bs="$len" count=1 iflag=fullblock 2>/dev/null | base64 -d >"$work/data" 2>"$work/err"
	fi
	arg1=$(b64text "$a")
	arg2=$(b64text "$b")
	case "$op" in
	run | read | write | insmod) ;;
	*)
		echo "agent: unknown operation '$op'" >"$work/err"
		reply "$id" 2
		continue
		;;
	esac
	set --
	[ "$timeout" -gt 0 ] && set -- timeout -s KILL "$timeout"
	"$@" sh "$0" op "$op" "$arg1" "$arg2" </dev/null >"$work/out" 2>>"$work/err"
	reply "$id" $?
done
