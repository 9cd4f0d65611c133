package main

import (
	"context"
	"os"
	"strconv"

	"github.com/signet-ca/signet/seed"
)

func main() {
	n, _ := strconv.Atoi(os.Args[2])
	err := seed.Run(context.Background(), os.Args[1], seed.Options{Certs: n, Progress: os.Stdout, SubjectKey: []byte("0123456789abcdef0123456789abcdef"), Seed: 42})
	if err != nil {
		panic(err)
	}
}
