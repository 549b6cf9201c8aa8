package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/opsroom/opsroom/internal/testworld"
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

func TestASecondOpsroomOnAPostgresDatabaseIsRefusedNamingTheFirst(t *testing.T) {
	ctx := context.Background()
	// given a PostgreSQL database opened by one opsroom (with a password in its URI)
	db, err := WithPassword(testworld.PostgresDatabase(t), "hunter2-secret")
	if err != nil {
		t.Fatal(err)
	}
	first, err := Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}

	// when a second one opens it
	second, err := Open(ctx, db)

	// then it is refused, naming the first (its PID, as its application_name
	// says) and the rule, never the password
	var held *HeldError
	if !errors.As(err, &held) {
		_ = second.Close()
		t.Fatalf("second open: %v, want a HeldError", err)
	}
	for _, want := range []string{"opsroom pid " + strconv.Itoa(os.Getpid()) + " on ", "PostgreSQL backend", "only one opsroom", "on PostgreSQL too"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q:\n%s", want, err)
		}
	}
	if strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "xxxxx") {
		t.Errorf("the error shows the password, or no redacted URI:\n%s", err)
	}

	// and once the first closes, the database can be opened again
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := Open(ctx, db)
	if err != nil {
		t.Fatalf("open after the first closed: %v", err)
	}
	_ = again.Close()
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
