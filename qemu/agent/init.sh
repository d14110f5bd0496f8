#!/bin/sh
# /irqlab/init.sh: run by the initramfs's /init once proc, sys, devtmpfs and debugfs
# are mounted. Starts the guest agent on its port and keeps it running.
# The host writes /irqlab/config (shell variables) into the initramfs for each boot:
#   IRQLAB_AGENT_PORT        a device path (/dev/ttyS1) or virtio:<port name>
#   IRQLAB_CONSOLE_LOGLEVEL  console log level once userspace runs
#   IRQLAB_CONSOLE_SHELL     1: a shell on the console for a person (irqlab boot)

# The kernel starts init without PATH; busybox's applets live in these.
export PATH=/sbin:/usr/sbin:/bin:/usr/bin
IRQLAB_AGENT_PORT=/dev/ttyS1
IRQLAB_CONSOLE_LOGLEVEL=7
[ -r /irqlab/config ] && . /irqlab/config

# Boot runs with `quiet` (console output is slow under TCG); from here on, messages up
# to KERN_INFO reach the console, so the host can wait for a driver's log lines.
[ -n "$IRQLAB_CONSOLE_LOGLEVEL" ] && echo "$IRQLAB_CONSOLE_LOGLEVEL" >/proc/sys/kernel/printk

# virtio:NAME -> /dev/vportNpM, found by the name QEMU gave the port (there is no udev
# to make /dev/virtio-ports/NAME). Probing normally ends before init runs; wait a little
# in case it has not.
virtio_port() {
	tries=50
	while [ $tries -gt 0 ]; do
		for f in /sys/class/virtio-ports/*/name; do
			[ -r "$f" ] && [ "$(cat "$f")" = "$1" ] || continue
			dev=${f%/name}
			echo "/dev/${dev##*/}"
			return 0
		done
		tries=$((tries - 1))
		sleep 0.1
	done
	return 1
}

port=$IRQLAB_AGENT_PORT
case "$port" in
virtio:*)
	port=$(virtio_port "${port#virtio:}") || {
		echo "irqlab: no virtio port named ${IRQLAB_AGENT_PORT#virtio:}; the agent cannot start"
		exit 1
	}
	;;
esac

mkdir -p /tmp
if [ "$IRQLAB_CONSOLE_SHELL" = 1 ]; then
	# A login-less shell on ttyS0 with it as controlling terminal (so ^C works),
	# started again when the person exits it.
	( while :; do PS1='guest# ' setsid cttyhack sh </dev/ttyS0 >/dev/ttyS0 2>&1; done ) &
fi
echo "irqlab: starting the guest agent on $port"
# Restarted if it ever ends: the host sees a new banner and fails the request in flight.
while :; do
	sh /irqlab/agent.sh "$port"
	echo "irqlab: the guest agent exited with status $?; restarting it"
	sleep 1
done
