package uml

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// insmodEnv makes any binary that links this package act as a minimal
// insmod inside the guest (the host may have no kmod): the guest init runs
// "NETCARD_UML_INSMOD=1 <this binary> module.ko..." when insmod is missing.
const insmodEnv = "NETCARD_UML_INSMOD"

func init() {
	if os.Getenv(insmodEnv) != "1" {
		return
	}
	rc := 0
	for _, path := range os.Args[1:] {
		if err := loadModule(path); err != nil {
			fmt.Fprintf(os.Stderr, "insmod %s: %v\n", path, err)
			rc = 1
		}
	}
	os.Exit(rc)
}

func loadModule(path string) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	err = unix.FinitModule(fd, "", 0)
	if err == unix.EEXIST {
		return nil
	}
	return err
}
