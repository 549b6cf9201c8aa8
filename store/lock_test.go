package store

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestASecondLockOnTheDatabaseNamesTheHolder(t *testing.T) {
	// given a database held by this process
	db := filepath.Join(t.TempDir(), "opsroom.db")
	first, err := LockDatabase(db)
	if err != nil {
		t.Fatal(err)
	}

	// when a second one tries to take it (flock locks are per open file, so this conflicts within one process)
	_, err = LockDatabase(db)

	// then it is refused, naming the holder, the lock file and the way to run two
	var locked *LockedError
	if !errors.As(err, &locked) || locked.PID != os.Getpid() {
		t.Fatalf("second lock: %v, want a LockedError naming pid %d", err, os.Getpid())
	}
	for _, want := range []string{db, "opsroom process " + strconv.Itoa(os.Getpid()), db + ".lock", "only one opsroom", "PostgreSQL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("lock error does not say %q:\n%s", want, err)
		}
	}

	// and once released, the database can be taken again
	if err := first.Release(); err != nil {
		t.Fatal(err)
	}
	again, err := LockDatabase(db)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	_ = again.Release()
}

func TestALockFileWithoutAPIDStillRefuses(t *testing.T) {
	db := filepath.Join(t.TempDir(), "opsroom.db")
	first, err := LockDatabase(db)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Release()
	if err := os.Truncate(LockPath(db), 0); err != nil { // the holder has not written its PID yet
		t.Fatal(err)
	}
	_, err = LockDatabase(db)
	if err == nil || !strings.Contains(err.Error(), "in use by another opsroom process") {
		t.Errorf("second lock: %v, want a refusal naming no PID", err)
	}
}
