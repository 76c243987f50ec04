//go:build linux || darwin

package store

import "syscall"

// freeSpace is how many bytes an unprivileged writer may still use on dir's file system.
func freeSpace(dir string) (uint64, bool) {
	var st syscall.Statfs_t
	if syscall.Statfs(dir, &st) != nil {
		return 0, false
	}
	return uint64(st.Bavail) * uint64(st.Bsize), true
}
