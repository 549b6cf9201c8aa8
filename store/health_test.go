package store

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	"go.mau.fi/util/dbutil"
)

func TestCheckWritableSaysWhenTheDatabaseTakesNoWrite(t *testing.T) {
	eachDialect(t, func(t *testing.T) {
		ctx := context.Background()
		path := newDatabase(t)
		st, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if err := st.CheckWritable(ctx); err != nil {
			t.Errorf("a fresh database: %v", err)
		}
		if err := st.SyncStore().SaveNextBatch(ctx, "@bot:example.org", "s1"); err != nil {
			t.Fatal(err)
		}
		if err := st.CheckWritable(ctx); err != nil {
			t.Errorf("with a sync position: %v", err)
		}

		if st.DB.Dialect == dbutil.Postgres {
			return
		}
		// The same file opened read-only stands for one the process cannot write.
		raw, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
		if err != nil {
			t.Fatal(err)
		}
		db, err := dbutil.NewWithDB(raw, "sqlite")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		ro := &Store{DB: db, path: path}
		err = ro.CheckWritable(ctx)
		if err == nil || !strings.Contains(err.Error(), "not writable") || !strings.Contains(err.Error(), "readonly") {
			t.Errorf("a read-only database: %v, want it named not writable", err)
		}
	})
}
