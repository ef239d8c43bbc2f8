package sandbox

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// capNames are the canonical capability names the spec uses, indexed by
// their numbers (linux/capability.h). The table is explicit rather than
// taken from x/sys so that the set the sandbox knows is reviewable in one
// place; an array, not a map, so that no process (init included) builds
// it at start.
var capNames = [...]string{
	"CAP_CHOWN",              // 0
	"CAP_DAC_OVERRIDE",       // 1
	"CAP_DAC_READ_SEARCH",    // 2
	"CAP_FOWNER",             // 3
	"CAP_FSETID",             // 4
	"CAP_KILL",               // 5
	"CAP_SETGID",             // 6
	"CAP_SETUID",             // 7
	"CAP_SETPCAP",            // 8
	"CAP_LINUX_IMMUTABLE",    // 9
	"CAP_NET_BIND_SERVICE",   // 10
	"CAP_NET_BROADCAST",      // 11
	"CAP_NET_ADMIN",          // 12
	"CAP_NET_RAW",            // 13
	"CAP_IPC_LOCK",           // 14
	"CAP_IPC_OWNER",          // 15
	"CAP_SYS_MODULE",         // 16
	"CAP_SYS_RAWIO",          // 17
	"CAP_SYS_CHROOT",         // 18
	"CAP_SYS_PTRACE",         // 19
	"CAP_SYS_PACCT",          // 20
	"CAP_SYS_ADMIN",          // 21
	"CAP_SYS_BOOT",           // 22
	"CAP_SYS_NICE",           // 23
	"CAP_SYS_RESOURCE",       // 24
	"CAP_SYS_TIME",           // 25
	"CAP_SYS_TTY_CONFIG",     // 26
	"CAP_MKNOD",              // 27
	"CAP_LEASE",              // 28
	"CAP_AUDIT_WRITE",        // 29
	"CAP_AUDIT_CONTROL",      // 30
	"CAP_SETFCAP",            // 31
	"CAP_MAC_OVERRIDE",       // 32
	"CAP_MAC_ADMIN",          // 33
	"CAP_SYSLOG",             // 34
	"CAP_WAKE_ALARM",         // 35
	"CAP_BLOCK_SUSPEND",      // 36
	"CAP_AUDIT_READ",         // 37
	"CAP_PERFMON",            // 38
	"CAP_BPF",                // 39
	"CAP_CHECKPOINT_RESTORE", // 40
}

// capSetPCap is CAP_SETPCAP, which dropping the bounding set needs.
const capSetPCap = 8

// capNumbers turns the spec's kept capability names into numbers.
func capNumbers(names []string) ([]int, error) {
	nums := make([]int, 0, len(names))
	for _, n := range names {
		c := slices.Index(capNames[:], strings.ToUpper(n))
		if c < 0 {
			return nil, fmt.Errorf("unknown capability %q", n)
		}
		nums = append(nums, c)
	}
	return nums, nil
}

// lastCap is the highest capability the running kernel knows; the bounding
// set is dropped up to it so that capabilities newer than capNames are
// dropped too.
func lastCap() int {
	// Three system calls: os.ReadFile would also register the descriptor
	// with the runtime's poller and stat it.
	fd, err := unix.Open("/proc/sys/kernel/cap_last_cap", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 40
	}
	var buf [8]byte
	k, err := unix.Read(fd, buf[:])
	unix.Close(fd)
	if err != nil || k <= 0 {
		return 40
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(buf[:k])))
	if err != nil || n < 0 || n > 63 {
		return 40
	}
	return n
}
