package signer

// Key managers selectable by URI in Config.KMS and .Key, so that moving a
// CA key from a PEM file into an HSM or a cloud KMS is a configuration
// change, for every binary that holds a CA key (signetd, the admin CA).
// softkms (PEM files) is imported in backend.go.
import (
	_ "go.step.sm/crypto/kms/awskms"
	_ "go.step.sm/crypto/kms/pkcs11" // needs cgo; "pkcs11:module-path=...;token=...?pin-value=..."
)
