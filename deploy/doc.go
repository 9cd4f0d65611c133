// Package deploy holds Signet's deployment files (Dockerfile, compose,
// Kubernetes, systemd) and the tests that keep them in step with signetd:
// see README.md beside this file.
package deploy
