package devcluster

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// ErrNoPostgres is wrapped by Start's error when no usable PostgreSQL server
// binaries were found, so callers can print an install hint or skip.
var ErrNoPostgres = errors.New("devcluster: no PostgreSQL server binaries (initdb, pg_ctl, postgres) found")

// serverTools are the binaries Start needs from the bin dir.
var serverTools = []string{"initdb", "pg_ctl", "postgres"}

// findBinDir picks the directory holding the PostgreSQL server binaries.
// An explicit choice (Options.BinDir, then $SIGNET_PG_BINDIR) is final: if it
// is wrong we say so instead of silently using some other PostgreSQL.
// Otherwise we ask pg_config, then take the highest /usr/lib/postgresql/*/bin
// (the Debian/Ubuntu layout, where pg_config may belong to libpq-dev only).
func findBinDir(explicit string) (string, error) {
	if explicit != "" {
		return checkExplicit(explicit, "Options.BinDir")
	}
	if env := os.Getenv("SIGNET_PG_BINDIR"); env != "" {
		return checkExplicit(env, "$SIGNET_PG_BINDIR")
	}

	dir, note := fromPgConfig()
	if dir != "" {
		problem := missingTools(dir)
		if problem == "" {
			return dir, nil
		}
		note = fmt.Sprintf("%s (from pg_config --bindir: %s)", dir, problem)
	}
	tried := []string{note}

	const pattern = "/usr/lib/postgresql/*/bin"
	dirs, _ := filepath.Glob(pattern)
	// Highest major version first; "9.6" < "10" compares right as a float.
	sort.SliceStable(dirs, func(i, j int) bool {
		return versionOf(dirs[i]) > versionOf(dirs[j])
	})
	for _, dir := range dirs {
		problem := missingTools(dir)
		if problem == "" {
			return dir, nil
		}
		tried = append(tried, fmt.Sprintf("%s (%s)", dir, problem))
	}
	if len(dirs) == 0 {
		tried = append(tried, pattern+" (no matches)")
	}
	return "", noPostgres(strings.Join(tried, "; "))
}

// fromPgConfig returns `pg_config --bindir`, or "" and why not.
func fromPgConfig() (dir, note string) {
	pgConfig, err := exec.LookPath("pg_config")
	if err != nil {
		return "", "pg_config --bindir (pg_config not on $PATH)"
	}
	out, err := exec.Command(pgConfig, "--bindir").Output()
	if err != nil {
		return "", fmt.Sprintf("%s --bindir (failed: %v)", pgConfig, err)
	}
	return strings.TrimSpace(string(out)), ""
}

func checkExplicit(dir, source string) (string, error) {
	if problem := missingTools(dir); problem != "" {
		return "", noPostgres(fmt.Sprintf("%s=%s (%s)", source, dir, problem))
	}
	return dir, nil
}

func noPostgres(tried string) error {
	return fmt.Errorf("%w; tried: %s. Fix: install PostgreSQL (`apt-get install postgresql`), "+
		"or set SIGNET_PG_BINDIR to the directory holding initdb and pg_ctl, "+
		"or set DATABASE_URL to use an existing server instead of --dev", ErrNoPostgres, tried)
}

// missingTools returns "" if dir holds all server binaries, else what is wrong.
func missingTools(dir string) string {
	if fi, err := os.Stat(dir); err != nil {
		return "no such directory"
	} else if !fi.IsDir() {
		return "not a directory"
	}
	var missing []string
	for _, name := range serverTools {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return "no " + strings.Join(missing, ", ")
	}
	return ""
}

// versionOf extracts the version from /usr/lib/postgresql/<version>/bin.
func versionOf(binDir string) float64 {
	v, err := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	if err != nil {
		return -1
	}
	return v
}
