package main

import (
	"os"

	"github.com/signet-ca/signet/store"
)

func main() {
	if err := store.MigrateUp(os.Args[1]); err != nil {
		panic(err)
	}
}
