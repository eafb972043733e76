// Empty on purpose: SwiftPM builds a C target from its source files, and this one needs none.
// Everything the Swift side uses is declared in include/CEpoll.h.
