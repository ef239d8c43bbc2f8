// Command idle is the memory floor of a resident Go process: it waits for
// SIGTERM and does nothing else. See package bench/floor.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM)
	<-c
}
