// Package migrations embeds Signet's SQL schema so that signetd carries it
// in its binary and can migrate on start (golang-migrate, paired up/down files).
package migrations

import "embed"

// FS holds the NNNN_name.up.sql / .down.sql pairs.
//
//go:embed *.sql
var FS embed.FS
