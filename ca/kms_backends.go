package ca

// Key managers selectable by URI in SignerConfig.KMS and .Key, so that
// moving the CA key from a PEM file into an HSM or a cloud KMS is a
// configuration change. softkms (PEM files) is imported in signer.go.
import (
	_ "go.step.sm/crypto/kms/awskms"
	_ "go.step.sm/crypto/kms/pkcs11" // needs cgo; "pkcs11:module-path=...;token=...?pin-value=..."
)
