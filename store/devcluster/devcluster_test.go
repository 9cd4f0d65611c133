//go:build unix

package devcluster

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// startOrSkip starts a cluster in dir, skipping the test only when the
// machine has no PostgreSQL server binaries at all.
func startOrSkip(t *testing.T, ctx context.Context, dir string) *Cluster {
	t.Helper()
	c, err := Start(ctx, Options{Dir: dir, Logf: t.Logf})
	if errors.Is(err, ErrNoPostgres) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Stop(context.Background()); err != nil {
			t.Errorf("cleanup Stop: %v", err)
		}
	})
	return c
}

func connect(t *testing.T, ctx context.Context, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func TestStartReuseRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir := t.TempDir()

	// First run: fresh cluster.
	c := startOrSkip(t, ctx, dir)
	conn := connect(t, ctx, c.URL())
	var one int
	if err := conn.QueryRow(ctx, "select 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("select 1 = %d, %v", one, err)
	}
	if _, err := conn.Exec(ctx, "create table kept (v text); insert into kept values ('first run')"); err != nil {
		t.Fatalf("create table: %v", err)
	}
	conn.Close(ctx)

	// Start while running: must reuse the live postmaster, same URL.
	c2, err := Start(ctx, Options{Dir: dir, Logf: t.Logf})
	if err != nil {
		t.Fatalf("Start while running: %v", err)
	}
	if c2.URL() != c.URL() {
		t.Errorf("reused cluster URL = %s, want %s", c2.URL(), c.URL())
	}

	pidFile := filepath.Join(dir, "pgdata", "postmaster.pid")
	crashedPID, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if _, err := os.Stat(pidFile); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("postmaster.pid still there after Stop (err %v)", err)
	}
	if err := c.Stop(ctx); err != nil {
		t.Errorf("second Stop: %v", err)
	}

	// Put back the pid file of the stopped server, as a crash would have
	// left it: it must not block the next start. (Where init does not reap
	// the old postmaster, its PID is a zombie, which postgres alone would
	// mistake for a live server.)
	writeStalePID(t, pidFile, crashedPID)

	// Second run on the same dir: data and port survive.
	c3 := startOrSkip(t, ctx, dir)
	if c3.URL() != c.URL() {
		t.Errorf("restarted URL = %s, want remembered %s", c3.URL(), c.URL())
	}
	conn = connect(t, ctx, c3.URL())
	var v string
	if err := conn.QueryRow(ctx, "select v from kept").Scan(&v); err != nil || v != "first run" {
		t.Fatalf("table from first run: v=%q err=%v", v, err)
	}
	conn.Close(ctx)
	if err := c3.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}

	// A pid file whose process is gone altogether must not block either.
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	writeStalePID(t, pidFile, []byte(strconv.Itoa(gone.Process.Pid)+"\n"+filepath.Dir(pidFile)+"\n"))
	c4 := startOrSkip(t, ctx, dir)
	if err := c4.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
}

// writeStalePID writes a postmaster.pid owned like its data dir, as the
// server would have left it.
func writeStalePID(t *testing.T, pidFile string, content []byte) {
	t.Helper()
	if err := os.WriteFile(pidFile, content, 0o600); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Dir(pidFile))
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if err := os.Lchown(pidFile, int(st.Uid), int(st.Gid)); err != nil {
		t.Fatal(err)
	}
}

func TestNoBinariesError(t *testing.T) {
	t.Setenv("SIGNET_PG_BINDIR", "/nonexistent/pg/bin")
	_, err := Start(context.Background(), Options{Dir: t.TempDir()})
	if !errors.Is(err, ErrNoPostgres) {
		t.Fatalf("err = %v, want ErrNoPostgres", err)
	}
	for _, want := range []string{"/nonexistent/pg/bin", "apt-get install postgresql", "SIGNET_PG_BINDIR", "DATABASE_URL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestSocketDirFallback(t *testing.T) {
	if got := socketDir("/var/lib/signet"); got != "/var/lib/signet/pgsock" {
		t.Errorf("short dir: socket dir = %s", got)
	}
	long := "/" + strings.Repeat("d", 100)
	got := socketDir(long)
	if strings.HasPrefix(got, long) || len(got)+len(socketSuffix) > maxSocketPath {
		t.Errorf("long dir: socket dir = %s, want a short dir outside it", got)
	}
	if socketDir(long) != got {
		t.Error("socket dir must be stable for the same Dir")
	}
}

// A Dir too long for a unix socket path must still work (socket dir falls
// back to the temp dir).
func TestLongDir(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir := filepath.Join(t.TempDir(), strings.Repeat("x", 60), strings.Repeat("y", 40))
	c := startOrSkip(t, ctx, dir)
	t.Cleanup(func() { os.RemoveAll(c.sockDir) })
	if !strings.HasPrefix(c.sockDir, os.TempDir()) {
		t.Errorf("socket dir %s not under %s", c.sockDir, os.TempDir())
	}
	var one int
	if err := connect(t, ctx, c.URL()).QueryRow(ctx, "select 1").Scan(&one); err != nil {
		t.Fatalf("select 1: %v", err)
	}
}
