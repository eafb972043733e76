// The Linux readiness calls Swift's Glibc module leaves out: epoll (<sys/epoll.h>) and eventfd
// (<sys/eventfd.h>). Including the system headers here is all it takes for Swift to see them,
// with their real types and constants, checked by the compiler. swift-nio's CNIOLinux module
// does the same.
#ifndef CEPOLL_H
#define CEPOLL_H

#include <sys/epoll.h>
#include <sys/eventfd.h>

#endif
