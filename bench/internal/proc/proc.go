// Package proc reads process figures from Linux's /proc (resident memory, CPU time), finds the
// process listening on a local TCP port and raises the open-files limit.
package proc

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTick is USER_HZ, 100 on every Linux architecture Go supports.
const clockTick = 100

// Status holds the memory lines of /proc/<pid>/status, in bytes.
type Status struct {
	VmRSS, VmHWM, RssAnon, RssFile int64
	Threads                        int
}

// ReadStatus reads /proc/<pid>/status; pid 0 is this process.
func ReadStatus(pid int) (Status, error) {
	var s Status
	b, err := os.ReadFile(path(pid, "status"))
	if err != nil {
		return s, err
	}
	for line := range bytes.Lines(b) {
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		f := strings.Fields(string(v))
		if len(f) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch string(k) {
		case "VmRSS":
			s.VmRSS = n << 10
		case "VmHWM":
			s.VmHWM = n << 10
		case "RssAnon":
			s.RssAnon = n << 10
		case "RssFile":
			s.RssFile = n << 10
		case "Threads":
			s.Threads = int(n)
		}
	}
	if s.VmRSS == 0 {
		return s, fmt.Errorf("%s: no VmRSS", path(pid, "status"))
	}
	return s, nil
}

// CPU is the user+system CPU time of process pid (0: this process) from /proc/<pid>/stat, which
// includes its threads.
func CPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(path(pid, "stat"))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may contain spaces: fields are counted after its ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("%s: malformed", path(pid, "stat"))
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("%s: malformed", path(pid, "stat"))
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("%s: malformed", path(pid, "stat"))
	}
	return time.Duration(ut+st) * time.Second / clockTick, nil
}

func path(pid int, name string) string {
	if pid == 0 {
		return "/proc/self/" + name
	}
	return "/proc/" + strconv.Itoa(pid) + "/" + name
}

// ListenerPID finds the process with a socket listening on the local TCP port, through
// /proc/net/tcp{,6} and the fds in /proc/*/fd (other users' processes need root).
func ListenerPID(port int) (int, error) {
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		file, err := os.Open(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(file)
		for sc.Scan() {
			fl := strings.Fields(sc.Text())
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
			if len(fl) < 10 || fl[3] != "0A" {
				continue
			}
			_, hexPort, ok := strings.Cut(fl[1], ":")
			if !ok {
				continue
			}
			if p, err := strconv.ParseInt(hexPort, 16, 32); err == nil && int(p) == port {
				inodes["socket:["+fl[9]+"]"] = true
			}
		}
		file.Close()
	}
	if len(inodes) == 0 {
		return 0, fmt.Errorf("no socket listening on port %d", port)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		pid, err := strconv.Atoi(filepath.Base(p))
		if err != nil || pid == os.Getpid() {
			continue
		}
		fds, _ := os.ReadDir(p + "/fd")
		for _, fd := range fds {
			if l, err := os.Readlink(p + "/fd/" + fd.Name()); err == nil && inodes[l] {
				return pid, nil
			}
		}
	}
	return 0, fmt.Errorf("no process found owning the listener on port %d (not permitted?)", port)
}

// RaiseNoFile raises RLIMIT_NOFILE to at least n (the hard limit too when permitted) and returns
// the soft limit in force.
func RaiseNoFile(n uint64) (uint64, error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, err
	}
	if l.Cur >= n {
		return l.Cur, nil
	}
	want := l
	want.Cur = n
	if want.Max < n {
		want.Max = n
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
		// Not permitted to raise the hard limit: take what it allows.
		want = l
		want.Cur = l.Max
		if err2 := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err2 != nil {
			return l.Cur, err2
		}
		return want.Cur, fmt.Errorf("open files limited to %d (hard limit): %w", want.Cur, err)
	}
	return want.Cur, nil
}

// SelfCPU is this process's user+system CPU time from getrusage.
func SelfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// MachineBusy is the CPU time all CPUs spent not idle (user, nice, system, irq, softirq, steal)
// from /proc/stat, and the number of CPUs.
func MachineBusy() (time.Duration, int, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	var busy int64
	cpus := 0
	for line := range bytes.Lines(b) {
		f := strings.Fields(string(line))
		if len(f) < 9 || !strings.HasPrefix(f[0], "cpu") {
			continue
		}
		if f[0] != "cpu" {
			cpus++
			continue
		}
		for i, v := range f[1:9] {
			if i == 3 || i == 4 { // idle, iowait
				continue
			}
			n, _ := strconv.ParseInt(v, 10, 64)
			busy += n
		}
	}
	return time.Duration(busy) * time.Second / clockTick, cpus, nil
}
