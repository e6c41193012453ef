// Package natsembed runs bulkassign's embedded nats-server and connects
// processes to it. It owns a data directory's server side: starting and
// stopping the server, and the files that let other processes find it and
// prove they talk to it. The JetStream data in the directory (streams,
// buckets) belongs to package jobs; nothing here knows about them, and
// packages that only use a store (ingest, worker) never link nats-server.
//
// # The data directory
//
//   - bulkassign.lock: locked by the process whose server uses the
//     directory, until [Server.Shutdown]; the operating system drops the
//     lock when that process dies. Two servers on one JetStream store would
//     corrupt it, so [Start] refuses a locked directory with
//     [ErrDataDirLocked] and [StartWhenFree] waits for it.
//   - bulkassign.nkey: the credentials, an NKey user seed generated on
//     first use, mode 0600 (readable by its owner only). The server
//     accepts that user only, so a process connects only if it can read
//     the directory. The seed never leaves the file: clients sign the
//     server's nonce with it. It is never printed or logged.
//   - bulkassign.server.json: the owner file (see [Owner]): the owning
//     process's pid and command from the moment it holds the lock, and the
//     server's address and id once it accepts connections. Written
//     atomically, removed on Shutdown.
//
// # Finding the server and proving it is the right one
//
// The server listens on a random loopback port unless told otherwise, so
// any number of directories can be served on one machine. Other processes
// find it through the owner file ([Join], [Attach]). Every connection
// made by [Connect] checks, on each connection and reconnection and before
// it sends anything, that the server's id (in the INFO it sends first) is
// the one the owner file records, and refuses any other server with
// [ErrNotOwner]; the server then checks the client's credentials. A
// process therefore never writes into a stranger's server listening on a
// reused or mistyped port, and no process without the directory's
// credentials can connect.
//
// # Durability
//
// On a single node, JetStream writes every message (and every KV update)
// to the operating system before it acknowledges it, so a killed process
// (kill -9, OOM) loses nothing that was acknowledged. It fsyncs to disk
// every [Config.SyncInterval] (default 2 minutes), so a machine or power
// failure can lose the last interval; [Config.SyncAlways] closes that gap
// at a large cost in throughput (measured on a 2-core machine: about
// 35,000 jobs/s published by default, about 1,500 jobs/s with SyncAlways).
// Consumer acknowledgements are written asynchronously: after a crash a
// few acknowledged jobs may be delivered again.
package natsembed
