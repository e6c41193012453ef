package natsembed_test

import (
	"fmt"
	"os"

	"github.com/nats-io/nats.go"

	"github.com/bulkassign/bulkassign/natsembed"
)

// Start a server on a data directory, connect to it with the directory's
// credentials, and see what other processes find in the owner file.
func ExampleStart() {
	dir, err := os.MkdirTemp("", "bulkassign-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	srv, err := natsembed.Start(natsembed.Config{DataDir: dir, Command: "bulkassign example"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Shutdown() // last: after the connection is closed
	nc, err := srv.Connect()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer nc.Close()

	owner, err := natsembed.ReadOwner(dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("recorded address is the server's:", owner.URL == srv.ClientURL())
	fmt.Println("connected to the recorded server:", nc.ConnectedServerId() == owner.ServerID)

	// Without the credentials the server refuses.
	_, err = nats.Connect(srv.ClientURL(), nats.NoReconnect())
	fmt.Println("without credentials:", err)
	// Output:
	// recorded address is the server's: true
	// connected to the recorded server: true
	// without credentials: nats: Authorization Violation
}
