package ca

import "github.com/signet-ca/signet/internal/bank"

func bankName(code string) string { return bank.OU(code) }
