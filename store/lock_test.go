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

func TestAPostgresURIIsShownWithoutItsPassword(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://opsroom:s3cret@db.example.org:5432/opsroom?sslmode=require": "postgres://opsroom:xxxxx@db.example.org:5432/opsroom?sslmode=require",
		"postgresql://opsroom@db/opsroom":                                       "postgresql://opsroom@db/opsroom",
		"/var/lib/opsroom/opsroom.db":                                           "/var/lib/opsroom/opsroom.db",
	} {
		if got := Redacted(in); got != want {
			t.Errorf("Redacted(%q) = %q, want %q", in, got, want)
		}
	}
	got, err := WithPassword("postgres://opsroom@db/opsroom?sslmode=disable", "p@ss/word")
	if err != nil || got != "postgres://opsroom:p%40ss%2Fword@db/opsroom?sslmode=disable" {
		t.Errorf("WithPassword = %q, %v", got, err)
	}
}
