// Stage 6: one thread for every connection, an event loop.
//
// Stage 5 gave each client a thread that slept in `recv`: ten thousand clients, ten thousand
// threads, each with its own stack. Here one thread owns every socket. The listener and all the
// connections are non-blocking, and the loop sleeps in one `epoll_wait` until any of them is
// ready, reads or writes what it can without waiting, and goes back to sleep. Each client's
// unfinished line and unsent replies are kept in an object, not on a thread's stack. The work
// on each message still runs on one consumer thread, so slow work never stalls the loop; the
// consumer hands its results back through an eventfd that wakes it.
import Foundation
import Glibc
import Net

// excerpt: options
let options = ServerOptions.parseOrExit(
    program: "Stage6EventLoop",
    accepting: [.workDelay, .maxClients, .idleTimeout, .shutdownTimeout])
// end excerpt

// Writing to a socket or a pipe whose reader has gone raises SIGPIPE, which would kill the
// server; ignored, it is an EPIPE error from that one write.
signal(SIGPIPE, SIG_IGN)

// excerpt: signals
// First thing: from here on, SIGINT and SIGTERM no longer kill the process; they wake the loop.
let shutdownSignal = ShutdownSignal.install()
// end excerpt

// excerpt: consumer
// The one consumer, as in Stage 5: it alone does the slow work, one message at a time in
// priority order. It touches no socket. It hands each result back to the loop, which logs the
// message and sends the ACK. It ends when the queue is closed and empty.
let wakeup: Wakeup
do {
    wakeup = try Wakeup()
} catch {
    exitWithError(error)
}
let queue = MessageQueue(wakeup: wakeup)
Thread { [queue, workDelay = options.workDelay] in
    nameThisThread("consumer")  // So `ps -T` and /proc/PID/task show which thread works.
    while let message = queue.pop() {
        Thread.sleep(forTimeInterval: workDelay)
        queue.finish(message.handled())
    }
    queue.consumerDidEnd()
}.start()
// end excerpt

// excerpt: main
// Everything else happens on this thread, in the loop, until a shutdown has finished.
do {
    let loop = try EventLoop(
        listener: Listener.openOrExit(host: options.host, port: options.port),
        signalDescriptor: shutdownSignal.descriptor, wakeup: wakeup, queue: queue,
        options: options)
    loop.run()
} catch {
    exitWithError(error)
}
// The consumer may still be in the middle of a message if the deadline cut the shutdown
// short; `exit` does not wait for it.
exit(0)
// end excerpt
