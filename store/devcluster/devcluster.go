// Package devcluster runs a private PostgreSQL cluster for `signetd --dev`,
// using the PostgreSQL server binaries already installed on the machine.
//
// Everything lives under Options.Dir:
//
//	pgdata/       the cluster, created by initdb on the first Start
//	pgsock/       unix socket directory (a short dir under os.TempDir
//	              instead, if Dir is too long for a unix socket path)
//	postgres.log  server log
//	pgport        TCP port picked on the first Start, reused while free
//
// The server listens on 127.0.0.1 only and trusts every local connection,
// which is fine for a developer machine and nothing else.
//
// Running as root: PostgreSQL refuses to run as root, so initdb and pg_ctl
// run as the "postgres" system user (or "nobody" if there is none). pgdata,
// the socket dir and the log are owned by that user; Dir itself stays
// root-owned. For that user to reach pgdata, Dir and each of its ancestors
// that lacks it gets the "others may traverse" bit (o+x). That grants
// traversal only, never listing or reading, and keeps all dev state in one
// place rather than scattering pgdata somewhere the user can already reach.
// Each such change is reported through Options.Logf.
package devcluster

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Options configures Start.
type Options struct {
	// Dir is the state directory; see the package comment for its layout.
	Dir string
	// Port is the TCP port on 127.0.0.1; 0 picks a free one and remembers
	// it in Dir/pgport so restarts keep the same URL while it stays free.
	Port int
	// BinDir holds initdb, pg_ctl and postgres. "" means: $SIGNET_PG_BINDIR,
	// else `pg_config --bindir`, else the highest /usr/lib/postgresql/*/bin.
	BinDir string
	// Logf receives progress messages; may be nil.
	Logf func(format string, args ...any)
}

// Cluster is a running dev cluster.
type Cluster struct {
	dir, dataDir, sockDir, logFile string
	binDir                         string
	port                           int
	user                           *osUser // nil unless we dropped root
	logf                           func(format string, args ...any)
	started                        bool // this Start launched the postmaster
}

// osUser is the unprivileged account the server runs as when we are root.
type osUser struct {
	name     string
	uid, gid int
	home     string
}

const (
	dbName = "signet" // database and role the application uses
	// superuser created by initdb; fixed so it does not depend on who ran initdb.
	superuser = "postgres"

	startTimeout = 60 // seconds pg_ctl waits for start/stop
	readyTimeout = 30 * time.Second

	// sun_path is 108 bytes including the NUL, and postgres puts its
	// socket at <socket dir>/.s.PGSQL.<port>.
	maxSocketPath = 107
	socketSuffix  = "/.s.PGSQL.65535"
)

// Start brings up the cluster in opts.Dir: initdb on first use, reuse of a
// postmaster that is already running for the data dir, otherwise pg_ctl
// start. It returns once the signet database accepts connections.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if !supported {
		return nil, errors.New("devcluster: the --dev PostgreSQL cluster needs a unix system; set DATABASE_URL to use an existing server")
	}
	if opts.Dir == "" {
		return nil, errors.New("devcluster: Options.Dir is required")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("devcluster: %w", err)
	}
	binDir, err := findBinDir(opts.BinDir)
	if err != nil {
		return nil, err
	}
	u, err := serverUser()
	if err != nil {
		return nil, err
	}
	c := &Cluster{
		dir:     dir,
		dataDir: filepath.Join(dir, "pgdata"),
		sockDir: socketDir(dir),
		logFile: filepath.Join(dir, "postgres.log"),
		binDir:  binDir,
		user:    u,
		logf:    opts.Logf,
	}
	if c.logf == nil {
		c.logf = func(string, ...any) {}
	}
	if u != nil {
		c.logf("running as root: PostgreSQL will run as user %q", u.name)
	}

	if err := c.prepareDirs(); err != nil {
		return nil, err
	}
	if err := c.initdb(ctx); err != nil {
		return nil, err
	}

	pid, port, alive, err := c.livePostmaster()
	if err != nil {
		return nil, err
	}
	if alive {
		// Another signetd (or an earlier run that was not stopped) already
		// serves this data dir; a second postmaster could not start anyway.
		c.port = port
		c.logf("reusing PostgreSQL already running for %s (pid %d, port %d)", c.dataDir, pid, port)
		if opts.Port != 0 && opts.Port != port {
			c.logf("note: requested port %d ignored; the running server uses %d", opts.Port, port)
		}
	} else {
		if c.port, err = c.choosePort(opts.Port); err != nil {
			return nil, err
		}
		if err := c.start(ctx); err != nil {
			return nil, err
		}
		c.started = true
	}
	if err := os.WriteFile(filepath.Join(dir, "pgport"), []byte(strconv.Itoa(c.port)+"\n"), 0o644); err != nil {
		return nil, fmt.Errorf("devcluster: remembering port: %w", err)
	}

	conn, err := c.waitReady(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if err := ensureDatabase(ctx, conn); err != nil {
		return nil, err
	}
	return c, nil
}

// Started reports whether this Start launched the server, rather than
// reusing one that another process runs: only then should its caller stop
// it, or a `signetd migrate` would take the database from a running signetd.
func (c *Cluster) Started() bool { return c.started }

// URL is the connection string for the signet database.
func (c *Cluster) URL() string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", dbName, c.port, dbName)
}

// Stop shuts the server down (fast mode: clients are disconnected, no
// recovery needed on next start). Stopping an already stopped cluster is
// not an error.
func (c *Cluster) Stop(ctx context.Context) error {
	_, _, alive, err := c.livePostmaster()
	if err != nil || !alive {
		return err
	}
	out, err := c.run(ctx, "pg_ctl", "stop", "-D", c.dataDir, "-m", "fast", "-w", "-t", strconv.Itoa(startTimeout))
	if err != nil {
		return fmt.Errorf("devcluster: pg_ctl stop: %w\n%s%s", err, out, c.logTail())
	}
	c.logf("stopped PostgreSQL in %s", c.dataDir)
	return nil
}

// serverUser returns the account to run PostgreSQL as, or nil if we are
// not root and can run it as ourselves.
func serverUser() (*osUser, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.Atoi(u.Uid)
		gid, err2 := strconv.Atoi(u.Gid)
		if err1 != nil || err2 != nil {
			continue
		}
		return &osUser{name: name, uid: uid, gid: gid, home: u.HomeDir}, nil
	}
	return nil, errors.New("devcluster: running as root, but PostgreSQL refuses to run as root and there is " +
		"no 'postgres' or 'nobody' user to run it as; create one (useradd --system postgres) or run signetd as a normal user")
}

// prepareDirs creates the state layout with owners postgres will accept.
func (c *Cluster) prepareDirs() error {
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return fmt.Errorf("devcluster: creating state dir: %w", err)
	}
	if c.user != nil {
		if err := c.makeReachable(c.dir); err != nil {
			return err
		}
	}
	// initdb would create pgdata itself, but as root Dir is not writable
	// by the server user, so create it here and hand it over.
	if err := c.ensureOwnedDir(c.dataDir, true); err != nil {
		return err
	}
	if c.sockDir != filepath.Join(c.dir, "pgsock") {
		c.logf("state dir path too long for a unix socket; using socket dir %s", c.sockDir)
	}
	// Socket dir content is only sockets and lock files postgres recreates,
	// so fixing the dir itself is enough.
	if err := c.ensureOwnedDir(c.sockDir, false); err != nil {
		return err
	}
	// pg_ctl opens the log as the server user, who cannot create files in Dir.
	f, err := os.OpenFile(c.logFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("devcluster: creating log: %w", err)
	}
	f.Close()
	return c.chown(c.logFile)
}

// makeReachable gives "others" search permission on dir and its ancestors
// where missing, so the server user can reach pgdata (see package comment).
func (c *Cluster) makeReachable(dir string) error {
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("devcluster: %w", err)
		}
		if perm := fi.Mode().Perm(); perm&0o001 == 0 {
			if err := os.Chmod(d, perm|0o001); err != nil {
				return fmt.Errorf("devcluster: letting user %s traverse %s: %w", c.user.name, d, err)
			}
			c.logf("chmod o+x %s so user %s can reach the data dir", d, c.user.name)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// ensureOwnedDir creates path (0700) if needed and makes sure the server
// user owns it, as postgres insists for the data dir and socket dir.
func (c *Cluster) ensureOwnedDir(path string, recursive bool) error {
	err := os.Mkdir(path, 0o700)
	if err == nil {
		return c.chown(path)
	}
	if !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("devcluster: %w", err)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("devcluster: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("devcluster: %s exists but is not a directory; remove it", path)
	}
	want := os.Geteuid()
	if c.user != nil {
		want = c.user.uid
	}
	owner := ownerUID(fi)
	if owner == want {
		return nil
	}
	if c.user == nil {
		return fmt.Errorf("devcluster: %s is owned by uid %d, not you (uid %d); remove it or use another Dir", path, owner, want)
	}
	if !recursive {
		return c.chown(path)
	}
	// E.g. pgdata from a run under another user; root may hand it over.
	c.logf("changing owner of %s to %s", path, c.user.name)
	return filepath.WalkDir(path, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return c.chown(p)
	})
}

// chown gives path to the server user; a no-op when not running as root.
func (c *Cluster) chown(path string) error {
	if c.user == nil {
		return nil
	}
	if err := os.Lchown(path, c.user.uid, c.user.gid); err != nil {
		return fmt.Errorf("devcluster: handing %s to user %s: %w", path, c.user.name, err)
	}
	return nil
}

// socketDir is Dir/pgsock, or, when that would make the socket path too
// long, a short per-Dir directory under the temp dir. It is derived from
// Dir so every run for the same Dir agrees on it.
func socketDir(dir string) string {
	sum := sha256.Sum256([]byte(dir))
	short := fmt.Sprintf("signet-pg-%x", sum[:6])
	for _, d := range []string{filepath.Join(dir, "pgsock"), filepath.Join(os.TempDir(), short)} {
		if len(d)+len(socketSuffix) <= maxSocketPath {
			return d
		}
	}
	return filepath.Join("/tmp", short) // $TMPDIR itself is too long
}

// initdb creates the cluster unless Dir/pgdata already holds one.
func (c *Cluster) initdb(ctx context.Context) error {
	if _, err := os.Stat(filepath.Join(c.dataDir, "PG_VERSION")); err == nil {
		return c.checkVersion(ctx)
	}
	c.logf("creating PostgreSQL cluster in %s", c.dataDir)
	out, err := c.run(ctx, "initdb", "-D", c.dataDir, "-U", superuser,
		"--auth=trust", "--encoding=UTF8", "--locale=C")
	if err != nil {
		return fmt.Errorf("devcluster: initdb: %w\n%s\nIf %s is left half-initialized, remove it and retry.", err, out, c.dataDir)
	}
	// initdb's default also trusts ::1 and replication; allow exactly the
	// unix socket and 127.0.0.1.
	hba := "# Written by signet devcluster: dev mode trusts local connections only.\n" +
		"local all all trust\n" +
		"host  all all 127.0.0.1/32 trust\n"
	if err := c.writeServerFile("pg_hba.conf", hba); err != nil {
		return err
	}
	return nil
}

// checkVersion turns "database files are incompatible with server", which
// would otherwise only appear in the log, into an actionable error.
func (c *Cluster) checkVersion(ctx context.Context) error {
	b, err := os.ReadFile(filepath.Join(c.dataDir, "PG_VERSION"))
	if err != nil {
		return fmt.Errorf("devcluster: %w", err)
	}
	dataVer := strings.TrimSpace(string(b))
	out, err := c.run(ctx, "postgres", "--version") // "postgres (PostgreSQL) 15.8 (Debian ...)"
	f := strings.Fields(out)
	if err != nil || len(f) < 3 {
		return nil // let pg_ctl start report whatever is wrong
	}
	rest, ok := strings.CutPrefix(f[2], dataVer)
	if ok && (rest == "" || rest[0] < '0' || rest[0] > '9') {
		return nil
	}
	return fmt.Errorf("devcluster: %s was created by PostgreSQL %s but %s has PostgreSQL %s; "+
		"point SIGNET_PG_BINDIR at PostgreSQL %s binaries, or remove %s to start with an empty database",
		c.dataDir, dataVer, c.binDir, f[2], dataVer, c.dataDir)
}

// livePostmaster reports the postmaster recorded in postmaster.pid, if it
// is still running. A pid file left by a crash is handled like this:
//   - process gone: left for postgres, which removes it itself after
//     checking that no old backend still holds the shared memory;
//   - zombie, or the PID now belongs to an unrelated process: removed
//     here, because postgres cannot tell that from a live server and
//     would refuse to start.
func (c *Cluster) livePostmaster() (pid, port int, alive bool, err error) {
	pidFile := filepath.Join(c.dataDir, "postmaster.pid")
	b, err := os.ReadFile(pidFile)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, 0, false, nil
	}
	if err != nil {
		return 0, 0, false, fmt.Errorf("devcluster: %w", err)
	}
	// Line 1 is the PID, line 4 the port.
	lines := strings.Split(string(b), "\n")
	pid, _ = strconv.Atoi(strings.TrimSpace(lines[0]))
	if len(lines) > 3 {
		port, _ = strconv.Atoi(strings.TrimSpace(lines[3]))
	}
	if pid <= 0 {
		return 0, 0, false, nil // being written, or garbage: let postgres judge
	}
	switch postmasterState(pid, c.dataDir) {
	case procAlive:
		return pid, port, port > 0, nil
	case procStale:
		c.logf("removing stale %s (pid %d is not a live PostgreSQL server)", pidFile, pid)
		if err := os.Remove(pidFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return 0, 0, false, fmt.Errorf("devcluster: removing stale pid file: %w", err)
		}
	}
	return 0, 0, false, nil
}

// choosePort returns want if set, else the remembered port if still free,
// else a fresh free port.
func (c *Cluster) choosePort(want int) (int, error) {
	if want != 0 {
		if !portFree(want) {
			return 0, fmt.Errorf("devcluster: port %d on 127.0.0.1 is already in use; choose another port or 0 for any free one", want)
		}
		return want, nil
	}
	if b, err := os.ReadFile(filepath.Join(c.dir, "pgport")); err == nil {
		p, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err == nil && p > 0 && p < 65536 {
			if portFree(p) {
				return p, nil
			}
			c.logf("remembered port %d is in use now; picking another", p)
		}
	}
	// A free port below the kernel's ephemeral range (32768 and up on
	// Linux): a port the kernel hands to a ":0" listener elsewhere, such
	// as a test's "free" address for signetd's own listeners, is then never
	// the one PostgreSQL is about to bind. (An e2e run once lost that race:
	// signetd's HTTP listener found PostgreSQL on its port.)
	for range 50 {
		if p := devPortLow + rand.IntN(devPortSpan); portFree(p) {
			return p, nil
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("devcluster: finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// The range fresh dev cluster ports are drawn from: clear of PostgreSQL's
// 5432 and of the ephemeral range.
const devPortLow, devPortSpan = 20000, 10000

func portFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// start writes the per-run settings and runs pg_ctl start.
//
// Port and socket dir can change between runs, so they live in
// pgdata/signet.conf (included from postgresql.conf) rather than being
// baked in at initdb time; keeping them in a file instead of pg_ctl -o also
// avoids shell quoting, and a manual `pg_ctl start -D pgdata` uses them too.
func (c *Cluster) start(ctx context.Context) error {
	conf := fmt.Sprintf("# Written by signet devcluster on every start; edits are lost.\n"+
		"listen_addresses = '127.0.0.1'\n"+
		"port = %d\n"+
		"unix_socket_directories = '%s'\n",
		c.port, strings.ReplaceAll(c.sockDir, "'", "''"))
	if err := c.writeServerFile("signet.conf", conf); err != nil {
		return err
	}
	if err := c.ensureInclude(); err != nil {
		return err
	}

	c.logf("starting PostgreSQL on 127.0.0.1:%d (log: %s)", c.port, c.logFile)
	out, err := c.run(ctx, "pg_ctl", "start", "-D", c.dataDir, "-l", c.logFile, "-w", "-t", strconv.Itoa(startTimeout))
	if err != nil {
		return fmt.Errorf("devcluster: pg_ctl start: %w\n%s%s", err, out, c.logTail())
	}
	return nil
}

// ensureInclude makes postgresql.conf read signet.conf. Checked on every
// start so an interrupted first run still ends up configured.
func (c *Cluster) ensureInclude() error {
	const line = "include_if_exists = 'signet.conf'"
	path := filepath.Join(c.dataDir, "postgresql.conf")
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("devcluster: %w", err)
	}
	if strings.Contains(string(b), line) {
		return nil
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("devcluster: %w", err)
	}
	_, err = fmt.Fprintf(f, "\n# signet devcluster: port, listen address, socket dir\n%s\n", line)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("devcluster: updating %s: %w", path, err)
	}
	return nil
}

// writeServerFile writes a file into pgdata, readable by the server user.
func (c *Cluster) writeServerFile(name, content string) error {
	path := filepath.Join(c.dataDir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		return fmt.Errorf("devcluster: writing %s: %w", path, err)
	}
	return c.chown(path)
}

// waitReady polls until the server accepts a superuser connection. pg_ctl
// -w already waited when we started it, but a reused server may still be
// starting up.
func (c *Cluster) waitReady(ctx context.Context) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	url := fmt.Sprintf("postgres://%s@127.0.0.1:%d/postgres?sslmode=disable&connect_timeout=5", superuser, c.port)
	for {
		conn, err := pgx.Connect(ctx, url)
		if err == nil {
			return conn, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("devcluster: PostgreSQL on 127.0.0.1:%d does not accept connections: %w%s", c.port, err, c.logTail())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// ensureDatabase creates the signet role and database if they are missing.
func ensureDatabase(ctx context.Context, conn *pgx.Conn) error {
	// Not a superuser: the app should not need more than owning its database.
	_, err := conn.Exec(ctx, `DO $$ BEGIN
		IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'signet') THEN CREATE ROLE signet LOGIN; END IF;
	END $$`)
	if err != nil {
		return fmt.Errorf("devcluster: creating role %s: %w", dbName, err)
	}
	var exists bool
	err = conn.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)", dbName).Scan(&exists)
	if err != nil {
		return fmt.Errorf("devcluster: looking for database %s: %w", dbName, err)
	}
	if exists {
		return nil
	}
	// CREATE DATABASE cannot run inside DO/a transaction, hence the check above;
	// "duplicate_database" means a concurrent Start won the race, which is fine.
	_, err = conn.Exec(ctx, "CREATE DATABASE signet OWNER signet")
	var pgErr *pgconn.PgError
	if err != nil && !(errors.As(err, &pgErr) && pgErr.Code == "42P04") {
		return fmt.Errorf("devcluster: creating database %s: %w", dbName, err)
	}
	return nil
}

// run runs a PostgreSQL binary from binDir with a clean environment (no
// PG* variables from the caller leaking into initdb or the server), as the
// server user when we are root. It returns the combined output.
func (c *Cluster) run(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(c.binDir, name), args...)
	home, _ := os.UserHomeDir()
	if c.user != nil {
		home = c.user.home
		runAs(cmd, c.user)
	}
	cmd.Env = []string{
		"HOME=" + home,
		"PATH=" + c.binDir + string(os.PathListSeparator) + "/usr/local/bin:/usr/bin:/bin",
		"LC_ALL=C", // English messages, and no locale the server user lacks
	}
	// Our cwd may be unreachable for the server user (e.g. /root).
	cmd.Dir = c.dir
	// pg_ctl start leaves a postmaster behind; should it ever hold our
	// output pipe, do not wait for it forever.
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// logTail returns the end of the server log, formatted for an error message.
func (c *Cluster) logTail() string {
	f, err := os.Open(c.logFile)
	if err != nil {
		return ""
	}
	defer f.Close()
	const tailBytes = 4096
	if fi, err := f.Stat(); err == nil && fi.Size() > tailBytes {
		_, _ = f.Seek(fi.Size()-tailBytes, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	if len(lines) == 0 || lines[0] == "" {
		return ""
	}
	return fmt.Sprintf("\n--- last lines of %s ---\n%s", c.logFile, strings.Join(lines, "\n"))
}
