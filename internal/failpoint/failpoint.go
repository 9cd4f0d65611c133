// Package failpoint stops the process at a named point so that fault tests
// can kill it exactly there. SIGNET_FAILPOINT names the point; the process
// prints "failpoint <name> reached" on standard error and blocks forever,
// for the test to send SIGKILL. Unset, Hit costs one comparison.
package failpoint

import (
	"fmt"
	"os"
)

var armed = os.Getenv("SIGNET_FAILPOINT")

// Hit blocks forever if name is the armed failpoint.
func Hit(name string) {
	if armed == "" || armed != name {
		return
	}
	fmt.Fprintf(os.Stderr, "failpoint %s reached\n", name)
	select {}
}
