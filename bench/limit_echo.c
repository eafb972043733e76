// limit_echo: a line-echo server in C, one thread, epoll. The yardstick the stages are measured
// against: with no threads to switch between, no queue and no log, it is about as fast as
// request and reply can go on this machine. Every complete line a client sends comes back to
// it unchanged.
//
//   cc -O2 -o bench/build/limit_echo bench/limit_echo.c
//   bench/build/limit_echo [PORT]
//
// It listens on 127.0.0.1, on PORT (9090 by default; 0 asks the kernel for a free port), and
// prints `listening on 127.0.0.1:PORT` first, as the stages do. Linux only: epoll.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

enum { BUFFER_SIZE = 64 * 1024, EVENTS = 256 };

// One client. Bytes arrive at the end of `buffer`; the complete lines at its front (`ready`
// bytes) go back out. While they cannot all be sent, the connection waits for room to write
// and reads nothing: the client is then held back by TCP's flow control, and memory stays put.
struct client {
    int fd;
    size_t held;   // bytes in `buffer`
    size_t ready;  // of those, the bytes up to the last newline, waiting to be sent
    char buffer[BUFFER_SIZE];
};

static int epoll_fd;

static void drop(struct client *c) {
    close(c->fd);  // also removes it from the epoll set
    free(c);
}

static void watch(struct client *c, int op, unsigned events) {
    struct epoll_event event = {.events = events, .data.ptr = c};
    epoll_ctl(epoll_fd, op, c->fd, &event);
}

// Sends the ready lines. Returns 1 when all went, 0 when the socket is full, -1 on an error.
static int flush(struct client *c) {
    while (c->ready > 0) {
        ssize_t sent = send(c->fd, c->buffer, c->ready, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (sent < 0) {
            if (errno == EINTR) continue;
            return errno == EAGAIN ? 0 : -1;
        }
        memmove(c->buffer, c->buffer + sent, c->held - (size_t)sent);
        c->held -= (size_t)sent;
        c->ready -= (size_t)sent;
    }
    return 1;
}

// One recv, then every complete line goes back. Level-triggered epoll reports the socket again
// if more is waiting, so one call per wake-up is enough and no client is served twice in a row.
static void readable(struct client *c) {
    ssize_t count = recv(c->fd, c->buffer + c->held, BUFFER_SIZE - c->held, 0);
    if (count == 0 || (count < 0 && errno != EAGAIN && errno != EINTR)) {
        drop(c);
        return;
    }
    if (count < 0) return;
    c->held += (size_t)count;
    char *last = memrchr(c->buffer, '\n', c->held);
    // A line longer than the buffer goes back in pieces rather than stalling the connection.
    c->ready = last ? (size_t)(last - c->buffer) + 1 : (c->held == BUFFER_SIZE ? c->held : 0);
    int flushed = flush(c);
    if (flushed < 0) drop(c);
    if (flushed == 0) watch(c, EPOLL_CTL_MOD, EPOLLOUT);
}

static void writable(struct client *c) {
    int flushed = flush(c);
    if (flushed < 0) drop(c);
    if (flushed > 0) watch(c, EPOLL_CTL_MOD, EPOLLIN);
}

static void accept_all(int listener) {
    for (;;) {
        int fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            // EAGAIN: nobody else is waiting. Anything else (EMFILE...) is left for next time.
            if (errno != EAGAIN && errno != EINTR) perror("accept4");
            if (errno != EINTR) return;
            continue;
        }
        int on = 1;  // Short lines leave at once, as the stages send them.
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
        struct client *c = malloc(sizeof *c);
        if (c == NULL) {
            close(fd);
            continue;
        }
        c->fd = fd;
        c->held = c->ready = 0;
        watch(c, EPOLL_CTL_ADD, EPOLLIN);
    }
}

int main(int argc, char **argv) {
    long port = 9090;
    if (argc > 2 || (argc == 2 && (argv[1][0] < '0' || argv[1][0] > '9'))) {
        fprintf(stderr, "usage: %s [PORT]\n", argv[0]);
        return 64;
    }
    if (argc == 2) {
        char *end;
        port = strtol(argv[1], &end, 10);
        if (*end != '\0' || port > 65535) {
            fprintf(stderr, "error: bad port '%s'\n", argv[1]);
            return 64;
        }
    }

    int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int on = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (bind(listener, (struct sockaddr *)&address, sizeof address) < 0 ||
        listen(listener, SOMAXCONN) < 0 ||
        getsockname(listener, (struct sockaddr *)&address, &length) < 0) {
        fprintf(stderr, "error: bind 127.0.0.1:%ld: %s\n", port, strerror(errno));
        return 1;
    }
    printf("listening on 127.0.0.1:%d\n", ntohs(address.sin_port));
    fflush(stdout);

    epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event event = {.events = EPOLLIN, .data.ptr = NULL};  // NULL: the listener
    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listener, &event);
    struct epoll_event ready[EVENTS];
    for (;;) {
        int count = epoll_wait(epoll_fd, ready, EVENTS, -1);
        for (int i = 0; i < count; i++) {
            struct client *c = ready[i].data.ptr;
            if (c == NULL) {
                accept_all(listener);
            } else if (ready[i].events & EPOLLOUT) {
                writable(c);
            } else {
                readable(c);  // EPOLLIN, or an error or hang-up that recv will report
            }
        }
    }
}
