package store

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// Lock is the hold one opsroom process has on its SQLite database: an
// exclusive flock on a file beside it (DATABASE.lock) that names the holder's
// PID. The kernel drops the lock when the process ends, however it ends, so a
// crash leaves nothing to clean up.
type Lock struct {
	f *os.File
}

// LockPath is the lock file of the database at path.
func LockPath(path string) string { return path + ".lock" }

// LockedError says the database is held by another process.
type LockedError struct {
	Path string // the database
	PID  int    // the holder, as its lock file names it; 0 if it names none
}

func (e *LockedError) Error() string {
	holder := "another opsroom process"
	if e.PID > 0 {
		holder = "opsroom process " + strconv.Itoa(e.PID)
	}
	return fmt.Sprintf("database %s is in use by %s (it holds %s): only one opsroom may run on a database, so stop that one first; "+
		"for an active instance with a standby, put the database on PostgreSQL (see the README's High availability)",
		e.Path, holder, LockPath(e.Path))
}

// LockDatabase takes the database at path for this process, or says which
// process holds it (a *LockedError). Two opsroom processes on one database
// would both act on every command and alert.
func LockDatabase(path string) (*Lock, error) {
	lockPath := LockPath(path)
	f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening the lock file of database %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		pid := holderPID(f)
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &LockedError{Path: path, PID: pid}
		}
		return nil, fmt.Errorf("locking database %s (lock file %s): %w", path, lockPath, err)
	}
	err = f.Truncate(0)
	if err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("writing the lock file %s: %w", lockPath, err)
	}
	return &Lock{f: f}, nil
}

// holderPID reads the PID the holder wrote into the lock file; 0 if there is none (yet).
func holderPID(f *os.File) int {
	buf := make([]byte, 32)
	n, _ := f.ReadAt(buf, 0)
	pid, err := strconv.Atoi(strings.TrimSpace(string(buf[:n])))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}

// Release gives the database up. The file stays: removing it would let a
// process that opened it just before take a lock on a file no one else sees.
func (l *Lock) Release() error {
	_ = l.f.Truncate(0)
	return l.f.Close()
}
