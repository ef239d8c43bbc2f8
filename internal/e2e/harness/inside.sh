#!/bin/bash
# inside.sh RUNDIR -- the first process of a harness instance: PID 1 of fresh
# pid/mount/uts/ipc/net/cgroup namespaces (started by unshare from harness.go).
# It builds a throw-away root (an overlay of the host's / whose writes land in a
# tmpfs), pivots into it and execs the host's systemd as PID 1.
# Env: NUCLEUS_E2E_HIERARCHIES = "CTL:DIR ..." cgroup hierarchies to hand over
# (":unified" is cgroup2; "memory:memory", "name=systemd:systemd" are v1);
# NUCLEUS_E2E_MODE = unified|hybrid; NUCLEUS_E2E_KMSG = 1 to pass /dev/kmsg in.
set -euo pipefail
RUN=$1
R=$RUN/fs/root
mount --make-rprivate /
mkdir "$RUN/fs"
mount -t tmpfs -o mode=700 nucleus-e2e "$RUN/fs"
mkdir "$RUN/fs/upper" "$RUN/fs/work" "$R"
mount -t overlay overlay -o "lowerdir=/,upperdir=$RUN/fs/upper,workdir=$RUN/fs/work" "$R"

mount -t proc -o nosuid,nodev,noexec proc "$R/proc"
# Kernel-global sysctls stay read-only; net is per namespace and stays writable.
mount --bind "$R/proc/sys" "$R/proc/sys"
mount --bind "$R/proc/sys/net" "$R/proc/sys/net"
mount -o remount,bind,ro "$R/proc/sys"
if [ -e "$R/proc/sysrq-trigger" ]; then mount --bind -o ro "$R/proc/sysrq-trigger" "$R/proc/sysrq-trigger"; fi
# Read-only /sys: no udev, no device or firmware knobs.
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$R/sys"

# cgroupfs, rooted at the instance's private cgroups (the cgroup namespace's root).
C=$R/sys/fs/cgroup O=nosuid,nodev,noexec
if [ "$NUCLEUS_E2E_MODE" = hybrid ]; then
	mount -t tmpfs -o "mode=755,$O" cgroup "$C"
	for h in $NUCLEUS_E2E_HIERARCHIES; do
		ctl=${h%%:*} dir=${h#*:}
		mkdir "$C/$dir"
		if [ -z "$ctl" ]; then
			mount -t cgroup2 -o "$O" cgroup2 "$C/$dir"
		else
			mount -t cgroup -o "$O,${ctl/#name=/none,name=}" cgroup "$C/$dir"
		fi
	done
else
	mount -t cgroup2 -o "$O" cgroup2 "$C"
fi

# A minimal /dev, like systemd-nspawn's.
mount -t tmpfs -o mode=755,nosuid dev "$R/dev"
devs="null zero full random urandom tty"
if [ "${NUCLEUS_E2E_KMSG:-}" = 1 ]; then devs="$devs kmsg"; fi
for n in $devs; do touch "$R/dev/$n"; mount --bind "/dev/$n" "$R/dev/$n"; done
mkdir "$R/dev/pts" "$R/dev/shm" "$R/dev/mqueue"
mount -t devpts -o newinstance,ptmxmode=0666,mode=620,gid=5 devpts "$R/dev/pts"
mount -t tmpfs -o mode=1777,nosuid,nodev shm "$R/dev/shm"
mount -t mqueue mqueue "$R/dev/mqueue"
ln -s pts/ptmx "$R/dev/ptmx"
ln -s /proc/self/fd "$R/dev/fd"
ln -s /proc/self/fd/0 "$R/dev/stdin"
ln -s /proc/self/fd/1 "$R/dev/stdout"
ln -s /proc/self/fd/2 "$R/dev/stderr"
# systemd's console output (and anything else writing /dev/console) goes to a
# host file, so a failed boot can be explained.
touch "$R/dev/console"
mount --bind "$RUN/console.log" "$R/dev/console"

mount -t tmpfs -o mode=755,nosuid,nodev run "$R/run"
mount -t tmpfs -o mode=1777,nosuid,nodev tmp "$R/tmp"

# Boot a small target instead of default.target, which would pull in whatever
# the host has enabled (getty, databases, podman, ...).
mkdir -p "$R/run/systemd/system"
printf '[Unit]\nDescription=nucleus e2e boot target\nRequires=basic.target\nAfter=basic.target\nAllowIsolate=yes\n' \
	>"$R/run/systemd/system/nucleus-e2e.target"

cd "$R"
mkdir .oldroot
pivot_root . .oldroot
umount -l /.oldroot
rmdir /.oldroot
# systemd makes / shared itself only outside containers; real container
# managers (nspawn) hand it a shared root. Services rely on it: e.g. the
# credentials of LoadCredential= are mounted in a helper's namespace and
# reach PID 1's only by propagation. These peer groups are new and ours
# alone: everything was made private from the host first.
mount --make-rshared /
# Drop what could reach the host kernel: modules, the clock, raw I/O, the
# kernel log buffer (reading, unless passed in), accounting, wake alarms, MAC policy.
# With /dev/kmsg passed in, journald keeps CAP_SYSLOG to read it back
# (kernel.dmesg_restrict); that is the point of passing it in.
drop=-sys_module,-sys_time,-sys_rawio,-syslog,-sys_pacct,-wake_alarm,-mac_admin,-mac_override
if [ "${NUCLEUS_E2E_KMSG:-}" = 1 ]; then drop=${drop/,-syslog/}; fi
exec setpriv --bounding-set "$drop" \
	env -i container=nucleus-e2e /usr/lib/systemd/systemd --unit=nucleus-e2e.target </dev/null >/dev/console 2>&1
