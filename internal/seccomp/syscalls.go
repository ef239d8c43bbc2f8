package seccomp

import "sort"

// syscallNumber returns the x86_64 number of syscall name.
func syscallNumber(name string) (uint32, bool) {
	i := sort.Search(len(x86_64Syscalls), func(i int) bool { return x86_64Syscalls[i].name >= name })
	if i < len(x86_64Syscalls) && x86_64Syscalls[i].name == name {
		return x86_64Syscalls[i].nr, true
	}
	return 0, false
}
